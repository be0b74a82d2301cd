using System.Runtime.CompilerServices;

// The Mono test suite (Tests/) also drives the generated native layer directly.
[assembly: InternalsVisibleTo("PaySeal.Tests")]

using System.Threading;

namespace PaySeal.Native
{
    /// <summary>The SDK's own threads, as the runtime sees them when they call back into C#.</summary>
    internal static class NativeThread
    {
        /// <summary>
        /// Marks the calling SDK thread as a background thread: Mono attaches a native thread on its
        /// first callback as a foreground thread, which would keep a Mono or .NET process from
        /// exiting. Harmless in Unity, which ends its threads itself.
        /// </summary>
        internal static void MarkBackground()
        {
            var t = Thread.CurrentThread;
            if (!t.IsBackground) t.IsBackground = true;
        }
    }
}

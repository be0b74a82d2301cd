using System;

namespace PaySeal
{
    /// <summary>The kind of a failure, as the native library reports it.</summary>
    public enum ErrorKind
    {
        /// <summary>The profile or an option is invalid (raised at construction).</summary>
        InvalidProfile = 1,
        /// <summary>The receipt or account id is malformed, empty or too large.</summary>
        InvalidReceipt = 2,
        /// <summary>The verifier could not be reached. Kept pending.</summary>
        Network = 3,
        /// <summary>No verdict within the timeouts or the deadline. Kept pending.</summary>
        Timeout = 4,
        /// <summary>The server's certificate is not pinned by the profile: not the verifier. Not retried.</summary>
        PinMismatch = 5,
        /// <summary>The answer is not a genuine verdict for this request (altered, replayed, relayed).</summary>
        Tampered = 6,
        /// <summary>The verifier refused the request (4xx) or kept failing (5xx; then kept pending).</summary>
        ServerRejected = 7,
        /// <summary>A bug or an environment failure; the message says which.</summary>
        Internal = 8,
        /// <summary>The binding was misused: a null string, a freed client handle (C# only).</summary>
        InvalidArgument = 9,
        /// <summary>The native library is not where this platform loads it from (C# only); the message says where it goes.</summary>
        LibraryNotFound = 10,
    }

    /// <summary>
    /// A PaySeal failure. Catch a subclass (the same ones as Kotlin's
    /// <c>PaySealException.*</c> and Swift's <c>PaySealError</c>), or this class and look at <see cref="Kind"/>.
    /// </summary>
    public class PaySealException : Exception
    {
        /// <summary>What kind of failure.</summary>
        public ErrorKind Kind { get; private set; }

        /// <summary>A failure of <paramref name="kind"/>.</summary>
        protected PaySealException(ErrorKind kind, string message) : base(message)
        {
            Kind = kind;
        }

        /// <summary>The profile or an option is invalid.</summary>
        public sealed class InvalidProfile : PaySealException { internal InvalidProfile(string m) : base(ErrorKind.InvalidProfile, m) { } }
        /// <summary>The receipt or account id is malformed, empty or too large.</summary>
        public sealed class InvalidReceipt : PaySealException { internal InvalidReceipt(string m) : base(ErrorKind.InvalidReceipt, m) { } }
        /// <summary>The verifier could not be reached; the receipt is kept pending.</summary>
        public sealed class Network : PaySealException { internal Network(string m) : base(ErrorKind.Network, m) { } }
        /// <summary>No verdict in time; the receipt is kept pending.</summary>
        public sealed class Timeout : PaySealException { internal Timeout(string m) : base(ErrorKind.Timeout, m) { } }
        /// <summary>The server is not the pinned verifier; nothing was sent, not retried.</summary>
        public sealed class PinMismatch : PaySealException { internal PinMismatch(string m) : base(ErrorKind.PinMismatch, m) { } }
        /// <summary>The answer is not a genuine verdict for this request.</summary>
        public sealed class Tampered : PaySealException { internal Tampered(string m) : base(ErrorKind.Tampered, m) { } }
        /// <summary>The verifier refused the request or kept failing.</summary>
        public sealed class ServerRejected : PaySealException { internal ServerRejected(string m) : base(ErrorKind.ServerRejected, m) { } }
        /// <summary>A bug or an environment failure (a caught native panic included).</summary>
        public sealed class Internal : PaySealException { internal Internal(string m) : base(ErrorKind.Internal, m) { } }
        /// <summary>The binding was misused: a null string, a freed client handle.</summary>
        public sealed class InvalidArgument : PaySealException { internal InvalidArgument(string m) : base(ErrorKind.InvalidArgument, m) { } }
        /// <summary>The native library was not found: the message names the plugin folder and file this platform needs.</summary>
        public sealed class LibraryNotFound : PaySealException { internal LibraryNotFound(string m) : base(ErrorKind.LibraryNotFound, m) { } }

        /// <summary>The exception for a native error kind and message.</summary>
        internal static PaySealException FromKind(int kind, string message)
        {
            message = string.IsNullOrEmpty(message) ? "PaySeal error kind " + kind : message;
            switch ((ErrorKind)kind)
            {
                case ErrorKind.InvalidProfile: return new InvalidProfile(message);
                case ErrorKind.InvalidReceipt: return new InvalidReceipt(message);
                case ErrorKind.Network: return new Network(message);
                case ErrorKind.Timeout: return new Timeout(message);
                case ErrorKind.PinMismatch: return new PinMismatch(message);
                case ErrorKind.Tampered: return new Tampered(message);
                case ErrorKind.ServerRejected: return new ServerRejected(message);
                case ErrorKind.InvalidArgument: return new InvalidArgument(message);
                default: return new Internal(message);
            }
        }
    }
}

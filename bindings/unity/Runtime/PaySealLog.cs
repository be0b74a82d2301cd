using System;
using PaySeal.Native;

namespace PaySeal
{
    /// <summary>Severity of an SDK log event.</summary>
    public enum LogLevel
    {
        /// <summary>Something failed and the caller gets an error.</summary>
        Error = 1,
        /// <summary>Something failed and is being retried or kept pending.</summary>
        Warn = 2,
        /// <summary>Outcomes.</summary>
        Info = 3,
        /// <summary>Attempts and timings.</summary>
        Debug = 4,
    }

    /// <summary>
    /// Routes the SDK's log events (attempts, retries, outcomes; never receipt content, tokens,
    /// nonces or keys) to the app, e.g. <c>PaySealLog.SetLogger((l, m) => Debug.Log(m))</c>
    /// (Unity's <c>Debug.Log</c> may be called from any thread). Events arrive on the library's
    /// callback thread, in order with the results; the logger must not block (it holds up the
    /// results), may not make blocking PaySeal calls, and an exception it throws is dropped.
    /// </summary>
    public static unsafe class PaySealLog
    {
        private static volatile Action<LogLevel, string> logger;
        // Held in a static field: native code keeps a pointer to it.
        private static readonly NativeMethods.payseal_set_logger_callback_delegate Native = OnLog;

        /// <summary>Send events to <paramref name="log"/> (null: stop).</summary>
        public static void SetLogger(Action<LogLevel, string> log)
        {
            NativeLoader.EnsureLoaded();
            NativeThread.EnsureShutdownHooked();
            logger = log;
            byte* message = null;
            int kind = NativeMethods.payseal_set_logger(log == null ? null : Native, &message);
            Utf8.Check(kind, message);
        }

        [AOT.MonoPInvokeCallback(typeof(NativeMethods.payseal_set_logger_callback_delegate))]
        private static void OnLog(int level, byte* message)
        {
            try
            {
                var log = logger;
                if (log != null) log((LogLevel)level, Utf8.Read(message));
            }
            catch (Exception)
            {
                // Never into native code.
            }
        }
    }
}

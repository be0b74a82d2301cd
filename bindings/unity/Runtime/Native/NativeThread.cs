using System;
using System.Threading;

namespace PaySeal.Native
{
    /// <summary>
    /// The library's callback thread, as the managed runtime sees it. Results and log events
    /// arrive on one native thread of the library (never the SDK's own network threads); the
    /// runtime attaches it on its first callback. Two things keep a process from hanging at exit
    /// or crashing on an AppDomain unload:
    /// <list type="bullet">
    /// <item>the thread is marked background on every callback: Mono attaches a native thread as a
    /// foreground thread, and waits for every foreground thread before it shuts down;</item>
    /// <item><c>payseal_shutdown</c> runs when the process exits (Mono then aborts and waits for each
    /// background thread, which a native thread only leaves by ending) and when the AppDomain unloads
    /// (a Unity Editor domain reload: the callbacks' function pointers die with the domain). It drops
    /// the callbacks not made yet and ends the thread; the next call starts a new one.</item>
    /// </list>
    /// </summary>
    internal static class NativeThread
    {
        private static int hooked;

        /// <summary>Hooks <c>payseal_shutdown</c> to process exit and domain unload, once. Called before anything that calls back.</summary>
        internal static void EnsureShutdownHooked()
        {
            if (Interlocked.Exchange(ref hooked, 1) != 0) return;
            AppDomain.CurrentDomain.ProcessExit += OnExit;
            AppDomain.CurrentDomain.DomainUnload += OnExit;
        }

        private static unsafe void OnExit(object sender, EventArgs e)
        {
            try
            {
                byte* message = null;
                NativeMethods.payseal_shutdown(&message);
                Utf8.Take(message);
            }
            catch (Exception)
            {
                // Exiting: nothing left to report to.
            }
        }

        /// <summary>Marks the calling (callback) thread as a background thread.</summary>
        internal static void MarkBackground()
        {
            var t = Thread.CurrentThread;
            if (!t.IsBackground) t.IsBackground = true;
        }
    }
}

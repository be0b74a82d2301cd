using System;
using System.Threading;

namespace PaySeal.Native
{
    /// <summary>
    /// The library's callback thread, as the managed runtime sees it. Results and log events
    /// arrive on one native thread of the library (never the SDK's own network threads), which the
    /// runtime attaches on its first callback. When the process exits, Mono aborts every attached
    /// thread and waits for it to end, which a native thread parked in native code never does by
    /// itself: <c>payseal_shutdown</c> ends it. It runs when the process exits and when the
    /// AppDomain unloads (a Unity Editor domain reload, after which the callbacks' function pointers
    /// are dead): callbacks not made yet are dropped and the thread ends; the next call starts a new one.
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
    }
}

using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using PaySeal.Native;

namespace PaySeal
{
    /// <summary>
    /// The PaySeal SDK for one verifier profile. Thread-safe: make one at start-up and share it.
    /// Dispose it when the app no longer needs it; a disposed client throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    /// <remarks>
    /// <see cref="VerifyAsync"/> completes off the main thread, never on the caller's: the native
    /// callback arrives on the library's callback thread and the task's continuations are run
    /// asynchronously (thread pool). In Unity, <c>await</c> from a MonoBehaviour resumes on the main
    /// thread (Unity's SynchronizationContext); with <c>ContinueWith</c> or in a logger, marshal to
    /// the main thread before touching Unity objects. Log callbacks (<see cref="PaySealLog"/>) arrive
    /// on the callback thread too, in order with the results.
    /// </remarks>
    public sealed class Client : IDisposable
    {
        private long handle; // the native handle (ulong), 0 once disposed

        /// <summary>Build from the profile JSON the app embeds (<c>payseal-verifier profile</c>) and options. Nothing is sent.</summary>
        /// <exception cref="PaySealException.InvalidProfile">a bad profile or option</exception>
        /// <exception cref="PaySealException.InvalidArgument">a null profile, options or app id</exception>
        /// <exception cref="PaySealException.LibraryNotFound">the native library is not installed for this platform</exception>
        public unsafe Client(string profileJson, Options options)
        {
            NativeLoader.EnsureLoaded();
            NativeThread.EnsureShutdownHooked();
            int profileLen, appLen, dirLen, rootsLen;
            byte[] profile = Utf8.Bytes(profileJson, out profileLen);
            byte[] app = Utf8.Bytes(options == null ? null : options.AppId, out appLen);
            byte[] dir = Utf8.Bytes(options == null ? null : options.PendingDir, out dirLen);
            byte[] roots = Utf8.Bytes(options == null ? null : string.Join("\n", options.ExtraRootsPem.ToArray()), out rootsLen);
            ulong h = 0;
            byte* message = null;
            int kind;
            fixed (byte* p = profile, a = app, d = dir, r = roots)
            {
                PsOptions o = default(PsOptions);
                if (options != null)
                {
                    o.app_id = Utf8.Str(a, appLen);
                    o.connect_timeout_ms = options.ConnectTimeoutMs;
                    o.request_timeout_ms = options.RequestTimeoutMs;
                    o.deadline_ms = options.DeadlineMs;
                    o.max_attempts = options.MaxAttempts;
                    o.base_backoff_ms = options.BaseBackoffMs;
                    o.pending_dir = Utf8.Str(d, dirLen);
                    o.extra_roots_pem = Utf8.Str(r, rootsLen);
                }
                kind = NativeMethods.payseal_client_new(Utf8.Str(p, profileLen), options == null ? null : &o, &h, &message);
            }
            Utf8.Check(kind, message);
            handle = (long)h;
            AppId = options.AppId;
        }

        /// <summary>The app id in force.</summary>
        public string AppId { get; private set; }

        /// <summary>The native SDK's version.</summary>
        public static unsafe string SdkVersion { get { NativeLoader.EnsureLoaded(); return Utf8.Take(NativeMethods.payseal_sdk_version()); } }

        private ulong Handle
        {
            get
            {
                long h = Interlocked.Read(ref handle);
                if (h == 0) throw new ObjectDisposedException("PaySeal.Client");
                return (ulong)h;
            }
        }

        /// <summary>
        /// Verify a purchase for <paramref name="accountId"/> (your own opaque account id): a checked
        /// verdict, paid or not. Fails with a <see cref="PaySealException"/> subclass; network,
        /// timeout and 5xx failures keep the receipt pending first (see <see cref="RetryPendingAsync"/>).
        /// Completes off the calling thread.
        /// </summary>
        /// <param name="receipt">The store's receipt.</param>
        /// <param name="accountId">Your account id (1..256 bytes of UTF-8, not blank).</param>
        /// <param name="expectedProductId">The product the app sold (what it is about to deliver). With it,
        /// a genuine receipt for another product (a cheap one presented for an expensive item) is not
        /// paid, <see cref="NotPaidReason.WrongProduct"/>, and is not consumed: the same receipt still pays
        /// for its own product. Null: no product check (the verdict's <see cref="Verdict.ProductId"/> says
        /// which product was paid). Empty, blank or longer than 256 bytes of UTF-8:
        /// <see cref="PaySealException.InvalidReceipt"/>, nothing sent.</param>
        public unsafe Task<Verdict> VerifyAsync(Receipt receipt, string accountId, string expectedProductId = null)
        {
            ulong h = Handle;
            var tcs = new TaskCompletionSource<Verdict>(TaskCreationOptions.RunContinuationsAsynchronously);
            ulong id = Callbacks.Register(Callbacks.Verifies, tcs);
            int kind = WithReceipt(receipt, accountId, expectedProductId, (r, account, product) =>
            {
                byte* message = null;
                int k = NativeMethods.payseal_verify_product(h, r, account, product, Callbacks.VerifyDone, id, &message);
                if (k != 0) tcs.TrySetException(PaySealException.FromKind(k, Utf8.Take(message)));
                else Utf8.Take(message);
                return k;
            });
            if (kind != 0) Callbacks.Forget(Callbacks.Verifies, id);
            return tcs.Task;
        }

        /// <summary><see cref="VerifyAsync"/> blocking the calling thread (not Unity's main thread: it would freeze the game).</summary>
        public unsafe Verdict Verify(Receipt receipt, string accountId, string expectedProductId = null)
        {
            ulong h = Handle;
            return WithReceipt(receipt, accountId, expectedProductId, (r, account, product) =>
            {
                PsVerdict* v = null;
                byte* message = null;
                int kind = NativeMethods.payseal_verify_product_blocking(h, r, account, product, &v, &message);
                Utf8.Check(kind, message);
                try { return Verdict.From(v); }
                finally { NativeMethods.payseal_verdict_free(v); }
            });
        }

        /// <summary>Verify the pending receipts again (e.g. at start-up, when back online); verified ones are removed.</summary>
        public unsafe Task<IList<PendingResult>> RetryPendingAsync()
        {
            ulong h = Handle;
            var tcs = new TaskCompletionSource<IList<PendingResult>>(TaskCreationOptions.RunContinuationsAsynchronously);
            ulong id = Callbacks.Register(Callbacks.Retries, tcs);
            byte* message = null;
            int kind = NativeMethods.payseal_retry_pending(h, Callbacks.RetryDone, id, &message);
            string text = Utf8.Take(message);
            if (kind != 0)
            {
                Callbacks.Forget(Callbacks.Retries, id);
                tcs.TrySetException(PaySealException.FromKind(kind, text));
            }
            return tcs.Task;
        }

        /// <summary><see cref="RetryPendingAsync"/>, blocking.</summary>
        public unsafe IList<PendingResult> RetryPending()
        {
            PsPendingList* list = null;
            byte* message = null;
            int kind = NativeMethods.payseal_retry_pending_blocking(Handle, &list, &message);
            Utf8.Check(kind, message);
            try { return PendingResult.ListFrom(list); }
            finally { NativeMethods.payseal_pending_list_free(list); }
        }

        /// <summary>How many receipts are pending.</summary>
        public unsafe long PendingCount()
        {
            long n = 0;
            byte* message = null;
            int kind = NativeMethods.payseal_pending_count(Handle, &n, &message);
            Utf8.Check(kind, message);
            return n;
        }

        /// <summary>Free the native client. Calls in flight still complete. Safe to call twice.</summary>
        public void Dispose()
        {
            Free();
            GC.SuppressFinalize(this);
        }

        /// <summary>Frees the native client if the app forgot to.</summary>
        ~Client() { Free(); }

        private unsafe void Free()
        {
            long h = Interlocked.Exchange(ref handle, 0);
            if (h == 0) return;
            byte* message = null;
            NativeMethods.payseal_client_free((ulong)h, &message);
            Utf8.Take(message);
        }

        private unsafe delegate T WithNative<T>(PsReceipt* receipt, PsStr account, PsStr product);

        private static unsafe T WithReceipt<T>(Receipt receipt, string accountId, string productId, WithNative<T> f)
        {
            int n, m;
            byte[] account = Utf8.Bytes(accountId, out n);
            byte[] product = Utf8.Bytes(productId, out m);
            fixed (byte* a = account, p = product)
            {
                PsStr s = Utf8.Str(a, n), ps = Utf8.Str(p, m);
                if (receipt == null) return f(null, s, ps);
                return receipt.Use(r => f(r, s, ps));
            }
        }

        /// <summary>The native callbacks: static methods, their delegates held in static fields so
        /// the garbage collector never frees one native code still holds.</summary>
        private static unsafe class Callbacks
        {
            internal static readonly ConcurrentDictionary<ulong, TaskCompletionSource<Verdict>> Verifies =
                new ConcurrentDictionary<ulong, TaskCompletionSource<Verdict>>();
            internal static readonly ConcurrentDictionary<ulong, TaskCompletionSource<IList<PendingResult>>> Retries =
                new ConcurrentDictionary<ulong, TaskCompletionSource<IList<PendingResult>>>();
            internal static readonly NativeMethods.payseal_verify_product_callback_delegate VerifyDone = OnVerifyDone;
            internal static readonly NativeMethods.payseal_retry_pending_callback_delegate RetryDone = OnRetryDone;
            private static long next;

            internal static ulong Register<T>(ConcurrentDictionary<ulong, T> table, T value)
            {
                ulong id = (ulong)Interlocked.Increment(ref next);
                table[id] = value;
                return id;
            }

            internal static void Forget<T>(ConcurrentDictionary<ulong, T> table, ulong id)
            {
                T ignored;
                table.TryRemove(id, out ignored);
            }

            // Called on the library's callback thread. No exception may escape into native code.
            [AOT.MonoPInvokeCallback(typeof(NativeMethods.payseal_verify_product_callback_delegate))]
            private static void OnVerifyDone(ulong userData, int kind, byte* message, PsVerdict* verdict)
            {
                TaskCompletionSource<Verdict> tcs;
                if (!Verifies.TryRemove(userData, out tcs)) return;
                try
                {
                    if (kind == 0) tcs.TrySetResult(Verdict.From(verdict));
                    else tcs.TrySetException(PaySealException.FromKind(kind, Utf8.Read(message)));
                }
                catch (Exception e)
                {
                    tcs.TrySetException(e);
                }
            }

            [AOT.MonoPInvokeCallback(typeof(NativeMethods.payseal_retry_pending_callback_delegate))]
            private static void OnRetryDone(ulong userData, int kind, byte* message, PsPendingList* results)
            {
                TaskCompletionSource<IList<PendingResult>> tcs;
                if (!Retries.TryRemove(userData, out tcs)) return;
                try
                {
                    if (kind == 0) tcs.TrySetResult(PendingResult.ListFrom(results));
                    else tcs.TrySetException(PaySealException.FromKind(kind, Utf8.Read(message)));
                }
                catch (Exception e)
                {
                    tcs.TrySetException(e);
                }
            }
        }
    }
}

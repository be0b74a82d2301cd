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
            int profileLen, appLen, dirLen, rootsLen, entsLen;
            byte[] profile = Utf8.Bytes(profileJson, out profileLen);
            byte[] app = Utf8.Bytes(options == null ? null : options.AppId, out appLen);
            byte[] dir = Utf8.Bytes(options == null ? null : options.PendingDir, out dirLen);
            byte[] roots = Utf8.Bytes(options == null ? null : string.Join("\n", options.ExtraRootsPem.ToArray()), out rootsLen);
            byte[] ents = Utf8.Bytes(options == null ? null : options.EntitlementsDir, out entsLen);
            ulong h = 0;
            byte* message = null;
            int kind;
            fixed (byte* p = profile, a = app, d = dir, r = roots, e = ents)
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
                    o.entitlements_dir = Utf8.Str(e, entsLen);
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
            return WithReceipt(receipt, accountId, expectedProductId, (r, account, product) =>
                Callbacks.Start(Callbacks.Verifies, (id, message) =>
                    NativeMethods.payseal_verify_product(h, r, account, product, Callbacks.VerifyDone, id, message)));
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
            return Callbacks.Start(Callbacks.Retries, (id, message) => NativeMethods.payseal_retry_pending(h, Callbacks.RetryDone, id, message));
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

        /// <summary>
        /// What <paramref name="accountId"/> owns now: the verifier's signed entitlements answer, checked here
        /// (a profile key, this request's nonce, this app and account), and kept in
        /// <see cref="Options.EntitlementsDir"/>. When the verifier cannot be reached, the answer kept last is
        /// given instead, checked again, with <see cref="Entitlements.FromCache"/> set and its
        /// <see cref="Entitlements.Age"/>; with none kept the task fails (<see cref="PaySealException.Network"/> or
        /// <see cref="PaySealException.Timeout"/>), and an edited copy fails it with
        /// <see cref="PaySealException.Tampered"/>: never an invented answer. Completes off the calling thread.
        /// </summary>
        /// <param name="accountId">Your account id (1..256 bytes of UTF-8, not blank; else
        /// <see cref="PaySealException.InvalidReceipt"/>, nothing sent).</param>
        public unsafe Task<Entitlements> EntitlementsAsync(string accountId)
        {
            ulong h = Handle;
            return WithAccount(accountId, account =>
                Callbacks.Start(Callbacks.EntitlementsCalls, (id, message) =>
                    NativeMethods.payseal_entitlements(h, account, Callbacks.EntitlementsDone, id, message)));
        }

        /// <summary><see cref="EntitlementsAsync"/> blocking the calling thread (not Unity's main thread).</summary>
        public unsafe Entitlements GetEntitlements(string accountId)
        {
            ulong h = Handle;
            return WithAccount(accountId, account =>
            {
                PsEntitlements* e = null;
                byte* message = null;
                int kind = NativeMethods.payseal_entitlements_blocking(h, account, &e, &message);
                Utf8.Check(kind, message);
                return Entitlements.Take(e);
            });
        }

        /// <summary>
        /// The entitlements answer of <paramref name="accountId"/> kept on disk by an earlier
        /// <see cref="EntitlementsAsync"/> or <see cref="RestoreAsync"/>, checked again with the profile's keys, without
        /// asking the verifier (e.g. at start, before the network is up): <see cref="Entitlements.FromCache"/> is set
        /// and <see cref="Entitlements.Age"/> says how old it is. Null when none is kept (or no
        /// <see cref="Options.EntitlementsDir"/>).
        /// </summary>
        /// <exception cref="PaySealException.Tampered">the kept file was edited, or is another account's or app's</exception>
        /// <exception cref="PaySealException.InvalidReceipt">a blank or too long account id</exception>
        public unsafe Entitlements CachedEntitlements(string accountId)
        {
            ulong h = Handle;
            return WithAccount(accountId, account =>
            {
                PsEntitlements* e = null;
                byte* message = null;
                int kind = NativeMethods.payseal_cached_entitlements(h, account, &e, &message);
                Utf8.Check(kind, message);
                return Entitlements.Take(e);
            });
        }

        /// <summary>
        /// Restore in one call: every receipt the store hands the app on a restore (StoreKit's current entitlements,
        /// Play's <c>queryPurchasesAsync</c>, Huawei's owned purchases; at most 50, else
        /// <see cref="PaySealException.InvalidReceipt"/>: restore in batches) in one sealed request for
        /// <paramref name="accountId"/>. Each receipt is judged exactly as <see cref="VerifyAsync"/> judges it (a
        /// purchase this account redeemed before is <see cref="Redemption.Repeat"/>, another account's is
        /// <see cref="NotPaidReason.AlreadyRedeemed"/> unless the verifier's transfer policy moves it); then the
        /// account's entitlements, checked and kept as <see cref="EntitlementsAsync"/> keeps them. A failed restore
        /// keeps nothing pending (the store still holds the receipts: call it again). Completes off the calling thread.
        /// </summary>
        /// <exception cref="PaySealException.InvalidArgument">(in the task) the list or one of its receipts is null</exception>
        public unsafe Task<RestoreResult> RestoreAsync(IEnumerable<Receipt> receipts, string accountId)
        {
            ulong h = Handle;
            try
            {
                return WithReceipts(receipts, accountId, (r, count, account) =>
                    Callbacks.Start(Callbacks.Restores, (id, message) =>
                        NativeMethods.payseal_restore(h, r, (UIntPtr)(uint)count, account, Callbacks.RestoreDone, id, message)));
            }
            catch (PaySealException e)
            {
                var failed = new TaskCompletionSource<RestoreResult>();
                failed.SetException(e);
                return failed.Task;
            }
        }

        /// <summary><see cref="RestoreAsync"/> blocking the calling thread (not Unity's main thread).</summary>
        public unsafe RestoreResult Restore(IEnumerable<Receipt> receipts, string accountId)
        {
            ulong h = Handle;
            return WithReceipts(receipts, accountId, (r, count, account) =>
            {
                PsRestored* restored = null;
                byte* message = null;
                int kind = NativeMethods.payseal_restore_blocking(h, r, (UIntPtr)(uint)count, account, &restored, &message);
                Utf8.Check(kind, message);
                try { return RestoreResult.From(restored); }
                finally { NativeMethods.payseal_restored_free(restored); }
            });
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

        private delegate T WithNativeAccount<T>(PsStr account);

        private unsafe delegate T WithNativeReceipts<T>(PsReceipt* receipts, int count, PsStr account);

        private static unsafe T WithAccount<T>(string accountId, WithNativeAccount<T> f)
        {
            int n;
            byte[] account = Utf8.Bytes(accountId, out n);
            fixed (byte* a = account)
            {
                return f(Utf8.Str(a, n));
            }
        }

        private static unsafe T WithReceipts<T>(IEnumerable<Receipt> receipts, string accountId, WithNativeReceipts<T> f)
        {
            if (receipts == null) throw new PaySealException.InvalidArgument("receipts is null");
            var list = new List<Receipt>(receipts);
            return WithAccount(accountId, account => Receipt.UseAll(list, (r, count) => f(r, count, account)));
        }

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
            internal static readonly ConcurrentDictionary<ulong, TaskCompletionSource<Entitlements>> EntitlementsCalls =
                new ConcurrentDictionary<ulong, TaskCompletionSource<Entitlements>>();
            internal static readonly ConcurrentDictionary<ulong, TaskCompletionSource<RestoreResult>> Restores =
                new ConcurrentDictionary<ulong, TaskCompletionSource<RestoreResult>>();
            internal static readonly NativeMethods.payseal_verify_product_callback_delegate VerifyDone = OnVerifyDone;
            internal static readonly NativeMethods.payseal_retry_pending_callback_delegate RetryDone = OnRetryDone;
            internal static readonly NativeMethods.payseal_entitlements_callback_delegate EntitlementsDone = OnEntitlementsDone;
            internal static readonly NativeMethods.payseal_restore_callback_delegate RestoreDone = OnRestoreDone;
            private static long next;

            /// <summary>Starts a native call: <paramref name="call"/> gets the task's callback id and the
            /// out-message slot. It calls back only when it returns 0; otherwise the task fails at once.</summary>
            internal delegate int NativeStart(ulong id, byte** message);

            /// <summary>The task of an asynchronous native call, completed by its callback (in <paramref name="table"/>).</summary>
            internal static Task<T> Start<T>(ConcurrentDictionary<ulong, TaskCompletionSource<T>> table, NativeStart call)
            {
                var tcs = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
                ulong id = Register(table, tcs);
                byte* message = null;
                int kind;
                try
                {
                    kind = call(id, &message);
                }
                catch
                {
                    Forget(table, id);
                    throw;
                }
                string text = Utf8.Take(message);
                if (kind != 0)
                {
                    Forget(table, id);
                    tcs.TrySetException(PaySealException.FromKind(kind, text));
                }
                return tcs.Task;
            }

            private delegate T MakeResult<T>();

            /// <summary>Completes the task <paramref name="userData"/> names: with <paramref name="result"/> when
            /// <paramref name="kind"/> is 0, else with the typed exception. Nothing escapes into native code.</summary>
            private static void Finish<T>(ConcurrentDictionary<ulong, TaskCompletionSource<T>> table, ulong userData, int kind, byte* message, MakeResult<T> result)
            {
                TaskCompletionSource<T> tcs;
                if (!table.TryRemove(userData, out tcs)) return;
                try
                {
                    if (kind == 0) tcs.TrySetResult(result());
                    else tcs.TrySetException(PaySealException.FromKind(kind, Utf8.Read(message)));
                }
                catch (Exception e)
                {
                    tcs.TrySetException(e);
                }
            }

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

            // Called on the library's callback thread. No exception may escape into native code (Finish).
            [AOT.MonoPInvokeCallback(typeof(NativeMethods.payseal_verify_product_callback_delegate))]
            private static void OnVerifyDone(ulong userData, int kind, byte* message, PsVerdict* verdict)
            {
                Finish(Verifies, userData, kind, message, () => Verdict.From(verdict));
            }

            [AOT.MonoPInvokeCallback(typeof(NativeMethods.payseal_retry_pending_callback_delegate))]
            private static void OnRetryDone(ulong userData, int kind, byte* message, PsPendingList* results)
            {
                Finish<IList<PendingResult>>(Retries, userData, kind, message, () => PendingResult.ListFrom(results));
            }

            [AOT.MonoPInvokeCallback(typeof(NativeMethods.payseal_entitlements_callback_delegate))]
            private static void OnEntitlementsDone(ulong userData, int kind, byte* message, PsEntitlements* entitlements)
            {
                Finish(EntitlementsCalls, userData, kind, message, () => Entitlements.From(entitlements));
            }

            [AOT.MonoPInvokeCallback(typeof(NativeMethods.payseal_restore_callback_delegate))]
            private static void OnRestoreDone(ulong userData, int kind, byte* message, PsRestored* restored)
            {
                Finish(Restores, userData, kind, message, () => RestoreResult.From(restored));
            }
        }
    }
}

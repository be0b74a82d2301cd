// Bad input from C#: null and empty strings, a freed client used again, huge receipts, and
// misuse of the generated native layer itself. Each is a typed exception (or error kind);
// none may crash the Mono process, and none may leave a pending receipt behind.
using System;
using System.Text;
using System.Threading.Tasks;
using NUnit.Framework;
using PaySeal.Native;

namespace PaySeal.Tests
{
    [TestFixture]
    public class BadInputTests
    {
        private DevVerifier verifier;
        private Client paySeal;
        private string pendingDir;

        [TestFixtureSetUp]
        public void StartVerifier()
        {
            verifier = DevVerifier.Started("bad-input");
            pendingDir = TestEnv.NewDir("bad-input-pending");
            paySeal = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }, pendingDir));
        }

        [TestFixtureTearDown]
        public void StopVerifier()
        {
            if (paySeal != null) paySeal.Dispose();
            if (verifier != null) verifier.Dispose();
        }

        [TearDown]
        public void NothingKeptPending()
        {
            Assert.AreEqual(0L, paySeal.PendingCount());
            Assert.IsEmpty(TestEnv.FilesIn(pendingDir));
        }

        [Test]
        public void NullStringsAreInvalidArgument()
        {
            var genuine = verifier.Purchase();
            Assert.Throws<PaySealException.InvalidArgument>(() => new Client(null, TestEnv.Options(null)));
            Assert.Throws<PaySealException.InvalidArgument>(() => new Client(verifier.ProfileJson, null));
            Assert.Throws<PaySealException.InvalidArgument>(() => new Client(verifier.ProfileJson, new Options(null)));
            Assert.Throws<PaySealException.InvalidArgument>(() => paySeal.Verify(null, "alice"));
            Assert.Throws<PaySealException.InvalidArgument>(() => paySeal.Verify(genuine.Receipt(), null));
            Assert.Throws<PaySealException.InvalidArgument>(() => paySeal.Verify(Receipt.GooglePlay(null, genuine.Signature), "alice"));
            Assert.Throws<PaySealException.InvalidArgument>(() => paySeal.Verify(Receipt.GooglePlay(genuine.OriginalJson, null), "alice"));
            Assert.Throws<PaySealException.InvalidArgument>(() => TestEnv.Await(paySeal.VerifyAsync(null, "alice")));
            var e = Assert.Throws<PaySealException.InvalidArgument>(() => TestEnv.Await(paySeal.VerifyAsync(genuine.Receipt(), null)));
            StringAssert.Contains("account_id", e.Message);
            Assert.Throws<PaySealException.InvalidArgument>(() => Receipt.AppStore(null).Sha256());
            // Nothing was sent: the genuine purchase is still a first redemption.
            Assert.AreEqual(Redemption.First, paySeal.Verify(genuine.Receipt(), "alice").Redemption);
        }

        [Test]
        public void EmptyStringsAreTheSdksTypedErrors()
        {
            var genuine = verifier.Purchase();
            Assert.Throws<PaySealException.InvalidProfile>(() => new Client("", TestEnv.Options(null)));
            Assert.Throws<PaySealException.InvalidProfile>(() => new Client(verifier.ProfileJson, new Options("")));
            Assert.Throws<PaySealException.InvalidProfile>(() => new Client(verifier.ProfileJson, new Options(" ")));
            foreach (var account in new[] { "", " ", "\t" })
                Assert.Throws<PaySealException.InvalidReceipt>(() => TestEnv.Await(paySeal.VerifyAsync(genuine.Receipt(), account)), "account '" + account + "'");
            var e = Assert.Throws<PaySealException.InvalidReceipt>(() => paySeal.Verify(Receipt.GooglePlay(genuine.OriginalJson, ""), "alice"));
            StringAssert.Contains("signature", e.Message);
            Assert.Throws<PaySealException.InvalidReceipt>(() => paySeal.Verify(Receipt.GooglePlay("", genuine.Signature), "alice"));
            Assert.Throws<PaySealException.InvalidReceipt>(() => TestEnv.Await(paySeal.VerifyAsync(Receipt.AppStore(""), "alice")));
            Assert.AreEqual(Redemption.First, paySeal.Verify(genuine.Receipt(), "alice").Redemption);
        }

        [Test]
        public void HugeReceiptAndAccountAreInvalidReceipt()
        {
            var genuine = verifier.Purchase();
            string huge = genuine.OriginalJson + new string(' ', 16 * 1024 * 1024);
            var e = Assert.Throws<PaySealException.InvalidReceipt>(() => TestEnv.Await(paySeal.VerifyAsync(Receipt.GooglePlay(huge, genuine.Signature), "alice")));
            StringAssert.Contains("too large", e.Message);
            Assert.Throws<PaySealException.InvalidReceipt>(() => paySeal.Verify(Receipt.AppStore(new string('x', 16 * 1024 * 1024)), "alice"));
            Assert.Throws<PaySealException.InvalidReceipt>(() => paySeal.Verify(genuine.Receipt(), new string('a', 100000)));
            Assert.AreEqual(Redemption.First, paySeal.Verify(genuine.Receipt(), "alice").Redemption);
        }

        [Test]
        public void DisposedClientUsedAgainIsObjectDisposed()
        {
            var receipt = verifier.Purchase().Receipt();
            var c = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }));
            c.Dispose();
            c.Dispose(); // twice is fine
            Assert.Throws<ObjectDisposedException>(() => c.Verify(receipt, "alice"));
            Assert.Throws<ObjectDisposedException>(() => c.VerifyAsync(receipt, "alice"));
            Assert.Throws<ObjectDisposedException>(() => c.RetryPending());
            Assert.Throws<ObjectDisposedException>(() => c.RetryPendingAsync());
            Assert.Throws<ObjectDisposedException>(() => c.PendingCount());
        }

        [Test]
        public void DisposingWhileAVerifyIsInFlightStillCompletesIt()
        {
            var purchase = verifier.Purchase();
            var c = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }));
            Task<Verdict> call = c.VerifyAsync(purchase.Receipt(), "ivan");
            c.Dispose();
            Verdict v = TestEnv.Await(call);
            Assert.IsTrue(v.Paid, v.ToString());
            Assert.AreEqual(purchase.OrderId, v.TransactionId);
        }

        // --- the generated native layer, called directly ------------------------------------

        private unsafe ulong NewNativeClient()
        {
            int pn, an, rn;
            byte[] p = Utf8.Bytes(verifier.ProfileJson, out pn), a = Utf8.Bytes(TestEnv.AppId, out an), r = Utf8.Bytes(verifier.CertPem, out rn);
            ulong h = 0;
            byte* m = null;
            int kind;
            fixed (byte* pp = p, ap = a, rp = r)
            {
                var o = new PsOptions { app_id = Utf8.Str(ap, an), extra_roots_pem = Utf8.Str(rp, rn), max_attempts = 1 };
                kind = NativeMethods.payseal_client_new(Utf8.Str(pp, pn), &o, &h, &m);
            }
            Assert.AreEqual(0, kind, Utf8.Take(m));
            Assert.AreNotEqual(0UL, h);
            return h;
        }

        [Test]
        public unsafe void FreedNativeHandleUsedAgainIsInvalidArgument()
        {
            ulong h = NewNativeClient();
            byte* m = null;
            long n = -1;
            Assert.AreEqual(0, NativeMethods.payseal_pending_count(h, &n, &m), Utf8.Take(m));
            Assert.AreEqual(0L, n);
            Assert.AreEqual(0, NativeMethods.payseal_client_free(h, &m), Utf8.Take(m));
            Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_client_free(h, &m));
            StringAssert.Contains("not open", Utf8.Take(m));
            Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_pending_count(h, &n, &m));
            StringAssert.Contains("not open", Utf8.Take(m));
            PsPendingList* list = null;
            Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_retry_pending_blocking(h, &list, &m));
            Utf8.Take(m);
            Assert.IsTrue(list == null);
            foreach (ulong never in new ulong[] { 0, ulong.MaxValue, h + 1000000 })
            {
                Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_pending_count(never, &n, &m));
                Utf8.Take(m);
            }
        }

        private static unsafe int VerifyNative(ulong h, PsReceipt r, PsStr account)
        {
            PsVerdict* v = null;
            byte* m = null;
            int kind = NativeMethods.payseal_verify_blocking(h, &r, account, &v, &m);
            string text = Utf8.Take(m);
            if (v != null) NativeMethods.payseal_verdict_free(v);
            if (kind != 0) Assert.IsNotEmpty(text);
            else Assert.IsTrue(v != null);
            return kind;
        }

        [Test]
        public unsafe void NullPointersBadUtf8AndUnknownCodesAreInvalidArgument()
        {
            ulong h = NewNativeClient();
            byte* m = null;
            try
            {
                long n;
                // Null outputs; a null message pointer is allowed (the kind still says it).
                Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_pending_count(h, null, &m));
                StringAssert.Contains("out_count", Utf8.Take(m));
                Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_pending_count(h, null, null));
                Assert.AreEqual(0, NativeMethods.payseal_pending_count(h, &n, null));

                var play = verifier.Purchase();
                byte[] json = Encoding.UTF8.GetBytes(play.OriginalJson), sig = Encoding.UTF8.GetBytes(play.Signature);
                byte[] notUtf8 = { 0x61, 0xff, 0xfe, 0x62 };
                byte[] account = Encoding.UTF8.GetBytes("alice");
                fixed (byte* j = json, s = sig, bad = notUtf8, a = account)
                {
                    PsStr alice = Utf8.Str(a, account.Length);
                    var good = new PsReceipt { store = 1, data = Utf8.Str(j, json.Length), signature = Utf8.Str(s, sig.Length) };

                    var badUtf8 = good;
                    badUtf8.signature = Utf8.Str(bad, notUtf8.Length);
                    Assert.AreEqual((int)ErrorKind.InvalidArgument, VerifyNative(h, badUtf8, alice));
                    Assert.AreEqual((int)ErrorKind.InvalidArgument, VerifyNative(h, good, Utf8.Str(bad, notUtf8.Length)));
                    var nullWithLength = good;
                    nullWithLength.data = new PsStr { ptr = null, len = (UIntPtr)10 };
                    Assert.AreEqual((int)ErrorKind.InvalidArgument, VerifyNative(h, nullWithLength, alice));
                    var unknownStore = good;
                    unknownStore.store = 42;
                    Assert.AreEqual((int)ErrorKind.InvalidArgument, VerifyNative(h, unknownStore, alice));
                    var unknownAlgorithm = good;
                    unknownAlgorithm.store = 3;
                    unknownAlgorithm.algorithm = 7;
                    Assert.AreEqual((int)ErrorKind.InvalidArgument, VerifyNative(h, unknownAlgorithm, alice));

                    // Null receipt, null verdict output, null callbacks.
                    Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_verify_blocking(h, null, alice, null, &m));
                    Utf8.Take(m);
                    Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_verify_blocking(h, &good, alice, null, &m));
                    StringAssert.Contains("out_verdict", Utf8.Take(m));
                    Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_verify(h, &good, alice, null, 1, &m));
                    StringAssert.Contains("callback", Utf8.Take(m));
                    Assert.AreEqual((int)ErrorKind.InvalidArgument, NativeMethods.payseal_retry_pending(h, null, 1, &m));
                    StringAssert.Contains("callback", Utf8.Take(m));

                    // After all that, the genuine receipt verifies: nothing was sent or recorded.
                    Assert.AreEqual(0, VerifyNative(h, good, alice));
                }
                // The free functions ignore null.
                NativeMethods.payseal_string_free(null);
                NativeMethods.payseal_verdict_free(null);
                NativeMethods.payseal_pending_list_free(null);
                NativeMethods.payseal_receipt_free(null);
            }
            finally
            {
                NativeMethods.payseal_client_free(h, null);
            }
        }
    }
}

// A purchase is never silently lost: no verdict → kept pending → retried after a restart.
using NUnit.Framework;

namespace PaySeal.Tests
{
    [TestFixture]
    public class OfflineTests
    {
        [Test]
        public void VerifierStoppedIsNetworkKeptPendingThenRetryPendingPaid()
        {
            using (var verifier = DevVerifier.Started("offline"))
            {
                string pendingDir = TestEnv.NewDir("offline-pending");
                var options = TestEnv.Options(new[] { verifier.CertPem }, pendingDir, 2);
                var receipt = verifier.Purchase().Receipt();
                string hash = receipt.Sha256();

                verifier.Stop();
                using (var sdk = new Client(verifier.ProfileJson, options))
                {
                    var e = Assert.Throws<PaySealException.Network>(() => TestEnv.Await(sdk.VerifyAsync(receipt, "alice")));
                    StringAssert.Contains("kept pending", e.Message);
                    Assert.AreEqual(1L, sdk.PendingCount());
                    CollectionAssert.AreEqual(new[] { hash + ".json" }, TestEnv.FilesIn(pendingDir));

                    // Still down: the retry reports it and keeps the receipt.
                    var stillDown = TestEnv.Await(sdk.RetryPendingAsync());
                    Assert.AreEqual(1, stillDown.Count);
                    Assert.IsFalse(stillDown[0].IsVerified);
                    Assert.IsInstanceOf<PaySealException.Network>(stillDown[0].Error);
                    Assert.AreEqual(1L, sdk.PendingCount());

                    // The same receipt failing again is still one pending entry, not two.
                    Assert.Throws<PaySealException.Network>(() => sdk.Verify(receipt, "alice"));
                    Assert.AreEqual(1L, sdk.PendingCount());
                }

                // The game is relaunched (a new client on the same pending dir) and the verifier is
                // back on the same state dir: same keys, same certificate, same ledger.
                verifier.Start();
                using (var sdk = new Client(verifier.ProfileJson, options))
                {
                    Assert.AreEqual(1L, sdk.PendingCount(), "pending receipts survive the app");
                    var results = TestEnv.Await(sdk.RetryPendingAsync());
                    Assert.AreEqual(1, results.Count);
                    Assert.AreEqual(hash, results[0].ReceiptSha256);
                    Assert.AreEqual("alice", results[0].AccountId);
                    Assert.AreEqual(TestEnv.AppId, results[0].AppId);
                    Assert.IsTrue(results[0].IsVerified);
                    Assert.IsNull(results[0].Error);
                    Assert.IsTrue(results[0].Verdict.Paid, results[0].Verdict.ToString());
                    Assert.AreEqual(Redemption.First, results[0].Verdict.Redemption);
                    Assert.AreEqual(0L, sdk.PendingCount());
                    Assert.IsEmpty(TestEnv.FilesIn(pendingDir));
                    Assert.IsEmpty(sdk.RetryPending(), "nothing left to retry");
                }
            }
        }

        [Test]
        public void UntrustedCertificateIsNetworkNotPinMismatch()
        {
            // WebPKI validation is the first gate and is never switched off: the pin alone does
            // not make a self-signed certificate acceptable (reported as Network, see docs/src/sdk.md, "Errors").
            using (var v = DevVerifier.Started("untrusted"))
            using (var sdk = new Client(v.ProfileJson, TestEnv.Options(null, null, 1)))
            {
                var e = Assert.Throws<PaySealException.Network>(() => sdk.Verify(v.Purchase().Receipt(), "alice"));
                StringAssert.Contains("certificate", e.Message.ToLowerInvariant());
            }
        }
    }
}

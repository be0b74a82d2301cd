// The attack suite's cases 1, 2, 5, 6, 7 and 8 (numbered as in attacks/), as the Kotlin and
// Swift suites run them, through the C# layer against real verifier processes. Each also
// shows the verifier recorded nothing it should not: the genuine purchase behind a refused
// attempt is still a FIRST redemption for its real buyer afterwards.
using System.Collections.Generic;
using NUnit.Framework;

namespace PaySeal.Tests
{
    [TestFixture]
    public class AttackTests
    {
        private DevVerifier verifier;
        private Client paySeal;

        [TestFixtureSetUp]
        public void StartVerifier()
        {
            verifier = DevVerifier.Started("attacks");
            paySeal = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }));
        }

        [TestFixtureTearDown]
        public void StopVerifier()
        {
            if (paySeal != null) paySeal.Dispose();
            if (verifier != null) verifier.Dispose();
        }

        private static void AssertBadSignature(Verdict v)
        {
            Assert.IsFalse(v.Paid, v.ToString());
            Assert.AreEqual(NotPaidReason.BadSignature, v.Reason);
            Assert.IsNull(v.Redemption);
            Assert.IsNotEmpty(v.Token, "a not-paid verdict is signed too");
        }

        private void AssertStillFirst(PlayPurchase purchase, string buyer)
        {
            Verdict v = TestEnv.Await(paySeal.VerifyAsync(purchase.Receipt(), buyer));
            Assert.IsTrue(v.Paid, v.ToString());
            Assert.AreEqual(Redemption.First, v.Redemption, "the refused attempt redeemed " + purchase.OrderId);
            Assert.AreEqual(buyer, v.AccountId);
        }

        [Test]
        public void Attack01RandomSignatureIsBadSignature()
        {
            var genuine = verifier.Purchase();
            var forged = genuine.WithRandomSignature();
            Assert.AreEqual(genuine.OriginalJson, forged.OriginalJson);
            AssertBadSignature(TestEnv.Await(paySeal.VerifyAsync(forged.Receipt(), "mallory")));
            AssertStillFirst(genuine, "alice");
        }

        [Test]
        public void Attack02GenuineSignatureOverAlteredJsonIsBadSignature()
        {
            var genuine = verifier.Purchase();
            var variants = new Dictionary<string, PlayPurchase>
            {
                { "product", genuine.Altered("\"productId\":\"gems_100\"", "\"productId\":\"gems_10000\"") },
                { "package", genuine.Altered("\"packageName\":\"" + TestEnv.AppId + "\"", "\"packageName\":\"" + TestEnv.AppId + ".pro\"") },
                { "purchaseState", genuine.Altered("\"purchaseState\":0", "\"purchaseState\":1") },
            };
            foreach (var kv in variants)
            {
                Assert.AreEqual(genuine.OrderId, kv.Value.OrderId, kv.Key);
                Assert.AreEqual(genuine.Signature, kv.Value.Signature, kv.Key);
                AssertBadSignature(paySeal.Verify(kv.Value.Receipt(), "mallory"));
            }
            AssertStillFirst(genuine, "alice");
        }

        [Test]
        public void Attack05FakeVerifierWithTrustedUnpinnedCertificateIsPinMismatch()
        {
            using (var impostor = DevVerifier.Started("unpinned"))
            {
                // Both self-signed certificates are trusted roots (a CA the device trusts); the
                // profile is the real verifier's, pointed at the impostor's port (a DNS or routing
                // takeover). Only the pins tell them apart.
                var roots = new[] { verifier.CertPem, impostor.CertPem };
                string hijacked = verifier.ProfileJson.Replace(verifier.Url, impostor.Url);
                Assert.AreNotEqual(verifier.ProfileJson, hijacked);
                string pendingDir = TestEnv.NewDir("pin-pending");
                var purchase = impostor.Purchase();

                using (var logs = new LogCapture())
                {
                    using (var sdk = new Client(hijacked, TestEnv.Options(roots, pendingDir, 4)))
                    {
                        var e = Assert.Throws<PaySealException.PinMismatch>(() => TestEnv.Await(sdk.VerifyAsync(purchase.Receipt(), "alice")));
                        StringAssert.Contains("pin", e.Message);
                        Assert.AreEqual(ErrorKind.PinMismatch, e.Kind);
                        Assert.AreEqual(0L, sdk.PendingCount(), "a pin mismatch is never kept for retry");
                    }
                    var attempts = logs.Messages().FindAll(m => m.StartsWith("attempt "));
                    Assert.AreEqual(1, attempts.Count, "a pin mismatch is not retried: " + string.Join(", ", attempts.ToArray()));
                }
                Assert.IsEmpty(TestEnv.FilesIn(pendingDir));

                // Control: the same roots and the impostor's own profile connect fine, so the refusal
                // above is the pin check; and the receipt is still FIRST there: nothing reached it.
                using (var sdk = new Client(impostor.ProfileJson, TestEnv.Options(roots)))
                {
                    Verdict v = sdk.Verify(purchase.Receipt(), "alice");
                    Assert.IsTrue(v.Paid, v.ToString());
                    Assert.AreEqual(Redemption.First, v.Redemption, "the impostor got the request before");
                }
            }
        }

        [Test]
        public void Attack06CompromisedProxyFlippingOrSwappingVerdictsIsTampered()
        {
            // (a) A relay holding the pinned certificate and key flips one bit of the sealed answer.
            var flipped = verifier.Purchase();
            using (var relay = new MitmRelay(verifier, "flip-response"))
            using (var sdk = new Client(relay.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }, null, 1)))
            {
                var e = Assert.Throws<PaySealException.Tampered>(() => TestEnv.Await(sdk.VerifyAsync(flipped.Receipt(), "alice")));
                Assert.AreEqual(ErrorKind.Tampered, e.Kind);
                Assert.GreaterOrEqual(relay.ReportCount("responses_altered"), 1L, relay.ReportJson());
            }
            // (b) It answers the second client with the first client's (genuine, signed) answer.
            var first = verifier.Purchase();
            var second = verifier.Purchase();
            using (var relay = new MitmRelay(verifier, "swap-responses"))
            using (var sdk = new Client(relay.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }, null, 1)))
            {
                Verdict own = TestEnv.Await(sdk.VerifyAsync(first.Receipt(), "bob"));
                Assert.IsTrue(own.Paid && own.Redemption == Redemption.First, own.ToString());
                Assert.Throws<PaySealException.Tampered>(() => TestEnv.Await(sdk.VerifyAsync(second.Receipt(), "carol")));
                Assert.AreEqual(1L, relay.ReportCount("responses_altered"), relay.ReportJson());
            }
            // The verifier answered each genuine request: each purchase is its own buyer's, and
            // straight to the verifier the buyer is not locked out (a repeat, not another account's).
            Assert.AreEqual(Redemption.Repeat, paySeal.Verify(flipped.Receipt(), "alice").Redemption);
            Assert.AreEqual(Redemption.Repeat, paySeal.Verify(second.Receipt(), "carol").Redemption);
            Assert.AreEqual(NotPaidReason.AlreadyRedeemed, paySeal.Verify(second.Receipt(), "mallory").Reason);
        }

        [Test]
        public void Attack07OldPaidVerdictReplayedToNewRequestIsTampered()
        {
            using (var relay = new MitmRelay(verifier, "replay-first-response"))
            using (var sdk = new Client(relay.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }, null, 1)))
            {
                // Through the relay: the first answer passes (and is recorded by the relay).
                var bought = verifier.Purchase();
                Verdict old = TestEnv.Await(sdk.VerifyAsync(bought.Receipt(), "alice"));
                Assert.IsTrue(old.Paid && old.Redemption == Redemption.First, old.ToString());

                // A forged receipt, answered with that old paid verdict: refused.
                var genuine = verifier.Purchase();
                var forged = genuine.WithRandomSignature();
                var e = Assert.Throws<PaySealException.Tampered>(() => TestEnv.Await(sdk.VerifyAsync(forged.Receipt(), "mallory")));
                Assert.IsNotEmpty(e.Message);
                // The same receipt and account as the old verdict, in a new request: refused too.
                Assert.Throws<PaySealException.Tampered>(() => sdk.Verify(bought.Receipt(), "alice"));
                Assert.AreEqual(3L, relay.ReportCount("requests"), relay.ReportJson());
                Assert.AreEqual(2L, relay.ReportCount("responses_altered"), relay.ReportJson());

                // The forgery redeemed nothing; the receipt behind the old verdict is alice's.
                AssertStillFirst(genuine, "bob");
                Assert.AreEqual(Redemption.Repeat, paySeal.Verify(bought.Receipt(), "alice").Redemption);
            }
        }

        [Test]
        public void Attack08ReplayFromAnotherAccountIsAlreadyRedeemedSameAccountIsRepeat()
        {
            var purchase = verifier.Purchase();
            Verdict first = TestEnv.Await(paySeal.VerifyAsync(purchase.Receipt(), "alice"));
            Assert.IsTrue(first.Paid, first.ToString());
            Assert.AreEqual(Redemption.First, first.Redemption);

            foreach (var other in new[] { "bob", "carol" })
            {
                Verdict replay = TestEnv.Await(paySeal.VerifyAsync(purchase.Receipt(), other));
                Assert.IsFalse(replay.Paid, replay.ToString());
                Assert.AreEqual(NotPaidReason.AlreadyRedeemed, replay.Reason);
                Assert.IsNull(replay.Redemption);
                Assert.AreEqual(other, replay.AccountId);
            }

            Verdict again = TestEnv.Await(paySeal.VerifyAsync(purchase.Receipt(), "alice"));
            Assert.IsTrue(again.Paid, again.ToString());
            Assert.AreEqual(Redemption.Repeat, again.Redemption);
            Assert.AreEqual(first.TransactionId, again.TransactionId);
            Assert.AreNotEqual(first.VerdictId, again.VerdictId, "each verification gets its own verdict");
            // The replays did not take it over: bob is still refused after the owner's repeat.
            Assert.AreEqual(NotPaidReason.AlreadyRedeemed, paySeal.Verify(purchase.Receipt(), "bob").Reason);
        }
    }
}

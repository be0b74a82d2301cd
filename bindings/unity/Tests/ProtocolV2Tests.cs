// Protocol v2's verdict fields through the C ABI and the C# layer: Verdict.SubscriptionState,
// Verdict.StoreChecked and NotPaidReason.OnHold / Paused / RefundLimit. No verifier path signs
// them yet (the stores' live checks are issues 23 and 24), so a `payseal-mitm --mode resign`
// relay holding the real `payseal-verifier dev`'s own keys changes the verifier's verdict and
// signs and seals it again, as a live-checking verifier would; everything else is the real path
// (pinned TLS, sealed envelopes, the SDK's checks). As bindings/kotlin ProtocolV2Test.
using NUnit.Framework;

namespace PaySeal.Tests
{
    [TestFixture]
    public class ProtocolV2Tests
    {
        private DevVerifier verifier;

        [TestFixtureSetUp]
        public void StartVerifier()
        {
            verifier = DevVerifier.Started("protocol-v2");
        }

        [TestFixtureTearDown]
        public void StopVerifier()
        {
            if (verifier != null) verifier.Dispose();
        }

        private Verdict VerifyThrough(string claimsJson, string account)
        {
            using (var relay = MitmRelay.Resigning(verifier, claimsJson))
            using (var sdk = new Client(relay.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }, null, 1)))
            {
                return TestEnv.Await(sdk.VerifyAsync(verifier.Purchase().Receipt(), account));
            }
        }

        [Test]
        public void ALiveCheckedSubscriptionCarriesItsStateAndStoreChecked()
        {
            Verdict grace = VerifyThrough("{\"subscription_state\":\"in_grace_period\",\"store_checked\":true}", "alice");
            Assert.IsTrue(grace.Paid, grace.ToString());
            Assert.AreEqual(SubscriptionState.InGracePeriod, grace.SubscriptionState);
            Assert.AreEqual(true, grace.StoreChecked);

            Verdict signatureOnly = VerifyThrough("{\"subscription_state\":\"canceled\",\"store_checked\":false}", "alice");
            Assert.IsTrue(signatureOnly.Paid, signatureOnly.ToString());
            Assert.AreEqual(SubscriptionState.Canceled, signatureOnly.SubscriptionState);
            Assert.AreEqual(false, signatureOnly.StoreChecked);
            StringAssert.Contains("subscriptionState=Canceled", signatureOnly.ToString());
        }

        [Test]
        public void TheV2ReasonsReachTheApp()
        {
            var cases = new[]
            {
                new { Wire = "on_hold", Reason = NotPaidReason.OnHold },
                new { Wire = "paused", Reason = NotPaidReason.Paused },
                new { Wire = "refund_limit", Reason = NotPaidReason.RefundLimit },
            };
            foreach (var c in cases)
            {
                Verdict v = VerifyThrough("{\"outcome\":\"not_paid\",\"reason\":\"" + c.Wire
                    + "\",\"redemption\":null,\"subscription_state\":\"on_hold\"}", "bob");
                Assert.IsFalse(v.Paid, v.ToString());
                Assert.AreEqual(c.Reason, v.Reason);
                Assert.IsNull(v.Redemption);
                Assert.AreEqual(SubscriptionState.OnHold, v.SubscriptionState);
                Assert.IsNull(v.StoreChecked, "absent: no live check");
            }
        }

        [Test]
        public void AVerdictOfAVerifierWithoutLiveChecksHasNeitherField()
        {
            using (var sdk = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem })))
            {
                Verdict v = TestEnv.Await(sdk.VerifyAsync(verifier.Purchase().Receipt(), "carol"));
                Assert.IsTrue(v.Paid, v.ToString());
                Assert.IsNull(v.SubscriptionState);
                Assert.IsNull(v.StoreChecked);
            }
        }
    }
}

// Construction errors and the receipt builders; the profile comes from a real dev verifier.
using System;
using NUnit.Framework;

namespace PaySeal.Tests
{
    [TestFixture]
    public class ProfileTests
    {
        private string profile;

        [TestFixtureSetUp]
        public void RealProfile()
        {
            using (var v = DevVerifier.Started("profile")) profile = v.ProfileJson;
        }

        [Test]
        public void BadProfileFailsAtConstructionWithInvalidProfile()
        {
            StringAssert.Contains("\"version\": 1", profile);
            foreach (var bad in new[] { "", "{}", "not json", "[]", profile.Replace("\"version\": 1", "\"version\": 99"),
                profile.Substring(0, profile.Length / 2) })
            {
                var e = Assert.Throws<PaySealException.InvalidProfile>(() => new Client(bad, TestEnv.Options(null)).Dispose(), "profile: " + bad);
                Assert.IsNotEmpty(e.Message);
                Assert.AreEqual(ErrorKind.InvalidProfile, e.Kind);
            }
        }

        [Test]
        public void UnknownProfileFieldIsRefused()
        {
            string extended = "{\"surprise\": true," + profile.Substring(profile.IndexOf('{') + 1);
            Assert.Throws<PaySealException.InvalidProfile>(() => new Client(extended, TestEnv.Options(null)).Dispose());
        }

        [Test]
        public void BadOptionsAndBadExtraRootsAreInvalidProfile()
        {
            var negative = TestEnv.Options(null);
            negative.DeadlineMs = -1;
            Assert.Throws<PaySealException.InvalidProfile>(() => new Client(profile, negative).Dispose());
            var attempts = TestEnv.Options(null);
            attempts.MaxAttempts = 1000;
            Assert.Throws<PaySealException.InvalidProfile>(() => new Client(profile, attempts).Dispose());
            Assert.Throws<PaySealException.InvalidProfile>(() => new Client(profile, TestEnv.Options(new[] { "-----BEGIN NOTHING-----" })).Dispose());
            // The good profile with good options builds, and sends nothing.
            using (var c = new Client(profile, TestEnv.Options(null))) Assert.AreEqual(TestEnv.AppId, c.AppId);
        }

        [Test]
        public void ReceiptBuildersMakeTheStoreVariants()
        {
            var play = Receipt.GooglePlay("{\"a\":1}", "c2ln");
            Assert.AreEqual(Store.GooglePlay, play.Store);
            Assert.AreEqual("{\"a\":1}", play.Data);
            Assert.AreEqual("c2ln", play.Signature);
            var apple = Receipt.AppStore("h.p.s");
            Assert.AreEqual(Store.AppStore, apple.Store);
            Assert.IsNull(apple.Signature);
            Assert.AreEqual(HuaweiAlgorithm.Sha256WithRsa, Receipt.Huawei("{}", "c2ln").Algorithm);
            Assert.AreEqual(HuaweiAlgorithm.Sha256WithRsa, Receipt.ParseHuaweiAlgorithm(""));
            Assert.AreEqual(HuaweiAlgorithm.Sha256WithRsa, Receipt.ParseHuaweiAlgorithm("SHA256WithRSA"));
            Assert.AreEqual(HuaweiAlgorithm.Sha256WithRsaPss, Receipt.ParseHuaweiAlgorithm("SHA256WithRSA/PSS"));
            Assert.Throws<ArgumentException>(() => Receipt.ParseHuaweiAlgorithm("MD5WithRSA"));
            Assert.AreEqual(Store.Sandbox, Receipt.Sandbox("{}", "eA==").Store);
            Assert.AreEqual("Receipt(GooglePlay)", play.ToString(), "no receipt content in ToString");
        }

        [Test]
        public void ReceiptJsonParsesAndHashesThroughTheSdk()
        {
            var r = Receipt.FromJson("{\"store\":\"huawei\",\"purchase_data\":\"{\\\"orderId\\\":\\\"x\\\"}\",\"signature\":\"c2ln\",\"algorithm\":\"SHA256WithRSA/PSS\"}");
            Assert.AreEqual(Receipt.Huawei("{\"orderId\":\"x\"}", "c2ln", Receipt.HuaweiPss), r);
            Assert.AreEqual(64, r.Sha256().Length);
            Assert.AreEqual(r.Sha256(), Receipt.Huawei("{\"orderId\":\"x\"}", "c2ln", Receipt.HuaweiPss).Sha256());
            Assert.AreNotEqual(r.Sha256(), Receipt.Huawei("{\"orderId\":\"y\"}", "c2ln", Receipt.HuaweiPss).Sha256());
            var apple = Receipt.FromJson("{\"store\":\"app_store\",\"jws\":\"h.p.s\"}");
            Assert.AreEqual(Receipt.AppStore("h.p.s"), apple);
            foreach (var bad in new[] { "", "{", "{\"store\":\"amazon\"}", "{\"store\":\"app_store\"}" })
                Assert.Throws<PaySealException.InvalidReceipt>(() => Receipt.FromJson(bad), bad);
            Assert.Throws<PaySealException.InvalidArgument>(() => Receipt.FromJson(null));
        }

        [Test]
        public void SdkVersionIsTheCratesVersion()
        {
            StringAssert.IsMatch("^[0-9]+\\.[0-9]+\\.[0-9]+", Client.SdkVersion);
        }
    }
}

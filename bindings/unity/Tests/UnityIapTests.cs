// Unity IAP's unified receipt (`product.receipt`), exactly as Unity hands it over, through
// Receipt.FromUnityIap (the native parser) to one real `payseal-verifier dev`: Google Play's
// doubly-encoded Payload, the App Store app receipt of AppleAppStore, the same purchase as app
// receipt and as StoreKit 2 JWS redeemed once, and malformed receipts named.
using System;
using System.Text;
using NUnit.Framework;

namespace PaySeal.Tests
{
    [TestFixture]
    public class UnityIapTests
    {
        private DevVerifier verifier;
        private Client paySeal;

        [TestFixtureSetUp]
        public void StartVerifier()
        {
            verifier = DevVerifier.Started("unity-iap");
            paySeal = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }));
        }

        [TestFixtureTearDown]
        public void StopVerifier()
        {
            if (paySeal != null) paySeal.Dispose();
            if (verifier != null) verifier.Dispose();
        }

        /// <summary>A JSON string literal (what Unity's MiniJson writes for a string).</summary>
        private static string Json(string s)
        {
            var b = new StringBuilder("\"");
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': b.Append("\\\""); break;
                    case '\\': b.Append("\\\\"); break;
                    case '/': b.Append("\\/"); break;
                    case '\n': b.Append("\\n"); break;
                    case '\r': b.Append("\\r"); break;
                    case '\t': b.Append("\\t"); break;
                    default:
                        if (c < 0x20) b.Append("\\u").Append(((int)c).ToString("x4"));
                        else b.Append(c);
                        break;
                }
            }
            return b.Append('"').ToString();
        }

        /// <summary>Unity IAP's GooglePlay receipt: Payload is JSON in a string.</summary>
        private static string UnityGooglePlay(string orderId, string originalJson, string signature)
        {
            string payload = "{\"json\":" + Json(originalJson) + ",\"signature\":" + Json(signature)
                + ",\"skuDetails\":[" + Json("{\"productId\":\"gems_100\",\"type\":\"inapp\"}") + "],\"isPurchaseHistorySupported\":true}";
            return "{\"Payload\":" + Json(payload) + ",\"Store\":\"GooglePlay\",\"TransactionID\":" + Json(orderId) + "}";
        }

        /// <summary>Unity IAP's AppleAppStore receipt: Payload is the Base64 app receipt.</summary>
        private static string UnityApple(string transactionId, string appReceipt)
        {
            return "{\"Store\":\"AppleAppStore\",\"TransactionID\":" + Json(transactionId) + ",\"Payload\":" + Json(appReceipt) + "}";
        }

        private static string NewTransactionId()
        {
            return "1000000" + (DateTime.UtcNow.Ticks % 1000000000L).ToString("D9");
        }

        [Test]
        public void GooglePlayUnifiedReceiptIsParsedTwiceAndPaid()
        {
            var purchase = verifier.Purchase();
            string unified = UnityGooglePlay(purchase.OrderId, purchase.OriginalJson, purchase.Signature);
            Receipt r = Receipt.FromUnityIap(unified);
            Assert.AreEqual(Store.GooglePlay, r.Store);
            Assert.AreEqual(purchase.OriginalJson, r.Data, "Payload.json byte for byte");
            Assert.AreEqual(purchase.Signature, r.Signature);
            Assert.AreEqual(purchase.Receipt(), r);

            Verdict v = TestEnv.Await(paySeal.VerifyAsync(r, "alice"));
            Assert.IsTrue(v.Paid, v.ToString());
            Assert.AreEqual(Store.GooglePlay, v.Store);
            Assert.AreEqual(purchase.OrderId, v.TransactionId);
            Assert.AreEqual(r.Sha256(), v.ReceiptSha256);
        }

        [Test]
        public void AppleUnifiedReceiptIsTheAppReceiptAndIsPaid()
        {
            string tx = NewTransactionId();
            Receipt issued = verifier.SandboxReceipt("app-store-receipt", "--product gems_100 --transaction-id " + tx);
            Assert.AreEqual(Store.AppStoreReceipt, issued.Store);
            Receipt r = Receipt.FromUnityIap(UnityApple(tx, issued.Data));
            Assert.AreEqual(Store.AppStoreReceipt, r.Store);
            Assert.AreEqual(issued.Data, r.Data);
            Assert.AreEqual(tx, r.Signature);
            Assert.AreEqual(Receipt.AppStoreAppReceipt(issued.Data, tx), r);

            Verdict v = TestEnv.Await(paySeal.VerifyAsync(r, "alice"));
            Assert.IsTrue(v.Paid, v.ToString());
            Assert.AreEqual(Store.AppStore, v.Store, "an app receipt's verdict names the App Store");
            Assert.AreEqual(tx, v.TransactionId);
            Assert.AreEqual("gems_100", v.ProductId);
            Assert.AreEqual(Redemption.First, v.Redemption);
            Assert.AreEqual(r.Sha256(), v.ReceiptSha256);
        }

        [Test]
        public void TheSamePurchaseAsAppReceiptAndAsJwsRedeemsOnce()
        {
            string tx = NewTransactionId();
            string args = "--product gems_100 --transaction-id " + tx;
            Receipt appReceipt = Receipt.FromUnityIap(UnityApple(tx, verifier.SandboxReceipt("app-store-receipt", args).Data));
            Receipt jws = verifier.SandboxReceipt("app-store", args);
            Assert.AreEqual(Store.AppStore, jws.Store);

            Verdict first = TestEnv.Await(paySeal.VerifyAsync(appReceipt, "alice"));
            Assert.IsTrue(first.Paid, first.ToString());
            Assert.AreEqual(Redemption.First, first.Redemption);
            Verdict again = TestEnv.Await(paySeal.VerifyAsync(jws, "alice"));
            Assert.IsTrue(again.Paid, again.ToString());
            Assert.AreEqual(Redemption.Repeat, again.Redemption, "the JWS is the same purchase");
            Verdict other = TestEnv.Await(paySeal.VerifyAsync(jws, "mallory"));
            Assert.IsFalse(other.Paid);
            Assert.AreEqual(Reason.AlreadyRedeemed, other.Reason);
            Verdict otherReceipt = TestEnv.Await(paySeal.VerifyAsync(appReceipt, "mallory"));
            Assert.AreEqual(Reason.AlreadyRedeemed, otherReceipt.Reason);
        }

        [Test]
        public void AnAppReceiptNamingAnotherTransactionIsNotPurchased()
        {
            Receipt issued = verifier.SandboxReceipt("app-store-receipt", "--product gems_100 --transaction-id " + NewTransactionId());
            Receipt r = Receipt.FromUnityIap(UnityApple("1000000999999999", issued.Data));
            Verdict v = TestEnv.Await(paySeal.VerifyAsync(r, "alice"));
            Assert.IsFalse(v.Paid);
            Assert.AreEqual(Reason.NotPurchased, v.Reason);
        }

        [Test]
        public void MalformedUnifiedReceiptsAreInvalidReceiptNamingWhatIsWrong()
        {
            var cases = new[]
            {
                new[] { "not json", "not a JSON object" },
                new[] { "{\"Payload\":\"x\"}", "no Store" },
                new[] { "{\"Store\":\"fake\",\"TransactionID\":\"1\",\"Payload\":\"x\"}", "\"fake\" is not supported" },
                new[] { "{\"Store\":\"AppleAppStore\",\"Payload\":\"MIIT\"}", "no TransactionID" },
                new[] { "{\"Store\":\"GooglePlay\",\"TransactionID\":\"1\",\"Payload\":\"{}\"}", "no Payload.json" },
                new[] { "{\"Store\":\"GooglePlay\",\"TransactionID\":\"1\",\"Payload\":\"nope\"}", "GooglePlay Payload" },
            };
            foreach (var c in cases)
            {
                var e = Assert.Throws<PaySealException.InvalidReceipt>(() => Receipt.FromUnityIap(c[0]), c[0]);
                StringAssert.Contains(c[1], e.Message, c[0]);
            }
            Assert.Throws<PaySealException.InvalidReceipt>(() => Receipt.FromUnityIap(null));
        }
    }
}

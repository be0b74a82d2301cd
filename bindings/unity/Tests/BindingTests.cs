// Issue 11, product and account binding, through the C# layer against a real
// `payseal-verifier dev` over pinned TLS, with store-format purchases from the sandbox store
// (as bindings/kotlin BindingTest and bindings/swift BindingTests):
//  - a genuine cheap receipt answering an expensive purchase is not paid, WrongProduct, and not
//    consumed: the same receipt for its own product is paid, First;
//  - a purchase whose obfuscatedAccountId / appAccountToken is another account's token is not
//    paid, WrongAccount; its own account is paid;
//  - the account-token helpers give sdk-core's derivations; bad expected product ids are typed errors.
using System;
using System.Threading;
using NUnit.Framework;

namespace PaySeal.Tests
{
    [TestFixture]
    public class BindingTests
    {
        /// <summary><c>DEV_ACCOUNT_NAMESPACE</c> of verifier/src/dev.rs: the dev app binds accounts with UUIDv5 tokens in it.</summary>
        private const string DevAccountNamespace = "5d0e6c1a-8f3b-4e27-9a64-2c71b0f4d9e8";
        private static readonly string[] Stores = { "google-play", "app-store" };

        private DevVerifier verifier;
        private Client paySeal;

        [TestFixtureSetUp]
        public void StartVerifier()
        {
            verifier = DevVerifier.Started("binding");
            paySeal = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }));
        }

        [TestFixtureTearDown]
        public void StopVerifier()
        {
            if (paySeal != null) paySeal.Dispose();
            if (verifier != null) verifier.Dispose();
        }

        [Test]
        public void CheapReceiptForAnExpensiveProductIsWrongProductAndNotConsumed()
        {
            foreach (string store in Stores)
            {
                Receipt cheap = verifier.Issue(store, "gems_100");
                Verdict refused = TestEnv.Await(paySeal.VerifyAsync(cheap, "alice", "gems_10000"));
                Assert.IsFalse(refused.Paid, store + ": " + refused);
                Assert.AreEqual(NotPaidReason.WrongProduct, refused.Reason, store);
                Assert.IsNull(refused.Redemption, store);
                Assert.AreEqual("gems_100", refused.ProductId, "the verdict names what the receipt is");

                Verdict paid = TestEnv.Await(paySeal.VerifyAsync(cheap, "alice", "gems_100"));
                Assert.IsTrue(paid.Paid, store + ": " + paid);
                Assert.AreEqual(Redemption.First, paid.Redemption, store + ": the refused attempt consumed the receipt");
                Assert.AreEqual("gems_100", paid.ProductId);

                // The blocking form (off the test thread's callback-free path), for the expensive product again.
                Verdict again = null;
                var t = new Thread(() => again = paySeal.Verify(cheap, "alice", "gems_10000"));
                t.Start();
                Assert.IsTrue(t.Join(TimeSpan.FromSeconds(120)));
                Assert.IsNotNull(again, store);
                Assert.IsFalse(again.Paid, store + ": " + again);
                Assert.AreEqual(NotPaidReason.WrongProduct, again.Reason, store);
                // Without a product (calls written before the parameter existed): a repeat.
                Assert.AreEqual(Redemption.Repeat, paySeal.Verify(cheap, "alice").Redemption, store);
            }
        }

        [Test]
        public void PurchaseBoundToAnotherAccountIsWrongAccount()
        {
            // What the app sets at purchase time: Play setObfuscatedAccountId(token), StoreKit 2
            // appAccountToken(UUID(uuidString: token)).
            string aliceToken = AccountToken.UuidV5(DevAccountNamespace, "alice");
            Assert.AreEqual(36, aliceToken.Length);
            foreach (string store in Stores)
            {
                Receipt bound = verifier.Issue(store, "gems_100", aliceToken);
                Verdict stolen = TestEnv.Await(paySeal.VerifyAsync(bound, "mallory"));
                Assert.IsFalse(stolen.Paid, store + ": " + stolen);
                Assert.AreEqual(NotPaidReason.WrongAccount, stolen.Reason, store);

                Verdict own = TestEnv.Await(paySeal.VerifyAsync(bound, "alice", "gems_100"));
                Assert.IsTrue(own.Paid, store + ": " + own);
                Assert.AreEqual(Redemption.First, own.Redemption, store + ": the refused attempt redeemed it");
            }
        }

        [Test]
        public void AccountTokensAreSdkCoresDerivations()
        {
            // The same constants are asserted against the Rust functions in
            // bindings/unity/Native~/src/exports.rs (account_tokens_are_sdk_cores).
            Assert.AreEqual("c6599123-c29e-5453-9143-183b1164dcd1", AccountToken.UuidV5(DevAccountNamespace, "alice"));
            Assert.AreEqual("6440fb73-89ce-5c82-b713-a30a18729556", AccountToken.UuidV5(DevAccountNamespace, "Jürgen-東京-🎮"));
            // Upper-case namespace: the same UUID, the same token.
            Assert.AreEqual("c6599123-c29e-5453-9143-183b1164dcd1", AccountToken.UuidV5(DevAccountNamespace.ToUpperInvariant(), "alice"));
            Assert.AreEqual("2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90", AccountToken.Sha256Hex("alice"));
            Assert.AreEqual("779bf6c9f4019b66ae10b95e05c91dab88957ca40ae7449c6f0b5ee04d54442e", AccountToken.Sha256Hex("Jürgen-東京-🎮"));

            Assert.Throws<PaySealException.InvalidProfile>(() => AccountToken.UuidV5("not-a-uuid", "alice"));
            Assert.Throws<PaySealException.InvalidArgument>(() => AccountToken.UuidV5(null, "alice"));
            Assert.Throws<PaySealException.InvalidArgument>(() => AccountToken.UuidV5(DevAccountNamespace, null));
            Assert.Throws<PaySealException.InvalidArgument>(() => AccountToken.Sha256Hex(null));
        }

        [Test]
        public void BadExpectedProductIdIsInvalidReceiptAndChangesNothing()
        {
            Receipt receipt = verifier.Issue("google-play", "gems_100");
            string oversized = new string('p', 257);
            string oversizedUtf8 = new string('é', 129); // 258 bytes of UTF-8, 129 characters
            foreach (string bad in new[] { "", "   ", oversized, oversizedUtf8 })
            {
                string what = "expected product of " + bad.Length + " chars";
                Assert.Throws<PaySealException.InvalidReceipt>(() => TestEnv.Await(paySeal.VerifyAsync(receipt, "alice", bad)), what);
                Assert.Throws<PaySealException.InvalidReceipt>(() => paySeal.Verify(receipt, "alice", bad), what);
            }
            // Null is "no product check"; the refused calls sent nothing, so this is the first redemption.
            Verdict v = TestEnv.Await(paySeal.VerifyAsync(receipt, "alice", null));
            Assert.IsTrue(v.Paid, v.ToString());
            Assert.AreEqual(Redemption.First, v.Redemption);
            // 256 bytes is allowed: a genuine receipt for another product, so WrongProduct.
            Verdict longest = paySeal.Verify(receipt, "alice", new string('p', 256));
            Assert.AreEqual(NotPaidReason.WrongProduct, longest.Reason, longest.ToString());
        }
    }
}

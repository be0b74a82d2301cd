// Issue 13, subscriptions, through the C# layer against a real `payseal-verifier dev`: App Store
// auto-renewable subscriptions from the sandbox store, Verdict.Kind, Verdict.SubscriptionExpiresAt
// (Unix ms, not the token's ExpiresAt) and NotPaidReason.Expired (as bindings/kotlin SubscriptionTest).
using System;
using NUnit.Framework;

namespace PaySeal.Tests
{
    [TestFixture]
    public class SubscriptionTests
    {
        private const long DayMs = 86400000L;
        private DevVerifier verifier;
        private Client paySeal;

        [TestFixtureSetUp]
        public void StartVerifier()
        {
            verifier = DevVerifier.Started("subscriptions");
            paySeal = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }));
        }

        [TestFixtureTearDown]
        public void StopVerifier()
        {
            if (paySeal != null) paySeal.Dispose();
            if (verifier != null) verifier.Dispose();
        }

        private Receipt AppStoreSubscription(string args)
        {
            return verifier.SandboxReceipt("app-store", "--product pro_monthly --type subscription " + args);
        }

        private static long NowMs() { return DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(); }

        [Test]
        public void CurrentSubscriptionIsPaidUntilItsEndAndExpiredOneIsExpired()
        {
            string chain = "30000" + (DateTime.UtcNow.Ticks % 100000000);
            Verdict current = TestEnv.Await(paySeal.VerifyAsync(AppStoreSubscription("--expires-in 30d --transaction-id " + chain), "alice", "pro_monthly"));
            Assert.IsTrue(current.Paid, current.ToString());
            Assert.AreEqual(Redemption.First, current.Redemption);
            Assert.AreEqual(PurchaseKind.Subscription, current.Kind);
            Assert.IsTrue(current.SubscriptionExpiresAt.HasValue, current.ToString());
            long end = current.SubscriptionExpiresAt.Value, now = NowMs();
            Assert.Greater(end, now + 29 * DayMs, "end " + end);
            Assert.Less(end, now + 31 * DayMs, "end " + end);
            Assert.AreEqual(end, current.SubscriptionExpiresAtTime.Value.ToUnixTimeMilliseconds());
            Assert.Greater(current.SubscriptionExpiresAtTime.Value, DateTimeOffset.UtcNow.AddDays(29));
            // The token's expiry is seconds and minutes away; the subscription's is a month.
            Assert.Less(current.ExpiresAt * 1000, end);

            // A lapsed renewal of the same chain (the blocking form).
            Verdict lapsed = paySeal.Verify(AppStoreSubscription("--expired --original-transaction-id " + chain), "alice");
            Assert.IsFalse(lapsed.Paid, lapsed.ToString());
            Assert.AreEqual(NotPaidReason.Expired, lapsed.Reason);
            Assert.AreEqual(PurchaseKind.Subscription, lapsed.Kind);
            Assert.IsTrue(lapsed.SubscriptionExpiresAt.HasValue);
            Assert.Less(lapsed.SubscriptionExpiresAt.Value, NowMs());

            // A later renewal pays again, as a repeat of the chain, with a later end.
            Verdict renewed = TestEnv.Await(paySeal.VerifyAsync(AppStoreSubscription("--expires-in 60d --original-transaction-id " + chain), "alice"));
            Assert.IsTrue(renewed.Paid, renewed.ToString());
            Assert.AreEqual(Redemption.Repeat, renewed.Redemption);
            Assert.Greater(renewed.SubscriptionExpiresAt.Value, end);
        }

        [Test]
        public void OneTimeProductsHaveNoSubscriptionEnd()
        {
            Verdict coins = TestEnv.Await(paySeal.VerifyAsync(verifier.Issue("app-store", "gems_100"), "alice"));
            Assert.IsTrue(coins.Paid, coins.ToString());
            Assert.AreEqual(PurchaseKind.Consumable, coins.Kind);
            Assert.IsNull(coins.SubscriptionExpiresAt);
            Assert.IsNull(coins.SubscriptionExpiresAtTime);

            Verdict pack = TestEnv.Await(paySeal.VerifyAsync(verifier.SandboxReceipt("app-store", "--product level_pack --type non-consumable"), "alice"));
            Assert.IsTrue(pack.Paid, pack.ToString());
            Assert.AreEqual(PurchaseKind.NonConsumable, pack.Kind);
            Assert.IsNull(pack.SubscriptionExpiresAt);
        }
    }
}

// Issue 25, entitlements and restore, through the C# layer against a real `payseal-verifier dev`
// whose verifier.toml names the app's entitlements (as sdk-core/tests/entitlements.rs):
//  - a non-consumable grants the entitlement its product is configured for, in a signed answer;
//  - a restore of several receipts in one call on a fresh client (a new device: new cache folder);
//  - the offline copy after the verifier stops (with its age), an edited copy refused, none invented;
//  - bad arguments are typed exceptions, nothing sent.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using NUnit.Framework;

namespace PaySeal.Tests
{
    [TestFixture]
    public class EntitlementsTests
    {
        /// <summary>The app's entitlements, appended to the dev verifier's configuration.</summary>
        internal const string Config = "[apps.\"dev.payseal.demo\".entitlements]\n"
            + "premium = [\"lifetime_pro\", \"pro_monthly\"]\n"
            + "no_ads = [\"remove_ads\"]\n";

        private const long DayMs = 86400000L;
        private DevVerifier verifier;

        [TestFixtureSetUp]
        public void StartVerifier()
        {
            verifier = DevVerifier.StartedWithConfig("entitlements", Config);
        }

        [TestFixtureTearDown]
        public void StopVerifier()
        {
            if (verifier != null) verifier.Dispose();
        }

        private static string Account(string name) { return name + "-" + Guid.NewGuid().ToString("N").Substring(0, 8); }

        private static long NowMs() { return DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(); }

        private Client NewClient(DevVerifier v, string entitlementsDir)
        {
            Options o = TestEnv.Options(new[] { v.CertPem }, null, 1);
            o.EntitlementsDir = entitlementsDir;
            return new Client(v.ProfileJson, o);
        }

        /// <summary>An App Store non-consumable of <paramref name="product"/> with transaction id <paramref name="tx"/>.</summary>
        private static Receipt NonConsumable(DevVerifier v, string product, string tx)
        {
            return v.SandboxReceipt("app-store", "--product " + product + " --type non-consumable --transaction-id " + tx);
        }

        private static string Tx() { return "2000" + (DateTime.UtcNow.Ticks % 1000000000000L) + new Random().Next(1000, 9999); }

        /// <summary>The JSON of a compact JWS's protected header.</summary>
        private static string JwsHeader(string token)
        {
            string[] parts = token.Split('.');
            Assert.AreEqual(3, parts.Length, "a compact JWS: " + token);
            string b64 = parts[0].Replace('-', '+').Replace('_', '/');
            b64 += new string('=', (4 - b64.Length % 4) % 4);
            return Encoding.UTF8.GetString(Convert.FromBase64String(b64));
        }

        private static List<string> Names(Entitlements e)
        {
            return e.Active.Select(x => x.Name + ":" + x.ProductId).ToList();
        }

        [Test]
        public void NonConsumableGrantsItsConfiguredEntitlementInASignedAnswer()
        {
            string alice = Account("alice"), bob = Account("bob"), tx = Tx();
            using (var sdk = NewClient(verifier, null))
            {
                Entitlements before = TestEnv.Await(sdk.EntitlementsAsync(alice));
                Assert.IsEmpty(before.Active, before.ToString());
                Assert.IsFalse(before.Has("premium"));

                long bought = NowMs();
                Verdict v = TestEnv.Await(sdk.VerifyAsync(NonConsumable(verifier, "lifetime_pro", tx), alice));
                Assert.IsTrue(v.Paid, v.ToString());
                // A consumable grants nothing, even to the same account.
                Assert.IsTrue(TestEnv.Await(sdk.VerifyAsync(verifier.Purchase("gems_100").Receipt(), alice)).Paid);

                Entitlements e = TestEnv.Await(sdk.EntitlementsAsync(alice));
                Assert.IsTrue(e.Has("premium"), e.ToString());
                Assert.IsFalse(e.Has("no_ads"));
                Assert.AreEqual(1, e.Active.Count, e.ToString());
                Entitlement premium = e.Active[0];
                Assert.AreEqual("premium", premium.Name);
                Assert.AreEqual("lifetime_pro", premium.ProductId);
                Assert.AreEqual(Store.AppStore, premium.Store);
                Assert.AreEqual(StoreEnvironment.Sandbox, premium.Environment);
                Assert.AreEqual(PurchaseKind.NonConsumable, premium.Kind);
                Assert.AreEqual(tx, premium.TransactionKey);
                Assert.IsNull(premium.ExpiresAt, "a non-consumable has no end");
                Assert.IsNull(premium.ExpiresAtTime);
                Assert.IsNull(premium.WillRenew);
                Assert.That(premium.Since, Is.InRange(bought - 5000, NowMs() + 5000));

                // The signed document: this account and app, fresh, its own JWS type.
                Assert.AreEqual(alice, e.AccountId);
                Assert.AreEqual(TestEnv.AppId, e.AppId);
                Assert.IsFalse(e.FromCache);
                // The device clock is read in whole seconds: a fresh answer is at most a second "younger".
                Assert.That(e.AgeMs, Is.InRange(-1000L, 10000L), "age " + e.AgeMs);
                Assert.That(e.AsOf, Is.InRange(bought - 5000, NowMs() + 5000));
                Assert.Greater(e.TokenExpiresAt, e.IssuedAt);
                Assert.IsNotEmpty(e.AnswerId);
                StringAssert.Contains("\"typ\":\"payseal-entitlements+jwt\"", JwsHeader(e.Token).Replace(" ", ""));
                Assert.AreNotEqual(e.AnswerId, before.AnswerId, "each answer is its own document");

                // Another account owns nothing; the blocking form says the same as the task.
                Assert.IsEmpty(sdk.GetEntitlements(bob).Active);
                CollectionAssert.AreEqual(Names(e), Names(sdk.GetEntitlements(alice)));
                // No folder configured: nothing kept.
                Assert.IsNull(sdk.CachedEntitlements(alice));
            }
        }

        [Test]
        public void RestoreOfSeveralReceiptsOnAFreshClientThenAnotherAccountGetsNothing()
        {
            string alice = Account("alice"), bob = Account("bob"), lifetimeTx = Tx();
            Receipt lifetime = NonConsumable(verifier, "lifetime_pro", lifetimeTx);
            Receipt ads = verifier.SandboxReceipt("huawei", "--product remove_ads --type non-consumable");
            long end = NowMs() + 30 * DayMs;
            Receipt sub = verifier.SandboxReceipt("app-store", "--product pro_monthly --type subscription --expires-in 30d");
            Receipt coins = verifier.Purchase("gems_100").Receipt();
            Receipt forged = verifier.Purchase("remove_ads").Altered("remove_ads", "remove_adz").Receipt();

            // Bought on the old device.
            using (var old = NewClient(verifier, TestEnv.NewDir("ents-old")))
                Assert.IsTrue(TestEnv.Await(old.VerifyAsync(lifetime, alice)).Paid);

            // A new device: a fresh client with an empty folder restores everything in one call.
            string dir = TestEnv.NewDir("ents-new-device");
            using (var sdk = NewClient(verifier, dir))
            {
                Assert.IsNull(sdk.CachedEntitlements(alice), "nothing kept on a new device");
                RestoreResult r = TestEnv.Await(sdk.RestoreAsync(new List<Receipt> { lifetime, ads, sub, coins, forged }, alice));

                Assert.AreEqual(5, r.Verdicts.Count);
                Receipt[] sent = { lifetime, ads, sub, coins, forged };
                for (int i = 0; i < sent.Length; i++)
                {
                    Assert.AreEqual(sent[i].Sha256(), r.Verdicts[i].ReceiptSha256, "verdict " + i + " answers receipt " + i);
                    Assert.AreEqual(alice, r.Verdicts[i].AccountId);
                }
                Assert.IsTrue(r.Verdicts[0].Paid, r.Verdicts[0].ToString());
                Assert.AreEqual(Redemption.Repeat, r.Verdicts[0].Redemption, "redeemed by alice on the old device");
                for (int i = 1; i <= 3; i++)
                {
                    Assert.IsTrue(r.Verdicts[i].Paid, r.Verdicts[i].ToString());
                    Assert.AreEqual(Redemption.First, r.Verdicts[i].Redemption, r.Verdicts[i].ToString());
                }
                Assert.IsFalse(r.Verdicts[4].Paid);
                Assert.AreEqual(NotPaidReason.BadSignature, r.Verdicts[4].Reason);

                Entitlements e = r.Entitlements;
                CollectionAssert.AreEqual(new[] { "no_ads:remove_ads", "premium:lifetime_pro", "premium:pro_monthly" }, Names(e), e.ToString());
                Assert.AreEqual(Store.Huawei, e.Active[0].Store);
                Assert.AreEqual(lifetimeTx, e.Active[1].TransactionKey);
                Entitlement monthly = e.Active[2];
                Assert.AreEqual(PurchaseKind.Subscription, monthly.Kind);
                Assert.IsTrue(monthly.ExpiresAt.HasValue, monthly.ToString());
                Assert.That(monthly.ExpiresAt.Value, Is.InRange(end - 60000, end + 60000));
                Assert.AreEqual(monthly.ExpiresAt.Value, monthly.ExpiresAtTime.Value.ToUnixTimeMilliseconds());
                Assert.IsFalse(e.FromCache);
                Assert.AreEqual(alice, e.AccountId);

                // The answer was kept in the new folder, and reads back checked.
                Assert.AreEqual(1, TestEnv.FilesIn(dir).Count, string.Join(", ", TestEnv.FilesIn(dir)));
                Entitlements kept = sdk.CachedEntitlements(alice);
                Assert.IsTrue(kept.FromCache);
                Assert.AreEqual(e.Token, kept.Token);
                CollectionAssert.AreEqual(Names(e), Names(kept));

                // The same receipts restored by another account (transfer = never, the default):
                // already redeemed, and nothing owned (the blocking form).
                RestoreResult other = sdk.Restore(new[] { lifetime, ads, sub }, bob);
                Assert.AreEqual(3, other.Verdicts.Count);
                foreach (Verdict v in other.Verdicts)
                {
                    Assert.IsFalse(v.Paid, v.ToString());
                    Assert.AreEqual(NotPaidReason.AlreadyRedeemed, v.Reason, v.ToString());
                }
                Assert.IsEmpty(other.Entitlements.Active);
                Assert.AreEqual(bob, other.Entitlements.AccountId);

                // A restore with nothing to restore is a plain question.
                RestoreResult empty = TestEnv.Await(sdk.RestoreAsync(new Receipt[0], alice));
                Assert.IsEmpty(empty.Verdicts);
                CollectionAssert.AreEqual(Names(e), Names(empty.Entitlements));
            }
        }

        [Test]
        public void OfflineTheKeptAnswerIsUsedWithItsAgeAndRefusedWhenEdited()
        {
            using (var v = DevVerifier.StartedWithConfig("entitlements-offline", Config))
            {
                string dir = TestEnv.NewDir("ents-offline");
                Entitlements online;
                using (var sdk = NewClient(v, dir))
                {
                    Assert.IsTrue(sdk.Verify(NonConsumable(v, "lifetime_pro", Tx()), "alice").Paid);
                    online = TestEnv.Await(sdk.EntitlementsAsync("alice"));
                    Assert.IsTrue(online.Has("premium") && !online.FromCache, online.ToString());
                    Assert.IsEmpty(TestEnv.Await(sdk.EntitlementsAsync("bob")).Active, "bob's (empty) answer is kept too");
                }
                Assert.AreEqual(2, TestEnv.FilesIn(dir).Count);

                v.Stop();
                Thread.Sleep(2100);
                // The game is relaunched offline (a new client on the same folder).
                using (var sdk = NewClient(v, dir))
                {
                    Entitlements atStart = sdk.CachedEntitlements("alice");
                    Assert.IsNotNull(atStart);
                    Assert.IsTrue(atStart.FromCache);
                    Assert.AreEqual(online.Token, atStart.Token);

                    Entitlements offline = TestEnv.Await(sdk.EntitlementsAsync("alice"));
                    Assert.IsTrue(offline.FromCache, offline.ToString());
                    Assert.IsTrue(offline.Has("premium"));
                    Assert.AreEqual(online.Token, offline.Token);
                    Assert.AreEqual(online.AsOf, offline.AsOf);
                    Assert.GreaterOrEqual(offline.AgeMs, 1000L, "the copy is as old as the answer");
                    Assert.AreEqual(offline.AgeMs, (long)offline.Age.TotalMilliseconds);

                    // Nobody asked for carol while online: no answer, none invented.
                    var none = Assert.Throws<PaySealException.Network>(() => TestEnv.Await(sdk.EntitlementsAsync("carol")));
                    StringAssert.Contains("no entitlements answer kept offline", none.Message);
                    Assert.IsNull(sdk.CachedEntitlements("carol"));

                    // Edited on disk: bob's genuine (empty) answer copied over alice's, then one changed byte.
                    string alicesFile = null, bobsFile = null;
                    foreach (string name in TestEnv.FilesIn(dir))
                    {
                        string path = Path.Combine(dir, name);
                        if (File.ReadAllText(path).Trim() == online.Token) alicesFile = path; else bobsFile = path;
                    }
                    Assert.IsNotNull(alicesFile, "alice's answer is kept as its token");
                    File.Copy(bobsFile, alicesFile, true);
                    Assert.Throws<PaySealException.Tampered>(() => TestEnv.Await(sdk.EntitlementsAsync("alice")));
                    Assert.Throws<PaySealException.Tampered>(() => sdk.CachedEntitlements("alice"));

                    char[] edited = online.Token.ToCharArray();
                    int at = online.Token.IndexOf('.') + 10;
                    edited[at] = edited[at] == 'A' ? 'B' : 'A';
                    File.WriteAllText(alicesFile, new string(edited));
                    var e = Assert.Throws<PaySealException.Tampered>(() => TestEnv.Await(sdk.EntitlementsAsync("alice")));
                    StringAssert.Contains("cached entitlements refused", e.Message);
                    Assert.Throws<PaySealException.Tampered>(() => sdk.GetEntitlements("alice"));
                    Assert.Throws<PaySealException.Tampered>(() => sdk.CachedEntitlements("alice"));
                }

                // Back online: a fresh answer replaces the edited copy.
                v.Start();
                using (var sdk = NewClient(v, dir))
                {
                    Entitlements fresh = TestEnv.Await(sdk.EntitlementsAsync("alice"));
                    Assert.IsTrue(fresh.Has("premium") && !fresh.FromCache, fresh.ToString());
                    Assert.AreEqual(fresh.Token, sdk.CachedEntitlements("alice").Token);
                }
            }
        }

        [Test]
        public void BadArgumentsAreTypedAndSendNothing()
        {
            Receipt genuine = NonConsumable(verifier, "lifetime_pro", Tx());
            string dir = TestEnv.NewDir("ents-bad");
            using (var sdk = NewClient(verifier, dir))
            {
                Assert.Throws<PaySealException.InvalidArgument>(() => TestEnv.Await(sdk.EntitlementsAsync(null)));
                Assert.Throws<PaySealException.InvalidArgument>(() => sdk.CachedEntitlements(null));
                foreach (string account in new[] { "", " ", new string('a', 257) })
                {
                    Assert.Throws<PaySealException.InvalidReceipt>(() => TestEnv.Await(sdk.EntitlementsAsync(account)), "account '" + account + "'");
                    Assert.Throws<PaySealException.InvalidReceipt>(() => sdk.GetEntitlements(account));
                    Assert.Throws<PaySealException.InvalidReceipt>(() => sdk.CachedEntitlements(account));
                    Assert.Throws<PaySealException.InvalidReceipt>(() => TestEnv.Await(sdk.RestoreAsync(new[] { genuine }, account)));
                }

                var e = Assert.Throws<PaySealException.InvalidArgument>(() => TestEnv.Await(sdk.RestoreAsync(null, "alice")));
                StringAssert.Contains("receipts is null", e.Message);
                e = Assert.Throws<PaySealException.InvalidArgument>(() => TestEnv.Await(sdk.RestoreAsync(new[] { genuine, null }, "alice")));
                StringAssert.Contains("receipts[1] is null", e.Message);
                Assert.Throws<PaySealException.InvalidArgument>(() => sdk.Restore(new[] { genuine }, null));
                e = Assert.Throws<PaySealException.InvalidArgument>(() => sdk.Restore(new[] { genuine, Receipt.GooglePlay(null, "c2ln") }, "alice"));
                StringAssert.Contains("receipts[1]", e.Message);
                var r = Assert.Throws<PaySealException.InvalidReceipt>(() => TestEnv.Await(sdk.RestoreAsync(new[] { genuine, Receipt.AppStore("") }, "alice")));
                StringAssert.Contains("empty", r.Message);
                r = Assert.Throws<PaySealException.InvalidReceipt>(() => TestEnv.Await(sdk.RestoreAsync(Enumerable.Repeat(genuine, 51), "alice")));
                StringAssert.Contains("at most 50", r.Message);

                // Nothing was sent: the genuine receipt is still unredeemed, and nothing was kept.
                Assert.IsEmpty(TestEnv.FilesIn(dir));
                Verdict first = sdk.Verify(genuine, "alice");
                Assert.AreEqual(Redemption.First, first.Redemption, first.ToString());
            }

            // A folder that cannot be one is a bad option, named.
            string file = Path.Combine(TestEnv.NewDir("ents-file"), "not-a-folder");
            File.WriteAllText(file, "x");
            Options o = TestEnv.Options(new[] { verifier.CertPem });
            o.EntitlementsDir = file;
            var p = Assert.Throws<PaySealException.InvalidProfile>(() => new Client(verifier.ProfileJson, o));
            StringAssert.Contains("entitlements_dir", p.Message);

            var disposed = NewClient(verifier, null);
            disposed.Dispose();
            Assert.Throws<ObjectDisposedException>(() => disposed.EntitlementsAsync("alice"));
            Assert.Throws<ObjectDisposedException>(() => disposed.CachedEntitlements("alice"));
            Assert.Throws<ObjectDisposedException>(() => disposed.RestoreAsync(new[] { genuine }, "alice"));
        }
    }
}

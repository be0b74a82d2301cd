// The store answers through the C# layer against one real `payseal-verifier dev` over pinned
// TLS with sealed envelopes. Every test buys its own purchase, so the order does not matter.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace PaySeal.Tests
{
    [TestFixture]
    public class VerifyTests
    {
        private DevVerifier verifier;
        private Client paySeal;

        [TestFixtureSetUp]
        public void StartVerifier()
        {
            verifier = DevVerifier.Started("verify");
            paySeal = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }));
        }

        [TestFixtureTearDown]
        public void StopVerifier()
        {
            if (paySeal != null) paySeal.Dispose();
            if (verifier != null) verifier.Dispose();
        }

        private static string DecodeSegment(string b64url)
        {
            string s = b64url.Replace('-', '+').Replace('_', '/');
            s += new string('=', (4 - s.Length % 4) % 4);
            return Encoding.UTF8.GetString(Convert.FromBase64String(s));
        }

        [Test]
        public void GenuinePlayPurchaseIsPaidFirst()
        {
            var purchase = verifier.Purchase();
            var receipt = purchase.Receipt();
            Verdict v = TestEnv.Await(paySeal.VerifyAsync(receipt, "alice"));

            Assert.IsTrue(v.Paid, v.ToString());
            Assert.IsNull(v.Reason);
            Assert.AreEqual(Redemption.First, v.Redemption);
            Assert.AreEqual(Store.GooglePlay, v.Store);
            Assert.AreEqual(StoreEnvironment.Sandbox, v.Environment);
            Assert.AreEqual("gems_100", v.ProductId);
            Assert.AreEqual(purchase.OrderId, v.TransactionId);
            Assert.AreEqual(1L, v.Quantity);
            Assert.IsNotNull(v.PurchasedAt);
            Assert.AreEqual("alice", v.AccountId);
            Assert.AreEqual(TestEnv.AppId, v.AppId);
            Assert.AreEqual(receipt.Sha256(), v.ReceiptSha256);
            Assert.AreEqual(64, v.ReceiptSha256.Length);
            Assert.Greater(v.ExpiresAt, v.IssuedAt);

            // The token to forward: a compact EdDSA JWS whose claims say the same.
            string[] parts = v.Token.Split('.');
            Assert.AreEqual(3, parts.Length);
            string header = DecodeSegment(parts[0]), claims = DecodeSegment(parts[1]);
            StringAssert.Contains("\"alg\":\"EdDSA\"", header);
            StringAssert.Contains("payseal-verdict+jwt", header);
            StringAssert.Contains("\"outcome\":\"paid\"", claims);
            StringAssert.Contains("\"sub\":\"alice\"", claims);
            StringAssert.Contains("\"jti\":\"" + v.VerdictId + "\"", claims);
        }

        [Test]
        public void BlockingVerifyServesCallersWithoutTasks()
        {
            var purchase = verifier.Purchase();
            Verdict v = null;
            var t = new Thread(() => v = paySeal.Verify(purchase.Receipt(), "dave"));
            t.Start();
            Assert.IsTrue(t.Join(TimeSpan.FromSeconds(120)));
            Assert.IsTrue(v.Paid, v.ToString());
            Assert.AreEqual(Redemption.First, v.Redemption);
            Assert.AreEqual(purchase.OrderId, v.TransactionId);
        }

        [Test]
        public void ConcurrentVerifiesFromSeveralThreadsEachGetTheirOwnVerdict()
        {
            var purchases = Enumerable.Range(0, 8).Select(_ => verifier.Purchase()).ToList();
            var verdicts = new Verdict[purchases.Count];
            var errors = new List<Exception>();
            var threads = new List<Thread>();
            for (int i = 0; i < purchases.Count; i++)
            {
                int n = i;
                var t = new Thread(() =>
                {
                    try
                    {
                        // Half blocking, half through the Task API, all at once on one client.
                        verdicts[n] = n % 2 == 0
                            ? paySeal.Verify(purchases[n].Receipt(), "carol-" + n)
                            : TestEnv.Await(paySeal.VerifyAsync(purchases[n].Receipt(), "carol-" + n));
                    }
                    catch (Exception e)
                    {
                        lock (errors) errors.Add(e);
                    }
                });
                threads.Add(t);
            }
            threads.ForEach(t => t.Start());
            threads.ForEach(t => Assert.IsTrue(t.Join(TimeSpan.FromSeconds(120))));
            Assert.IsEmpty(errors, string.Join("\n", errors.Select(e => e.ToString()).ToArray()));
            for (int i = 0; i < purchases.Count; i++)
            {
                Assert.IsTrue(verdicts[i].Paid, verdicts[i].ToString());
                Assert.AreEqual(Redemption.First, verdicts[i].Redemption);
                Assert.AreEqual(purchases[i].OrderId, verdicts[i].TransactionId);
                Assert.AreEqual("carol-" + i, verdicts[i].AccountId);
            }
            Assert.AreEqual(purchases.Count, verdicts.Select(v => v.VerdictId).Distinct().Count());
        }

        [Test]
        public void NonAsciiStringsRoundTrip()
        {
            // Account id and product id outside ASCII (BMP and astral plane) come back unchanged.
            const string account = "joueur-é-玩家-🎮";
            const string product = "gems_💎_宝石";
            var purchase = verifier.Purchase(product);
            StringAssert.Contains(product, purchase.OriginalJson);
            var receipt = purchase.Receipt();
            Verdict v = TestEnv.Await(paySeal.VerifyAsync(receipt, account));
            Assert.IsTrue(v.Paid, v.ToString());
            Assert.AreEqual(account, v.AccountId);
            Assert.AreEqual(product, v.ProductId);
            Assert.AreEqual(receipt.Sha256(), v.ReceiptSha256, "the hash is over the same UTF-8 bytes on both sides");
            Assert.AreEqual(Redemption.Repeat, paySeal.Verify(receipt, account).Redemption);
            Assert.AreEqual(NotPaidReason.AlreadyRedeemed, paySeal.Verify(receipt, "joueur-e-玩家-🎮").Reason,
                "a different account id, even one character apart, is another account");
        }

        [Test]
        public void ResultsArriveOffTheCallingThread()
        {
            int caller = Thread.CurrentThread.ManagedThreadId;
            int completedOn = -1;
            Task<Verdict> call = paySeal.VerifyAsync(verifier.Purchase().Receipt(), "frank");
            Task after = call.ContinueWith(t => completedOn = Thread.CurrentThread.ManagedThreadId, TaskContinuationOptions.ExecuteSynchronously);
            Assert.IsTrue(after.Wait(TimeSpan.FromSeconds(120)));
            Assert.IsTrue(call.Result.Paid);
            Assert.AreNotEqual(caller, completedOn);
        }

        [Test]
        public void LogHookGetsEventsButNoReceiptContentOrToken()
        {
            var purchase = verifier.Purchase();
            using (var logs = new LogCapture())
            {
                Verdict v = TestEnv.Await(paySeal.VerifyAsync(purchase.Receipt(), "erin"));
                Assert.IsTrue(logs.Await(5000, m => m.StartsWith("verdict for receipt")), string.Join("\n", logs.Messages().ToArray()));
                string all = string.Join("\n", logs.Messages().ToArray());
                foreach (var secret in new[] { v.Token, purchase.Signature, purchase.OrderId, v.Token.Split('.')[2] })
                    Assert.IsFalse(all.Contains(secret), "log leaks a secret: " + all);
                StringAssert.Contains(v.ReceiptSha256.Substring(0, 12), all);
                Assert.IsTrue(v.Paid);
            }
        }

        [Test]
        public void LoggerThatThrowsChangesNothing()
        {
            PaySealLog.SetLogger((l, m) => { throw new InvalidOperationException("app bug in its logger"); });
            try
            {
                Verdict v = TestEnv.Await(paySeal.VerifyAsync(verifier.Purchase().Receipt(), "grace"));
                Assert.IsTrue(v.Paid, v.ToString());
            }
            finally
            {
                PaySealLog.SetLogger(null);
            }
        }

        [Test]
        public void BlockingCallOnAnSdkThreadIsRefusedNotADeadlock()
        {
            var purchase = verifier.Purchase();
            Exception inside = null;
            var done = new ManualResetEventSlim();
            PaySealLog.SetLogger((l, m) =>
            {
                if (done.IsSet || !m.StartsWith("attempt ")) return;
                try { paySeal.PendingCount(); paySeal.Verify(purchase.Receipt(), "heidi"); }
                catch (Exception e) { inside = e; }
                done.Set();
            });
            try
            {
                Verdict v = TestEnv.Await(paySeal.VerifyAsync(verifier.Purchase().Receipt(), "heidi"));
                Assert.IsTrue(done.Wait(TimeSpan.FromSeconds(30)));
                Assert.IsTrue(v.Paid);
                Assert.IsInstanceOf<PaySealException.Internal>(inside, inside == null ? "no exception" : inside.ToString());
                StringAssert.Contains("SDK thread", inside.Message);
            }
            finally
            {
                PaySealLog.SetLogger(null);
            }
            // The refused call redeemed nothing.
            Assert.AreEqual(Redemption.First, paySeal.Verify(purchase.Receipt(), "heidi").Redemption);
        }
    }
}

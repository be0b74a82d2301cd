// The callback thread's life: payseal_shutdown (process exit, AppDomain unload) drops the
// callbacks not made yet and ends the thread; clients keep working and the next call starts
// a new one. And pending files the SDK refuses to send are reported, not lost or retried.
using System;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;
using PaySeal.Native;

namespace PaySeal.Tests
{
    [TestFixture]
    public class LifecycleTests
    {
        private DevVerifier verifier;

        [TestFixtureSetUp]
        public void StartVerifier() { verifier = DevVerifier.Started("lifecycle"); }

        [TestFixtureTearDown]
        public void StopVerifier() { if (verifier != null) verifier.Dispose(); }

        private static unsafe void Shutdown()
        {
            byte* m = null;
            Assert.AreEqual(0, NativeMethods.payseal_shutdown(&m), Utf8.Take(m));
        }

        [Test]
        public void ShutdownClearsTheLoggerAndClientsKeepWorking()
        {
            using (var sdk = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem })))
            {
                int events = 0;
                PaySealLog.SetLogger((l, m) => Interlocked.Increment(ref events));
                try
                {
                    Assert.IsTrue(TestEnv.Await(sdk.VerifyAsync(verifier.Purchase().Receipt(), "judy")).Paid);
                    Assert.Greater(Thread.VolatileRead(ref events), 0);

                    Shutdown();
                    Shutdown(); // twice is fine
                    int before = Thread.VolatileRead(ref events);
                    // The old logger is gone; a new callback thread serves the next async call.
                    Verdict v = TestEnv.Await(sdk.VerifyAsync(verifier.Purchase().Receipt(), "judy"));
                    Assert.IsTrue(v.Paid, v.ToString());
                    Assert.IsTrue(sdk.Verify(verifier.Purchase().Receipt(), "judy").Paid);
                    Thread.Sleep(200);
                    Assert.AreEqual(before, Thread.VolatileRead(ref events), "a logger set before the shutdown was called after it");
                }
                finally
                {
                    PaySealLog.SetLogger(null);
                }
            }
        }

        [Test]
        public void ShutdownWithAVerifyInFlightDropsItsCallbackAndCrashesNothing()
        {
            // As at an AppDomain unload: the result of a call made before is never delivered
            // (its callback may point into the unloaded domain), and nothing else breaks.
            string pendingDir = TestEnv.NewDir("lifecycle-pending");
            var purchase = verifier.Purchase();
            using (var sdk = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }, pendingDir)))
            {
                Task<Verdict> call = sdk.VerifyAsync(purchase.Receipt(), "ken");
                Shutdown();
                bool delivered = call.Wait(TimeSpan.FromSeconds(3)) || call.IsFaulted;
                // It may have finished before the shutdown; if not, it never completes.
                if (delivered) Assert.IsTrue(call.Result.Paid);
                // The verifier answered either way; the buyer still gets the purchase.
                Verdict v = TestEnv.Await(sdk.VerifyAsync(purchase.Receipt(), "ken"));
                Assert.IsTrue(v.Paid, v.ToString());
                Assert.AreEqual(0L, sdk.PendingCount());
            }
        }

        [Test]
        public void DomainUnloadWithCallbacksInFlightCrashesNothing()
        {
            // A Unity Editor domain reload: the domain that set a logger and started a verify goes
            // away before the results and log events arrive. Its DomainUnload hook runs
            // payseal_shutdown, so the library never calls into the dead domain.
            var purchase = verifier.Purchase();
            var setup = new AppDomainSetup { ApplicationBase = Path.GetDirectoryName(typeof(LifecycleTests).Assembly.Location) };
            var domain = AppDomain.CreateDomain("payseal-reload", null, setup);
            domain.SetData("profile", verifier.ProfileJson);
            domain.SetData("cert", verifier.CertPem);
            domain.SetData("data", purchase.OriginalJson);
            domain.SetData("signature", purchase.Signature);
            domain.DoCallBack(StartVerifyInThisDomain);
            Assert.AreEqual("started", (string)domain.GetData("state"));
            AppDomain.Unload(domain);
            Thread.Sleep(1000); // the verify finishes natively meanwhile; its callbacks are dropped

            // The process is alive, and a client of this domain works, logger and all.
            int events = 0;
            PaySealLog.SetLogger((l, m) => Interlocked.Increment(ref events));
            try
            {
                using (var sdk = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem })))
                {
                    Verdict v = TestEnv.Await(sdk.VerifyAsync(purchase.Receipt(), "leo"));
                    Assert.IsTrue(v.Paid, v.ToString());
                    Assert.AreEqual("leo", v.AccountId);
                }
                Assert.Greater(Thread.VolatileRead(ref events), 0);
            }
            finally
            {
                PaySealLog.SetLogger(null);
            }
        }

        // Runs in the other domain: a client, a logger, a verify left in flight.
        private static void StartVerifyInThisDomain()
        {
            var d = AppDomain.CurrentDomain;
            var client = new Client((string)d.GetData("profile"), TestEnv.Options(new[] { (string)d.GetData("cert") }));
            PaySealLog.SetLogger((l, m) => { });
            client.VerifyAsync(Receipt.GooglePlay((string)d.GetData("data"), (string)d.GetData("signature")), "leo");
            d.SetData("state", "started");
        }

        [Test]
        public void UnreadablePendingFileIsReportedRefusedAndLeftAlone()
        {
            string pendingDir = TestEnv.NewDir("refused-pending");
            string broken = Path.Combine(pendingDir, new string('a', 64) + ".json");
            File.WriteAllText(broken, "{\"truncated\":");
            using (var sdk = new Client(verifier.ProfileJson, TestEnv.Options(new[] { verifier.CertPem }, pendingDir)))
            {
                var results = TestEnv.Await(sdk.RetryPendingAsync());
                Assert.AreEqual(1, results.Count);
                Assert.IsTrue(results[0].IsRefused);
                Assert.IsFalse(results[0].IsVerified);
                Assert.IsNull(results[0].Verdict);
                Assert.IsInstanceOf<PaySealException.InvalidReceipt>(results[0].Error);
                Assert.IsTrue(File.Exists(broken), "a refused file is left for the app to look at");
                Assert.AreEqual("{\"truncated\":", File.ReadAllText(broken));
            }
        }
    }
}

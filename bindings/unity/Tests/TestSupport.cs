// What the Mono suite shares: the environment scripts/test-unity.sh provides, real
// `payseal-verifier dev` processes, sandbox-store purchases, the `payseal-mitm` relay.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace PaySeal.Tests
{
    internal static class TestEnv
    {
        /// <summary>The app id <c>payseal-verifier dev</c> configures.</summary>
        internal const string AppId = "dev.payseal.demo";

        private static string Required(string name)
        {
            string v = Environment.GetEnvironmentVariable(name);
            if (string.IsNullOrWhiteSpace(v))
                throw new InvalidOperationException("environment variable " + name + " is not set: run the tests through scripts/test-unity.sh");
            return v;
        }

        private static string Executable(string name)
        {
            string p = Path.GetFullPath(Required(name));
            if (!File.Exists(p)) throw new InvalidOperationException(name + "=" + p + " is not a file");
            return p;
        }

        internal static string VerifierBin { get { return Executable("PAYSEAL_VERIFIER_BIN"); } }
        internal static string SandboxBin { get { return Executable("PAYSEAL_SANDBOX_BIN"); } }
        internal static string MitmBin { get { return Executable("PAYSEAL_MITM_BIN"); } }
        internal static string WorkDir
        {
            get
            {
                string d = Path.GetFullPath(Required("PAYSEAL_WORK_DIR"));
                Directory.CreateDirectory(d);
                return d;
            }
        }

        private static int counter;

        /// <summary>A fresh folder under the work dir.</summary>
        internal static string NewDir(string prefix)
        {
            string d = Path.Combine(WorkDir, prefix + "-" + Interlocked.Increment(ref counter) + "-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(d);
            return d;
        }

        internal static int FreePort()
        {
            var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            int port = ((IPEndPoint)l.LocalEndpoint).Port;
            l.Stop();
            return port;
        }

        /// <summary>Options for tests: the dev verifier's app, its self-signed certificate(s) as extra roots.</summary>
        internal static Options Options(IEnumerable<string> roots, string pendingDir = null, int maxAttempts = 2)
        {
            var o = new Options(AppId)
            {
                ConnectTimeoutMs = 5000,
                RequestTimeoutMs = 15000,
                DeadlineMs = 30000,
                MaxAttempts = maxAttempts,
                BaseBackoffMs = 50,
                PendingDir = pendingDir,
            };
            if (roots != null) o.ExtraRootsPem.AddRange(roots);
            return o;
        }

        /// <summary>Files in a folder (finished and temporary alike), sorted.</summary>
        internal static List<string> FilesIn(string dir)
        {
            var names = new List<string>();
            if (!Directory.Exists(dir)) return names;
            foreach (var f in Directory.GetFiles(dir)) names.Add(Path.GetFileName(f));
            names.Sort(StringComparer.Ordinal);
            return names;
        }

        /// <summary>The task's result, or its own exception (not an AggregateException).</summary>
        internal static T Await<T>(Task<T> task)
        {
            // WaitAny, unlike Wait, does not wrap the task's exception in an AggregateException.
            if (Task.WaitAny(new Task[] { task }, TimeSpan.FromSeconds(120)) < 0) throw new TimeoutException("no result within 120 s");
            return task.GetAwaiter().GetResult();
        }

        internal static int Run(string file, string args, out string stdout, int timeoutSeconds = 120)
        {
            var psi = new ProcessStartInfo(file, args)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = false,
            };
            using (var p = Process.Start(psi))
            {
                Task<string> output = p.StandardOutput.ReadToEndAsync();
                if (!p.WaitForExit(timeoutSeconds * 1000))
                {
                    p.Kill();
                    throw new TimeoutException(file + " " + args + " did not finish within " + timeoutSeconds + " s");
                }
                stdout = output.Result;
                return p.ExitCode;
            }
        }

        internal static void Signal(int pid, string name)
        {
            string ignored;
            int rc = Run("kill", "-" + name + " " + pid, out ignored, 10);
            if (rc != 0) throw new InvalidOperationException("kill -" + name + " " + pid + " failed");
        }

        internal static string Quote(string s) { return "'" + s.Replace("'", "'\\''") + "'"; }
    }

    /// <summary>What Play Billing's <c>Purchase</c> gives an app: <c>originalJson</c> and <c>signature</c>.</summary>
    internal sealed class PlayPurchase
    {
        internal readonly string OriginalJson;
        internal readonly string Signature;

        internal PlayPurchase(string originalJson, string signature)
        {
            OriginalJson = originalJson;
            Signature = signature;
        }

        internal Receipt Receipt() { return PaySeal.Receipt.GooglePlay(OriginalJson, Signature); }

        internal string OrderId
        {
            get
            {
                var m = Regex.Match(OriginalJson, "\"orderId\"\\s*:\\s*\"([^\"]+)\"");
                if (!m.Success) throw new InvalidOperationException("no orderId in " + OriginalJson);
                return m.Groups[1].Value;
            }
        }

        /// <summary>A Freedom-style forgery: one field edited, the genuine signature kept.</summary>
        internal PlayPurchase Altered(string from, string to)
        {
            if (!OriginalJson.Contains(from)) throw new InvalidOperationException(from + " not in " + OriginalJson);
            return new PlayPurchase(OriginalJson.Replace(from, to), Signature);
        }

        /// <summary>The genuine JSON with a random signature of the genuine one's size (RSA-2048: 256 bytes).</summary>
        internal PlayPurchase WithRandomSignature()
        {
            int size = Convert.FromBase64String(Signature).Length;
            Assert.AreEqual(256, size, "a Play signature is 256 bytes");
            var random = new byte[size];
            using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(random);
            return new PlayPurchase(OriginalJson, Convert.ToBase64String(random));
        }
    }

    /// <summary>
    /// A real <c>payseal-verifier dev</c> process on 127.0.0.1:<see cref="Port"/> with its state in
    /// <see cref="StateDir"/> (self-signed certificate for localhost, profile, keys, SQLite ledger).
    /// <see cref="Stop"/> and <see cref="Start"/> again reuse the state dir and port, so the profile stays valid.
    /// </summary>
    internal sealed class DevVerifier : IDisposable
    {
        internal readonly string StateDir;
        internal readonly int Port;
        private Process process;

        internal DevVerifier(string stateDir)
        {
            StateDir = stateDir;
            Port = TestEnv.FreePort();
        }

        internal static DevVerifier Started(string name) { return new DevVerifier(TestEnv.NewDir(name)).Start(); }

        /// <summary>A started verifier whose <c>verifier.toml</c> ends with <paramref name="extraToml"/> (e.g. an
        /// app's <c>[apps."dev.payseal.demo".entitlements]</c>): dev mode writes the file on its first start and
        /// reuses it, edits included, on the next.</summary>
        internal static DevVerifier StartedWithConfig(string name, string extraToml)
        {
            DevVerifier v = Started(name);
            v.Stop();
            File.AppendAllText(Path.Combine(v.StateDir, "verifier.toml"), "\n" + extraToml);
            return v.Start();
        }

        internal string Url { get { return "https://localhost:" + Port; } }
        internal string ProfileJson { get { return File.ReadAllText(Path.Combine(StateDir, "profile.json")); } }
        internal string CertPem { get { return File.ReadAllText(Path.Combine(StateDir, "tls", "cert.pem")); } }
        private string Log { get { return Path.Combine(StateDir, "verifier.log"); } }

        internal DevVerifier Start()
        {
            if (process != null) throw new InvalidOperationException("verifier already running");
            StoreKeys.Seed(StateDir);
            // sh exec: the verifier keeps the shell's pid (SIGTERM reaches it) and logs to a file.
            string cmd = "exec " + TestEnv.Quote(TestEnv.VerifierBin) + " dev --listen 127.0.0.1:" + Port
                + " --state-dir " + TestEnv.Quote(StateDir) + " >>" + TestEnv.Quote(Log) + " 2>&1";
            process = Process.Start(new ProcessStartInfo("sh", "-c " + TestEnv.Quote(cmd)) { UseShellExecute = false });
            var deadline = DateTime.UtcNow.AddSeconds(90);
            while (true)
            {
                if (process.HasExited)
                    throw new InvalidOperationException("verifier exited with " + process.ExitCode + " before serving:\n" + File.ReadAllText(Log));
                if (File.Exists(Path.Combine(StateDir, "profile.json")) && File.Exists(Path.Combine(StateDir, "tls", "cert.pem")) && Accepts())
                {
                    StoreKeys.Remember(StateDir);
                    return this;
                }
                if (DateTime.UtcNow > deadline)
                {
                    process.Kill();
                    throw new InvalidOperationException("verifier did not listen on 127.0.0.1:" + Port + " within 90 s:\n" + File.ReadAllText(Log));
                }
                Thread.Sleep(50);
            }
        }

        private bool Accepts()
        {
            try
            {
                using (var c = new TcpClient())
                {
                    c.Connect(IPAddress.Loopback, Port);
                    return true;
                }
            }
            catch (SocketException)
            {
                return false;
            }
        }

        /// <summary>SIGTERM (graceful shutdown) and wait for the exit.</summary>
        internal void Stop()
        {
            if (process == null) return;
            if (!process.HasExited) TestEnv.Signal(process.Id, "TERM");
            if (!process.WaitForExit(30000))
            {
                process.Kill();
                throw new InvalidOperationException("verifier did not stop within 30 s of SIGTERM");
            }
            process.Dispose();
            process = null;
        }

        /// <summary>A new Google Play purchase from the sandbox store, signed with the key this verifier trusts.</summary>
        internal PlayPurchase Purchase(string product = "gems_100")
        {
            string json;
            int rc = TestEnv.Run(TestEnv.SandboxBin, "google-play --dir " + TestEnv.Quote(StateDir) + " --app " + TestEnv.AppId
                + " --product " + TestEnv.Quote(product), out json);
            Assert.AreEqual(0, rc, "payseal-sandbox google-play failed");
            Receipt r = PaySeal.Receipt.FromJson(json);
            Assert.AreEqual(Store.GooglePlay, r.Store, "sandbox printed " + json);
            return new PlayPurchase(r.Data, r.Signature);
        }

        /// <summary><c>payseal-sandbox STORE --dir STATE --app APP ARGS</c> (<c>args</c> already quoted):
        /// a receipt in any store's format, signed with the keys this verifier trusts.</summary>
        internal Receipt SandboxReceipt(string store, string args)
        {
            string json;
            int rc = TestEnv.Run(TestEnv.SandboxBin, store + " --dir " + TestEnv.Quote(StateDir) + " --app " + TestEnv.AppId + " " + args, out json);
            Assert.AreEqual(0, rc, "payseal-sandbox " + store + " " + args + " failed");
            return PaySeal.Receipt.FromJson(json);
        }

        /// <summary>A purchase of <paramref name="product"/> from the sandbox store in <paramref name="store"/>'s
        /// format (<c>google-play</c>, <c>app-store</c>), bound to <paramref name="accountToken"/> when given.</summary>
        internal Receipt Issue(string store, string product = "gems_100", string accountToken = null)
        {
            string args = "--product " + TestEnv.Quote(product);
            if (accountToken != null) args += " --account-token " + TestEnv.Quote(accountToken);
            return SandboxReceipt(store, args);
        }

        public void Dispose() { Stop(); }
    }

    /// <summary>
    /// A real <c>payseal-mitm</c> process: a TLS-terminating relay holding the verifier's pinned
    /// certificate and key (a compromised load balancer), treating answers as <c>mode</c> says.
    /// </summary>
    internal sealed class MitmRelay : IDisposable
    {
        private readonly DevVerifier verifier;
        private readonly Process process;
        internal readonly string ReportPath;
        internal readonly int Port;

        /// <summary>A <c>--mode resign</c> relay merging <paramref name="claimsJson"/> into every verdict,
        /// signed again with the verifier's own key.</summary>
        internal static MitmRelay Resigning(DevVerifier verifier, string claimsJson)
        {
            return new MitmRelay(verifier, "resign",
                " --state-dir " + TestEnv.Quote(verifier.StateDir) + " --claims " + TestEnv.Quote(claimsJson));
        }

        internal MitmRelay(DevVerifier verifier, string mode, string extraArgs = "")
        {
            this.verifier = verifier;
            string dir = TestEnv.NewDir("mitm");
            ReportPath = Path.Combine(dir, "report.json");
            string tls = Path.Combine(verifier.StateDir, "tls");
            string cert = TestEnv.Quote(Path.Combine(tls, "cert.pem"));
            string args = "--listen 127.0.0.1:0 --upstream " + verifier.Url + " --cert " + cert
                + " --key " + TestEnv.Quote(Path.Combine(tls, "key.pem")) + " --upstream-ca " + cert
                + " --mode " + mode + " --report " + TestEnv.Quote(ReportPath) + extraArgs;
            string cmd = "exec " + TestEnv.Quote(TestEnv.MitmBin) + " " + args + " 2>>" + TestEnv.Quote(Path.Combine(dir, "mitm.log"));
            process = Process.Start(new ProcessStartInfo("sh", "-c " + TestEnv.Quote(cmd))
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
            });
            // It prints `listening on https://127.0.0.1:PORT` once it accepts connections.
            Task<string> first = process.StandardOutput.ReadLineAsync();
            if (!first.Wait(60000))
            {
                process.Kill();
                throw new InvalidOperationException("payseal-mitm did not start within 60 s");
            }
            var m = Regex.Match((first.Result ?? "").Trim(), "^listening on https://127\\.0\\.0\\.1:(\\d+)$");
            if (!m.Success)
            {
                process.Kill();
                throw new InvalidOperationException("payseal-mitm printed " + (first.Result ?? "nothing"));
            }
            Port = int.Parse(m.Groups[1].Value);
            // Keep draining stdout so the relay never blocks on a full pipe.
            var drain = new Thread(() => { try { process.StandardOutput.ReadToEnd(); } catch (Exception) { } }) { IsBackground = true };
            drain.Start();
        }

        internal string Url { get { return "https://localhost:" + Port; } }

        /// <summary>The verifier's profile, pointed at the relay (same host name: certificate and pins still match).</summary>
        internal string ProfileJson
        {
            get
            {
                string p = verifier.ProfileJson.Replace(verifier.Url, Url);
                Assert.IsTrue(p.Contains(Url) && !p.Contains(verifier.Url), "profile URL not replaced: " + p);
                return p;
            }
        }

        internal string ReportJson() { return File.Exists(ReportPath) ? File.ReadAllText(ReportPath) : ""; }

        internal long ReportCount(string field)
        {
            var m = Regex.Match(ReportJson(), "\"" + field + "\"\\s*:\\s*(\\d+)");
            if (!m.Success) throw new InvalidOperationException("no " + field + " in the mitm report: " + ReportJson());
            return long.Parse(m.Groups[1].Value);
        }

        public void Dispose()
        {
            if (!process.HasExited) TestEnv.Signal(process.Id, "TERM");
            if (!process.WaitForExit(30000))
            {
                process.Kill();
                throw new InvalidOperationException("payseal-mitm did not stop within 30 s of SIGTERM");
            }
            process.Dispose();
        }
    }

    /// <summary>
    /// The sandbox store's test keys (RSA-2048 for Play and Huawei, Ed25519, an App Store test CA),
    /// made by the first <c>dev</c> run and copied into the state dir of every later verifier before
    /// it starts: RSA key generation in a debug build takes seconds. Every verifier still has its
    /// own certificate, pins, HPKE and verdict keys and ledger.
    /// </summary>
    internal static class StoreKeys
    {
        private static volatile string source;

        internal static void Remember(string stateDir)
        {
            if (source == null) source = Path.Combine(stateDir, "sandbox-store");
        }

        internal static void Seed(string stateDir)
        {
            string from = source;
            if (from == null) return;
            string to = Path.Combine(stateDir, "sandbox-store");
            if (Directory.Exists(to) || Path.GetDirectoryName(from) == stateDir) return;
            Copy(from, to);
        }

        private static void Copy(string from, string to)
        {
            Directory.CreateDirectory(to);
            foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
            foreach (var d in Directory.GetDirectories(from)) Copy(d, Path.Combine(to, Path.GetFileName(d)));
        }
    }

    /// <summary>Collects the SDK's log events through <see cref="PaySealLog"/>.</summary>
    internal sealed class LogCapture : IDisposable
    {
        private readonly List<string> events = new List<string>();

        internal LogCapture()
        {
            PaySealLog.SetLogger((level, message) => { lock (events) events.Add(message); });
        }

        internal List<string> Messages() { lock (events) return new List<string>(events); }

        internal bool Await(int timeoutMs, Predicate<string> match)
        {
            var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            do
            {
                if (Messages().Exists(match)) return true;
                Thread.Sleep(10);
            } while (DateTime.UtcNow < deadline);
            return Messages().Exists(match);
        }

        public void Dispose() { PaySealLog.SetLogger(null); }
    }
}

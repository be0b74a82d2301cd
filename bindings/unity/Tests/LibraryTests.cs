// A game whose native library is missing (a desktop player, a test runner, a plugin folder left
// empty) gets a typed PaySeal exception naming where the library goes, not the runtime's bare
// `DllNotFoundException: payseal_unity`.
using System.IO;
using NUnit.Framework;
using PaySeal.Native;

namespace PaySeal.Tests
{
    [TestFixture]
    public class LibraryTests
    {
        private const string Probe = @"using System;
class Probe
{
    static void Report(Action call)
    {
        try { call(); Console.WriteLine(""no exception""); }
        catch (Exception e) { Console.WriteLine(e.GetType().FullName + ""|"" + (e is PaySeal.PaySealException ? ((PaySeal.PaySealException)e).Kind.ToString() : ""-"") + ""|"" + e.Message); }
    }
    static void Main()
    {
        Report(() => Console.WriteLine(PaySeal.Client.SdkVersion));
        Report(() => new PaySeal.Client(""{}"", new PaySeal.Options(""com.example.game"")));
        Report(() => PaySeal.AccountToken.Sha256Hex(""alice""));
    }
}
";

        [Test]
        public void WithoutTheLibraryEveryEntryPointThrowsLibraryNotFoundNamingTheFile()
        {
            // A separate Mono process that cannot find the library: the Runtime assembly alone in a
            // folder, LD_LIBRARY_PATH (which scripts/test-unity.sh points at the library) unset.
            string dir = TestEnv.NewDir("no-native-library");
            File.Copy(typeof(Client).Assembly.Location, Path.Combine(dir, "PaySeal.Runtime.dll"));
            File.WriteAllText(Path.Combine(dir, "probe.cs"), Probe);
            string output;
            int rc = TestEnv.Run("sh", "-c " + TestEnv.Quote("cd " + TestEnv.Quote(dir)
                + " && mcs -nologo -langversion:7 -out:probe.exe -r:PaySeal.Runtime.dll probe.cs 2>&1"
                + " && env -u LD_LIBRARY_PATH mono probe.exe 2>&1"), out output);
            Assert.AreEqual(0, rc, output);
            string[] lines = output.Trim().Split('\n');
            Assert.AreEqual(3, lines.Length, output);
            foreach (string line in lines)
            {
                StringAssert.StartsWith("PaySeal.PaySealException+LibraryNotFound|LibraryNotFound|", line, output);
                StringAssert.Contains("PaySeal native library was not found", line);
                StringAssert.Contains("libpayseal_unity.so", line);
                StringAssert.Contains("LD_LIBRARY_PATH", line);
                StringAssert.DoesNotContain("DllNotFoundException", line);
            }
        }

        [Test]
        public void TheMessageNamesThePluginFolderAndFileOfEachPlatform()
        {
            var cases = new[]
            {
                new { P = NativeLoader.Platform.Android, Want = "Runtime/Plugins/Android/<abi>/libpayseal_unity.so" },
                new { P = NativeLoader.Platform.Ios, Want = "Runtime/Plugins/iOS/libpayseal_unity.a" },
                new { P = NativeLoader.Platform.EditorLinux, Want = "Runtime/Plugins/Editor/Linux/libpayseal_unity.so" },
                new { P = NativeLoader.Platform.EditorMacOS, Want = "Runtime/Plugins/Editor/macOS/libpayseal_unity.dylib" },
                new { P = NativeLoader.Platform.EditorWindows, Want = "Runtime/Plugins/Editor/Windows/payseal_unity.dll" },
                new { P = NativeLoader.Platform.Windows, Want = "payseal_unity.dll" },
                new { P = NativeLoader.Platform.MacOS, Want = "libpayseal_unity.dylib" },
                new { P = NativeLoader.Platform.Linux, Want = "libpayseal_unity.so" },
            };
            foreach (var c in cases)
            {
                string m = NativeLoader.MissingMessage(c.P, "payseal_unity");
                StringAssert.Contains(c.Want, m, c.P.ToString());
                StringAssert.Contains("was not found (payseal_unity)", m, c.P.ToString());
            }
            StringAssert.Contains("scripts/package-unity.sh android", NativeLoader.MissingMessage(NativeLoader.Platform.Android, "x"));
            StringAssert.Contains("scripts/package-unity.sh editor", NativeLoader.MissingMessage(NativeLoader.Platform.EditorLinux, "x"));
        }

        [Test]
        public void WithTheLibraryTheCheckPasses()
        {
            NativeLoader.EnsureLoaded();
            StringAssert.IsMatch(@"^\d+\.\d+\.\d+", Client.SdkVersion);
        }
    }
}

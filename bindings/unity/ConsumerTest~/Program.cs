// A game's code as it uses the packaged PaySeal, on Mono. scripts/test-unity-package.sh unpacks
// the tarball of scripts/package-unity.sh in a folder outside the repository, compiles this file
// with the tarball's Runtime/ sources, puts the tarball's Editor library for this host next to the
// program (where Unity's Editor loads a plugin from), and runs it against a real
// `payseal-verifier dev`. Unity ignores this folder (its name ends with ~); the tarball leaves it out.
// Inputs (a missing one is a failure): PAYSEAL_CONSUMER_APP, PAYSEAL_CONSUMER_PROFILE,
// PAYSEAL_CONSUMER_CA, PAYSEAL_CONSUMER_RECEIPT.
using System;
using System.IO;
using PaySeal;

static class Program
{
    static string Env(string name)
    {
        string value = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrEmpty(value))
            throw new InvalidOperationException(name + " is not set: run this through scripts/test-unity-package.sh");
        return value;
    }

    static void Check(bool ok, string what)
    {
        if (!ok) throw new Exception("FAILED: " + what);
    }

    static int Main()
    {
        try
        {
            string app = Env("PAYSEAL_CONSUMER_APP");
            Console.WriteLine("native SDK " + Client.SdkVersion);
            try
            {
                new Client("{}", new Options(app)).Dispose();
                Check(false, "an empty profile was accepted");
            }
            catch (PaySealException.InvalidProfile)
            {
                Console.WriteLine("invalid profile refused: PaySealException.InvalidProfile");
            }

            var options = new Options(app) { MaxAttempts = 1 };
            options.ExtraRootsPem.Add(File.ReadAllText(Env("PAYSEAL_CONSUMER_CA")));   // the dev verifier's certificate
            using (var client = new Client(File.ReadAllText(Env("PAYSEAL_CONSUMER_PROFILE")), options))
            {
                Receipt receipt = Receipt.FromJson(File.ReadAllText(Env("PAYSEAL_CONSUMER_RECEIPT")));
                Verdict v = client.Verify(receipt, "consumer-alice");
                Check(v.Paid && v.Redemption == Redemption.First, "genuine purchase: " + v);
                Check(v.Token.Split('.').Length == 3, "the verdict token is a compact JWS");
                Console.WriteLine("genuine purchase: paid, First, product " + v.ProductId);
                Verdict replay = client.Verify(receipt, "consumer-mallory");
                Check(!replay.Paid && replay.Reason == NotPaidReason.AlreadyRedeemed, "replay from another account: " + replay);
                Console.WriteLine("replay from another account: not paid, AlreadyRedeemed");
            }
            Console.WriteLine("OK consumer");
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }
}

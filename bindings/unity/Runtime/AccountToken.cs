using PaySeal.Native;

namespace PaySeal
{
    /// <summary>
    /// The account token to give the store at purchase time, so the verifier can tell the purchase is
    /// this account's (its <c>account_binding</c>): App Store <c>appAccountToken</c> (StoreKit 2
    /// <c>Product.PurchaseOption.appAccountToken</c>, a UUID) or Play Billing
    /// <c>BillingFlowParams.Builder.setObfuscatedAccountId</c>. A receipt whose token is another account's
    /// is then not paid, <see cref="NotPaidReason.WrongAccount"/>. The same derivations as sdk-core's
    /// <c>account_token_uuid_v5</c> / <c>account_token_sha256_hex</c> (Kotlin and Swift get them too).
    /// </summary>
    public static class AccountToken
    {
        /// <summary>The UUIDv5 of <paramref name="accountId"/> (its UTF-8) in <paramref name="namespace"/>
        /// (the verifier's <c>account_binding</c> namespace, scheme <c>uuid_v5</c>), lowercase hyphenated.
        /// For the App Store and Play alike.</summary>
        /// <exception cref="PaySealException.InvalidProfile"><paramref name="namespace"/> is not a UUID</exception>
        /// <exception cref="PaySealException.InvalidArgument">a null argument</exception>
        public static unsafe string UuidV5(string @namespace, string accountId)
        {
            NativeLoader.EnsureLoaded();
            int nsLen, accountLen;
            byte[] ns = Utf8.Bytes(@namespace, out nsLen);
            byte[] account = Utf8.Bytes(accountId, out accountLen);
            byte* token = null;
            byte* message = null;
            int kind;
            fixed (byte* n = ns, a = account)
            {
                kind = NativeMethods.payseal_account_token_uuid_v5(Utf8.Str(n, nsLen), Utf8.Str(a, accountLen), &token, &message);
            }
            Utf8.Check(kind, message);
            return Utf8.Take(token);
        }

        /// <summary>The lowercase hex SHA-256 of <paramref name="accountId"/>'s UTF-8 (scheme <c>sha256_hex</c>):
        /// Play's <c>obfuscatedAccountId</c> only, the App Store's token must be a UUID.</summary>
        /// <exception cref="PaySealException.InvalidArgument">a null account id</exception>
        public static unsafe string Sha256Hex(string accountId)
        {
            NativeLoader.EnsureLoaded();
            int accountLen;
            byte[] account = Utf8.Bytes(accountId, out accountLen);
            byte* token = null;
            byte* message = null;
            int kind;
            fixed (byte* a = account)
            {
                kind = NativeMethods.payseal_account_token_sha256_hex(Utf8.Str(a, accountLen), &token, &message);
            }
            Utf8.Check(kind, message);
            return Utf8.Take(token);
        }
    }
}

using System;
using System.Collections.Generic;
using PaySeal.Native;

namespace PaySeal
{
    /// <summary>One active entitlement of an account (a name from the app's verifier config, e.g.
    /// <c>premium</c>) and the purchase that grants it. An entitlement granted by two purchases appears twice.</summary>
    public sealed class Entitlement
    {
        /// <summary>The entitlement's name in the app's config (<c>[apps."ID".entitlements]</c>), e.g. <c>premium</c>.</summary>
        public string Name { get; private set; }
        /// <summary>The product that grants it.</summary>
        public string ProductId { get; private set; }
        /// <summary>The store it was bought in.</summary>
        public Store Store { get; private set; }
        /// <summary>Production or sandbox (null for purchases recorded before the verifier kept it).</summary>
        public StoreEnvironment? Environment { get; private set; }
        /// <summary>The granting purchase as the verifier's ledger keys it: the store's transaction id, or for a
        /// subscription its renewal chain's id (App Store <c>originalTransactionId</c>, Play purchase token, ...).</summary>
        public string TransactionKey { get; private set; }
        /// <summary>Non-consumable or subscription, when the store said (consumables never grant).</summary>
        public PurchaseKind? Kind { get; private set; }
        /// <summary>When the purchase was first presented to PaySeal, Unix milliseconds.</summary>
        public long Since { get; private set; }
        /// <summary>A subscription's paid period end, Unix milliseconds; null: no end (a non-consumable, until revoked).</summary>
        public long? ExpiresAt { get; private set; }
        /// <summary><see cref="ExpiresAt"/> as a UTC <see cref="DateTimeOffset"/> (null when absent).</summary>
        public DateTimeOffset? ExpiresAtTime
        {
            get { return ExpiresAt.HasValue ? DateTimeOffset.FromUnixTimeMilliseconds(ExpiresAt.Value) : (DateTimeOffset?)null; }
        }
        /// <summary>Whether the subscription renews at <see cref="ExpiresAt"/>, when the store says (null otherwise).</summary>
        public bool? WillRenew { get; private set; }

        internal static unsafe Entitlement From(PsEntitlement* e)
        {
            return new Entitlement
            {
                Name = Utf8.Read(e->name),
                ProductId = Utf8.Read(e->product_id),
                Store = (Store)e->store,
                Environment = e->environment == 0 ? (StoreEnvironment?)null : (StoreEnvironment)e->environment,
                TransactionKey = Utf8.Read(e->transaction_key),
                Kind = e->kind == 0 ? (PurchaseKind?)null : (PurchaseKind)e->kind,
                Since = e->since,
                ExpiresAt = e->has_expires_at != 0 ? e->expires_at : (long?)null,
                WillRenew = e->will_renew == 0 ? (bool?)null : e->will_renew == 1,
            };
        }

        /// <summary>The entitlement and its purchase.</summary>
        public override string ToString()
        {
            return "Entitlement(" + Name + ", product=" + ProductId + ", store=" + Store + ", kind=" + Kind
                + ", expiresAt=" + ExpiresAt + ", willRenew=" + WillRenew + ", tx=" + TransactionKey + ")";
        }
    }

    /// <summary>
    /// What an account owns: the verifier's signed answer, checked on the device (a profile key, this app and
    /// account, and for a fresh answer the nonce of this request), or the last such answer kept on disk
    /// (<see cref="FromCache"/>, checked again; see <see cref="Options.EntitlementsDir"/>). Never invented.
    /// </summary>
    public sealed class Entitlements
    {
        /// <summary>The active entitlements (empty when the account owns nothing).</summary>
        public IList<Entitlement> Active { get; private set; }
        /// <summary>The account id.</summary>
        public string AccountId { get; private set; }
        /// <summary>The app id.</summary>
        public string AppId { get; private set; }
        /// <summary>When the verifier read its ledger for this answer, Unix milliseconds.</summary>
        public long AsOf { get; private set; }
        /// <summary><see cref="AsOf"/> as a UTC <see cref="DateTimeOffset"/>.</summary>
        public DateTimeOffset AsOfTime { get { return DateTimeOffset.FromUnixTimeMilliseconds(AsOf); } }
        /// <summary>The answer's age when it was checked, milliseconds: the device clock minus <see cref="AsOf"/>
        /// (the device clock's error included; it decides nothing). Large for an offline copy.</summary>
        public long AgeMs { get; private set; }
        /// <summary><see cref="AgeMs"/> as a <see cref="TimeSpan"/>.</summary>
        public TimeSpan Age { get { return TimeSpan.FromMilliseconds(AgeMs); } }
        /// <summary>True when this is the copy kept on disk (the verifier could not be reached, or
        /// <see cref="Client.CachedEntitlements"/>); false for a fresh answer.</summary>
        public bool FromCache { get; private set; }
        /// <summary>The document's issue time, Unix seconds.</summary>
        public long IssuedAt { get; private set; }
        /// <summary>The document's (token's) expiry, Unix seconds: how long the <see cref="Token"/> may be forwarded
        /// and accepted fresh. Not an entitlement's end: see <see cref="Entitlement.ExpiresAt"/>.</summary>
        public long TokenExpiresAt { get; private set; }
        /// <summary>The answer's id (<c>jti</c>).</summary>
        public string AnswerId { get; private set; }
        /// <summary>The compact JWS (<c>typ: payseal-entitlements+jwt</c>), to forward to the game server as is.</summary>
        public string Token { get; private set; }

        /// <summary>Whether the entitlement <paramref name="name"/> is active.</summary>
        public bool Has(string name)
        {
            foreach (Entitlement e in Active)
                if (e.Name == name) return true;
            return false;
        }

        internal static unsafe Entitlements From(PsEntitlements* e)
        {
            var active = new List<Entitlement>();
            for (ulong i = 0; i < (ulong)e->len; i++) active.Add(Entitlement.From(e->items + i));
            return new Entitlements
            {
                Active = active.AsReadOnly(),
                AccountId = Utf8.Read(e->account_id),
                AppId = Utf8.Read(e->app_id),
                AsOf = e->as_of,
                AgeMs = e->age_ms,
                FromCache = e->from_cache != 0,
                IssuedAt = e->issued_at,
                TokenExpiresAt = e->token_expires_at,
                AnswerId = Utf8.Read(e->answer_id),
                Token = Utf8.Read(e->token),
            };
        }

        /// <summary>A copy made from an entitlements pointer the library returned, which is then freed (null: null).</summary>
        internal static unsafe Entitlements Take(PsEntitlements* e)
        {
            if (e == null) return null;
            try { return From(e); }
            finally { NativeMethods.payseal_entitlements_free(e); }
        }

        /// <summary>The names, age and origin, without the token.</summary>
        public override string ToString()
        {
            var names = new List<string>();
            foreach (Entitlement e in Active) names.Add(e.Name + ":" + e.ProductId);
            return "Entitlements(account=" + AccountId + ", active=[" + string.Join(", ", names.ToArray()) + "], ageMs=" + AgeMs
                + ", fromCache=" + FromCache + ", id=" + AnswerId + ")";
        }
    }

    /// <summary>What <see cref="Client.RestoreAsync"/> got: one verdict per receipt, in the order given (each judged
    /// exactly as <see cref="Client.VerifyAsync"/> judges it), and the account's entitlements read after them.</summary>
    public sealed class RestoreResult
    {
        /// <summary>The verdicts, in the order of the receipts given.</summary>
        public IList<Verdict> Verdicts { get; private set; }
        /// <summary>The account's entitlements after the restore.</summary>
        public Entitlements Entitlements { get; private set; }

        internal static unsafe RestoreResult From(PsRestored* r)
        {
            var verdicts = new List<Verdict>();
            for (ulong i = 0; i < (ulong)r->verdicts_len; i++) verdicts.Add(Verdict.From(r->verdicts + i));
            return new RestoreResult { Verdicts = verdicts.AsReadOnly(), Entitlements = Entitlements.From(r->entitlements) };
        }
    }
}

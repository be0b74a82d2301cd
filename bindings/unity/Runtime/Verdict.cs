using System.Collections.Generic;
using PaySeal.Native;

namespace PaySeal
{
    /// <summary>Why a purchase is not paid (the verdict's <c>reason</c>).</summary>
    public enum NotPaidReason
    {
        /// <summary>The store signature does not verify.</summary>
        BadSignature = 1,
        /// <summary>The App Store chain does not lead to the configured root.</summary>
        UntrustedChain = 2,
        /// <summary>The receipt is for another app.</summary>
        WrongApp = 3,
        /// <summary>The app id is not configured on the verifier.</summary>
        UnknownApp = 4,
        /// <summary>Pending, cancelled or otherwise not completed.</summary>
        NotPurchased = 5,
        /// <summary>Revoked or refunded.</summary>
        Revoked = 6,
        /// <summary>Another account already redeemed this receipt.</summary>
        AlreadyRedeemed = 7,
        /// <summary>Sandbox receipt for a production app, or the reverse.</summary>
        UntrustedEnvironment = 8,
        /// <summary>The receipt cannot be parsed.</summary>
        Malformed = 9,
        /// <summary>Genuine, but for another product than the one the app sold.</summary>
        WrongProduct = 10,
        /// <summary>The store's account binding is another account's.</summary>
        WrongAccount = 11,
        /// <summary>The subscription has expired.</summary>
        Expired = 12,
        /// <summary>The subscription's payment failed; the store holds it without access (protocol v2).</summary>
        OnHold = 13,
        /// <summary>The user paused the subscription (protocol v2).</summary>
        Paused = 14,
        /// <summary>The account refunded more purchases than the app allows (protocol v2).</summary>
        RefundLimit = 15,
    }

    /// <summary>A subscription's state as the store's server last gave it (<see cref="Verdict.SubscriptionState"/>,
    /// protocol v2): one vocabulary for every store. A code this version does not know is kept as its number.</summary>
    public enum SubscriptionState
    {
        /// <summary>Paid and renewing.</summary>
        Active = 1,
        /// <summary>A renewal payment failed; access continues until the grace period's end.</summary>
        InGracePeriod = 2,
        /// <summary>A renewal payment failed; access is suspended while the store retries.</summary>
        OnHold = 3,
        /// <summary>Paused by the user (Google Play).</summary>
        Paused = 4,
        /// <summary>Will not renew, but paid until its end.</summary>
        Canceled = 5,
        /// <summary>Ended (or revoked).</summary>
        Expired = 6,
        /// <summary>The first payment has not completed.</summary>
        Pending = 7,
    }

    /// <summary>Real money or test purchases.</summary>
    public enum StoreEnvironment
    {
        /// <summary>Real money.</summary>
        Production = 1,
        /// <summary>Test purchases.</summary>
        Sandbox = 2,
    }

    /// <summary>First redemption by this account, or a repeat (restore / retry).</summary>
    public enum Redemption
    {
        /// <summary>First time: deliver the item.</summary>
        First = 1,
        /// <summary>Same account again: already delivered once.</summary>
        Repeat = 2,
    }

    /// <summary>What kind of purchase the store says it is (<see cref="Verdict.Kind"/>). A code this
    /// version does not know is kept as its number.</summary>
    public enum PurchaseKind
    {
        /// <summary>Used up once delivered (coins, gems).</summary>
        Consumable = 1,
        /// <summary>Bought once, kept forever (a level pack, "remove ads").</summary>
        NonConsumable = 2,
        /// <summary>Access for a period: until <see cref="Verdict.SubscriptionExpiresAt"/> when the store signed one.</summary>
        Subscription = 3,
    }

    /// <summary>A checked verdict: signed by a profile key, for this request, not expired.</summary>
    public sealed class Verdict
    {
        /// <summary>Paid (deliver) or not.</summary>
        public bool Paid { get; private set; }
        /// <summary>Why not paid (null when paid).</summary>
        public NotPaidReason? Reason { get; private set; }
        /// <summary>The store.</summary>
        public Store Store { get; private set; }
        /// <summary>Product id.</summary>
        public string ProductId { get; private set; }
        /// <summary>Store transaction id.</summary>
        public string TransactionId { get; private set; }
        /// <summary>Store original transaction id, when it has one.</summary>
        public string OriginalTransactionId { get; private set; }
        /// <summary>Production or sandbox.</summary>
        public StoreEnvironment? Environment { get; private set; }
        /// <summary>First or repeat (when paid).</summary>
        public Redemption? Redemption { get; private set; }
        /// <summary>Quantity.</summary>
        public long? Quantity { get; private set; }
        /// <summary>Purchase time, Unix milliseconds.</summary>
        public long? PurchasedAt { get; private set; }
        /// <summary>Verdict issue time, Unix seconds.</summary>
        public long IssuedAt { get; private set; }
        /// <summary>Verdict token expiry, Unix seconds: how long this <em>token</em> may be forwarded and
        /// accepted. Not a subscription's end: see <see cref="SubscriptionExpiresAt"/>.</summary>
        public long ExpiresAt { get; private set; }
        /// <summary>Consumable, non-consumable or subscription, when the store says (Play one-time products: null).</summary>
        public PurchaseKind? Kind { get; private set; }
        /// <summary>Subscriptions: end of the paid period, Unix <b>milliseconds</b> (like <see cref="PurchasedAt"/>),
        /// when the store signed one (App Store auto-renewable, Huawei, sandbox; not Play nor App Store
        /// non-renewing: null). A paid verdict's is in the future at the verifier's clock; with
        /// <see cref="NotPaidReason.Expired"/> it says when the period ended. Grant access until then, and
        /// verify the renewal's receipt after it. <see cref="SubscriptionExpiresAtTime"/> is the same as a
        /// <see cref="System.DateTimeOffset"/>.</summary>
        public long? SubscriptionExpiresAt { get; private set; }
        /// <summary><see cref="SubscriptionExpiresAt"/> as a UTC <see cref="System.DateTimeOffset"/> (null when absent).</summary>
        public System.DateTimeOffset? SubscriptionExpiresAtTime
        {
            get
            {
                return SubscriptionExpiresAt.HasValue
                    ? System.DateTimeOffset.FromUnixTimeMilliseconds(SubscriptionExpiresAt.Value)
                    : (System.DateTimeOffset?)null;
            }
        }
        /// <summary>Subscriptions: the state the store's server last gave, when the verifier asked the store
        /// or a store event set it (null otherwise).</summary>
        public SubscriptionState? SubscriptionState { get; private set; }
        /// <summary>Whether the store's server confirmed the purchase live: true confirmed; false paid on the
        /// store's signature alone because the store's API could not be reached; null when the verifier has no
        /// live check configured for the app.</summary>
        public bool? StoreChecked { get; private set; }
        /// <summary>Device clock minus <see cref="IssuedAt"/>, seconds, when the verdict was checked
        /// (positive: the device is ahead). The device clock decides nothing; this is for diagnostics.</summary>
        public long DeviceClockSkewSecs { get; private set; }
        /// <summary>Verdict id (<c>jti</c>).</summary>
        public string VerdictId { get; private set; }
        /// <summary><c>receipt_sha256</c> of the receipt.</summary>
        public string ReceiptSha256 { get; private set; }
        /// <summary>The account id.</summary>
        public string AccountId { get; private set; }
        /// <summary>The app id.</summary>
        public string AppId { get; private set; }
        /// <summary>The compact JWS to forward to the application server.</summary>
        public string Token { get; private set; }

        internal static unsafe Verdict From(PsVerdict* v)
        {
            return new Verdict
            {
                Paid = v->paid != 0,
                Reason = v->reason == 0 ? (NotPaidReason?)null : (NotPaidReason)v->reason,
                Store = (Store)v->store,
                ProductId = Utf8.Read(v->product_id),
                TransactionId = Utf8.Read(v->transaction_id),
                OriginalTransactionId = Utf8.Read(v->original_transaction_id),
                Environment = v->environment == 0 ? (StoreEnvironment?)null : (StoreEnvironment)v->environment,
                Redemption = v->redemption == 0 ? (Redemption?)null : (Redemption)v->redemption,
                Quantity = v->has_quantity != 0 ? v->quantity : (long?)null,
                PurchasedAt = v->has_purchased_at != 0 ? v->purchased_at : (long?)null,
                IssuedAt = v->issued_at,
                ExpiresAt = v->expires_at,
                Kind = v->kind == 0 ? (PurchaseKind?)null : (PurchaseKind)v->kind,
                SubscriptionExpiresAt = v->has_subscription_expires_at != 0 ? v->subscription_expires_at : (long?)null,
                SubscriptionState = v->subscription_state == 0 ? (SubscriptionState?)null : (SubscriptionState)v->subscription_state,
                StoreChecked = v->store_checked == 0 ? (bool?)null : v->store_checked == 1,
                DeviceClockSkewSecs = v->device_clock_skew_secs,
                VerdictId = Utf8.Read(v->verdict_id),
                ReceiptSha256 = Utf8.Read(v->receipt_sha256),
                AccountId = Utf8.Read(v->account_id),
                AppId = Utf8.Read(v->app_id),
                Token = Utf8.Read(v->token),
            };
        }

        /// <summary>The outcome and ids, without the token.</summary>
        public override string ToString()
        {
            return "Verdict(paid=" + Paid + ", reason=" + Reason + ", redemption=" + Redemption + ", store=" + Store
                + ", product=" + ProductId + ", kind=" + Kind + ", subscriptionEnd=" + SubscriptionExpiresAt + ", subscriptionState=" + SubscriptionState + ", storeChecked=" + StoreChecked + ", tx=" + TransactionId + ", account=" + AccountId + ", id=" + VerdictId + ")";
        }
    }

    /// <summary>One pending receipt after a retry: verified (paid or not), or still pending.</summary>
    public sealed class PendingResult
    {
        /// <summary>The receipt's hash.</summary>
        public string ReceiptSha256 { get; private set; }
        /// <summary>The account that bought it.</summary>
        public string AccountId { get; private set; }
        /// <summary>The app id.</summary>
        public string AppId { get; private set; }
        /// <summary>The verdict; null when still pending.</summary>
        public Verdict Verdict { get; private set; }
        /// <summary>When still pending or refused: the failure (not thrown).</summary>
        public PaySealException Error { get; private set; }
        /// <summary>True when a verdict was obtained (the receipt is no longer pending).</summary>
        public bool IsVerified { get { return Verdict != null; } }
        /// <summary>True when the pending file was not sent: unreadable (truncated, edited), another
        /// app's, or a receipt that cannot be sent. It is left on disk as it is; <see cref="Error"/> says why.</summary>
        public bool IsRefused { get; private set; }

        internal static unsafe List<PendingResult> ListFrom(PsPendingList* list)
        {
            var results = new List<PendingResult>();
            for (ulong i = 0; i < (ulong)list->len; i++)
            {
                PsPending* p = list->items + i;
                results.Add(new PendingResult
                {
                    ReceiptSha256 = Utf8.Read(p->receipt_sha256),
                    AccountId = Utf8.Read(p->account_id),
                    AppId = Utf8.Read(p->app_id),
                    Verdict = p->verdict == null ? null : Verdict.From(p->verdict),
                    IsRefused = p->refused != 0,
                    Error = p->verdict == null ? PaySealException.FromKind(p->error_kind, Utf8.Read(p->error_message)) : null,
                });
            }
            return results;
        }
    }
}

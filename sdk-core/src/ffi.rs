//! The UniFFI surface: the `PaySeal` object and its records. The protocol's enums
//! (receipts, stores, reasons, ...) cross as they are (`#[uniffi::remote]`), and every
//! layer's error crosses as [`PaySealError`], built from [`ClientError::kind`] and its
//! message (`impl From<ClientError> for PaySealError`). No panic crosses: UniFFI catches
//! panics of exported calls, and SDK work runs in tasks whose panics become `Internal`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use payseal_protocol as proto;
use serde::Serialize;

use crate::client::{Client, ClientError, PendingReport, Restored};
use crate::clock::OffsetClock;
use crate::config::{Options, RetryPolicy};
use crate::decision::CheckedVerdict;
use crate::entitlements::CheckedEntitlements;
pub use crate::error::{PaySealError, PaySealErrorKind};
use crate::runtime;
use crate::transport::TransportError;

pub use proto::Environment as StoreEnvironment;
pub use proto::Reason as NotPaidReason;
pub use proto::{HuaweiAlgorithm, PurchaseKind, Receipt, Redemption, Store, SubscriptionState};

/// The one mapping from the layers' errors to the app's: [`ClientError::kind`].
impl From<ClientError> for PaySealError {
    fn from(e: ClientError) -> Self {
        PaySealError::new(e.kind(), e.to_string())
    }
}

/// Options besides the profile. Durations in milliseconds (signed, so Java can call it).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaySealOptions {
    /// The app id as configured on the verifier (package name / bundle id).
    pub app_id: String,
    /// Time allowed to connect (TCP + TLS), ms.
    #[uniffi(default = 5000)]
    pub connect_timeout_ms: i64,
    /// Time allowed for one request, ms.
    #[uniffi(default = 10000)]
    pub request_timeout_ms: i64,
    /// Time allowed for one `verify`, retries included, ms.
    #[uniffi(default = 30000)]
    pub deadline_ms: i64,
    /// Attempts per `verify`, the first included (1 = no retry).
    #[uniffi(default = 4)]
    pub max_attempts: i32,
    /// Backoff before the first retry, doubled each time and jittered, ms.
    #[uniffi(default = 200)]
    pub base_backoff_ms: i64,
    /// Directory for receipts that got no verdict (app-private storage); none: not kept.
    #[uniffi(default = None)]
    pub pending_dir: Option<String>,
    /// Extra trust roots (PEM) for private deployments, added to the built-in roots.
    #[uniffi(default = [])]
    pub extra_roots_pem: Vec<String>,
    /// Directory where the last checked entitlements answer of each account is kept
    /// (app-private storage), for a game offline at start; none: not kept, and an offline
    /// `entitlements` call has no answer.
    #[uniffi(default = None)]
    pub entitlements_dir: Option<String>,
}

fn millis(field: &'static str, ms: i64) -> Result<Duration, PaySealError> {
    u64::try_from(ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .ok_or_else(|| {
            PaySealError::new(
                PaySealErrorKind::InvalidProfile,
                format!("invalid option `{field}`: must be a positive number of milliseconds"),
            )
        })
}

impl TryFrom<PaySealOptions> for Options {
    type Error = PaySealError;
    fn try_from(o: PaySealOptions) -> Result<Self, PaySealError> {
        let defaults = Options::new(o.app_id.clone());
        Ok(Options {
            app_id: o.app_id,
            connect_timeout: millis("connect_timeout_ms", o.connect_timeout_ms)?,
            request_timeout: millis("request_timeout_ms", o.request_timeout_ms)?,
            deadline: millis("deadline_ms", o.deadline_ms)?,
            retry: RetryPolicy {
                max_attempts: u32::try_from(o.max_attempts).map_err(|_| {
                    PaySealError::new(
                        PaySealErrorKind::InvalidProfile,
                        "invalid option `max_attempts`: must be positive",
                    )
                })?,
                base_backoff: millis("base_backoff_ms", o.base_backoff_ms)?,
                max_delay: defaults.retry.max_delay,
            },
            pending_dir: o.pending_dir.map(PathBuf::from),
            extra_roots_pem: o.extra_roots_pem,
            entitlements_dir: o.entitlements_dir.map(PathBuf::from),
            clock_skew: defaults.clock_skew,
        })
    }
}

/// The default options for `app_id`.
#[uniffi::export]
pub fn default_options(app_id: String) -> PaySealOptions {
    let d = Options::new(app_id);
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    PaySealOptions {
        connect_timeout_ms: ms(d.connect_timeout),
        request_timeout_ms: ms(d.request_timeout),
        deadline_ms: ms(d.deadline),
        max_attempts: i32::try_from(d.retry.max_attempts).unwrap_or(i32::MAX),
        base_backoff_ms: ms(d.retry.base_backoff),
        pending_dir: d.pending_dir.map(|p| p.to_string_lossy().into_owned()),
        extra_roots_pem: d.extra_roots_pem,
        entitlements_dir: d.entitlements_dir.map(|p| p.to_string_lossy().into_owned()),
        app_id: d.app_id,
    }
}

/// Huawei's signature algorithm.
#[uniffi::remote(Enum)]
pub enum HuaweiAlgorithm {
    /// `SHA256WithRSA` (PKCS#1 v1.5), Huawei's default.
    Sha256WithRsa,
    /// `SHA256WithRSA/PSS`.
    Sha256WithRsaPss,
}

/// The payment response data the app got from its store.
#[uniffi::remote(Enum)]
pub enum Receipt {
    /// Play Billing: `Purchase.originalJson` (exact) and `Purchase.signature`.
    GooglePlay {
        /// The purchase JSON exactly as Play returned it.
        purchase_data: String,
        /// Base64 signature.
        signature: String,
    },
    /// StoreKit 2: `Transaction.jwsRepresentation`.
    AppStore {
        /// The compact JWS.
        jws: String,
    },
    /// The original StoreKit's app receipt (Unity IAP's `AppleAppStore` payload) and the
    /// transaction of it to redeem.
    AppStoreReceipt {
        /// The Base64 app receipt.
        app_receipt: String,
        /// The in-app transaction's id.
        transaction_id: String,
    },
    /// Huawei IAP: `InAppPurchaseData` (exact) and its signature.
    Huawei {
        /// The purchase data exactly as Huawei returned it.
        purchase_data: String,
        /// Base64 signature.
        signature: String,
        /// Signature algorithm.
        algorithm: HuaweiAlgorithm,
    },
    /// PaySeal's sandbox store.
    Sandbox {
        /// The sandbox purchase JSON.
        purchase_data: String,
        /// Base64 signature.
        signature: String,
    },
}

/// Parse the stable receipt JSON form (what `payseal-sandbox` prints).
#[uniffi::export]
pub fn receipt_from_json(json: String) -> Result<Receipt, PaySealError> {
    serde_json::from_str::<Receipt>(&json).map_err(|e| {
        PaySealError::new(
            PaySealErrorKind::InvalidReceipt,
            format!("receipt JSON: {e}"),
        )
    })
}

/// The receipt inside Unity IAP's unified receipt (`Product.receipt`, a Unity IAP 5 order's
/// receipt): a Google Play receipt from `Payload.json` / `Payload.signature` byte for byte, or
/// for `AppleAppStore` / `MacAppStore` the App Store app receipt with its `TransactionID`.
/// `InvalidReceipt` naming what is wrong otherwise.
#[uniffi::export]
pub fn receipt_from_unity_iap(unified: String) -> Result<Receipt, PaySealError> {
    crate::unity_iap::receipt_from_unity_iap(&unified)
        .map_err(|e| PaySealError::new(PaySealErrorKind::InvalidReceipt, e.to_string()))
}

/// The stable receipt JSON form of `receipt`.
#[uniffi::export]
pub fn receipt_to_json(receipt: Receipt) -> String {
    serde_json::to_string(&receipt).unwrap_or_default()
}

/// The receipt's `receipt_sha256` (hex), as verdicts and pending files name it.
#[uniffi::export]
pub fn receipt_sha256(receipt: Receipt) -> String {
    receipt.sha256_hex()
}

/// The account token to give the store at purchase time for `account_id`, so the verifier can
/// tell the purchase is this account's: the UUIDv5 of the account id in the app's
/// `namespace` (the verifier's `[apps."ID".account_binding]`, scheme `uuid_v5`), lowercase
/// hyphenated. Set it as StoreKit 2's `Product.PurchaseOption.appAccountToken(UUID(uuidString:)!)`
/// or Play Billing's `setObfuscatedAccountId(token)`. `InvalidProfile` when `namespace` is not a
/// UUID.
#[uniffi::export]
pub fn account_token_uuid_v5(
    namespace: String,
    account_id: String,
) -> Result<String, PaySealError> {
    proto::AccountBinding::uuid_v5(&namespace)
        .map(|b| b.token(&account_id))
        .map_err(|e| PaySealError::new(PaySealErrorKind::InvalidProfile, e.to_string()))
}

/// The `sha256_hex` account token for `account_id` (Play `setObfuscatedAccountId` only: the
/// App Store's `appAccountToken` must be a UUID): lowercase hex SHA-256 of the account id.
#[uniffi::export]
pub fn account_token_sha256_hex(account_id: String) -> String {
    proto::AccountBinding::Sha256Hex.token(&account_id)
}

/// The SDK's version.
#[uniffi::export]
pub fn sdk_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Why a purchase is not paid (the verdict's `reason`).
#[uniffi::remote(Enum)]
pub enum NotPaidReason {
    /// The store signature does not verify.
    BadSignature,
    /// The App Store chain does not lead to the configured root.
    UntrustedChain,
    /// The receipt is for another app.
    WrongApp,
    /// The app id is not configured on the verifier.
    UnknownApp,
    /// Pending, cancelled or otherwise not completed.
    NotPurchased,
    /// Revoked or refunded.
    Revoked,
    /// Another account already redeemed this receipt.
    AlreadyRedeemed,
    /// Sandbox receipt for a production app, or the reverse.
    UntrustedEnvironment,
    /// The receipt cannot be parsed.
    Malformed,
    /// Genuine, but for another product than the one the app sold.
    WrongProduct,
    /// The store's account binding is another account's.
    WrongAccount,
    /// The subscription has expired.
    Expired,
    /// The subscription's payment failed; the store holds it without access (protocol v2).
    OnHold,
    /// The user paused the subscription (protocol v2).
    Paused,
    /// The account refunded more purchases than the app allows (protocol v2).
    RefundLimit,
}

/// The store of a purchase.
#[uniffi::remote(Enum)]
pub enum Store {
    /// Google Play.
    GooglePlay,
    /// Apple App Store.
    AppStore,
    /// Huawei AppGallery.
    Huawei,
    /// PaySeal sandbox store.
    Sandbox,
}

/// Store environment: real money or test purchases.
///
/// Named `StoreEnvironment` (not `Environment`) so that Swift apps importing SwiftUI, whose
/// `Environment` property wrapper is in scope everywhere, can use it without qualification.
#[uniffi::remote(Enum)]
pub enum StoreEnvironment {
    /// Real money.
    Production,
    /// Test purchases.
    Sandbox,
}

/// First redemption by this account, or a repeat (restore / retry).
#[uniffi::remote(Enum)]
pub enum Redemption {
    /// First time: deliver the item.
    First,
    /// Same account again: already delivered once.
    Repeat,
}

/// What kind of purchase the store says it is (the verdict's `kind`).
#[uniffi::remote(Enum)]
pub enum PurchaseKind {
    /// Used up once delivered (coins, gems).
    Consumable,
    /// Bought once, kept forever (a level pack, "remove ads").
    NonConsumable,
    /// Access for a period: until `subscription_expires_at` when the store signed one.
    Subscription,
}

/// A subscription's state as the store's server last gave it (the verdict's
/// `subscription_state`, protocol v2): one vocabulary for every store.
#[uniffi::remote(Enum)]
pub enum SubscriptionState {
    /// Paid and renewing.
    Active,
    /// A renewal payment failed; access continues until the grace period's end.
    InGracePeriod,
    /// A renewal payment failed; access is suspended while the store retries.
    OnHold,
    /// Paused by the user (Google Play).
    Paused,
    /// Will not renew, but paid until its end.
    Canceled,
    /// Ended (or revoked).
    Expired,
    /// The first payment has not completed.
    Pending,
}

/// A checked verdict: signed by a profile key, the answer to this request (it echoes the
/// request's nonce, receipt hash, app and account). The device clock is not used to refuse
/// it; its skew is reported in `device_clock_skew_secs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct Verdict {
    /// Paid (deliver) or not.
    pub paid: bool,
    /// Why not paid (absent when paid).
    pub reason: Option<NotPaidReason>,
    /// The store.
    pub store: Store,
    /// Product id.
    pub product_id: Option<String>,
    /// Store transaction id.
    pub transaction_id: Option<String>,
    /// Store original transaction id, when it has one.
    pub original_transaction_id: Option<String>,
    /// Production or sandbox.
    pub environment: Option<StoreEnvironment>,
    /// First or repeat (when paid).
    pub redemption: Option<Redemption>,
    /// Quantity.
    pub quantity: Option<i64>,
    /// Purchase time, Unix milliseconds (as the stores give it).
    pub purchased_at: Option<i64>,
    /// Verdict issue time, Unix seconds.
    pub issued_at: i64,
    /// Verdict token expiry (`exp`), Unix seconds: how long this *token* may be forwarded
    /// and accepted. Not the subscription's end: see `subscription_expires_at`.
    pub expires_at: i64,
    /// Consumable / non-consumable / subscription, when the store says (Play one-time
    /// products: absent).
    pub kind: Option<PurchaseKind>,
    /// Subscriptions: end of the paid period, Unix **milliseconds** (the verdict's
    /// `expires_at` claim), when the store signed one (App Store auto-renewable, Huawei,
    /// sandbox; not Play nor App Store non-renewing). A paid verdict's is always in the future
    /// at the verifier's clock; on `Expired`, it says when the period ended.
    pub subscription_expires_at: Option<i64>,
    /// Subscriptions: the state the store's server last gave (the verdict's
    /// `subscription_state`), when the verifier asked the store or a store event set it.
    pub subscription_state: Option<SubscriptionState>,
    /// Whether the store's server confirmed the purchase live: `true` confirmed, `false` paid
    /// on the store's signature alone because the store's API could not be reached, absent
    /// when the verifier has no live check configured for the app.
    pub store_checked: Option<bool>,
    /// Verdict id (`jti`).
    pub verdict_id: String,
    /// `receipt_sha256` of the receipt.
    pub receipt_sha256: String,
    /// The account id.
    pub account_id: String,
    /// The app id.
    pub app_id: String,
    /// The compact JWS to forward to the application server.
    pub token: String,
    /// Device clock minus the verdict's `issued_at`, in seconds, measured when the verdict
    /// was checked: positive when the device clock is ahead, negative when behind.
    pub device_clock_skew_secs: i64,
}

impl From<CheckedVerdict> for Verdict {
    fn from(v: CheckedVerdict) -> Self {
        let c = v.claims;
        Verdict {
            paid: c.outcome == proto::Outcome::Paid,
            reason: c.reason,
            store: c.store,
            product_id: c.product_id,
            transaction_id: c.transaction_id,
            original_transaction_id: c.original_transaction_id,
            environment: c.environment,
            redemption: c.redemption,
            quantity: c.quantity.map(i64::from),
            purchased_at: c.purchased_at,
            issued_at: c.iat,
            expires_at: c.exp,
            kind: c.kind,
            subscription_expires_at: c.expires_at,
            subscription_state: c.subscription_state,
            store_checked: c.store_checked,
            verdict_id: c.jti,
            receipt_sha256: c.receipt_sha256,
            account_id: c.sub,
            app_id: c.app,
            token: v.token,
            device_clock_skew_secs: v.device_clock_skew_secs,
        }
    }
}

/// One active entitlement of an account, and the purchase that grants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct Entitlement {
    /// The entitlement's name in the verifier's config (`premium`, `no_ads`, ...).
    pub name: String,
    /// The product that grants it.
    pub product_id: String,
    /// The store it was bought in.
    pub store: Store,
    /// Production or sandbox (absent for purchases recorded before the ledger kept it).
    pub environment: Option<StoreEnvironment>,
    /// The granting purchase: its transaction id, or for a subscription its renewal chain's
    /// id (App Store `originalTransactionId`, Play purchase token, ...).
    pub transaction_key: String,
    /// Non-consumable or subscription, when the store said (consumables never grant).
    pub kind: Option<PurchaseKind>,
    /// First presentation of the purchase to PaySeal, Unix milliseconds.
    pub since: i64,
    /// A subscription's paid period end, Unix milliseconds (absent: lifetime).
    pub expires_at: Option<i64>,
    /// Whether the subscription renews, when the store said.
    pub will_renew: Option<bool>,
}

impl From<proto::entitlements::Entitlement> for Entitlement {
    fn from(e: proto::entitlements::Entitlement) -> Self {
        Entitlement {
            name: e.name,
            product_id: e.product_id,
            store: e.store,
            environment: e.environment,
            transaction_key: e.transaction_key,
            kind: e.kind,
            since: e.since,
            expires_at: e.expires_at,
            will_renew: e.will_renew,
        }
    }
}

/// A checked entitlements answer: what the account owns, signed by a profile key, for this
/// app and account (and, when fresh, this request's nonce). The device clock refuses nothing:
/// it only measures `age_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct Entitlements {
    /// The active entitlements, by name then product (one granted by two purchases appears
    /// twice).
    pub entitlements: Vec<Entitlement>,
    /// The account id.
    pub account_id: String,
    /// The app id.
    pub app_id: String,
    /// When the verifier read the ledger, Unix milliseconds.
    pub as_of: i64,
    /// The answer's issue time, Unix seconds.
    pub issued_at: i64,
    /// The token's expiry (`exp`), Unix seconds: how long it may be forwarded to the app's
    /// server. Not an entitlement's end: see `Entitlement.expires_at`.
    pub token_expires_at: i64,
    /// Device clock minus `as_of`, in milliseconds, measured when the answer was checked (or
    /// read back from the offline copy): how old it is.
    pub age_ms: i64,
    /// Whether it is the offline copy (the verifier could not be reached, or
    /// `cached_entitlements`).
    pub from_cache: bool,
    /// The answer's id (`jti`).
    pub answer_id: String,
    /// The compact JWS to forward to the application server.
    pub token: String,
}

impl From<CheckedEntitlements> for Entitlements {
    fn from(e: CheckedEntitlements) -> Self {
        let c = e.claims;
        Entitlements {
            entitlements: c.entitlements.into_iter().map(Entitlement::from).collect(),
            account_id: c.sub,
            app_id: c.app,
            as_of: c.as_of,
            issued_at: c.iat,
            token_expires_at: c.exp,
            age_ms: e.age_ms,
            from_cache: e.from_cache,
            answer_id: c.jti,
            token: e.token,
        }
    }
}

/// What `restore` got: one checked verdict per receipt, in the order given, and the account's
/// entitlements read after them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct RestoreResult {
    /// The verdicts, in the order of the receipts given.
    pub verdicts: Vec<Verdict>,
    /// The entitlements after the restore.
    pub entitlements: Entitlements,
}

impl From<Restored> for RestoreResult {
    fn from(r: Restored) -> Self {
        RestoreResult {
            verdicts: r.verdicts.into_iter().map(Verdict::from).collect(),
            entitlements: r.entitlements.into(),
        }
    }
}

/// Most receipts one `restore` carries; restore more in batches of this size.
#[uniffi::export]
pub fn max_restore_receipts() -> i32 {
    i32::try_from(proto::entitlements::MAX_RESTORE_RECEIPTS).unwrap_or(i32::MAX)
}

/// What became of one pending receipt in `retry_pending`.
// UniFFI enums carry their fields by value (no Box across the FFI); the size is irrelevant here.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum PendingOutcome {
    /// A verdict (paid or not) was obtained; the receipt is no longer pending.
    Verified {
        /// The verdict.
        verdict: Verdict,
    },
    /// Still no verdict; the receipt stays pending.
    StillPending {
        /// The failure's kind.
        kind: PaySealErrorKind,
        /// The failure's message.
        message: String,
    },
    /// Not sent: the file is unreadable (truncated, edited), names another app, or holds a
    /// receipt that cannot be sent. It is left on disk as it is, for the app to look at.
    Refused {
        /// The refusal's kind (`InvalidReceipt`).
        kind: PaySealErrorKind,
        /// Why.
        message: String,
    },
}

/// One pending receipt after `retry_pending`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, uniffi::Record)]
pub struct PendingResult {
    /// The receipt's hash.
    pub receipt_sha256: String,
    /// The account that bought it.
    pub account_id: String,
    /// The app id.
    pub app_id: String,
    /// Verified or still pending.
    pub outcome: PendingOutcome,
}

impl From<PendingReport> for PendingResult {
    fn from(r: PendingReport) -> Self {
        let refused = r.is_refused();
        PendingResult {
            receipt_sha256: r.receipt_sha256,
            account_id: r.account_id,
            app_id: r.app_id,
            outcome: match r.result {
                Ok(v) => PendingOutcome::Verified { verdict: v.into() },
                Err(e) if refused => PendingOutcome::Refused {
                    kind: e.kind(),
                    message: e.to_string(),
                },
                Err(e) => PendingOutcome::StillPending {
                    kind: e.kind(),
                    message: e.to_string(),
                },
            },
        }
    }
}

/// The PaySeal SDK for one verifier profile. Thread-safe; make one and share it.
#[derive(Debug, uniffi::Object)]
pub struct PaySeal {
    client: Arc<Client>,
}

/// Run `f(client)` on the shared runtime; aborted if the returned future is dropped.
async fn on_runtime<T, F, Fut>(client: Arc<Client>, f: F) -> Result<T, PaySealError>
where
    T: Send + 'static,
    F: FnOnce(Arc<Client>) -> Fut,
    Fut: std::future::Future<Output = Result<T, PaySealError>> + Send + 'static,
{
    let task = runtime::spawn(f(client)).map_err(PaySealError::internal)?;
    match task.await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(PaySealError::internal("the SDK task panicked")),
        Err(_) => Err(PaySealError::internal("the SDK task was cancelled")),
    }
}

/// Run `fut` on the shared runtime, blocking the calling thread until it is done.
fn blocking<T, Fut>(fut: Fut) -> Result<T, PaySealError>
where
    T: Send + 'static,
    Fut: std::future::Future<Output = Result<T, PaySealError>> + Send + 'static,
{
    runtime::block_on(fut).map_err(PaySealError::internal)?
}

async fn verify_task(
    client: Arc<Client>,
    receipt: proto::Receipt,
    account_id: String,
    expected_product_id: Option<String>,
) -> Result<Verdict, PaySealError> {
    Ok(client
        .verify_product(&receipt, &account_id, expected_product_id.as_deref())
        .await?
        .into())
}

async fn retry_task(client: Arc<Client>) -> Result<Vec<PendingResult>, PaySealError> {
    Ok(client
        .retry_pending()
        .await?
        .into_iter()
        .map(PendingResult::from)
        .collect())
}

async fn entitlements_task(
    client: Arc<Client>,
    account_id: String,
) -> Result<Entitlements, PaySealError> {
    Ok(client.entitlements(&account_id).await?.into())
}

async fn restore_task(
    client: Arc<Client>,
    receipts: Vec<Receipt>,
    account_id: String,
) -> Result<RestoreResult, PaySealError> {
    Ok(client.restore(&receipts, &account_id).await?.into())
}

#[uniffi::export]
impl PaySeal {
    /// Build from the profile JSON (parsed strictly) and options; `InvalidProfile` if either
    /// is bad. Nothing is sent.
    #[uniffi::constructor]
    pub fn new(profile_json: String, options: PaySealOptions) -> Result<Arc<Self>, PaySealError> {
        Self::new_with_clock_offset(profile_json, options, 0)
    }

    /// **For tests**: [`PaySeal::new`] with a device clock `clock_offset_secs` seconds off the
    /// real one (negative: behind), to check that a wrong device clock loses no purchase. The
    /// clock decides nothing; it shows in `Verdict.device_clock_skew_secs`, the logs and the
    /// pending files' timestamps. Apps call `new`.
    #[uniffi::constructor]
    pub fn new_with_clock_offset(
        profile_json: String,
        options: PaySealOptions,
        clock_offset_secs: i64,
    ) -> Result<Arc<Self>, PaySealError> {
        let options = Options::try_from(options)?;
        let rt = runtime::shared().map_err(PaySealError::internal)?;
        let _context = rt.enter();
        let mut client = Client::new(&profile_json, options)?;
        if clock_offset_secs != 0 {
            client = client.with_clock(Arc::new(OffsetClock {
                offset_secs: clock_offset_secs,
            }));
        }
        Ok(Arc::new(Self {
            client: Arc::new(client),
        }))
    }

    /// Verify a purchase for `account_id`: a checked verdict, paid or not, or an error.
    /// Network, timeout and 5xx failures keep the receipt pending before returning.
    /// `expected_product_id` (default none): the product the app sold; a genuine receipt for
    /// another product is then not paid (`WrongProduct`) and not consumed
    /// ([`Client::verify_product`]). Kotlin and Swift call it `verify` (the product
    /// optional, so calls written before it existed compile unchanged); from Rust,
    /// [`PaySeal::verify`] is the two-argument form.
    #[uniffi::method(name = "verify", default(expected_product_id = None))]
    pub async fn verify_product(
        &self,
        receipt: Receipt,
        account_id: String,
        expected_product_id: Option<String>,
    ) -> Result<Verdict, PaySealError> {
        on_runtime(self.client.clone(), move |client| {
            verify_task(client, receipt, account_id, expected_product_id)
        })
        .await
    }

    /// [`PaySeal::verify_product`] for callers without coroutines or async (blocks the
    /// thread); `verifyBlocking` in Kotlin and Swift.
    #[uniffi::method(name = "verify_blocking", default(expected_product_id = None))]
    pub fn verify_product_blocking(
        &self,
        receipt: Receipt,
        account_id: String,
        expected_product_id: Option<String>,
    ) -> Result<Verdict, PaySealError> {
        blocking(verify_task(
            self.client.clone(),
            receipt,
            account_id,
            expected_product_id,
        ))
    }

    /// Verify the pending receipts again; verified ones are removed.
    pub async fn retry_pending(&self) -> Result<Vec<PendingResult>, PaySealError> {
        on_runtime(self.client.clone(), retry_task).await
    }

    /// [`PaySeal::retry_pending`], blocking.
    pub fn retry_pending_blocking(&self) -> Result<Vec<PendingResult>, PaySealError> {
        blocking(retry_task(self.client.clone()))
    }

    /// What `account_id` owns now: the verifier's signed entitlements answer, checked (profile
    /// key, this request's nonce, this app and account) and kept in `entitlements_dir`. When
    /// the verifier cannot be reached (network, timeout, 5xx), the kept answer, checked again,
    /// with `from_cache` and its age; an edited kept answer is `Tampered`; with none kept, the
    /// `Network` / `Timeout` / `ServerRejected` error: it never invents an answer.
    pub async fn entitlements(&self, account_id: String) -> Result<Entitlements, PaySealError> {
        on_runtime(self.client.clone(), move |client| {
            entitlements_task(client, account_id)
        })
        .await
    }

    /// [`PaySeal::entitlements`], blocking.
    pub fn entitlements_blocking(&self, account_id: String) -> Result<Entitlements, PaySealError> {
        blocking(entitlements_task(self.client.clone(), account_id))
    }

    /// Restore in one call: every receipt the store handed the app (StoreKit's current
    /// entitlements, Play's `queryPurchasesAsync`, Huawei's owned purchases; at most
    /// `max_restore_receipts()`, else `InvalidReceipt` and nothing is sent), each judged exactly
    /// as by `verify`, then the account's entitlements, checked and kept like `entitlements`.
    /// Nothing is kept pending on failure: the store still holds the receipts; call it again.
    pub async fn restore(
        &self,
        receipts: Vec<Receipt>,
        account_id: String,
    ) -> Result<RestoreResult, PaySealError> {
        on_runtime(self.client.clone(), move |client| {
            restore_task(client, receipts, account_id)
        })
        .await
    }

    /// [`PaySeal::restore`], blocking.
    pub fn restore_blocking(
        &self,
        receipts: Vec<Receipt>,
        account_id: String,
    ) -> Result<RestoreResult, PaySealError> {
        blocking(restore_task(self.client.clone(), receipts, account_id))
    }

    /// The kept (offline) entitlements answer of `account_id`, checked again, without asking
    /// the verifier: none when none is kept or no `entitlements_dir` is set; an edited or
    /// another account's file is `Tampered` (and is not used).
    pub fn cached_entitlements(
        &self,
        account_id: String,
    ) -> Result<Option<Entitlements>, PaySealError> {
        Ok(self
            .client
            .cached_entitlements(&account_id)?
            .map(Entitlements::from))
    }

    /// How many receipts are pending.
    pub fn pending_count(&self) -> Result<i64, PaySealError> {
        let n = self.client.pending_count()?;
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }

    /// The app id in force.
    pub fn app_id(&self) -> String {
        self.client.options().app_id.clone()
    }
}

impl PaySeal {
    /// Verify a purchase for `account_id` without naming the product
    /// ([`PaySeal::verify_product`] with none; the foreign `verify` with its default).
    pub async fn verify(
        &self,
        receipt: Receipt,
        account_id: String,
    ) -> Result<Verdict, PaySealError> {
        self.verify_product(receipt, account_id, None).await
    }

    /// [`PaySeal::verify`], blocking.
    pub fn verify_blocking(
        &self,
        receipt: Receipt,
        account_id: String,
    ) -> Result<Verdict, PaySealError> {
        self.verify_product_blocking(receipt, account_id, None)
    }

    /// The Rust client behind this object.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl From<TransportError> for PaySealError {
    fn from(e: TransportError) -> Self {
        ClientError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_json_round_trips_through_the_ffi_enum() {
        let json = r#"{"store":"huawei","purchase_data":"{}","signature":"eA==","algorithm":"SHA256WithRSA/PSS"}"#;
        let r = receipt_from_json(json.into()).unwrap();
        assert!(matches!(
            r,
            Receipt::Huawei {
                algorithm: HuaweiAlgorithm::Sha256WithRsaPss,
                ..
            }
        ));
        let back: Receipt = serde_json::from_str(&receipt_to_json(r.clone())).unwrap();
        assert_eq!(back, r);
        assert_eq!(receipt_sha256(r), back.sha256_hex());
    }

    #[test]
    fn account_tokens_are_the_protocol_derivations() {
        let ns = "5d0e6c1a-8f3b-4e27-9a64-2c71b0f4d9e8";
        let t = account_token_uuid_v5(ns.into(), "alice".into()).unwrap();
        assert_eq!(
            t,
            proto::AccountBinding::uuid_v5(ns).unwrap().token("alice")
        );
        assert_eq!(
            account_token_uuid_v5("nope".into(), "alice".into())
                .unwrap_err()
                .kind(),
            PaySealErrorKind::InvalidProfile
        );
        assert_eq!(
            account_token_sha256_hex("abc".into()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn bad_receipt_json_is_invalid_receipt() {
        for bad in ["", "{", r#"{"store":"amazon"}"#, r#"{"store":"app_store"}"#] {
            assert_eq!(
                receipt_from_json(bad.into()).unwrap_err().kind(),
                PaySealErrorKind::InvalidReceipt
            );
        }
    }

    #[test]
    fn bad_options_are_invalid_profile() {
        let mut o = default_options("dev.payseal.demo".into());
        assert!(Options::try_from(o.clone()).is_ok());
        o.deadline_ms = 0;
        assert_eq!(
            Options::try_from(o).unwrap_err().kind(),
            PaySealErrorKind::InvalidProfile
        );
        let mut o = default_options("dev.payseal.demo".into());
        o.max_attempts = -1;
        assert_eq!(
            Options::try_from(o).unwrap_err().kind(),
            PaySealErrorKind::InvalidProfile
        );
    }

    /// A profile for an unreachable verifier (loopback port 9, nothing listens) whose verdict
    /// key is `verdict_key()`'s.
    fn unreachable_profile() -> String {
        let hpke = proto::envelope::ServerKeyPair::from_secret(1, [3; 32]).unwrap();
        proto::profile::Profile::new(
            "https://127.0.0.1:9",
            vec![
                proto::pin::spki_pin(b"current spki"),
                proto::pin::spki_pin(b"backup spki"),
            ],
            &hpke.config(),
            &[verdict_key().public_key()],
        )
        .unwrap()
        .to_json()
    }

    fn verdict_key() -> proto::verdict::VerdictSigningKey {
        proto::verdict::VerdictSigningKey::from_seed("k1", [7; 32])
    }

    fn claims(account: &str) -> proto::entitlements::EntitlementsClaims {
        proto::entitlements::EntitlementsClaims {
            iss: "https://127.0.0.1:9".into(),
            iat: 1_760_000_000,
            exp: 1_760_000_600,
            jti: "answer-1".into(),
            nonce: "bm9uY2Utbm9uY2Utbm9uY2U".into(),
            app: "dev.payseal.demo".into(),
            sub: account.into(),
            as_of: 1_760_000_000_123,
            entitlements: vec![
                proto::entitlements::Entitlement {
                    name: "no_ads".into(),
                    product_id: "remove_ads".into(),
                    store: Store::Huawei,
                    environment: Some(StoreEnvironment::Production),
                    transaction_key: "order-1".into(),
                    kind: Some(PurchaseKind::NonConsumable),
                    since: 1_700_000_000_000,
                    expires_at: None,
                    will_renew: None,
                },
                proto::entitlements::Entitlement {
                    name: "premium".into(),
                    product_id: "pro_monthly".into(),
                    store: Store::AppStore,
                    environment: None,
                    transaction_key: "2000000001".into(),
                    kind: Some(PurchaseKind::Subscription),
                    since: 1_750_000_000_000,
                    expires_at: Some(1_770_000_000_000),
                    will_renew: Some(false),
                },
            ],
        }
    }

    /// A genuine answer for `account`, kept in `dir` as the SDK keeps one.
    fn keep_answer(dir: &std::path::Path, account: &str) -> String {
        let token = proto::entitlements::sign(&verdict_key(), &claims(account)).unwrap();
        let verifier = proto::verdict::VerdictVerifier::new(vec![verdict_key().public_key()]);
        let expected = crate::entitlements::ExpectedEntitlements {
            nonce: None,
            app_id: "dev.payseal.demo",
            account_id: account,
        };
        let checked = crate::entitlements::check(&verifier, &token, &expected, 0).unwrap();
        crate::entitlements::EntitlementsCache::open(dir)
            .unwrap()
            .save(&checked)
            .unwrap();
        token
    }

    fn offline_sdk(entitlements_dir: Option<&std::path::Path>) -> Arc<PaySeal> {
        let mut o = default_options("dev.payseal.demo".into());
        o.entitlements_dir = entitlements_dir.map(|d| d.to_string_lossy().into_owned());
        o.max_attempts = 1;
        o.connect_timeout_ms = 2_000;
        o.deadline_ms = 5_000;
        PaySeal::new(unreachable_profile(), o).unwrap()
    }

    #[test]
    fn the_entitlements_dir_option_reaches_the_client_and_defaults_to_none() {
        let d = default_options("dev.payseal.demo".into());
        assert_eq!(d.entitlements_dir, None);
        assert_eq!(Options::try_from(d.clone()).unwrap().entitlements_dir, None);
        let o = PaySealOptions {
            entitlements_dir: Some("/data/app/entitlements".into()),
            ..d
        };
        assert_eq!(
            Options::try_from(o).unwrap().entitlements_dir,
            Some(PathBuf::from("/data/app/entitlements"))
        );
    }

    #[test]
    fn a_checked_answer_maps_field_by_field() {
        let c = claims("alice");
        let checked = CheckedEntitlements {
            claims: c.clone(),
            token: "t.o.k".into(),
            age_ms: 4_200,
            from_cache: true,
        };
        let e = Entitlements::from(checked);
        assert_eq!(e.account_id, "alice");
        assert_eq!(e.app_id, "dev.payseal.demo");
        assert_eq!(e.as_of, c.as_of);
        assert_eq!(e.issued_at, c.iat);
        assert_eq!(e.token_expires_at, c.exp);
        assert_eq!(e.answer_id, "answer-1");
        assert_eq!(e.token, "t.o.k");
        assert_eq!((e.age_ms, e.from_cache), (4_200, true));
        assert_eq!(
            e.entitlements,
            [
                Entitlement {
                    name: "no_ads".into(),
                    product_id: "remove_ads".into(),
                    store: Store::Huawei,
                    environment: Some(StoreEnvironment::Production),
                    transaction_key: "order-1".into(),
                    kind: Some(PurchaseKind::NonConsumable),
                    since: 1_700_000_000_000,
                    expires_at: None,
                    will_renew: None,
                },
                Entitlement {
                    name: "premium".into(),
                    product_id: "pro_monthly".into(),
                    store: Store::AppStore,
                    environment: None,
                    transaction_key: "2000000001".into(),
                    kind: Some(PurchaseKind::Subscription),
                    since: 1_750_000_000_000,
                    expires_at: Some(1_770_000_000_000),
                    will_renew: Some(false),
                },
            ]
        );
    }

    #[test]
    fn cached_entitlements_reads_the_kept_answer_and_refuses_an_edited_one_as_tampered() {
        let dir = tempfile::tempdir().unwrap();
        let token = keep_answer(dir.path(), "alice");
        let sdk = offline_sdk(Some(dir.path()));
        let kept = sdk.cached_entitlements("alice".into()).unwrap().unwrap();
        assert!(kept.from_cache);
        assert_eq!(kept.token, token);
        assert_eq!(kept.entitlements.len(), 2);
        assert!(kept.age_ms > 0, "the device clock is years after as_of");
        // Nothing kept for bob; no folder configured: none, never an invented answer.
        assert_eq!(sdk.cached_entitlements("bob".into()).unwrap(), None);
        assert_eq!(
            offline_sdk(None)
                .cached_entitlements("alice".into())
                .unwrap(),
            None
        );
        // One payload character changed on disk.
        let path = dir
            .path()
            .join(crate::entitlements::EntitlementsCache::file_name(
                "dev.payseal.demo",
                "alice",
            ));
        let mut edited = token.into_bytes();
        let at = edited.iter().position(|b| *b == b'.').unwrap() + 5;
        edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
        std::fs::write(&path, edited).unwrap();
        assert_eq!(
            sdk.cached_entitlements("alice".into()).unwrap_err().kind(),
            PaySealErrorKind::Tampered
        );
        assert_eq!(
            sdk.entitlements_blocking("alice".into())
                .unwrap_err()
                .kind(),
            PaySealErrorKind::Tampered,
            "offline, the edited copy is refused, not used"
        );
    }

    #[test]
    fn offline_entitlements_answer_from_the_kept_copy_or_fail_with_the_network_kind() {
        let dir = tempfile::tempdir().unwrap();
        keep_answer(dir.path(), "alice");
        let sdk = offline_sdk(Some(dir.path()));
        let kept = sdk.entitlements_blocking("alice".into()).unwrap();
        assert!(kept.from_cache);
        assert_eq!(kept.account_id, "alice");
        let none = sdk.entitlements_blocking("bob".into()).unwrap_err();
        assert_eq!(none.kind(), PaySealErrorKind::Network, "{none}");
        assert!(none
            .message()
            .contains("no entitlements answer kept offline"));
        assert_eq!(
            sdk.entitlements_blocking(" ".into()).unwrap_err().kind(),
            PaySealErrorKind::InvalidReceipt
        );
    }

    #[test]
    fn a_restore_over_the_batch_bound_is_invalid_receipt_and_sends_nothing() {
        let receipt = Receipt::Sandbox {
            purchase_data: "{}".into(),
            signature: "eA==".into(),
        };
        let max = usize::try_from(max_restore_receipts()).unwrap();
        assert_eq!(max, proto::entitlements::MAX_RESTORE_RECEIPTS);
        let sdk = offline_sdk(None);
        let e = sdk
            .restore_blocking(vec![receipt.clone(); max + 1], "alice".into())
            .unwrap_err();
        assert_eq!(e.kind(), PaySealErrorKind::InvalidReceipt);
        assert!(e.message().contains("at most 50"), "{e}");
        // At the bound it is sent (and, the verifier being unreachable, fails as a network error).
        let e = sdk
            .restore_blocking(vec![receipt; max], "alice".into())
            .unwrap_err();
        assert_eq!(e.kind(), PaySealErrorKind::Network, "{e}");
    }

    #[test]
    fn every_layer_error_maps_to_its_kind_once() {
        let cases: Vec<(ClientError, PaySealErrorKind)> = vec![
            (
                ClientError::Transport(TransportError::PinMismatch),
                PaySealErrorKind::PinMismatch,
            ),
            (
                ClientError::Transport(TransportError::Rejected {
                    status: 400,
                    detail: "x".into(),
                }),
                PaySealErrorKind::ServerRejected,
            ),
            (
                ClientError::InvalidReceipt("x".into()),
                PaySealErrorKind::InvalidReceipt,
            ),
            (
                ClientError::Response("x".into()),
                PaySealErrorKind::Tampered,
            ),
            (
                ClientError::Internal("x".into()),
                PaySealErrorKind::Internal,
            ),
            (
                ClientError::NoVerdict {
                    cause: crate::client::Unverified::Transport(TransportError::Network(
                        "x".into(),
                    )),
                    kept: crate::client::Kept::Saved,
                },
                PaySealErrorKind::Network,
            ),
            (
                ClientError::NoVerdict {
                    cause: crate::client::Unverified::Deadline(Duration::from_secs(1)),
                    kept: crate::client::Kept::Saved,
                },
                PaySealErrorKind::Timeout,
            ),
            (
                ClientError::NoVerdict {
                    cause: crate::client::Unverified::Transport(TransportError::Unavailable {
                        status: 503,
                        retry_after: None,
                    }),
                    kept: crate::client::Kept::Saved,
                },
                PaySealErrorKind::ServerRejected,
            ),
            (
                ClientError::Decision(crate::decision::DecisionError::Nonce),
                PaySealErrorKind::Tampered,
            ),
            (
                ClientError::NoEntitlements {
                    cause: crate::client::Unverified::Transport(TransportError::Network(
                        "x".into(),
                    )),
                },
                PaySealErrorKind::Network,
            ),
            (
                ClientError::NoEntitlements {
                    cause: crate::client::Unverified::Deadline(Duration::from_secs(1)),
                },
                PaySealErrorKind::Timeout,
            ),
            (
                ClientError::CachedEntitlements(crate::entitlements::CacheError::Refused(
                    crate::decision::DecisionError::Account,
                )),
                PaySealErrorKind::Tampered,
            ),
        ];
        for (e, kind) in cases {
            let message = e.to_string();
            let mapped = PaySealError::from(e);
            assert_eq!(mapped.kind(), kind);
            assert_eq!(mapped.message(), message);
        }
    }
}

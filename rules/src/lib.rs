//! # payseal-rules
//!
//! The store rules of PaySeal (the "predefined rule" of each store: Google Play, App Store
//! StoreKit 2 JWS ([`app_store`]) and app receipts ([`app_receipt`]), Huawei, sandbox): pure functions of
//! (receipt, app rules, trust anchors, now) → purchase or rejection, the product and account
//! binding a paid purchase must meet, and the purchase kinds (consumable, non-consumable,
//! subscription with its expiry).
//!
//! It is not the verification server (`payseal-verifier`: HTTPS, envelopes, the ledger, store
//! notifications), and it does no I/O: no file, socket, clock or database. The caller passes
//! the time (`now_ms`, Unix milliseconds) and the trust anchors as bytes; reading roots and
//! keys from files is the verifier's job. `scripts/check-deps.sh` checks that no tokio, HTTP
//! or database crate is among its dependencies.
//!
//! ```
//! use payseal_protocol::{Environment, Reason, Receipt};
//! use payseal_rules::{check_receipt, AppRules, TrustAnchors};
//!
//! // An app that sells through no store yet: any receipt is refused, with a typed reason.
//! let app = AppRules {
//!     app_id: "com.example.game".into(),
//!     environments: vec![Environment::Production],
//!     google_play: None,
//!     app_store: None,
//!     huawei: None,
//!     sandbox: None,
//!     account_binding: None,
//! };
//! let receipt = Receipt::AppStore { jws: "a.b.c".into() };
//! let refused = check_receipt(&receipt, &app, &TrustAnchors::default(), 1_750_000_000_000)
//!     .unwrap_err();
//! assert_eq!(refused.reason, Reason::UnknownApp);
//! ```
//!
//! ## How a receipt is decided
//!
//! Each store is one `StoreRule` in the stages of DESIGN.md, driven once by [`check_receipt`]:
//! 1. the app must have settings for the receipt's store (`unknown_app`; for the sandbox store,
//!    `untrusted_environment`: only apps marked sandbox accept it);
//! 2. **parse**: the receipt is split into the bytes the store signed and the signature, nothing
//!    in them read yet (App Store: the JWS header, `alg`, `x5c`);
//! 3. **verify signature** over the exact bytes, before anything in them is read
//!    (`bad_signature`; App Store: the chain, `untrusted_chain`); only then is the signed content
//!    decoded (`malformed` if it does not);
//! 4. **binding and state**: the app (`wrong_app`), the purchase state (`not_purchased` /
//!    `revoked`);
//! 5. **extract** the purchase; here, once for every store, the environment
//!    (`untrusted_environment`: not in the app's `environments`), the quantity (`malformed`
//!    when 0; absent means 1) and, for subscriptions, the expiry (`expired`: see below).
//!
//! **Subscriptions.** Each rule reads the purchase kind ([`PurchaseKind`]) and, for a
//! subscription, the end of its paid period as the store signed it (`expires_at`, Unix ms) and
//! whether the store says the period already ended whatever the date (App Store `isUpgraded`,
//! Huawei `subIsvalid: false`). `run` alone decides expiry, once for every store, with the
//! verifier's clock: `expires_at <= now_ms`, or a store-ended period, is `not_paid / expired`.
//! The ledger key of an auto-renewable subscription is its renewal chain's id (App Store
//! `originalTransactionId`, Huawei `subscriptionId`, Play `purchaseToken`, sandbox
//! `original_transaction_id`), so ownership follows the chain. A store that signs no expiry
//! (a Play subscription, an App Store non-renewing subscription) gives `kind: subscription`
//! without `expires_at`: see docs/src/subscriptions.md.
//!
//! Unparseable *signatures* (bad Base64, wrong length) are `bad_signature`: they are refused
//! signatures, not refused purchases. An App Store JWS that is not three Base64url parts with a
//! JSON header is `malformed`; an `alg` other than `ES256` is `bad_signature`; an `x5c` that is
//! missing, too short, unparseable or in the wrong order is `untrusted_chain`.
//! [`Rejection::partial`] is filled only from data whose signature (and chain) verified.
//!
//! [`check_request`] adds what the request expects of a paid purchase ([`check_expected`]): the
//! store's account token against the request's account id (`wrong_account`, when the app
//! configures an account binding) and the product the app sold (`wrong_product`).
//!
//! [`subscription_state`] maps the stores' server-side subscription states (Play
//! `subscriptionState`, App Store `status`) to the verdict's `subscription_state` and decides
//! which pay.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod app_receipt;
pub mod app_store;
pub mod binding;
pub(crate) mod google_play;
pub(crate) mod huawei;
mod rsa_key;
pub(crate) mod sandbox;
pub mod subscription_state;

use payseal_protocol::{Environment, PurchaseKind, Reason, Receipt, Store};

use app_receipt::{AppReceiptInput, AppReceiptRule};
use app_store::AppStoreRule;
use google_play::GooglePlayRule;
use huawei::HuaweiRule;
use sandbox::SandboxRule;

pub use app_store::trust::{TrustAnchorError, TrustAnchors};
pub use app_store::ChainCacheStats;
pub use binding::{check_expected, AccountBindingRules, Expectation};
pub use rsa_key::{RsaKeyError, RsaPublicKey};

/// What the verifier knows about one app: its store keys and allowed environments.
#[derive(Debug, Clone)]
pub struct AppRules {
    /// The app id the SDK sends (`app_id`).
    pub app_id: String,
    /// Environments this app accepts (a production-only app refuses sandbox purchases).
    pub environments: Vec<Environment>,
    /// Google Play settings, if the app sells through Play.
    pub google_play: Option<GooglePlayRules>,
    /// App Store settings, if the app sells through the App Store.
    pub app_store: Option<AppStoreRules>,
    /// Huawei AppGallery settings, if the app sells through AppGallery.
    pub huawei: Option<HuaweiRules>,
    /// Sandbox store settings: only apps marked sandbox accept sandbox-store receipts.
    pub sandbox: Option<SandboxRules>,
    /// How the app binds purchases to accounts (`[apps."ID".account_binding]`); none: the
    /// stores' account tokens are not checked.
    pub account_binding: Option<AccountBindingRules>,
}

/// Google Play: the package name and the app's licensing public key.
#[derive(Debug, Clone)]
pub struct GooglePlayRules {
    /// `packageName` the purchase must carry.
    pub package_name: String,
    /// The RSA public key from the Play Console, decoded once at config load.
    pub public_key: RsaPublicKey,
}

/// App Store: the bundle id (the chain's root comes from [`TrustAnchors`]).
#[derive(Debug, Clone)]
pub struct AppStoreRules {
    /// `bundleId` the transaction must carry.
    pub bundle_id: String,
}

/// Huawei AppGallery: the package name and the app's IAP public key.
#[derive(Debug, Clone)]
pub struct HuaweiRules {
    /// `packageName` the purchase must carry.
    pub package_name: String,
    /// The RSA public key from AppGallery Connect, decoded once at config load.
    pub public_key: RsaPublicKey,
}

/// Sandbox store: the sandbox store's Ed25519 public key.
#[derive(Debug, Clone)]
pub struct SandboxRules {
    /// The key the sandbox store signs purchases with.
    pub public_key: ed25519_dalek::VerifyingKey,
}

/// A verified purchase, extracted from a receipt that passed its store's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    /// The store.
    pub store: Store,
    /// Production or sandbox.
    pub environment: Environment,
    /// Product id.
    pub product_id: String,
    /// The ledger key: Play `orderId` (or `purchaseToken`), App Store `transactionId` (JWS and
    /// app receipt alike), Huawei `orderId`, ...
    pub transaction_key: String,
    /// The store's transaction id as the verdict reports it.
    pub transaction_id: String,
    /// The original transaction id, when the store has one.
    pub original_transaction_id: Option<String>,
    /// Quantity.
    pub quantity: u32,
    /// Purchase time, Unix milliseconds.
    pub purchased_at: i64,
    /// The app's account token as the store signed it (Play `obfuscatedAccountId`, App Store
    /// `appAccountToken`); `None` when absent or empty, and for stores without one.
    pub account_token: Option<String>,
    /// Consumable / non-consumable / subscription, when the store says.
    pub kind: Option<PurchaseKind>,
    /// Subscriptions: end of the paid period, Unix milliseconds, when the store signs one
    /// (always in the future of the verifier's clock in a `Purchase`).
    pub expires_at: Option<i64>,
    /// Google Play's `purchaseToken` (what the Play Developer API is asked with, for one-time
    /// products and subscriptions alike); `None` for the other stores.
    pub purchase_token: Option<String>,
}

/// Whatever could be read from a refused receipt, to fill the `not_paid` verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialPurchase {
    /// Environment, if read.
    pub environment: Option<Environment>,
    /// Product id, if read.
    pub product_id: Option<String>,
    /// Transaction id, if read.
    pub transaction_id: Option<String>,
    /// The ledger key (a subscription's renewal-chain id), if read: what a store revocation
    /// revokes.
    pub transaction_key: Option<String>,
    /// Purchase kind, if read.
    pub kind: Option<PurchaseKind>,
    /// Subscription end, if read (Unix milliseconds).
    pub expires_at: Option<i64>,
}

/// A refused receipt: the verdict reason, a human detail for operators (`check` CLI), and what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The reason that goes into the verdict.
    pub reason: Reason,
    /// Operator-facing explanation (never key material; no more receipt content than ids).
    pub detail: String,
    /// Fields read before the rule refused it (only from signature-verified data); boxed, so
    /// that every rule's `Result<_, Rejection>` stays small.
    pub partial: Box<PartialPurchase>,
    /// `expired` by the date alone (`expires_at` not after `now_ms`; never a store-ended
    /// period such as App Store `isUpgraded`): the purchase as signed, every other check
    /// passed. The store's own word may still extend it (an App Store chain in its billing
    /// grace period pays until `gracePeriodExpiresDate`): the verifier decides that from the
    /// store's signed state, never from this alone.
    pub lapsed: Option<Box<Purchase>>,
}

/// One store's rule, in the stages of DESIGN.md (parse → verify signature → check app binding
/// and state → extract the purchase). [`check_receipt`] drives every rule the same way, so the
/// order of the checks, the environment and the quantity are decided once, there.
pub(crate) trait StoreRule {
    /// The store this rule checks.
    const STORE: Store;
    /// The fields of the receipt variant of [`Self::STORE`].
    type Input<'r>;
    /// The app's settings for this store.
    type Settings;
    /// The receipt split into the signed bytes and the signature; nothing in it trusted yet.
    type Parsed<'r>;
    /// The signed content, decoded only after its signature (and chain) verified.
    type Signed;

    /// The app's settings for this store, if it has any.
    fn settings(app: &AppRules) -> Option<&Self::Settings>;

    /// The refusal for an app without settings for this store.
    fn missing_settings(app: &AppRules) -> Rejection {
        Rejection::new(
            Reason::UnknownApp,
            format!(
                "app {} has no {} settings on this verifier",
                app.app_id,
                Self::STORE
            ),
        )
    }

    /// Split the receipt into what the store signed and its signature (no content is read).
    fn parse<'r>(input: Self::Input<'r>) -> Result<Self::Parsed<'r>, Rejection>;

    /// Verify the signature over the exact signed bytes, then decode the signed content.
    fn verify_signature(
        parsed: Self::Parsed<'_>,
        settings: &Self::Settings,
        anchors: &TrustAnchors,
        now_ms: i64,
    ) -> Result<Self::Signed, Rejection>;

    /// The signed purchase belongs to this app and is in a paid state.
    fn check_binding_and_state(
        signed: &Self::Signed,
        settings: &Self::Settings,
        app: &AppRules,
    ) -> Result<(), Refusal>;

    /// The purchase as the store signed it.
    fn extract(signed: &Self::Signed) -> Claimed;
}

/// A refusal of signed content; [`check_receipt`] adds what was read from it.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The verdict reason.
    pub reason: Reason,
    /// The operator detail.
    pub detail: String,
}

impl Refusal {
    /// A refusal for `reason`.
    pub(crate) fn new(reason: Reason, detail: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            detail: detail.into(),
        }
    }
}

/// A purchase as its store signed it, before the environment and quantity are checked.
#[derive(Debug)]
pub(crate) struct Claimed {
    /// Production or sandbox, as the store marks it.
    pub environment: Environment,
    /// Product id.
    pub product_id: String,
    /// The ledger key.
    pub transaction_key: String,
    /// The store's transaction id.
    pub transaction_id: String,
    /// The original transaction id, when the store has one.
    pub original_transaction_id: Option<String>,
    /// Quantity, absent meaning one.
    pub quantity: Option<u32>,
    /// Purchase time, Unix milliseconds.
    pub purchased_at: i64,
    /// The account token the store signed, if any (empty counts as none).
    pub account_token: Option<String>,
    /// Consumable / non-consumable / subscription, when the store says.
    pub kind: Option<PurchaseKind>,
    /// Subscriptions: end of the paid period as the store signed it, Unix milliseconds.
    pub expires_at: Option<i64>,
    /// The store says this subscription period no longer grants access whatever the date
    /// (App Store `isUpgraded`, Huawei `subIsvalid: false`): the operator detail.
    pub ended: Option<&'static str>,
    /// Google Play's `purchaseToken` (what the Play Developer API is asked with).
    pub purchase_token: Option<String>,
}

impl Claimed {
    /// The fields a `not_paid` verdict reports.
    fn partial(&self) -> PartialPurchase {
        PartialPurchase {
            environment: Some(self.environment),
            product_id: Some(self.product_id.clone()),
            transaction_id: Some(self.transaction_id.clone()),
            transaction_key: Some(self.transaction_key.clone()),
            kind: self.kind,
            expires_at: self.expires_at,
        }
    }
}

/// Whether a subscription period has ended at `now_ms` (the verifier's clock), and why: the
/// store said so (`ended`), or `expires_at` is not after `now_ms`. Decided here once for every
/// store.
pub(crate) fn lapsed(claimed: &Claimed, now_ms: i64) -> Option<String> {
    if let Some(why) = claimed.ended {
        return Some(why.to_string());
    }
    match claimed.expires_at {
        Some(end) if end <= now_ms => Some(format!(
            "subscription expired at {end} (Unix ms), {} ms before the verifier's clock",
            now_ms.saturating_sub(end)
        )),
        _ => None,
    }
}

/// The signed bytes and the signature of a two-part receipt (Play, Huawei, sandbox).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataAndSignature<'r> {
    /// The exact bytes the store signed.
    pub data: &'r str,
    /// The store's signature over them, standard Base64.
    pub signature: &'r str,
}

/// Check a receipt with its store's rule, then against what the request expects of it
/// ([`check_expected`]: account token, product). The verifier's one decision on a
/// receipt before the ledger.
pub fn check_request(
    receipt: &Receipt,
    app: &AppRules,
    anchors: &TrustAnchors,
    now_ms: i64,
    expected: &Expectation<'_>,
) -> Result<Purchase, Rejection> {
    let purchase = check_receipt(receipt, app, anchors, now_ms)?;
    check_expected(&purchase, app, expected)?;
    Ok(purchase)
}

/// Check a receipt with the rule of the store it names.
pub fn check_receipt(
    receipt: &Receipt,
    app: &AppRules,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<Purchase, Rejection> {
    match receipt {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        } => run::<GooglePlayRule>(
            DataAndSignature {
                data: purchase_data,
                signature,
            },
            app,
            anchors,
            now_ms,
        ),
        Receipt::AppStore { jws } => run::<AppStoreRule>(jws, app, anchors, now_ms),
        Receipt::AppStoreReceipt {
            app_receipt,
            transaction_id,
        } => run::<AppReceiptRule>(
            AppReceiptInput {
                app_receipt,
                transaction_id,
            },
            app,
            anchors,
            now_ms,
        ),
        Receipt::Huawei {
            purchase_data,
            signature,
            algorithm,
        } => run::<HuaweiRule>(
            (
                DataAndSignature {
                    data: purchase_data,
                    signature,
                },
                *algorithm,
            ),
            app,
            anchors,
            now_ms,
        ),
        Receipt::Sandbox {
            purchase_data,
            signature,
        } => run::<SandboxRule>(
            DataAndSignature {
                data: purchase_data,
                signature,
            },
            app,
            anchors,
            now_ms,
        ),
    }
}

/// The stages of one rule, then the environment and quantity checks every store shares.
fn run<R: StoreRule>(
    input: R::Input<'_>,
    app: &AppRules,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<Purchase, Rejection> {
    let settings = R::settings(app).ok_or_else(|| R::missing_settings(app))?;
    let parsed = R::parse(input)?;
    let signed = R::verify_signature(parsed, settings, anchors, now_ms)?;
    if let Err(refusal) = R::check_binding_and_state(&signed, settings, app) {
        return Err(Rejection::with_partial(
            refusal.reason,
            refusal.detail,
            R::extract(&signed).partial(),
        ));
    }
    let claimed = R::extract(&signed);
    if !app.environments.contains(&claimed.environment) {
        return Err(Rejection::with_partial(
            Reason::UntrustedEnvironment,
            format!(
                "{} purchase, but app {} accepts only {}",
                claimed.environment.as_str(),
                app.app_id,
                app.environments
                    .iter()
                    .map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            claimed.partial(),
        ));
    }
    let quantity = match claimed.quantity.unwrap_or(1) {
        0 => {
            return Err(Rejection::with_partial(
                Reason::Malformed,
                "quantity is 0",
                claimed.partial(),
            ))
        }
        n => n,
    };
    let lapse = lapsed(&claimed, now_ms);
    let by_date = claimed.ended.is_none();
    let partial = claimed.partial();
    let purchase = Purchase {
        store: R::STORE,
        environment: claimed.environment,
        product_id: claimed.product_id,
        transaction_key: claimed.transaction_key,
        transaction_id: claimed.transaction_id,
        original_transaction_id: claimed.original_transaction_id,
        quantity,
        purchased_at: claimed.purchased_at,
        account_token: claimed.account_token.filter(|t| !t.is_empty()),
        kind: claimed.kind,
        expires_at: claimed.expires_at,
        purchase_token: claimed.purchase_token,
    };
    match lapse {
        None => Ok(purchase),
        Some(why) => Err(Rejection {
            lapsed: by_date.then(|| Box::new(purchase)),
            ..Rejection::with_partial(Reason::Expired, why, partial)
        }),
    }
}

impl Rejection {
    /// A rejection with nothing read from the receipt.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
            partial: Box::default(),
            lapsed: None,
        }
    }

    /// A rejection carrying fields read from signature-verified data.
    pub fn with_partial(
        reason: Reason,
        detail: impl Into<String>,
        partial: PartialPurchase,
    ) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
            partial: Box::new(partial),
            lapsed: None,
        }
    }
}

/// Decode a standard-Base64 store signature (`bad_signature` when it is not Base64).
fn decode_signature(signature: &str) -> Result<Vec<u8>, Rejection> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| Rejection::new(Reason::BadSignature, "signature is not Base64"))
}

/// A store's purchase JSON, decoded after its signature verified (`malformed` when it does not
/// parse; `what` names it in the detail).
fn signed_json<'a, T: serde::Deserialize<'a>>(data: &'a str, what: &str) -> Result<T, Rejection> {
    serde_json::from_str(data).map_err(|e| {
        Rejection::new(
            Reason::Malformed,
            format!("signed {what} does not parse: {e}"),
        )
    })
}

#[cfg(test)]
mod robustness;
#[cfg(test)]
mod subscription_tests;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;

//! The stores' purchase JSON, field for field (serde keeps the struct's field order).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use payseal_protocol::Environment;
use rand::{Rng, RngCore};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Order, ProductType, PurchaseState, SandboxError, DEFAULT_PERIOD_MS};

pub(crate) fn random_digits(n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

fn random_lowercase(n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
        .collect()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

pub(crate) fn random_uuid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A subscription's dates: (purchase time, end of the period). A lapsed period (its end not
/// after `at_ms`) was bought one default period before its end.
pub(crate) fn subscription_dates(order: &Order, at_ms: i64) -> (i64, i64) {
    let end = order
        .expires_at
        .unwrap_or_else(|| at_ms.saturating_add(DEFAULT_PERIOD_MS));
    let purchased = if end <= at_ms {
        end.saturating_sub(DEFAULT_PERIOD_MS)
    } else {
        at_ms
    };
    (purchased, end)
}

/// A stable token for a renewal chain (so that every renewal of the chain carries it).
fn chain_token(store: &str, chain_id: &str) -> String {
    hex::encode(Sha256::digest(format!("{store}:{chain_id}").as_bytes()))
}

/// `Purchase.getOriginalJson()` of Play Billing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlayPurchase<'a> {
    order_id: String,
    package_name: &'a str,
    product_id: &'a str,
    purchase_time: i64,
    purchase_state: u8,
    purchase_token: String,
    /// What the app set with `setObfuscatedAccountId`; absent when it set nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    obfuscated_account_id: Option<&'a str>,
    /// `0` marks a test (license tester) purchase; absent for real money.
    #[serde(skip_serializing_if = "Option::is_none")]
    purchase_type: Option<u8>,
    quantity: u32,
    /// Present only in a subscription's JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_renewing: Option<bool>,
    acknowledged: bool,
}

/// Longest `obfuscatedAccountId` Play Billing accepts.
const PLAY_MAX_ACCOUNT_ID_CHARS: usize = 64;

/// The order's account token as Play carries it (`obfuscatedAccountId`, 1..=64 characters).
fn play_account_token(order: &Order) -> Result<Option<&str>, SandboxError> {
    match order.account_token.as_deref() {
        Some(t) if t.is_empty() || t.chars().count() > PLAY_MAX_ACCOUNT_ID_CHARS => {
            Err(SandboxError::Unsupported(format!(
                "Play's obfuscatedAccountId is 1..={PLAY_MAX_ACCOUNT_ID_CHARS} characters"
            )))
        }
        t => Ok(t),
    }
}

/// The order's account token as StoreKit 2 carries it (`appAccountToken`: a UUID, lowercase).
fn app_store_account_token(order: &Order) -> Result<Option<String>, SandboxError> {
    order
        .account_token
        .as_deref()
        .map(|t| match uuid::Uuid::try_parse(t) {
            Ok(u) => Ok(u.hyphenated().to_string()),
            Err(_) => Err(SandboxError::Unsupported(
                "StoreKit 2's appAccountToken is a UUID (Product.PurchaseOption.appAccountToken(UUID))"
                    .into(),
            )),
        })
        .transpose()
}

/// Refuse an account token for a store whose format has no field for it.
fn no_account_token(order: &Order, what: &str) -> Result<(), SandboxError> {
    match order.account_token {
        Some(_) => Err(SandboxError::Unsupported(format!(
            "{what} has no account token field (Play has obfuscatedAccountId, the App Store appAccountToken)"
        ))),
        None => Ok(()),
    }
}

/// Play purchase JSON for `order`.
pub(crate) fn google_play_json(order: &Order, at_ms: i64) -> Result<String, SandboxError> {
    let subscription = order.product_type.is_subscription();
    let order_id = order.transaction_id.clone().unwrap_or_else(|| {
        match (&order.original_transaction_id, subscription) {
            // A renewal: Play numbers them `GPA.…..0`, `..1`, ...
            (Some(original), true) => format!("{original}..{}", random_digits(4)),
            _ => format!(
                "GPA.{}-{}-{}-{}",
                random_digits(4),
                random_digits(4),
                random_digits(4),
                random_digits(5)
            ),
        }
    });
    let (purchase_time, purchase_token) = if subscription {
        let chain = order
            .original_transaction_id
            .as_deref()
            .unwrap_or(&order_id);
        (
            subscription_dates(order, at_ms).0,
            format!(
                "{}.AO-J1O{}",
                &chain_token("play", chain)[..24],
                chain_token("play-token", chain)
            ),
        )
    } else {
        (
            at_ms,
            format!(
                "{}.AO-J1O{}",
                random_lowercase(24),
                URL_SAFE_NO_PAD.encode(random_bytes::<96>())
            ),
        )
    };
    let purchase =
        PlayPurchase {
            order_id,
            package_name: &order.app_id,
            product_id: &order.product_id,
            purchase_time,
            purchase_state: match order.state {
                PurchaseState::Purchased => 0,
                PurchaseState::Cancelled => 1,
                PurchaseState::Pending => 2,
                PurchaseState::Refunded => return Err(SandboxError::Unsupported(
                    "Google Play's purchase JSON has no refunded state: refunds arrive through \
                     the Voided Purchases API (record them with `payseal-verifier revoke`)"
                        .into(),
                )),
            },
            purchase_token,
            obfuscated_account_id: play_account_token(order)?,
            purchase_type: (order.environment == Environment::Sandbox).then_some(0),
            quantity: order.quantity,
            auto_renewing: subscription
                .then_some(order.product_type == ProductType::AutoRenewableSubscription),
            acknowledged: false,
        };
    to_json(&purchase)
}

/// StoreKit 2 `JWSTransactionDecodedPayload`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppStoreTransaction<'a> {
    transaction_id: String,
    original_transaction_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    web_order_line_item_id: Option<String>,
    bundle_id: &'a str,
    product_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription_group_identifier: Option<&'static str>,
    purchase_date: i64,
    original_purchase_date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_date: Option<i64>,
    quantity: u32,
    #[serde(rename = "type")]
    kind: &'static str,
    /// What the app set with `Product.PurchaseOption.appAccountToken(_:)`; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    app_account_token: Option<String>,
    device_verification: String,
    device_verification_nonce: String,
    in_app_ownership_type: &'static str,
    signed_date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_reason: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revocation_date: Option<i64>,
    environment: &'static str,
    transaction_reason: &'static str,
    storefront: &'static str,
    storefront_id: &'static str,
    price: i64,
    currency: &'static str,
    app_transaction_id: String,
}

/// App Store transaction payload JSON for `order`.
pub(crate) fn app_store_payload_json(order: &Order, at_ms: i64) -> Result<String, SandboxError> {
    let revoked = match order.state {
        PurchaseState::Purchased => false,
        PurchaseState::Cancelled | PurchaseState::Refunded => true,
        PurchaseState::Pending => {
            return Err(SandboxError::Unsupported(
                "StoreKit 2 has no pending transactions: a JWS transaction exists only once the \
                 purchase completed (Ask to Buy and SCA approvals arrive later as a new transaction)"
                    .into(),
            ))
        }
    };
    let transaction_id = order
        .transaction_id
        .clone()
        .unwrap_or_else(|| format!("2000000{}", random_digits(9)));
    let (kind, renewable) = match order.product_type {
        ProductType::Consumable => ("Consumable", false),
        ProductType::NonConsumable => ("Non-Consumable", false),
        ProductType::AutoRenewableSubscription => ("Auto-Renewable Subscription", true),
        ProductType::NonRenewingSubscription => ("Non-Renewing Subscription", false),
    };
    let (purchase_date, expires_date) = match order.product_type {
        ProductType::AutoRenewableSubscription => {
            let (purchased, end) = subscription_dates(order, at_ms);
            (purchased, Some(end))
        }
        // Apple signs no expiresDate for a non-renewing subscription.
        _ => (at_ms, None),
    };
    let original_transaction_id = order
        .original_transaction_id
        .clone()
        .filter(|_| renewable)
        .unwrap_or_else(|| transaction_id.clone());
    let tx = AppStoreTransaction {
        original_transaction_id,
        transaction_id,
        web_order_line_item_id: renewable.then(|| format!("2000000{}", random_digits(9))),
        bundle_id: &order.app_id,
        product_id: &order.product_id,
        subscription_group_identifier: renewable.then_some("21482456"),
        purchase_date,
        original_purchase_date: purchase_date,
        expires_date,
        quantity: order.quantity,
        kind,
        app_account_token: app_store_account_token(order)?,
        device_verification: STANDARD.encode(random_bytes::<48>()),
        device_verification_nonce: random_uuid(),
        in_app_ownership_type: "PURCHASED",
        signed_date: at_ms,
        revocation_reason: revoked.then_some(0),
        revocation_date: revoked.then_some(at_ms),
        environment: match order.environment {
            Environment::Production => "Production",
            Environment::Sandbox => "Sandbox",
        },
        transaction_reason: if order.original_transaction_id.is_some() && renewable {
            "RENEWAL"
        } else {
            "PURCHASE"
        },
        storefront: "USA",
        storefront_id: "143441",
        price: 990,
        currency: "USD",
        app_transaction_id: format!("704{}", random_digits(15)),
    };
    to_json(&tx)
}

/// Huawei IAP `InAppPurchaseData`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HuaweiPurchase<'a> {
    auto_renewing: bool,
    order_id: String,
    package_name: &'a str,
    application_id: u64,
    application_id_string: String,
    kind: u8,
    product_id: &'a str,
    product_name: &'a str,
    purchase_time: i64,
    purchase_state: i8,
    developer_payload: &'static str,
    purchase_token: String,
    consumption_state: u8,
    confirmed: u8,
    /// `0` marks a sandbox purchase; absent for real money.
    #[serde(skip_serializing_if = "Option::is_none")]
    purchase_type: Option<u8>,
    currency: &'static str,
    price: i64,
    country: &'static str,
    pay_order_id: String,
    pay_type: &'static str,
    sdk_channel: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_group: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ori_purchase_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_isvalid: Option<bool>,
}

/// A stable 9-digit AppGallery application id for an app id.
fn huawei_application_id(app_id: &str) -> u64 {
    let d = Sha256::digest(app_id.as_bytes());
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    100_000_000 + u64::from(n) % 900_000_000
}

fn compact_timestamp(at_ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000)) {
        Ok(t) => format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => random_digits(14),
    }
}

/// Huawei purchase JSON for `order`.
pub(crate) fn huawei_json(order: &Order, at_ms: i64) -> Result<String, SandboxError> {
    no_account_token(order, "Huawei's InAppPurchaseData")?;
    let app_num = huawei_application_id(&order.app_id);
    let order_id = order.transaction_id.clone().unwrap_or_else(|| {
        format!(
            "{}{}.{app_num}",
            compact_timestamp(at_ms),
            hex::encode(random_bytes::<5>())
        )
    });
    let subscription = order.product_type.is_subscription();
    let renewable = order.product_type == ProductType::AutoRenewableSubscription;
    let (purchase_time, expiration_date) = if subscription {
        let (purchased, end) = subscription_dates(order, at_ms);
        (purchased, Some(end))
    } else {
        (at_ms, None)
    };
    let subscription_id = renewable.then(|| {
        order
            .original_transaction_id
            .clone()
            .unwrap_or_else(|| random_digits(16))
    });
    let purchase_token = match &subscription_id {
        // Kept across normal renewals.
        Some(chain) => format!("{}.1.{app_num}", chain_token("huawei", chain)),
        None => format!("{}.1.{app_num}", hex::encode(random_bytes::<40>())),
    };
    let purchase = HuaweiPurchase {
        auto_renewing: renewable,
        last_order_id: renewable.then(|| order_id.clone()),
        order_id,
        package_name: &order.app_id,
        application_id: app_num,
        application_id_string: app_num.to_string(),
        kind: match order.product_type {
            ProductType::Consumable => 0,
            ProductType::NonConsumable => 1,
            ProductType::AutoRenewableSubscription => 2,
            ProductType::NonRenewingSubscription => 3,
        },
        product_id: &order.product_id,
        product_name: &order.product_id,
        purchase_time,
        purchase_state: match order.state {
            PurchaseState::Purchased => 0,
            PurchaseState::Pending => -1,
            PurchaseState::Cancelled => 1,
            PurchaseState::Refunded => 2,
        },
        developer_payload: "",
        purchase_token,
        consumption_state: 0,
        confirmed: 0,
        purchase_type: (order.environment == Environment::Sandbox).then_some(0),
        currency: "USD",
        price: 99,
        country: "US",
        pay_order_id: format!("sandbox{}", random_digits(18)),
        pay_type: "4",
        sdk_channel: "1",
        product_group: renewable.then_some("8F4B2A1C9D3E4F5A"),
        ori_purchase_time: renewable.then_some(purchase_time),
        subscription_id,
        expiration_date,
        sub_isvalid: renewable.then(|| expiration_date.is_some_and(|end| end > at_ms)),
    };
    to_json(&purchase)
}

/// The PaySeal sandbox store's purchase JSON.
#[derive(Serialize)]
struct SandboxPurchase<'a> {
    app_id: &'a str,
    product_id: &'a str,
    transaction_id: String,
    state: &'static str,
    purchased_at: i64,
    quantity: u32,
    /// Absent for a consumable (the format's default, so older purchases read the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_transaction_id: Option<String>,
}

/// Sandbox purchase JSON for `order`.
pub(crate) fn sandbox_json(order: &Order, at_ms: i64) -> Result<String, SandboxError> {
    no_account_token(order, "the sandbox store's purchase JSON")?;
    let transaction_id = order
        .transaction_id
        .clone()
        .unwrap_or_else(|| format!("sbx_{}", hex::encode(random_bytes::<12>())));
    let subscription = order.product_type.is_subscription();
    let (purchased_at, expires_at) = if subscription {
        let (purchased, end) = subscription_dates(order, at_ms);
        (purchased, Some(end))
    } else {
        (at_ms, None)
    };
    let original_transaction_id = (order.product_type == ProductType::AutoRenewableSubscription)
        .then(|| {
            order
                .original_transaction_id
                .clone()
                .unwrap_or_else(|| transaction_id.clone())
        });
    let purchase = SandboxPurchase {
        app_id: &order.app_id,
        product_id: &order.product_id,
        transaction_id,
        state: match order.state {
            PurchaseState::Purchased => "purchased",
            PurchaseState::Pending => "pending",
            PurchaseState::Cancelled => "cancelled",
            PurchaseState::Refunded => "refunded",
        },
        purchased_at,
        quantity: order.quantity,
        kind: match order.product_type {
            ProductType::Consumable => None,
            ProductType::NonConsumable => Some("non_consumable"),
            ProductType::AutoRenewableSubscription | ProductType::NonRenewingSubscription => {
                Some("subscription")
            }
        },
        expires_at,
        original_transaction_id,
    };
    to_json(&purchase)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, SandboxError> {
    serde_json::to_string(value).map_err(|e| SandboxError::Signing(format!("JSON encoding: {e}")))
}

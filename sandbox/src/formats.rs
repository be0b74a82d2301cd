//! The stores' purchase JSON, field for field (serde keeps the struct's field order).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use payseal_protocol::Environment;
use rand::{Rng, RngCore};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Order, PurchaseState, SandboxError};

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
    /// `0` marks a test (license tester) purchase; absent for real money.
    #[serde(skip_serializing_if = "Option::is_none")]
    purchase_type: Option<u8>,
    quantity: u32,
    acknowledged: bool,
}

/// Play purchase JSON for `order`.
pub(crate) fn google_play_json(order: &Order, at_ms: i64) -> Result<String, SandboxError> {
    let order_id = order.transaction_id.clone().unwrap_or_else(|| {
        format!(
            "GPA.{}-{}-{}-{}",
            random_digits(4),
            random_digits(4),
            random_digits(4),
            random_digits(5)
        )
    });
    let purchase =
        PlayPurchase {
            order_id,
            package_name: &order.app_id,
            product_id: &order.product_id,
            purchase_time: at_ms,
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
            purchase_token: format!(
                "{}.AO-J1O{}",
                random_lowercase(24),
                URL_SAFE_NO_PAD.encode(random_bytes::<96>())
            ),
            purchase_type: (order.environment == Environment::Sandbox).then_some(0),
            quantity: order.quantity,
            acknowledged: false,
        };
    to_json(&purchase)
}

/// StoreKit 2 `JWSTransactionDecodedPayload` of a consumable.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppStoreTransaction<'a> {
    transaction_id: String,
    original_transaction_id: String,
    bundle_id: &'a str,
    product_id: &'a str,
    purchase_date: i64,
    original_purchase_date: i64,
    quantity: u32,
    #[serde(rename = "type")]
    kind: &'static str,
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
    let tx = AppStoreTransaction {
        original_transaction_id: transaction_id.clone(),
        transaction_id,
        bundle_id: &order.app_id,
        product_id: &order.product_id,
        purchase_date: at_ms,
        original_purchase_date: at_ms,
        quantity: order.quantity,
        kind: "Consumable",
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
        transaction_reason: "PURCHASE",
        storefront: "USA",
        storefront_id: "143441",
        price: 990,
        currency: "USD",
        app_transaction_id: format!("704{}", random_digits(15)),
    };
    to_json(&tx)
}

/// Huawei IAP `InAppPurchaseData` of a consumable.
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
    let app_num = huawei_application_id(&order.app_id);
    let order_id = order.transaction_id.clone().unwrap_or_else(|| {
        format!(
            "{}{}.{app_num}",
            compact_timestamp(at_ms),
            hex::encode(random_bytes::<5>())
        )
    });
    let purchase = HuaweiPurchase {
        auto_renewing: false,
        order_id,
        package_name: &order.app_id,
        application_id: app_num,
        application_id_string: app_num.to_string(),
        kind: 0,
        product_id: &order.product_id,
        product_name: &order.product_id,
        purchase_time: at_ms,
        purchase_state: match order.state {
            PurchaseState::Purchased => 0,
            PurchaseState::Pending => -1,
            PurchaseState::Cancelled => 1,
            PurchaseState::Refunded => 2,
        },
        developer_payload: "",
        purchase_token: format!("{}.1.{app_num}", hex::encode(random_bytes::<40>())),
        consumption_state: 0,
        confirmed: 0,
        purchase_type: (order.environment == Environment::Sandbox).then_some(0),
        currency: "USD",
        price: 99,
        country: "US",
        pay_order_id: format!("sandbox{}", random_digits(18)),
        pay_type: "4",
        sdk_channel: "1",
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
}

/// Sandbox purchase JSON for `order`.
pub(crate) fn sandbox_json(order: &Order, at_ms: i64) -> Result<String, SandboxError> {
    let purchase = SandboxPurchase {
        app_id: &order.app_id,
        product_id: &order.product_id,
        transaction_id: order
            .transaction_id
            .clone()
            .unwrap_or_else(|| format!("sbx_{}", hex::encode(random_bytes::<12>()))),
        state: match order.state {
            PurchaseState::Purchased => "purchased",
            PurchaseState::Pending => "pending",
            PurchaseState::Cancelled => "cancelled",
            PurchaseState::Refunded => "refunded",
        },
        purchased_at: at_ms,
        quantity: order.quantity,
    };
    to_json(&purchase)
}

fn to_json<T: Serialize>(value: &T) -> Result<String, SandboxError> {
    serde_json::to_string(value).map_err(|e| SandboxError::Signing(format!("JSON encoding: {e}")))
}

//! Unity IAP's unified receipt (`Product.receipt`, and the receipt of Unity IAP 5's orders) →
//! the SDK's [`Receipt`], parsed once here for every binding.
//!
//! The unified receipt is a JSON object `{"Store": ..., "TransactionID": ..., "Payload": ...}`
//! (Unity's "Purchase Receipts" manual page):
//! - `GooglePlay`: `Payload` is itself JSON, in a string: `{"json": INAPP_PURCHASE_DATA,
//!   "signature": INAPP_DATA_SIGNATURE, ...}`; the Play receipt is `json` (byte for byte, the
//!   bytes Google signed) and `signature`.
//! - `AppleAppStore` and `MacAppStore`: `Payload` is the Base64 App Store app receipt (the
//!   original StoreKit's); the receipt to verify is that app receipt with `TransactionID`,
//!   the in-app transaction to redeem.
//!
//! Anything else (another store, Unity's `fake` store, a missing field) is a
//! [`UnityIapError`] naming what is wrong; the bindings see it as `InvalidReceipt`.

use payseal_protocol::Receipt;
use serde::Deserialize;

/// Why a Unity IAP unified receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnityIapError {
    /// The receipt is not a JSON object.
    #[error("Unity IAP receipt is not a JSON object: {0}")]
    NotJson(String),
    /// A field the store's receipt needs is missing, empty or not a string.
    #[error("Unity IAP receipt has no {0}")]
    Missing(&'static str),
    /// Google Play's `Payload` is not the JSON object Unity documents.
    #[error("Unity IAP GooglePlay Payload is not a JSON object with json and signature: {0}")]
    PlayPayload(String),
    /// A store PaySeal does not verify from a Unity receipt.
    #[error("Unity IAP store {0:?} is not supported (GooglePlay, AppleAppStore, MacAppStore)")]
    UnsupportedStore(String),
}

#[derive(Deserialize)]
struct Unified {
    #[serde(rename = "Store")]
    store: Option<String>,
    #[serde(rename = "TransactionID")]
    transaction_id: Option<String>,
    #[serde(rename = "Payload")]
    payload: Option<String>,
}

#[derive(Deserialize)]
struct PlayPayload {
    json: Option<String>,
    signature: Option<String>,
}

fn present(value: Option<String>, what: &'static str) -> Result<String, UnityIapError> {
    value
        .filter(|v| !v.trim().is_empty())
        .ok_or(UnityIapError::Missing(what))
}

/// The receipt inside Unity IAP's unified receipt `unified` (see the module docs).
pub fn receipt_from_unity_iap(unified: &str) -> Result<Receipt, UnityIapError> {
    let u: Unified =
        serde_json::from_str(unified).map_err(|e| UnityIapError::NotJson(e.to_string()))?;
    let store = present(u.store, "Store")?;
    match store.as_str() {
        "GooglePlay" => {
            let payload = present(u.payload, "Payload")?;
            let p: PlayPayload = serde_json::from_str(&payload)
                .map_err(|e| UnityIapError::PlayPayload(e.to_string()))?;
            Ok(Receipt::GooglePlay {
                purchase_data: present(p.json, "Payload.json")?,
                signature: present(p.signature, "Payload.signature")?,
            })
        }
        "AppleAppStore" | "MacAppStore" => Ok(Receipt::AppStoreReceipt {
            app_receipt: present(u.payload, "Payload (the Base64 app receipt)")?,
            transaction_id: present(u.transaction_id, "TransactionID")?,
        }),
        _ => Err(UnityIapError::UnsupportedStore(store)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Play purchase JSON with characters JSON must escape, as Play writes it.
    const PLAY_JSON: &str = r#"{"orderId":"GPA.3301-2231-1234-56789","packageName":"com.example.game","productId":"gems_100","purchaseTime":1700000000000,"purchaseState":0,"purchaseToken":"abc\/def","developerPayload":"é \"q\""}"#;

    fn unity_play(json: &str, signature: &str) -> String {
        let payload = serde_json::json!({ "json": json, "signature": signature, "skuDetails": ["{\"productId\":\"gems_100\"}"], "isPurchaseHistorySupported": true }).to_string();
        serde_json::json!({ "Store": "GooglePlay", "TransactionID": "GPA.3301-2231-1234-56789", "Payload": payload }).to_string()
    }

    #[test]
    fn google_play_payload_is_parsed_twice_and_kept_byte_for_byte() {
        let r = receipt_from_unity_iap(&unity_play(PLAY_JSON, "c2ln+/==")).unwrap();
        assert_eq!(
            r,
            Receipt::GooglePlay {
                purchase_data: PLAY_JSON.into(),
                signature: "c2ln+/==".into()
            }
        );
    }

    #[test]
    fn apple_payload_is_the_app_receipt_with_the_transaction_id() {
        for store in ["AppleAppStore", "MacAppStore"] {
            let u = serde_json::json!({ "Store": store, "TransactionID": "1000000123456789", "Payload": "MIIT+/8=" }).to_string();
            assert_eq!(
                receipt_from_unity_iap(&u).unwrap(),
                Receipt::AppStoreReceipt {
                    app_receipt: "MIIT+/8=".into(),
                    transaction_id: "1000000123456789".into()
                }
            );
        }
    }

    #[test]
    fn malformed_receipts_name_what_is_wrong() {
        let cases: Vec<(String, UnityIapError)> = vec![
            ("not json".into(), UnityIapError::NotJson(String::new())),
            ("[1]".into(), UnityIapError::NotJson(String::new())),
            (r#"{"Payload":"x"}"#.into(), UnityIapError::Missing("Store")),
            (
                r#"{"Store":"fake","TransactionID":"1","Payload":"x"}"#.into(),
                UnityIapError::UnsupportedStore("fake".into()),
            ),
            (
                r#"{"Store":"AppleAppStore","Payload":"MIIT"}"#.into(),
                UnityIapError::Missing("TransactionID"),
            ),
            (
                r#"{"Store":"AppleAppStore","TransactionID":"1","Payload":""}"#.into(),
                UnityIapError::Missing("Payload (the Base64 app receipt)"),
            ),
            (
                r#"{"Store":"GooglePlay","TransactionID":"1","Payload":"{}"}"#.into(),
                UnityIapError::Missing("Payload.json"),
            ),
            (
                r#"{"Store":"GooglePlay","TransactionID":"1","Payload":"{\"json\":\"{}\"}"}"#
                    .into(),
                UnityIapError::Missing("Payload.signature"),
            ),
            (
                r#"{"Store":"GooglePlay","TransactionID":"1","Payload":"json"}"#.into(),
                UnityIapError::PlayPayload(String::new()),
            ),
        ];
        for (input, want) in cases {
            let got = receipt_from_unity_iap(&input).unwrap_err();
            assert_eq!(
                std::mem::discriminant(&got),
                std::mem::discriminant(&want),
                "{input}: {got}"
            );
            if !matches!(
                want,
                UnityIapError::NotJson(_) | UnityIapError::PlayPayload(_)
            ) {
                assert_eq!(got, want, "{input}");
            }
        }
    }
}

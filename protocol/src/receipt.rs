//! Receipts: the store's payment response data, one variant per store.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The store that issued a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
// Deliberately exhaustive: the SDK passes it across the FFI as it is (`#[uniffi::remote]`),
// which needs every variant; a new value is a new protocol and SDK release anyway.
pub enum Store {
    /// Google Play Billing.
    GooglePlay,
    /// Apple App Store (StoreKit 2).
    AppStore,
    /// Huawei AppGallery (IAP kit).
    Huawei,
    /// PaySeal's local sandbox store, for development.
    Sandbox,
}

impl Store {
    /// The stable snake_case name used in JSON, config files and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Store::GooglePlay => "google_play",
            Store::AppStore => "app_store",
            Store::Huawei => "huawei",
            Store::Sandbox => "sandbox",
        }
    }
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Huawei's signature algorithm, as the receipt's `signatureAlgorithm` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum HuaweiAlgorithm {
    /// RSA PKCS#1 v1.5 with SHA-256 (Huawei's default).
    #[default]
    #[serde(rename = "SHA256WithRSA")]
    Sha256WithRsa,
    /// RSA-PSS with SHA-256 (when the receipt says `SHA256WithRSA/PSS`).
    #[serde(rename = "SHA256WithRSA/PSS")]
    Sha256WithRsaPss,
}

/// The payment response data the app got from its store, as the SDK sends it.
///
/// Stable JSON form: `{"store":"google_play","purchase_data":"...","signature":"..."}`,
/// `{"store":"app_store","jws":"..."}`,
/// `{"store":"app_store_receipt","app_receipt":"...","transaction_id":"..."}`,
/// `{"store":"huawei",...,"algorithm":"SHA256WithRSA"}`,
/// `{"store":"sandbox","purchase_data":"...","signature":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "store", rename_all = "snake_case", deny_unknown_fields)]
pub enum Receipt {
    /// Play Billing: `Purchase.getOriginalJson()` (exact bytes) and `Purchase.getSignature()` (Base64).
    GooglePlay {
        /// The purchase JSON exactly as Play returned it.
        purchase_data: String,
        /// Base64 SHA1withRSA signature over `purchase_data`.
        signature: String,
    },
    /// StoreKit 2: `Transaction.jwsRepresentation`, a compact JWS signed ES256 with an x5c chain.
    AppStore {
        /// The compact JWS transaction.
        jws: String,
    },
    /// The original StoreKit's app receipt (`Bundle.main.appStoreReceiptURL`, and Unity IAP's
    /// `AppleAppStore` payload): Base64 PKCS#7 / CMS SignedData, and the in-app transaction of
    /// it to redeem. Same store as [`Receipt::AppStore`]: one purchase, one ledger key.
    AppStoreReceipt {
        /// The Base64 app receipt exactly as the device holds it.
        app_receipt: String,
        /// The `transaction_identifier` of the in-app entry to redeem.
        transaction_id: String,
    },
    /// Huawei IAP: `InAppPurchaseData` (exact bytes) and its signature.
    Huawei {
        /// `InAppPurchaseData` exactly as Huawei returned it.
        purchase_data: String,
        /// Base64 signature over `purchase_data`.
        signature: String,
        /// Signature algorithm; `SHA256WithRSA` when absent.
        #[serde(default)]
        algorithm: HuaweiAlgorithm,
    },
    /// PaySeal sandbox store: purchase JSON signed Ed25519 by the sandbox store key.
    Sandbox {
        /// The sandbox purchase JSON exactly as the sandbox store issued it.
        purchase_data: String,
        /// Base64 Ed25519 signature over `purchase_data`.
        signature: String,
    },
}

impl Receipt {
    /// The store this receipt claims to come from.
    pub fn store(&self) -> Store {
        match self {
            Receipt::GooglePlay { .. } => Store::GooglePlay,
            Receipt::AppStore { .. } | Receipt::AppStoreReceipt { .. } => Store::AppStore,
            Receipt::Huawei { .. } => Store::Huawei,
            Receipt::Sandbox { .. } => Store::Sandbox,
        }
    }

    /// The JSON `store` tag: the store's name, or `app_store_receipt` for an app receipt.
    pub fn kind(&self) -> &'static str {
        match self {
            Receipt::AppStoreReceipt { .. } => "app_store_receipt",
            other => other.store().as_str(),
        }
    }

    /// Canonical bytes for hashing: the kind ([`Receipt::kind`]) and each field,
    /// length-prefixed (u32 BE), in order.
    ///
    /// Independent of JSON whitespace or key order, so the SDK, verifier and application
    /// servers all hash the same bytes.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut push = |field: &[u8]| {
            out.extend_from_slice(&(field.len() as u32).to_be_bytes());
            out.extend_from_slice(field);
        };
        push(self.kind().as_bytes());
        match self {
            Receipt::GooglePlay {
                purchase_data,
                signature,
            }
            | Receipt::Sandbox {
                purchase_data,
                signature,
            } => {
                push(purchase_data.as_bytes());
                push(signature.as_bytes());
            }
            Receipt::AppStore { jws } => push(jws.as_bytes()),
            Receipt::AppStoreReceipt {
                app_receipt,
                transaction_id,
            } => {
                push(app_receipt.as_bytes());
                push(transaction_id.as_bytes());
            }
            Receipt::Huawei {
                purchase_data,
                signature,
                algorithm,
            } => {
                push(purchase_data.as_bytes());
                push(signature.as_bytes());
                let alg = match algorithm {
                    HuaweiAlgorithm::Sha256WithRsa => "SHA256WithRSA",
                    HuaweiAlgorithm::Sha256WithRsaPss => "SHA256WithRSA/PSS",
                };
                push(alg.as_bytes());
            }
        }
        out
    }

    /// `receipt_sha256`: lowercase hex SHA-256 of [`Receipt::canonical_bytes`].
    pub fn sha256_hex(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_is_tagged_by_store() {
        let r = Receipt::GooglePlay {
            purchase_data: "{\"a\":1}".into(),
            signature: "c2ln".into(),
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["store"], "google_play");
        let back: Receipt = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn huawei_algorithm_defaults_to_pkcs1() {
        let r: Receipt =
            serde_json::from_str(r#"{"store":"huawei","purchase_data":"{}","signature":"eA=="}"#)
                .unwrap();
        assert!(matches!(
            r,
            Receipt::Huawei {
                algorithm: HuaweiAlgorithm::Sha256WithRsa,
                ..
            }
        ));
    }

    #[test]
    fn unknown_fields_and_stores_are_refused() {
        assert!(serde_json::from_str::<Receipt>(r#"{"store":"amazon","x":"y"}"#).is_err());
        assert!(
            serde_json::from_str::<Receipt>(r#"{"store":"app_store","jws":"a","extra":1}"#)
                .is_err()
        );
    }

    #[test]
    fn an_app_receipt_is_an_app_store_receipt_with_its_own_tag_and_hash() {
        let r: Receipt = serde_json::from_str(
            r#"{"store":"app_store_receipt","app_receipt":"MIIB","transaction_id":"1000"}"#,
        )
        .unwrap();
        assert_eq!(r.store(), Store::AppStore);
        assert_eq!(
            serde_json::to_value(&r).unwrap()["store"],
            "app_store_receipt"
        );
        let jws = Receipt::AppStore { jws: "MIIB".into() };
        assert_ne!(r.sha256_hex(), jws.sha256_hex());
    }

    #[test]
    fn hash_separates_fields() {
        let a = Receipt::GooglePlay {
            purchase_data: "ab".into(),
            signature: "c".into(),
        };
        let b = Receipt::GooglePlay {
            purchase_data: "a".into(),
            signature: "bc".into(),
        };
        assert_ne!(a.sha256_hex(), b.sha256_hex());
        let c = Receipt::Sandbox {
            purchase_data: "ab".into(),
            signature: "c".into(),
        };
        assert_ne!(a.sha256_hex(), c.sha256_hex());
    }
}

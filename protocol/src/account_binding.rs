//! Account binding: the token an app gives its store at purchase time so that the store's
//! signed data names the buyer's account, and the verifier's check of it.
//!
//! The stores carry an opaque, app-chosen value in the purchase they sign: Google Play's
//! `obfuscatedAccountId` (Play Billing `BillingFlowParams.Builder.setObfuscatedAccountId`,
//! at most 64 characters) and StoreKit 2's `appAccountToken` (a UUID,
//! `Product.PurchaseOption.appAccountToken(_:)`). Huawei's `InAppPurchaseData` has no such
//! field (its `developerPayload` is free text the app may use for anything; PaySeal does not
//! read it), nor has the PaySeal sandbox store.
//!
//! The app derives the token from the account id it later sends to the verifier, with one of
//! the [`AccountBinding`] schemes, and the verifier derives it again from the request's
//! account id: a receipt whose token is another account's is `not_paid / wrong_account`.
//! A token is never the account id itself (the stores ask for no personal data there).
//! - [`AccountBinding::UuidV5`]: RFC 9562 UUIDv5 (SHA-1 name-based) of the account id's
//!   UTF-8 bytes in an app-chosen namespace UUID, lowercase hyphenated (36 characters). It
//!   fits both stores: the App Store needs a UUID, Play takes any string up to 64.
//! - [`AccountBinding::Sha256Hex`]: lowercase hex SHA-256 of the account id's UTF-8 bytes
//!   (64 characters), Google's own suggestion for `obfuscatedAccountId`; Play only (it is not a
//!   UUID).
//!
//! Comparison ([`AccountBinding::matches`]): a UUID token matches when both parse as the same
//! UUID (any case, hyphenated); a hex token when equal ignoring ASCII case. Surrounding
//! whitespace is not trimmed: the stores return exactly what the app set.

use sha2::{Digest, Sha256};

/// How an app derives its store account token from its account id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountBinding {
    /// UUIDv5 of the account id in `namespace` (App Store `appAccountToken`, Play
    /// `obfuscatedAccountId`).
    UuidV5 {
        /// The app's namespace UUID (any UUID the app picks once and keeps).
        namespace: uuid::Uuid,
    },
    /// Lowercase hex SHA-256 of the account id (Play `obfuscatedAccountId` only).
    Sha256Hex,
}

/// A namespace that is not a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the account binding namespace is not a UUID (e.g. 6f1c2e8a-3b4d-4c5e-9f60-718293a4b5c6)")]
pub struct NamespaceError;

impl AccountBinding {
    /// [`AccountBinding::UuidV5`] in the namespace written as a UUID string.
    pub fn uuid_v5(namespace: &str) -> Result<Self, NamespaceError> {
        uuid::Uuid::parse_str(namespace.trim())
            .map(|namespace| AccountBinding::UuidV5 { namespace })
            .map_err(|_| NamespaceError)
    }

    /// The scheme's configuration name: `uuid_v5` or `sha256_hex`.
    pub fn as_str(&self) -> &'static str {
        match self {
            AccountBinding::UuidV5 { .. } => "uuid_v5",
            AccountBinding::Sha256Hex => "sha256_hex",
        }
    }

    /// Whether the token is a UUID (what StoreKit's `appAccountToken` must be).
    pub fn is_uuid(&self) -> bool {
        matches!(self, AccountBinding::UuidV5 { .. })
    }

    /// The token for `account_id`: what the app sets at purchase time.
    pub fn token(&self, account_id: &str) -> String {
        match self {
            AccountBinding::UuidV5 { namespace } => {
                uuid::Uuid::new_v5(namespace, account_id.as_bytes())
                    .hyphenated()
                    .to_string()
            }
            AccountBinding::Sha256Hex => hex::encode(Sha256::digest(account_id.as_bytes())),
        }
    }

    /// Whether `store_token` (as the store signed it) is the token of `account_id`.
    pub fn matches(&self, store_token: &str, account_id: &str) -> bool {
        match self {
            AccountBinding::UuidV5 { .. } => match uuid::Uuid::try_parse(store_token) {
                Ok(found) => found.hyphenated().to_string() == self.token(account_id),
                Err(_) => false,
            },
            AccountBinding::Sha256Hex => store_token.eq_ignore_ascii_case(&self.token(account_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "6f1c2e8a-3b4d-4c5e-9f60-718293a4b5c6";

    #[test]
    fn uuid_v5_is_the_rfc_derivation() {
        // RFC 9562 Appendix A.4: UUIDv5 of "www.example.com" in the DNS namespace.
        let dns = AccountBinding::uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8").unwrap();
        assert_eq!(
            dns.token("www.example.com"),
            "2ed6657d-e927-568b-95e1-2665a8aea6a2"
        );
        let b = AccountBinding::uuid_v5(NS).unwrap();
        let t = b.token("alice");
        assert_eq!(t.len(), 36);
        assert_eq!(&t[14..15], "5", "version nibble: {t}");
        assert_ne!(t, b.token("bob"));
        assert_ne!(
            t,
            AccountBinding::uuid_v5("00000000-0000-4000-8000-000000000001")
                .unwrap()
                .token("alice")
        );
        assert_eq!(AccountBinding::uuid_v5("not-a-uuid"), Err(NamespaceError));
        assert_eq!(AccountBinding::uuid_v5(""), Err(NamespaceError));
    }

    #[test]
    fn sha256_hex_is_the_plain_digest() {
        assert_eq!(
            AccountBinding::Sha256Hex.token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn matching_ignores_case_only() {
        let b = AccountBinding::uuid_v5(NS).unwrap();
        let t = b.token("alice");
        assert!(b.matches(&t, "alice"));
        assert!(b.matches(&t.to_uppercase(), "alice"));
        assert!(!b.matches(&t, "bob"));
        assert!(!b.matches(&format!(" {t}"), "alice"));
        assert!(!b.matches("alice", "alice"));
        assert!(!b.matches("", "alice"));
        let h = AccountBinding::Sha256Hex;
        let t = h.token("alice");
        assert!(h.matches(&t, "alice"));
        assert!(h.matches(&t.to_uppercase(), "alice"));
        assert!(!h.matches(&t, "bob"));
        assert!(!h.matches(&t[..63], "alice"));
    }
}

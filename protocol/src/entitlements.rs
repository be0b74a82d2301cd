//! The entitlements document: "what does this account own right now?", a compact JWS
//! (`alg: EdDSA`, `typ: payseal-entitlements+jwt`) over [`EntitlementsClaims`], signed with the
//! verdict keys and checked exactly like a verdict ([`verify`]: same alg, kids, strict
//! signature, strict claims, `exp`/`iat` with skew); plus the sealed request that asks for it
//! ([`EntitlementsRequest`], optionally carrying a restore batch) and its answer
//! ([`EntitlementsResponse`]).
//!
//! ```
//! use payseal_protocol::entitlements::{self, EntitlementsClaims};
//! use payseal_protocol::verdict::{VerdictSigningKey, VerdictVerifier};
//!
//! let key = VerdictSigningKey::from_seed("v1", [7; 32]);
//! let claims = EntitlementsClaims {
//!     iss: "https://verify.example.com".into(), iat: 1_700_000_000, exp: 1_700_000_600,
//!     jti: "j".into(), nonce: "bm9uY2Vub25jZW5vbmNl".into(), app: "dev.app".into(),
//!     sub: "account-1".into(), as_of: 1_700_000_000_000, entitlements: vec![],
//! };
//! let token = entitlements::sign(&key, &claims).unwrap();
//! let checked = entitlements::verify(&VerdictVerifier::new(vec![key.public_key()]), &token, 1_700_000_001);
//! assert_eq!(checked.unwrap(), claims);
//! ```

use serde::{Deserialize, Serialize};

use crate::receipt::{Receipt, Store};
use crate::request::{validate_account_id, validate_app_id, validate_nonce, RequestError};
use crate::verdict::{Environment, PurchaseKind, VerdictError, VerdictSigningKey, VerdictVerifier};
use crate::{SdkInfo, PROTOCOL_VERSION};

/// The verifier's path for sealed entitlements (and restore) requests.
pub const ENTITLEMENTS_PATH: &str = "/v1/entitlements";

/// The app-server API's `GET` of an account's entitlements (`?account=ID&nonce=N`, the app's
/// app-server credential), answered with [`AppServerEntitlements`].
pub const APP_SERVER_ENTITLEMENTS_PATH: &str = "/v1/app-server/entitlements";

/// The JSON answer of [`APP_SERVER_ENTITLEMENTS_PATH`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppServerEntitlements {
    /// The signed entitlements document (the same one the SDK gets), bound to the nonce asked.
    pub entitlements: String,
}

/// The JWS `typ` of the entitlements document.
pub const ENTITLEMENTS_TYP: &str = "payseal-entitlements+jwt";

/// Most receipts one restore request carries (a larger restore is sent in several requests).
pub const MAX_RESTORE_RECEIPTS: usize = 50;
// The fixed message of [`RequestError::TooManyReceipts`] says "50".
const _: () = assert!(MAX_RESTORE_RECEIPTS == 50);

/// One active entitlement of an account, and the purchase that grants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entitlement {
    /// The entitlement's name in the app's config (`premium`, `no_ads`, ...).
    pub name: String,
    /// The product that grants it.
    pub product_id: String,
    /// The store it was bought in.
    pub store: Store,
    /// Production or sandbox (absent for purchases recorded before the ledger kept it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub environment: Option<Environment>,
    /// The ledger key of the granting purchase: its transaction id, or for a subscription its
    /// renewal chain's id (App Store `originalTransactionId`, Play purchase token, ...).
    pub transaction_key: String,
    /// Non-consumable or subscription, when the store said (consumables never grant).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<PurchaseKind>,
    /// First presentation of the purchase to PaySeal, Unix milliseconds.
    pub since: i64,
    /// A subscription's paid period end, Unix milliseconds (absent: lifetime).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<i64>,
    /// Whether the subscription renews, when the store said.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub will_renew: Option<bool>,
}

/// The claims of the entitlements document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementsClaims {
    /// The verifier's public URL.
    pub iss: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds (the verdict TTL).
    pub exp: i64,
    /// Unique id of this document.
    pub jti: String,
    /// The nonce of the request it answers (the SDK checks it equals the one it sent).
    pub nonce: String,
    /// The app id.
    pub app: String,
    /// The account.
    pub sub: String,
    /// When the ledger was read, Unix milliseconds: the answer's age is measured from it.
    pub as_of: i64,
    /// The active entitlements, by name then product (an entitlement granted by two purchases
    /// appears twice).
    pub entitlements: Vec<Entitlement>,
}

impl EntitlementsClaims {
    /// Whether the entitlement `name` is active in this document.
    pub fn has(&self, name: &str) -> bool {
        self.entitlements.iter().any(|e| e.name == name)
    }
}

/// Sign `claims` with a verdict key (`typ: payseal-entitlements+jwt`).
pub fn sign(key: &VerdictSigningKey, claims: &EntitlementsClaims) -> Result<String, VerdictError> {
    key.sign_typed(ENTITLEMENTS_TYP, claims)
}

/// Check an entitlements token at `now` (Unix seconds) with the verdict keys of `verifier`,
/// exactly as [`VerdictVerifier::verify`] checks a verdict (a verdict token is refused here, and
/// an entitlements token there: their `typ` differs).
pub fn verify(
    verifier: &VerdictVerifier,
    token: &str,
    now: i64,
) -> Result<EntitlementsClaims, VerdictError> {
    verifier.verify_typed(token, ENTITLEMENTS_TYP, now, |c: &EntitlementsClaims| {
        (c.iat, c.exp)
    })
}

/// The sealed request's plaintext for `POST /v1/entitlements` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementsRequest {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// Fresh random nonce (the verdict's rule).
    pub nonce: String,
    /// The app id as configured on the verifier.
    pub app_id: String,
    /// The account whose entitlements are asked for.
    pub account_id: String,
    /// Who sent it.
    pub sdk: SdkInfo,
    /// A restore: every receipt the store handed the app, each judged exactly as
    /// `POST /v1/verify` judges it, before the entitlements are read. At most
    /// [`MAX_RESTORE_RECEIPTS`]; absent from the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<Receipt>,
}

impl EntitlementsRequest {
    /// Every wire rule: version, nonce, app id, account id, restore batch size.
    pub fn validate(&self) -> Result<(), RequestError> {
        if self.v != PROTOCOL_VERSION {
            return Err(RequestError::Version);
        }
        validate_nonce(&self.nonce)?;
        validate_app_id(&self.app_id)?;
        validate_account_id(&self.account_id)?;
        if self.restore.len() > MAX_RESTORE_RECEIPTS {
            return Err(RequestError::TooManyReceipts);
        }
        Ok(())
    }
}

/// The sealed answer's plaintext for `POST /v1/entitlements` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitlementsResponse {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub v: u32,
    /// The entitlements document (compact JWS), read after the restore's redemptions.
    pub entitlements: String,
    /// A restore's verdict tokens, one per receipt, in the request's order (each bound to the
    /// request's nonce and its receipt's hash). Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdicts: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Outcome, VerdictClaims, VERDICT_TYP};

    const NOW: i64 = 1_700_000_000;

    fn claims() -> EntitlementsClaims {
        EntitlementsClaims {
            iss: "https://verify.example.com".into(),
            iat: NOW,
            exp: NOW + 300,
            jti: "j-1".into(),
            nonce: "bm9uY2Vub25jZW5vbmNl".into(),
            app: "dev.payseal.demo".into(),
            sub: "account-1".into(),
            as_of: NOW * 1000,
            entitlements: vec![Entitlement {
                name: "premium".into(),
                product_id: "pro_monthly".into(),
                store: Store::AppStore,
                environment: Some(Environment::Production),
                transaction_key: "2000000001".into(),
                kind: Some(PurchaseKind::Subscription),
                since: NOW * 1000 - 5,
                expires_at: Some(NOW * 1000 + 86_400_000),
                will_renew: None,
            }],
        }
    }

    fn key() -> VerdictSigningKey {
        VerdictSigningKey::from_seed("v1", [7; 32])
    }

    fn verifier() -> VerdictVerifier {
        VerdictVerifier::new(vec![key().public_key()])
    }

    #[test]
    fn sign_then_verify_with_its_own_typ() {
        let token = sign(&key(), &claims()).unwrap();
        assert_eq!(verify(&verifier(), &token, NOW).unwrap(), claims());
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.typ.as_deref(), Some(ENTITLEMENTS_TYP));
        assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
        assert_eq!(header.kid.as_deref(), Some("v1"));
        assert!(claims().has("premium"));
        assert!(!claims().has("no_ads"));
    }

    #[test]
    fn a_verdict_is_not_an_entitlements_document_nor_the_reverse() {
        let token = sign(&key(), &claims()).unwrap();
        assert_eq!(verifier().verify(&token, NOW), Err(VerdictError::Type));
        let verdict = VerdictClaims {
            iss: "i".into(),
            iat: NOW,
            exp: NOW + 1,
            jti: "j".into(),
            nonce: "n".into(),
            app: "a".into(),
            sub: "s".into(),
            store: Store::Sandbox,
            environment: None,
            product_id: None,
            transaction_id: None,
            original_transaction_id: None,
            quantity: None,
            purchased_at: None,
            kind: None,
            expires_at: None,
            subscription_state: None,
            store_checked: None,
            refund_history: None,
            receipt_sha256: "ab".repeat(32),
            outcome: Outcome::Paid,
            reason: None,
            redemption: None,
        };
        let v = key().sign(&verdict).unwrap();
        assert!(jsonwebtoken::decode_header(&v).unwrap().typ.as_deref() == Some(VERDICT_TYP));
        assert_eq!(verify(&verifier(), &v, NOW), Err(VerdictError::Type));
    }

    #[test]
    fn forged_expired_and_foreign_documents_are_refused() {
        let token = sign(&key(), &claims()).unwrap();
        let attacker = VerdictSigningKey::from_seed("v1", [8; 32]);
        let forged = sign(&attacker, &claims()).unwrap();
        assert_eq!(
            verify(&verifier(), &forged, NOW),
            Err(VerdictError::Signature)
        );
        assert_eq!(
            verify(&verifier(), &token, NOW + 300 + 61),
            Err(VerdictError::Expired)
        );
        let other = VerdictSigningKey::from_seed("v9", [7; 32]);
        assert_eq!(
            verify(&verifier(), &sign(&other, &claims()).unwrap(), NOW),
            Err(VerdictError::UnknownKey(Some("v9".into())))
        );
        // One changed character anywhere: refused.
        for i in 0..token.len() {
            let mut bad = token.clone().into_bytes();
            if bad[i] == b'.' {
                continue;
            }
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bad).unwrap();
            assert!(verify(&verifier(), &bad, NOW).is_err(), "position {i}");
        }
    }

    #[test]
    fn request_rules_bound_the_restore_batch() {
        let receipt = Receipt::AppStore {
            jws: "a.b.c".into(),
        };
        let mut r = EntitlementsRequest {
            v: PROTOCOL_VERSION,
            nonce: "bm9uY2Vub25jZW5vbmNlbm9uY2U".into(),
            app_id: "dev.payseal.demo".into(),
            account_id: "account-1".into(),
            sdk: SdkInfo {
                name: "t".into(),
                version: "0".into(),
            },
            restore: vec![],
        };
        assert_eq!(r.validate(), Ok(()));
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("restore"), "{json}");
        r.restore = vec![receipt.clone(); MAX_RESTORE_RECEIPTS];
        assert_eq!(r.validate(), Ok(()));
        r.restore.push(receipt);
        assert_eq!(r.validate(), Err(RequestError::TooManyReceipts));
        r.restore.clear();
        r.account_id = " ".into();
        assert!(matches!(r.validate(), Err(RequestError::AccountId(_))));
        r.account_id = "a".into();
        r.v = 9;
        assert_eq!(r.validate(), Err(RequestError::Version));
    }
}

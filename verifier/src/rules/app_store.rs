//! App Store (StoreKit 2): a compact JWS signed ES256 by the leaf of its `x5c` chain
//! (leaf → intermediate → a configured Apple root), Apple's marker OIDs on leaf and
//! intermediate, every certificate valid at the transaction's `signedDate`.
//!
//! Order: JWS shape (`malformed`) → `alg` exactly `ES256` (`bad_signature`) → `x5c` shape
//! (`untrusted_chain`) → the JWS signature with the leaf's P-256 key (`bad_signature`) → the
//! chain: signatures, issuer names, CA flag, marker OIDs, anchor (`untrusted_chain`) → the
//! payload (`malformed`) → validity of leaf, intermediate and root at `signedDate`
//! (`untrusted_chain`) → `bundleId` (`wrong_app`) → `revocationDate` (`revoked`) →
//! environment (`untrusted_environment`). A third `x5c` certificate (Apple sends its root) is
//! not trusted for anything: the root is always one of [`TrustAnchors::apple_roots`].

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use payseal_protocol::{Environment, Reason, Receipt, Store};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use x509_parser::asn1_rs::oid;
use x509_parser::prelude::*;

use super::{
    check_environment, no_store_rules, quantity, wrong_rule, AppRules, PartialPurchase, Purchase,
    Rejection, StoreRule, TrustAnchors,
};

/// DER content of OID 1.2.840.113635.100.6.11.1 (Apple's receipt/StoreKit signing leaf marker).
const LEAF_MARKER: &[u8] = &oid!(raw 1.2.840.113635.100.6.11.1);
/// DER content of OID 1.2.840.113635.100.6.2.1 (Apple's WWDR intermediate marker).
const INTERMEDIATE_MARKER: &[u8] = &oid!(raw 1.2.840.113635.100.6.2.1);
/// id-ecPublicKey.
const EC_PUBLIC_KEY: &[u8] = &oid!(raw 1.2.840.10045.2.1);
/// prime256v1 (P-256).
const P256_CURVE: &[u8] = &oid!(raw 1.2.840.10045.3.1.7);

/// How far in the future a `signedDate` may be (clock skew between Apple and this verifier).
const FUTURE_SKEW_MS: i64 = 10 * 60 * 1000;

/// The App Store rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppStoreRule;

#[derive(Debug, Deserialize)]
struct Header {
    alg: Option<String>,
    x5c: Option<Vec<String>>,
    crit: Option<serde_json::Value>,
}

/// The fields of `JWSTransactionDecodedPayload` that the rule reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transaction {
    transaction_id: String,
    original_transaction_id: Option<String>,
    bundle_id: String,
    product_id: String,
    purchase_date: i64,
    quantity: Option<u32>,
    signed_date: i64,
    environment: String,
    revocation_date: Option<i64>,
}

fn malformed(detail: impl Into<String>) -> Rejection {
    Rejection::new(Reason::Malformed, detail)
}

fn untrusted(detail: impl Into<String>) -> Rejection {
    Rejection::new(Reason::UntrustedChain, detail)
}

fn has_extension(cert: &X509Certificate<'_>, oid_der: &[u8]) -> bool {
    cert.extensions()
        .iter()
        .any(|e| e.oid.as_bytes() == oid_der)
}

/// The leaf's P-256 public key, or `untrusted_chain` when the leaf has another kind of key.
fn leaf_key(leaf: &X509Certificate<'_>) -> Result<p256::ecdsa::VerifyingKey, Rejection> {
    let spki = leaf.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    if spki.algorithm.algorithm.as_bytes() != EC_PUBLIC_KEY
        || curve.as_ref().map(|c| c.as_bytes()) != Some(P256_CURVE)
    {
        return Err(untrusted("x5c[0] does not hold a P-256 key (wrong order?)"));
    }
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&spki.subject_public_key.data)
        .map_err(|_| untrusted("x5c[0] P-256 key does not decode"))
}

/// Chains that passed [`check_chain`]: SHA-256 of (leaf, intermediate, anchors) → anchor index.
///
/// A memo of a pure function keyed by a hash of its exact inputs, so the rule stays a pure
/// function of its arguments; it saves the two ECDSA verifications (one P-384) that every
/// transaction under the same Apple leaf would repeat. Only successes are remembered.
static VERIFIED_CHAINS: OnceLock<Mutex<HashMap<[u8; 32], usize>>> = OnceLock::new();
/// Bound on remembered chains (Apple rotates leaves every year or two; a few suffice).
const VERIFIED_CHAINS_MAX: usize = 256;

fn chain_key(leaf_der: &[u8], inter_der: &[u8], anchors: &TrustAnchors) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [leaf_der, inter_der]
        .into_iter()
        .chain(anchors.apple_roots.iter().map(Vec::as_slice))
    {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// [`check_chain`], memoized on the exact DER bytes.
fn verified_chain(
    leaf_der: &[u8],
    leaf: &X509Certificate<'_>,
    inter_der: &[u8],
    inter: &X509Certificate<'_>,
    anchors: &TrustAnchors,
) -> Result<usize, Rejection> {
    let key = chain_key(leaf_der, inter_der, anchors);
    let cache = VERIFIED_CHAINS.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(index) = cache.lock().ok().and_then(|m| m.get(&key).copied()) {
        return Ok(index);
    }
    let index = check_chain(leaf, inter, anchors)?;
    if let Ok(mut m) = cache.lock() {
        if m.len() >= VERIFIED_CHAINS_MAX {
            m.clear();
        }
        m.insert(key, index);
    }
    Ok(index)
}

/// Leaf issued by the intermediate, marker OIDs, intermediate a CA issued by a configured root.
/// Returns the index of that root in `anchors.apple_roots`.
fn check_chain(
    leaf: &X509Certificate<'_>,
    inter: &X509Certificate<'_>,
    anchors: &TrustAnchors,
) -> Result<usize, Rejection> {
    if leaf.issuer() != inter.subject() || leaf.verify_signature(Some(inter.public_key())).is_err()
    {
        return Err(untrusted("leaf is not issued by the x5c intermediate"));
    }
    if !has_extension(leaf, LEAF_MARKER) {
        return Err(untrusted(
            "leaf lacks Apple's marker OID 1.2.840.113635.100.6.11.1",
        ));
    }
    if !inter.is_ca() {
        return Err(untrusted("intermediate is not a CA"));
    }
    if !has_extension(inter, INTERMEDIATE_MARKER) {
        return Err(untrusted(
            "intermediate lacks Apple's marker OID 1.2.840.113635.100.6.2.1",
        ));
    }
    if anchors.apple_roots.is_empty() {
        return Err(untrusted("no App Store root is configured"));
    }
    anchors
        .apple_roots
        .iter()
        .position(|der| match X509Certificate::from_der(der) {
            Ok((_, root)) => {
                inter.issuer() == root.subject()
                    && inter.verify_signature(Some(root.public_key())).is_ok()
            }
            Err(_) => false,
        })
        .ok_or_else(|| untrusted("intermediate is not issued by a configured App Store root"))
}

fn valid_at(cert: &X509Certificate<'_>, at: ASN1Time, what: &str) -> Result<(), Rejection> {
    if cert.validity().is_valid_at(at) {
        Ok(())
    } else {
        Err(untrusted(format!(
            "{what} certificate is not valid at signedDate ({} .. {})",
            cert.validity().not_before,
            cert.validity().not_after
        )))
    }
}

impl StoreRule for AppStoreRule {
    fn check(
        &self,
        receipt: &Receipt,
        app: &AppRules,
        anchors: &TrustAnchors,
        now_ms: i64,
    ) -> Result<Purchase, Rejection> {
        let Receipt::AppStore { jws } = receipt else {
            return Err(wrong_rule(Store::AppStore, receipt));
        };
        let rules = app
            .app_store
            .as_ref()
            .ok_or_else(|| no_store_rules(app, Store::AppStore))?;

        // JWS shape.
        let mut parts = jws.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not a compact JWS (three dot-separated parts)"));
        };
        let header_bytes = URL_SAFE_NO_PAD
            .decode(h64)
            .map_err(|_| malformed("JWS header is not Base64url"))?;
        let header: Header = serde_json::from_slice(&header_bytes)
            .map_err(|_| malformed("JWS header is not a JSON object"))?;

        // alg: exactly ES256; nothing else, and no critical extensions we do not know.
        match header.alg.as_deref() {
            Some("ES256") => {}
            Some(other) => {
                return Err(Rejection::new(
                    Reason::BadSignature,
                    format!("JWS alg {other:?} is not ES256"),
                ))
            }
            None => {
                return Err(Rejection::new(
                    Reason::BadSignature,
                    "JWS header has no alg",
                ))
            }
        }
        if header.crit.is_some() {
            return Err(Rejection::new(
                Reason::BadSignature,
                "JWS header has critical extensions",
            ));
        }

        // x5c shape.
        let x5c = header
            .x5c
            .ok_or_else(|| untrusted("JWS header has no x5c chain"))?;
        if x5c.len() < 2 || x5c.len() > 3 {
            return Err(untrusted(format!(
                "x5c has {} certificates; leaf and intermediate (and optionally the root) expected",
                x5c.len()
            )));
        }
        let ders = x5c
            .iter()
            .map(|c| STANDARD.decode(c))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| untrusted("x5c certificate is not Base64"))?;
        let (leaf_der, inter_der) = (&ders[0], &ders[1]);
        let leaf = match X509Certificate::from_der(leaf_der) {
            Ok(([], c)) => c,
            _ => return Err(untrusted("x5c[0] is not a DER certificate")),
        };
        let inter = match X509Certificate::from_der(inter_der) {
            Ok(([], c)) => c,
            _ => return Err(untrusted("x5c[1] is not a DER certificate")),
        };

        // The JWS signature, with the leaf's key, over the exact signing input.
        let key = leaf_key(&leaf)?;
        let sig_bytes = URL_SAFE_NO_PAD
            .decode(s64)
            .map_err(|_| Rejection::new(Reason::BadSignature, "JWS signature is not Base64url"))?;
        let sig = p256::ecdsa::Signature::from_slice(&sig_bytes).map_err(|_| {
            Rejection::new(
                Reason::BadSignature,
                "JWS signature is not a 64-byte ES256 signature",
            )
        })?;
        let signing_input_len = h64.len() + 1 + p64.len();
        key.verify(&jws.as_bytes()[..signing_input_len], &sig)
            .map_err(|_| {
                Rejection::new(
                    Reason::BadSignature,
                    "ES256 signature does not verify with the x5c leaf",
                )
            })?;

        // The chain up to a configured root (time-independent checks, memoized).
        let root_index = verified_chain(leaf_der, &leaf, inter_der, &inter, anchors)?;
        let root = anchors
            .apple_roots
            .get(root_index)
            .and_then(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
            .ok_or_else(|| untrusted("configured App Store root does not parse"))?;

        // The payload, now that its signer chains to a trusted root.
        let payload = URL_SAFE_NO_PAD
            .decode(p64)
            .map_err(|_| malformed("JWS payload is not Base64url"))?;
        let tx: Transaction = serde_json::from_slice(&payload)
            .map_err(|e| malformed(format!("signed transaction does not parse: {e}")))?;

        // Validity at signedDate.
        if tx.signed_date > now_ms.saturating_add(FUTURE_SKEW_MS) {
            return Err(untrusted("signedDate is in the future"));
        }
        let at = ASN1Time::from_timestamp(tx.signed_date.div_euclid(1000))
            .map_err(|_| malformed("signedDate is out of range"))?;
        valid_at(&leaf, at, "leaf")?;
        valid_at(&inter, at, "intermediate")?;
        valid_at(&root, at, "root")?;

        let environment = if tx.environment == "Production" {
            Environment::Production
        } else {
            Environment::Sandbox
        };
        let partial = PartialPurchase {
            environment: Some(environment),
            product_id: Some(tx.product_id.clone()),
            transaction_id: Some(tx.transaction_id.clone()),
        };
        if tx.transaction_id.is_empty() {
            return Err(Rejection::with_partial(
                Reason::Malformed,
                "empty transactionId",
                partial,
            ));
        }
        if tx.bundle_id != rules.bundle_id {
            return Err(Rejection::with_partial(
                Reason::WrongApp,
                format!("bundleId {} is not {}", tx.bundle_id, rules.bundle_id),
                partial,
            ));
        }
        if tx.revocation_date.is_some() {
            return Err(Rejection::with_partial(
                Reason::Revoked,
                "transaction has a revocationDate (refunded or revoked)",
                partial,
            ));
        }
        check_environment(app, environment, &partial)?;
        let quantity = quantity(tx.quantity, &partial)?;

        Ok(Purchase {
            store: Store::AppStore,
            environment,
            product_id: tx.product_id,
            transaction_key: tx.transaction_id.clone(),
            transaction_id: tx.transaction_id,
            original_transaction_id: tx.original_transaction_id,
            quantity,
            purchased_at: tx.purchase_date,
        })
    }
}

#[cfg(test)]
mod tests;

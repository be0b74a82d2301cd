//! App Store (StoreKit 2): a compact JWS signed ES256 by the leaf of its `x5c` chain
//! (leaf → intermediate → a configured Apple root), Apple's marker OIDs on leaf and
//! intermediate, every certificate valid at the transaction's `signedDate`.
//!
//! Order: JWS shape (`malformed`) → `alg` exactly `ES256` (`bad_signature`) → `x5c` shape
//! (`untrusted_chain`) → the JWS signature with the leaf's P-256 key (`bad_signature`, `ring`)
//! → the chain: signatures, issuer names, CA flag, marker OIDs, anchor (`untrusted_chain`) →
//! the payload (`malformed`) → validity of leaf, intermediate and root at `signedDate`
//! (`untrusted_chain`) → `transactionId` present (`malformed`) → `bundleId` (`wrong_app`) →
//! `revocationDate` (`revoked`) → `type` and, for subscriptions, `expiresDate` (`malformed`
//! when an auto-renewable one has none). A third `x5c` certificate (Apple sends its root) is not
//! trusted for anything: the root is always one of [`TrustAnchors::apple_roots`].
//!
//! A chain that passed is remembered by the [`TrustAnchors`] (see `chain.rs`): the next
//! transaction under the same leaf and intermediate skips the certificate parsing and the two
//! chain signatures, and is checked with the remembered leaf key and validity windows.
//!
//! **Kinds** (`type`): `Consumable`, `Non-Consumable` (ledger key `transactionId`);
//! `Auto-Renewable Subscription` (key `originalTransactionId`, so the renewal chain has one
//! owner; `expiresDate` required; `isUpgraded: true` means the customer moved to another
//! subscription of the group and, as Apple documents, this transaction no longer grants access:
//! `expired`, nothing recorded, the upgrade's own transaction is the one to present);
//! `Non-Renewing Subscription` (key `transactionId`; Apple signs no `expiresDate` for it, the app
//! decides its duration: `kind: subscription` without `expires_at`, or with it when present). An
//! unknown `type` is `malformed` (a kind the verifier cannot read never pays). `offerType`
//! (introductory, promotional, offer code, win-back) changes nothing: a free or discounted
//! period grants access until its `expiresDate` like a paid one. A payload without `type`
//! (older fixtures) has no kind and is keyed by `transactionId`.
//!
//! The same check serves every JWS Apple signs this way, not only transactions: [`verify_jws`]
//! (shape, `alg`, `x5c`, signature, chain, payload, validity at the payload's `signedDate`)
//! is what the rule runs, and what App Store Server Notifications V2 run on their
//! `signedPayload`, `signedTransactionInfo` and `signedRenewalInfo` (the verifier's `notifications`).

pub(crate) mod chain;
pub(crate) mod trust;

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use payseal_protocol::{Environment, PurchaseKind, Reason, Store};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use x509_parser::time::ASN1Time;

use super::{AppRules, AppStoreRules, Claimed, Refusal, Rejection, StoreRule};
use chain::{untrusted, ChainCache, VerifiedChain};
use trust::TrustAnchors;

pub use chain::ChainCacheStats;

/// How far in the future a `signedDate` may be (clock skew between Apple and this verifier).
const FUTURE_SKEW_MS: i64 = 10 * 60 * 1000;

/// The App Store rule.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AppStoreRule;

#[derive(Debug, Deserialize)]
struct Header {
    alg: Option<String>,
    x5c: Option<Vec<String>>,
    crit: Option<serde_json::Value>,
}

/// A compact JWS split and its header checked; nothing in the payload read.
pub(crate) struct ParsedJws<'r> {
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'r str,
    /// The Base64url payload.
    payload: &'r str,
    /// The Base64url signature.
    signature: &'r str,
    /// `x5c[0]` (leaf) and `x5c[1]` (intermediate), DER.
    leaf: Vec<u8>,
    intermediate: Vec<u8>,
}

/// The fields of `JWSTransactionDecodedPayload` that the rule (and the notification intake)
/// reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// `transactionId`, the ledger key.
    pub transaction_id: String,
    /// `originalTransactionId`.
    pub original_transaction_id: Option<String>,
    /// `bundleId`.
    pub bundle_id: String,
    /// `productId`.
    pub product_id: String,
    /// `purchaseDate`, Unix milliseconds.
    pub purchase_date: i64,
    /// `quantity`.
    pub quantity: Option<u32>,
    /// `signedDate`, Unix milliseconds.
    pub signed_date: i64,
    /// `Production` or `Sandbox`.
    pub environment: String,
    /// `revocationDate`, set when Apple refunded or revoked the transaction.
    pub revocation_date: Option<i64>,
    /// `appAccountToken`: what the app set with `Product.PurchaseOption.appAccountToken(_:)`
    /// (a UUID).
    pub app_account_token: Option<String>,
    /// `type`: `Consumable`, `Non-Consumable`, `Auto-Renewable Subscription`,
    /// `Non-Renewing Subscription`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `expiresDate`: when a subscription period expires or renews, Unix milliseconds.
    pub expires_date: Option<i64>,
    /// `isUpgraded`: the customer upgraded to another subscription; this one no longer grants
    /// access.
    pub is_upgraded: Option<bool>,
    /// `offerType`: introductory (1), promotional (2), offer code (3), win-back (4); read,
    /// changes nothing (parsed so that the rule documents it, never used to refuse).
    #[allow(dead_code)]
    pub offer_type: Option<i64>,
}

/// A payload Apple signs as an `x5c` JWS: it says when it was signed, and every certificate of
/// the chain must be valid then.
pub trait AppleSigned: DeserializeOwned {
    /// What the payload is, in `malformed` details ("signed transaction", ...).
    const WHAT: &'static str;
    /// `signedDate`, Unix milliseconds.
    fn signed_date(&self) -> i64;
}

impl AppleSigned for Transaction {
    const WHAT: &'static str = "signed transaction";
    fn signed_date(&self) -> i64 {
        self.signed_date
    }
}

/// The App Store product types the rule knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProductType {
    Consumable,
    NonConsumable,
    AutoRenewable,
    NonRenewing,
}

impl ProductType {
    fn parse(kind: &str) -> Option<Self> {
        match kind {
            "Consumable" => Some(Self::Consumable),
            "Non-Consumable" => Some(Self::NonConsumable),
            "Auto-Renewable Subscription" => Some(Self::AutoRenewable),
            "Non-Renewing Subscription" => Some(Self::NonRenewing),
            _ => None,
        }
    }

    fn kind(self) -> PurchaseKind {
        match self {
            Self::Consumable => PurchaseKind::Consumable,
            Self::NonConsumable => PurchaseKind::NonConsumable,
            Self::AutoRenewable | Self::NonRenewing => PurchaseKind::Subscription,
        }
    }
}

impl Transaction {
    /// The product type (`None` when the payload has no `type`; checked known beforehand).
    fn product_type(&self) -> Option<ProductType> {
        self.kind.as_deref().and_then(ProductType::parse)
    }
}

fn malformed(detail: impl Into<String>) -> Rejection {
    Rejection::new(Reason::Malformed, detail)
}

/// The ES256 JWS signature over `signing_input` with the leaf's key (uncompressed SEC1).
fn verify_es256(leaf_key: &[u8], signing_input: &str, signature: &str) -> Result<(), Rejection> {
    let sig = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejection::new(Reason::BadSignature, "JWS signature is not Base64url"))?;
    if sig.len() != 64 {
        return Err(Rejection::new(
            Reason::BadSignature,
            "JWS signature is not a 64-byte ES256 signature",
        ));
    }
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, leaf_key)
        .verify(signing_input.as_bytes(), &sig)
        .map_err(|_| {
            Rejection::new(
                Reason::BadSignature,
                "ES256 signature does not verify with the x5c leaf",
            )
        })
}

/// The JWS signature, then the chain: from the anchors' cache when this leaf and intermediate
/// passed before, else in full (and remembered).
fn verified_chain(
    jws: &ParsedJws<'_>,
    anchors: &TrustAnchors,
) -> Result<Arc<VerifiedChain>, Rejection> {
    let cache = anchors.app_store_chains();
    let key = ChainCache::key(&jws.leaf, &jws.intermediate);
    if let Some(known) = cache.get(&key) {
        verify_es256(&known.leaf_key, jws.signing_input, jws.signature)?;
        return Ok(known);
    }
    let leaf = chain::parse_cert(&jws.leaf, "x5c[0]")?;
    let inter = chain::parse_cert(&jws.intermediate, "x5c[1]")?;
    let leaf_key = chain::leaf_key(&leaf)?;
    verify_es256(&leaf_key, jws.signing_input, jws.signature)?;
    let verified = Arc::new(chain::verify_chain(
        &leaf,
        leaf_key,
        &inter,
        anchors.apple_roots(),
    )?);
    cache.insert(key, verified.clone());
    Ok(verified)
}

/// Split a compact JWS and check its header (`alg` exactly `ES256`, no `crit`, an `x5c` of two or
/// three certificates); nothing in the payload is read.
pub(crate) fn parse_jws(jws: &str) -> Result<ParsedJws<'_>, Rejection> {
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
    let mut ders = x5c
        .iter()
        .map(|c| STANDARD.decode(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| untrusted("x5c certificate is not Base64"))?
        .into_iter();
    let (Some(leaf), Some(intermediate)) = (ders.next(), ders.next()) else {
        return Err(untrusted("x5c has no leaf and intermediate"));
    };
    Ok(ParsedJws {
        signing_input: &jws[..h64.len() + 1 + p64.len()],
        payload: p64,
        signature: s64,
        leaf,
        intermediate,
    })
}

/// The JWS signature with the `x5c` leaf, the chain to a configured root (cached), then the
/// payload decoded as `T` and every certificate checked valid at its `signedDate` (not more
/// than [`FUTURE_SKEW_MS`] ahead of `now_ms`).
pub(crate) fn verify_parsed<T: AppleSigned>(
    jws: ParsedJws<'_>,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<T, Rejection> {
    let chain = verified_chain(&jws, anchors)?;

    // The payload, now that its signer chains to a trusted root.
    let payload = URL_SAFE_NO_PAD
        .decode(jws.payload)
        .map_err(|_| malformed("JWS payload is not Base64url"))?;
    let signed: T = serde_json::from_slice(&payload)
        .map_err(|e| malformed(format!("{} does not parse: {e}", T::WHAT)))?;

    // Validity at signedDate, every time (a cached chain is not valid forever).
    if signed.signed_date() > now_ms.saturating_add(FUTURE_SKEW_MS) {
        return Err(untrusted("signedDate is in the future"));
    }
    let at = ASN1Time::from_timestamp(signed.signed_date().div_euclid(1000))
        .map_err(|_| malformed("signedDate is out of range"))?;
    chain::valid_at(&chain.leaf, at, "leaf")?;
    chain::valid_at(&chain.intermediate, at, "intermediate")?;
    chain::valid_at(&chain.root, at, "root")?;
    Ok(signed)
}

/// The one App Store JWS check, for any payload Apple signs this way (transactions, server
/// notifications, renewal info): the shape and header (`alg` exactly `ES256`, the `x5c` chain),
/// the signature with the leaf, the chain to a root of `anchors` (remembered), then the payload
/// decoded as `T` and every certificate valid at its `signedDate` (not far ahead of `now_ms`).
pub fn verify_jws<T: AppleSigned>(
    jws: &str,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<T, Rejection> {
    verify_parsed(parse_jws(jws)?, anchors, now_ms)
}

/// The App Store ledger key, one for StoreKit 2 transactions and app receipt entries (so one
/// purchase presented both ways redeems once): the transaction id, or for an auto-renewable
/// subscription its renewal chain's original transaction id (the chain has one owner).
pub(crate) fn ledger_key(
    auto_renewable: bool,
    transaction_id: &str,
    original_transaction_id: Option<&str>,
) -> String {
    match original_transaction_id {
        Some(original) if auto_renewable && !original.is_empty() => original.to_string(),
        _ => transaction_id.to_string(),
    }
}

impl StoreRule for AppStoreRule {
    const STORE: Store = Store::AppStore;
    type Input<'r> = &'r str;
    type Settings = AppStoreRules;
    type Parsed<'r> = ParsedJws<'r>;
    type Signed = Transaction;

    fn settings(app: &AppRules) -> Option<&AppStoreRules> {
        app.app_store.as_ref()
    }

    fn parse<'r>(jws: Self::Input<'r>) -> Result<Self::Parsed<'r>, Rejection> {
        parse_jws(jws)
    }

    fn verify_signature(
        jws: ParsedJws<'_>,
        _settings: &AppStoreRules,
        anchors: &TrustAnchors,
        now_ms: i64,
    ) -> Result<Transaction, Rejection> {
        verify_parsed(jws, anchors, now_ms)
    }

    fn check_binding_and_state(
        tx: &Transaction,
        rules: &AppStoreRules,
        _app: &AppRules,
    ) -> Result<(), Refusal> {
        if tx.transaction_id.is_empty() {
            return Err(Refusal::new(Reason::Malformed, "empty transactionId"));
        }
        if tx.bundle_id != rules.bundle_id {
            return Err(Refusal::new(
                Reason::WrongApp,
                format!("bundleId {} is not {}", tx.bundle_id, rules.bundle_id),
            ));
        }
        if tx.revocation_date.is_some() {
            return Err(Refusal::new(
                Reason::Revoked,
                "transaction has a revocationDate (refunded or revoked)",
            ));
        }
        if let Some(kind) = &tx.kind {
            match ProductType::parse(kind) {
                None => {
                    return Err(Refusal::new(
                        Reason::Malformed,
                        format!("unknown transaction type {kind:?}"),
                    ))
                }
                Some(ProductType::AutoRenewable) if tx.expires_date.is_none() => {
                    return Err(Refusal::new(
                        Reason::Malformed,
                        "auto-renewable subscription without expiresDate",
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn extract(tx: &Transaction) -> Claimed {
        let product_type = tx.product_type();
        let subscription = product_type.is_some_and(|t| t.kind() == PurchaseKind::Subscription);
        let transaction_key = ledger_key(
            product_type == Some(ProductType::AutoRenewable),
            &tx.transaction_id,
            tx.original_transaction_id.as_deref(),
        );
        Claimed {
            environment: if tx.environment == "Production" {
                Environment::Production
            } else {
                Environment::Sandbox
            },
            product_id: tx.product_id.clone(),
            transaction_key,
            transaction_id: tx.transaction_id.clone(),
            original_transaction_id: tx.original_transaction_id.clone(),
            quantity: tx.quantity,
            purchased_at: tx.purchase_date,
            account_token: tx.app_account_token.clone(),
            kind: product_type.map(ProductType::kind),
            expires_at: tx.expires_date.filter(|_| subscription),
            ended: (product_type == Some(ProductType::AutoRenewable)
                && tx.is_upgraded == Some(true))
            .then_some("isUpgraded: the customer upgraded to another subscription of the group"),
            purchase_token: None,
        }
    }
}

#[cfg(test)]
mod tests;

//! App Store app receipts (the original StoreKit; Unity IAP's `AppleAppStore` payload): a Base64
//! PKCS#7 / CMS SignedData whose content is Apple's ASN.1 receipt, signed by Apple's receipt
//! signing certificate through a WWDR intermediate up to a configured **Apple Inc. Root CA**.
//!
//! Order: Base64 and the CMS structure (`malformed`) → a transaction id named by the request
//! (`malformed`) → exactly one signer, its certificate and intermediate in the receipt
//! (`untrusted_chain`) → the chain, with the same check as StoreKit 2 ([`chain::verify_marked_chain`]:
//! issuer names and signatures, Apple's marker OIDs `1.2.840.113635.100.6.11.1` on the leaf and
//! `1.2.840.113635.100.6.2.1` on the intermediate, the intermediate a CA issued by one of
//! [`TrustAnchors::apple_receipt_roots`]; `untrusted_chain`) → the CMS signature, RSA PKCS#1 v1.5
//! with SHA-1 or SHA-256, over the content or over the signed attributes whose message digest
//! is the content's (`bad_signature`, `ring`) → the receipt payload (`malformed`) → leaf,
//! intermediate and root valid at the receipt's creation date (`untrusted_chain`) → the in-app
//! entry whose transaction id the request names (`not_purchased` when the receipt has none) →
//! bundle id (`wrong_app`) → cancellation date (`revoked`).
//!
//! **Ledger key**: the same as StoreKit 2's ([`crate::app_store::ledger_key`]) under the same
//! store (`app_store`): the transaction id, or an auto-renewable subscription's original
//! transaction id, so one purchase presented as an app receipt and as a JWS redeems once.
//! An entry with an expires date is an auto-renewable subscription (`kind: subscription`,
//! expiry by `expires_at` as for every store); the app receipt does not say whether another
//! product is consumable or not (`kind` absent).
//!
//! **What the app receipt lacks**: no `appAccountToken` (an app with a required account
//! binding refuses it as `wrong_account`, like a JWS without one), no per-transaction signing
//! date (the receipt's creation date stands for it), and Xcode's StoreKit testing receipts
//! (BER, signed by a local key) are not App Store receipts: `malformed` / `untrusted_chain`.

mod payload;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use payseal_protocol::{Environment, PurchaseKind, Reason, Store};
use x509_parser::time::ASN1Time;

use crate::app_store::chain::{self, untrusted};
use crate::app_store::ledger_key;
use crate::{AppRules, AppStoreRules, Claimed, Refusal, Rejection, StoreRule, TrustAnchors};
pub use payload::{AppReceipt, InAppEntry, PayloadError};

/// How far in the future a receipt's creation date may be (clock skew, as for `signedDate`).
const FUTURE_SKEW_MS: i64 = 10 * 60 * 1000;

/// id-signedData (1.2.840.113549.1.7.2).
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-data (1.2.840.113549.1.7.1).
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-contentType signed attribute.
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// id-messageDigest signed attribute.
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// SHA-1 (1.3.14.3.2.26), Apple's digest for receipts signed before 2023.
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// SHA-256.
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// rsaEncryption.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// sha1WithRSAEncryption.
const SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
/// sha256WithRSAEncryption.
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// The app receipt rule.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AppReceiptRule;

/// What the request hands the rule: the Base64 receipt and the transaction to redeem.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppReceiptInput<'r> {
    /// Base64 PKCS#7.
    pub app_receipt: &'r str,
    /// The transaction id the request names.
    pub transaction_id: &'r str,
}

/// The CMS SignedData, nothing in its content read yet.
pub(crate) struct ParsedAppReceipt<'r> {
    signed: SignedData,
    transaction_id: &'r str,
}

/// A verified app receipt and the in-app entry the request names.
#[derive(Debug)]
pub(crate) struct SignedEntry {
    receipt: AppReceipt,
    entry: InAppEntry,
}

fn malformed(detail: impl Into<String>) -> Rejection {
    Rejection::new(Reason::Malformed, detail)
}

fn bad_signature(detail: impl Into<String>) -> Rejection {
    Rejection::new(Reason::BadSignature, detail)
}

/// Base64 (whitespace ignored, as devices and Unity IAP wrap it at times) → CMS SignedData.
fn parse(input: AppReceiptInput<'_>) -> Result<ParsedAppReceipt<'_>, Rejection> {
    let b64: String = input
        .app_receipt
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| malformed("app receipt is not Base64"))?;
    let info = ContentInfo::from_der(&der)
        .map_err(|e| malformed(format!("app receipt is not a DER PKCS#7 ContentInfo: {e}")))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(malformed("app receipt is not PKCS#7 SignedData"));
    }
    let signed: SignedData = info
        .content
        .decode_as()
        .map_err(|e| malformed(format!("app receipt SignedData does not decode: {e}")))?;
    if input.transaction_id.trim().is_empty() {
        return Err(malformed(
            "the request names no transaction id to redeem from the app receipt",
        ));
    }
    Ok(ParsedAppReceipt {
        signed,
        transaction_id: input.transaction_id,
    })
}

/// The receipt content (the eContent OCTET STRING's bytes).
fn content(signed: &SignedData) -> Result<Vec<u8>, Rejection> {
    if signed.encap_content_info.econtent_type != ID_DATA {
        return Err(malformed("app receipt content is not id-data"));
    }
    let any = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("app receipt has no content"))?;
    let octets: OctetString = any
        .decode_as()
        .map_err(|_| malformed("app receipt content is not an OCTET STRING"))?;
    Ok(octets.into_bytes())
}

/// The signer's certificate (by issuer and serial) and its issuer among the receipt's
/// certificates, DER.
fn signer_chain(signed: &SignedData, signer: &SignerInfo) -> Result<(Vec<u8>, Vec<u8>), Rejection> {
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
        return Err(untrusted(
            "the receipt's signer is named by key identifier, not issuer and serial",
        ));
    };
    let certs: Vec<&x509_cert::Certificate> = signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|choice| match choice {
            cms::cert::CertificateChoices::Certificate(c) => Some(c),
            cms::cert::CertificateChoices::Other(_) => None,
        })
        .collect();
    let leaf = certs
        .iter()
        .find(|c| {
            c.tbs_certificate.issuer == sid.issuer
                && c.tbs_certificate.serial_number == sid.serial_number
        })
        .ok_or_else(|| untrusted("the receipt holds no certificate of its signer"))?;
    let inter = certs
        .iter()
        .find(|c| c.tbs_certificate.subject == leaf.tbs_certificate.issuer)
        .ok_or_else(|| untrusted("the receipt holds no intermediate issuing its signer"))?;
    let der = |c: &x509_cert::Certificate| {
        c.to_der()
            .map_err(|_| untrusted("a receipt certificate does not re-encode"))
    };
    Ok((der(leaf)?, der(inter)?))
}

/// The ring parameters for the signer's digest and signature algorithms (`bad_signature` for
/// anything but RSA PKCS#1 v1.5 with SHA-1 or SHA-256).
fn algorithms(
    signer: &SignerInfo,
) -> Result<
    (
        &'static ring::digest::Algorithm,
        &'static ring::signature::RsaParameters,
    ),
    Rejection,
> {
    let sig = signer.signature_algorithm.oid;
    let (digest, params, named) = match signer.digest_alg.oid {
        d if d == ID_SHA1 => (
            &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            SHA1_WITH_RSA,
        ),
        d if d == ID_SHA256 => (
            &ring::digest::SHA256,
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            SHA256_WITH_RSA,
        ),
        other => {
            return Err(bad_signature(format!(
                "receipt digest algorithm {other} is neither SHA-1 nor SHA-256"
            )))
        }
    };
    if sig != RSA_ENCRYPTION && sig != named {
        return Err(bad_signature(format!(
            "receipt signature algorithm {sig} does not match its digest"
        )));
    }
    Ok((digest, params))
}

/// The bytes the signer signed: the content itself, or the DER of the signed attributes
/// (whose content type must be id-data and message digest the content's).
fn signed_bytes(
    signer: &SignerInfo,
    content: &[u8],
    digest: &'static ring::digest::Algorithm,
) -> Result<Vec<u8>, Rejection> {
    let Some(attrs) = &signer.signed_attrs else {
        return Ok(content.to_vec());
    };
    let one = |oid: ObjectIdentifier, what: &str| {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) if a.values.len() == 1 => Ok(a.values.iter().next().cloned()),
            _ => Err(bad_signature(format!(
                "signed attributes need exactly one {what}"
            ))),
        }
    };
    let content_type: Option<ObjectIdentifier> =
        one(ID_CONTENT_TYPE, "content type")?.and_then(|v| v.decode_as().ok());
    if content_type != Some(ID_DATA) {
        return Err(bad_signature("signed content type is not id-data"));
    }
    let message_digest: Option<OctetString> =
        one(ID_MESSAGE_DIGEST, "message digest")?.and_then(|v| v.decode_as().ok());
    let want = ring::digest::digest(digest, content);
    if message_digest.as_ref().map(|d| d.as_bytes()) != Some(want.as_ref()) {
        return Err(bad_signature(
            "the signed message digest is not the receipt content's",
        ));
    }
    attrs
        .to_der()
        .map_err(|_| bad_signature("signed attributes do not re-encode"))
}

/// Signer, chain, signature, then the payload and the validity of every certificate at the
/// receipt's creation date, then the named in-app entry.
fn verify(
    parsed: ParsedAppReceipt<'_>,
    anchors: &TrustAnchors,
    now_ms: i64,
) -> Result<SignedEntry, Rejection> {
    let signed = &parsed.signed;
    let mut signers = signed.signer_infos.0.iter();
    let (Some(signer), None) = (signers.next(), signers.next()) else {
        return Err(untrusted("an app receipt has exactly one signer"));
    };
    let (leaf_der, inter_der) = signer_chain(signed, signer)?;
    let leaf = chain::parse_cert(&leaf_der, "receipt signer certificate")?;
    let inter = chain::parse_cert(&inter_der, "receipt intermediate")?;
    let root = chain::verify_marked_chain(
        &leaf,
        &inter,
        anchors.apple_receipt_roots(),
        "Apple Inc. root (app receipts)",
    )?;

    let content = content(signed)?;
    let (digest, params) = algorithms(signer)?;
    let message = signed_bytes(signer, &content, digest)?;
    let key = crate::RsaPublicKey::from_spki_der(leaf.public_key().raw)
        .map_err(|e| untrusted(format!("receipt signer key: {e}")))?;
    if !key.verifies(params, &message, signer.signature.as_bytes()) {
        return Err(bad_signature(
            "the app receipt's signature does not verify with its signer certificate",
        ));
    }

    // The content, now that Apple's chain signed it.
    let receipt = AppReceipt::from_der(&content)
        .map_err(|e| malformed(format!("app receipt payload: {e}")))?;
    if receipt.creation_ms > now_ms.saturating_add(FUTURE_SKEW_MS) {
        return Err(untrusted("the receipt's creation date is in the future"));
    }
    let at = ASN1Time::from_timestamp(receipt.creation_ms.div_euclid(1000))
        .map_err(|_| malformed("receipt creation date is out of range"))?;
    chain::valid_at(leaf.validity(), at, "receipt signer")?;
    chain::valid_at(inter.validity(), at, "intermediate")?;
    chain::valid_at(&root, at, "root")?;

    let entry = receipt
        .in_app
        .iter()
        .find(|e| e.transaction_id == parsed.transaction_id)
        .cloned()
        .ok_or_else(|| {
            Rejection::new(
                Reason::NotPurchased,
                format!(
                    "the app receipt has no in-app purchase with transaction id {}",
                    parsed.transaction_id
                ),
            )
        })?;
    Ok(SignedEntry { receipt, entry })
}

impl StoreRule for AppReceiptRule {
    const STORE: Store = Store::AppStore;
    type Input<'r> = AppReceiptInput<'r>;
    type Settings = AppStoreRules;
    type Parsed<'r> = ParsedAppReceipt<'r>;
    type Signed = SignedEntry;

    fn settings(app: &AppRules) -> Option<&AppStoreRules> {
        app.app_store.as_ref()
    }

    fn parse<'r>(input: Self::Input<'r>) -> Result<Self::Parsed<'r>, Rejection> {
        parse(input)
    }

    fn verify_signature(
        parsed: ParsedAppReceipt<'_>,
        _settings: &AppStoreRules,
        anchors: &TrustAnchors,
        now_ms: i64,
    ) -> Result<SignedEntry, Rejection> {
        verify(parsed, anchors, now_ms)
    }

    fn check_binding_and_state(
        signed: &SignedEntry,
        rules: &AppStoreRules,
        _app: &AppRules,
    ) -> Result<(), Refusal> {
        if signed.receipt.bundle_id != rules.bundle_id {
            return Err(Refusal::new(
                Reason::WrongApp,
                format!(
                    "receipt bundle id {} is not {}",
                    signed.receipt.bundle_id, rules.bundle_id
                ),
            ));
        }
        if signed.entry.cancellation_ms.is_some() {
            return Err(Refusal::new(
                Reason::Revoked,
                "the in-app purchase has a cancellation date (refunded or revoked)",
            ));
        }
        Ok(())
    }

    fn extract(signed: &SignedEntry) -> Claimed {
        let e = &signed.entry;
        let subscription = e.expires_ms.is_some();
        Claimed {
            environment: if signed.receipt.production() {
                Environment::Production
            } else {
                Environment::Sandbox
            },
            product_id: e.product_id.clone(),
            transaction_key: ledger_key(
                subscription,
                &e.transaction_id,
                e.original_transaction_id.as_deref(),
            ),
            transaction_id: e.transaction_id.clone(),
            original_transaction_id: e.original_transaction_id.clone(),
            quantity: e.quantity,
            purchased_at: e.purchase_ms,
            account_token: None,
            kind: subscription.then_some(PurchaseKind::Subscription),
            expires_at: e.expires_ms,
            ended: None,
            purchase_token: None,
        }
    }
}

#[cfg(test)]
mod tests;

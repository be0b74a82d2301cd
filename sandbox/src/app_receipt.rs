//! App Store app receipts (the original StoreKit), in Apple's format: the ASN.1 payload (a SET
//! of `ReceiptAttribute`, in-app purchases as nested sets of type 17) inside a PKCS#7 / CMS
//! SignedData signed RSA PKCS#1 v1.5 SHA-256 by the leaf of the store's app receipt test CA,
//! with the leaf and intermediate in the `certificates` (as Apple ships them). Built with
//! RustCrypto's `cms`, `x509-cert` and `der` types; the rule decodes them with its own types.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{Ia5StringRef, ObjectIdentifier, OctetString, SetOfVec, Utf8StringRef};
use der::{Any, Decode, Encode, Sequence, ValueOrd};
use payseal_protocol::Environment;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_cert::attr::Attribute;
use x509_cert::spki::AlgorithmIdentifierOwned;

use crate::apple::IssuedCert;
use crate::formats::{random_digits, subscription_dates};
use crate::{Order, ProductType, PurchaseState, SandboxError};

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// `ReceiptAttribute ::= SEQUENCE { type INTEGER, version INTEGER, value OCTET STRING }`.
#[derive(Sequence, ValueOrd)]
struct ReceiptAttribute {
    kind: i64,
    version: i64,
    value: OctetString,
}

fn enc(e: der::Error) -> SandboxError {
    SandboxError::Signing(format!("DER encoding: {e}"))
}

fn attr(kind: i64, value_der: Vec<u8>) -> Result<ReceiptAttribute, SandboxError> {
    Ok(ReceiptAttribute {
        kind,
        version: 1,
        value: OctetString::new(value_der).map_err(enc)?,
    })
}

fn utf8(kind: i64, s: &str) -> Result<ReceiptAttribute, SandboxError> {
    attr(
        kind,
        Utf8StringRef::new(s)
            .and_then(|v| v.to_der())
            .map_err(enc)?,
    )
}

fn int(kind: i64, n: i64) -> Result<ReceiptAttribute, SandboxError> {
    attr(kind, n.to_der().map_err(enc)?)
}

/// An IA5String RFC 3339 date (second precision, `Z`), or Apple's empty string for none.
fn date(kind: i64, ms: Option<i64>) -> Result<ReceiptAttribute, SandboxError> {
    let text = match ms {
        None => String::new(),
        Some(ms) => OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .ok_or_else(|| SandboxError::Unsupported(format!("date {ms} out of range")))?,
    };
    attr(
        kind,
        Ia5StringRef::new(&text)
            .and_then(|v| v.to_der())
            .map_err(enc)?,
    )
}

fn set(attrs: Vec<ReceiptAttribute>) -> Result<Vec<u8>, SandboxError> {
    SetOfVec::try_from(attrs)
        .and_then(|s| s.to_der())
        .map_err(enc)
}

/// The transaction id each order gets (its own, or a new random one), in order.
pub(crate) fn transaction_ids(orders: &[Order]) -> Vec<String> {
    orders
        .iter()
        .map(|o| {
            o.transaction_id
                .clone()
                .unwrap_or_else(|| format!("1000000{}", random_digits(9)))
        })
        .collect()
}

fn in_app(order: &Order, transaction_id: &str, at_ms: i64) -> Result<Vec<u8>, SandboxError> {
    let cancelled = match order.state {
        PurchaseState::Purchased => None,
        PurchaseState::Cancelled | PurchaseState::Refunded => Some(at_ms),
        PurchaseState::Pending => {
            return Err(SandboxError::Unsupported(
                "an app receipt lists only completed transactions".into(),
            ))
        }
    };
    if order.account_token.is_some() {
        return Err(SandboxError::Unsupported(
            "an app receipt carries no appAccountToken".into(),
        ));
    }
    let renewable = order.product_type == ProductType::AutoRenewableSubscription;
    let (purchased, expires) = if renewable {
        let (p, e) = subscription_dates(order, at_ms);
        (p, Some(e))
    } else {
        (at_ms, None)
    };
    let original = order
        .original_transaction_id
        .clone()
        .filter(|_| renewable)
        .unwrap_or_else(|| transaction_id.to_string());
    let mut attrs = vec![
        int(1701, i64::from(order.quantity))?,
        utf8(1702, &order.product_id)?,
        utf8(1703, transaction_id)?,
        date(1704, Some(purchased))?,
        utf8(1705, &original)?,
        date(1706, Some(purchased))?,
        date(1708, expires)?,
        date(1712, cancelled)?,
    ];
    if renewable {
        attrs.push(int(
            1711,
            format!("1000000{}", random_digits(9))
                .parse()
                .unwrap_or(1_000_000_000_000_000),
        )?);
    }
    set(attrs)
}

/// The receipt payload for `orders` (all of one bundle and environment), created at `at_ms`.
pub(crate) fn payload(
    orders: &[Order],
    transaction_ids: &[String],
    at_ms: i64,
) -> Result<Vec<u8>, SandboxError> {
    let Some(first) = orders.first() else {
        return Err(SandboxError::Unsupported(
            "an app receipt needs at least one order".into(),
        ));
    };
    if orders
        .iter()
        .any(|o| o.app_id != first.app_id || o.environment != first.environment)
    {
        return Err(SandboxError::Unsupported(
            "one app receipt holds the orders of one app and environment".into(),
        ));
    }
    let receipt_type = match first.environment {
        Environment::Production => "Production",
        Environment::Sandbox => "ProductionSandbox",
    };
    let mut attrs = vec![
        utf8(0, receipt_type)?,
        utf8(2, &first.app_id)?,
        utf8(3, "1")?,
        attr(4, random_digits(16).into_bytes())?,
        attr(5, Sha256::digest(random_digits(16)).to_vec())?,
        date(12, Some(at_ms))?,
        utf8(19, "1.0")?,
    ];
    for (order, tx) in orders.iter().zip(transaction_ids) {
        attrs.push(attr(17, in_app(order, tx, at_ms)?)?);
    }
    set(attrs)
}

fn alg(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::from(der::asn1::Null)),
    }
}

/// Sign `payload` as Apple does: PKCS#7 SignedData, RSA PKCS#1 v1.5 SHA-256 by `signer`, with
/// `certificates` (DER) in the SignedData; over the content itself, or, with
/// `signed_attributes`, over a content type and message digest attribute set. Base64.
pub(crate) fn sign(
    payload: &[u8],
    signer: &IssuedCert,
    certificates: &[&[u8]],
    signed_attributes: bool,
) -> Result<String, SandboxError> {
    let key = rsa::RsaPrivateKey::from_pkcs8_der(signer.key_der())
        .map_err(|e| SandboxError::Signing(format!("app receipts are signed RSA: {e}")))?;
    let leaf = x509_cert::Certificate::from_der(signer.der()).map_err(enc)?;
    let signed_attrs = if signed_attributes {
        let one = |oid, value: Any| -> Result<Attribute, SandboxError> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value]).map_err(enc)?,
            })
        };
        let digest = OctetString::new(Sha256::digest(payload).to_vec()).map_err(enc)?;
        Some(
            SetOfVec::try_from(vec![
                one(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).map_err(enc)?)?,
                one(ID_MESSAGE_DIGEST, Any::encode_from(&digest).map_err(enc)?)?,
            ])
            .map_err(enc)?,
        )
    } else {
        None
    };
    let message = match &signed_attrs {
        Some(attrs) => attrs.to_der().map_err(enc)?,
        None => payload.to_vec(),
    };
    let signature = rsa::pkcs1v15::SigningKey::<Sha256>::new(key)
        .sign(&message)
        .to_vec();
    let certs = certificates
        .iter()
        .map(|der| x509_cert::Certificate::from_der(der).map(CertificateChoices::Certificate))
        .collect::<Result<Vec<_>, _>>()
        .map_err(enc)?;
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: leaf.tbs_certificate.issuer.clone(),
            serial_number: leaf.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: alg(ID_SHA256),
        signed_attrs,
        signature_algorithm: alg(RSA_ENCRYPTION),
        signature: OctetString::new(signature).map_err(enc)?,
        unsigned_attrs: None,
    };
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![alg(ID_SHA256)]).map_err(enc)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: Some(
                Any::encode_from(&OctetString::new(payload.to_vec()).map_err(enc)?).map_err(enc)?,
            ),
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certs).map_err(enc)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(enc)?),
    };
    let info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed).map_err(enc)?,
    };
    Ok(STANDARD.encode(info.to_der().map_err(enc)?))
}

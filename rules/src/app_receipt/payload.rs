//! Apple's app receipt payload: `Payload ::= SET OF ReceiptAttribute`, `ReceiptAttribute ::=
//! SEQUENCE { type INTEGER, version INTEGER, value OCTET STRING }`, the value itself DER
//! (UTF8String, IA5String RFC 3339 dates, INTEGER, or for an in-app purchase (type 17) a nested
//! SET OF ReceiptAttribute). Decoded with `der`'s types; attribute types Apple does not
//! document here are ignored, as Apple asks.

use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, DecodeValue, FixedTag, Header, Reader, Sequence, Tag, Tagged};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Receipt type (`Production`, `ProductionSandbox`, ...), the environment.
const RECEIPT_TYPE: i64 = 0;
/// Bundle identifier, UTF8String.
const BUNDLE_ID: i64 = 2;
/// Receipt creation date, IA5String RFC 3339.
const CREATION_DATE: i64 = 12;
/// One in-app purchase, a nested SET.
const IN_APP: i64 = 17;
/// In-app: quantity, INTEGER.
const QUANTITY: i64 = 1701;
/// In-app: product identifier, UTF8String.
const PRODUCT_ID: i64 = 1702;
/// In-app: transaction identifier, UTF8String.
const TRANSACTION_ID: i64 = 1703;
/// In-app: purchase date, IA5String RFC 3339.
const PURCHASE_DATE: i64 = 1704;
/// In-app: original transaction identifier, UTF8String.
const ORIGINAL_TRANSACTION_ID: i64 = 1705;
/// In-app: original purchase date, IA5String RFC 3339.
const ORIGINAL_PURCHASE_DATE: i64 = 1706;
/// In-app: subscription expiration date, IA5String RFC 3339.
const EXPIRES_DATE: i64 = 1708;
/// In-app: web order line item id, INTEGER.
const WEB_ORDER_LINE_ITEM_ID: i64 = 1711;
/// In-app: cancellation date, IA5String RFC 3339.
const CANCELLATION_DATE: i64 = 1712;

/// Why a receipt payload did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The payload is not a DER SET OF ReceiptAttribute.
    #[error("not a DER SET of receipt attributes: {0}")]
    Structure(String),
    /// An attribute's value is not what Apple documents for its type.
    #[error("attribute {kind}: {why}")]
    Value {
        /// The attribute type.
        kind: i64,
        /// What is wrong.
        why: &'static str,
    },
    /// A required attribute is missing.
    #[error("attribute {0} is missing")]
    Missing(i64),
}

/// One `ReceiptAttribute`.
#[derive(Sequence)]
struct ReceiptAttribute<'a> {
    kind: i64,
    #[allow(dead_code)]
    version: i64,
    value: OctetStringRef<'a>,
}

/// `SET OF ReceiptAttribute`, read in the order given (Apple's sets are not always sorted).
struct AttributeSet<'a>(Vec<ReceiptAttribute<'a>>);

impl FixedTag for AttributeSet<'_> {
    const TAG: Tag = Tag::Set;
}

impl<'a> DecodeValue<'a> for AttributeSet<'a> {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        reader.read_nested(header.length, |r| {
            let mut all = Vec::new();
            while !r.is_finished() {
                all.push(r.decode()?);
            }
            Ok(AttributeSet(all))
        })
    }
}

fn attributes(der: &[u8]) -> Result<Vec<ReceiptAttribute<'_>>, PayloadError> {
    AttributeSet::from_der(der)
        .map(|s| s.0)
        .map_err(|e| PayloadError::Structure(e.to_string()))
}

/// A UTF8String or IA5String value.
fn text(kind: i64, value: &[u8]) -> Result<String, PayloadError> {
    let any = AnyRef::from_der(value).map_err(|_| PayloadError::Value {
        kind,
        why: "not one DER value",
    })?;
    match any.tag() {
        Tag::Utf8String | Tag::Ia5String => std::str::from_utf8(any.value())
            .map(str::to_owned)
            .map_err(|_| PayloadError::Value {
                kind,
                why: "string is not UTF-8",
            }),
        _ => Err(PayloadError::Value {
            kind,
            why: "not a UTF8String or IA5String",
        }),
    }
}

/// An INTEGER value.
fn integer(kind: i64, value: &[u8]) -> Result<i64, PayloadError> {
    i64::from_der(value).map_err(|_| PayloadError::Value {
        kind,
        why: "not a DER INTEGER",
    })
}

/// An RFC 3339 date, Unix milliseconds; an empty string (Apple's "absent") is `None`.
fn date(kind: i64, value: &[u8]) -> Result<Option<i64>, PayloadError> {
    let s = text(kind, value)?;
    if s.is_empty() {
        return Ok(None);
    }
    let t = OffsetDateTime::parse(&s, &Rfc3339).map_err(|_| PayloadError::Value {
        kind,
        why: "not an RFC 3339 date",
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map(Some)
        .map_err(|_| PayloadError::Value {
            kind,
            why: "date out of range",
        })
}

/// A non-empty string, or `None` for Apple's empty placeholder.
fn optional_text(kind: i64, value: &[u8]) -> Result<Option<String>, PayloadError> {
    text(kind, value).map(|s| (!s.is_empty()).then_some(s))
}

/// The app receipt's fields the rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppReceipt {
    /// Bundle identifier (type 2).
    pub bundle_id: String,
    /// Receipt type (type 0): `Production`, `ProductionSandbox`, ...; `None` when absent.
    pub receipt_type: Option<String>,
    /// Receipt creation date (type 12), Unix milliseconds.
    pub creation_ms: i64,
    /// The in-app purchases (type 17).
    pub in_app: Vec<InAppEntry>,
}

/// One in-app purchase receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InAppEntry {
    /// Product identifier (1702).
    pub product_id: String,
    /// Transaction identifier (1703).
    pub transaction_id: String,
    /// Original transaction identifier (1705).
    pub original_transaction_id: Option<String>,
    /// Quantity (1701).
    pub quantity: Option<u32>,
    /// Purchase date (1704), Unix milliseconds.
    pub purchase_ms: i64,
    /// Original purchase date (1706), Unix milliseconds.
    pub original_purchase_ms: Option<i64>,
    /// Subscription expiration date (1708), Unix milliseconds: set for auto-renewable
    /// subscriptions only.
    pub expires_ms: Option<i64>,
    /// Web order line item id (1711).
    pub web_order_line_item_id: Option<i64>,
    /// Cancellation date (1712): refunded or revoked.
    pub cancellation_ms: Option<i64>,
}

impl AppReceipt {
    /// Decode the payload (the SignedData content).
    pub fn from_der(der: &[u8]) -> Result<AppReceipt, PayloadError> {
        let (mut bundle_id, mut receipt_type, mut creation_ms) = (None, None, None);
        let mut in_app = Vec::new();
        for a in attributes(der)? {
            let v = a.value.as_bytes();
            match a.kind {
                BUNDLE_ID => bundle_id = Some(text(a.kind, v)?),
                RECEIPT_TYPE => receipt_type = Some(text(a.kind, v)?),
                CREATION_DATE => creation_ms = date(a.kind, v)?,
                IN_APP => in_app.push(InAppEntry::from_der(v)?),
                _ => {}
            }
        }
        Ok(AppReceipt {
            bundle_id: bundle_id.ok_or(PayloadError::Missing(BUNDLE_ID))?,
            receipt_type,
            creation_ms: creation_ms.ok_or(PayloadError::Missing(CREATION_DATE))?,
            in_app,
        })
    }

    /// Whether Apple marked the receipt production (`Production`, `ProductionVPP`); any other
    /// type, or none, is sandbox (never trusted more than that).
    pub fn production(&self) -> bool {
        matches!(
            self.receipt_type.as_deref(),
            Some("Production" | "ProductionVPP")
        )
    }
}

impl InAppEntry {
    fn from_der(der: &[u8]) -> Result<InAppEntry, PayloadError> {
        let mut e = InAppEntry {
            product_id: String::new(),
            transaction_id: String::new(),
            original_transaction_id: None,
            quantity: None,
            purchase_ms: 0,
            original_purchase_ms: None,
            expires_ms: None,
            web_order_line_item_id: None,
            cancellation_ms: None,
        };
        let (mut product, mut transaction, mut purchase) = (false, false, false);
        for a in attributes(der)? {
            let v = a.value.as_bytes();
            match a.kind {
                PRODUCT_ID => (e.product_id, product) = (text(a.kind, v)?, true),
                TRANSACTION_ID => (e.transaction_id, transaction) = (text(a.kind, v)?, true),
                ORIGINAL_TRANSACTION_ID => e.original_transaction_id = optional_text(a.kind, v)?,
                QUANTITY => {
                    e.quantity = Some(u32::try_from(integer(a.kind, v)?).map_err(|_| {
                        PayloadError::Value {
                            kind: a.kind,
                            why: "quantity out of range",
                        }
                    })?)
                }
                PURCHASE_DATE => {
                    e.purchase_ms = date(a.kind, v)?.ok_or(PayloadError::Missing(PURCHASE_DATE))?;
                    purchase = true;
                }
                ORIGINAL_PURCHASE_DATE => e.original_purchase_ms = date(a.kind, v)?,
                EXPIRES_DATE => e.expires_ms = date(a.kind, v)?,
                WEB_ORDER_LINE_ITEM_ID => e.web_order_line_item_id = Some(integer(a.kind, v)?),
                CANCELLATION_DATE => e.cancellation_ms = date(a.kind, v)?,
                _ => {}
            }
        }
        for (present, kind) in [
            (product, PRODUCT_ID),
            (transaction, TRANSACTION_ID),
            (purchase, PURCHASE_DATE),
        ] {
            if !present {
                return Err(PayloadError::Missing(kind));
            }
        }
        Ok(e)
    }
}

//! The plaintexts inside the envelope: what the SDK asks and what the verifier answers, and the
//! request's wire rules ([`VerifyRequest::validate`], [`validate_app_id`],
//! [`validate_account_id`], [`validate_product_id`]): the one place the limits live. The verifier refuses a request
//! that breaks them; the SDK refuses it locally, before anything is sent or kept.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::receipt::Receipt;

/// Protocol version of [`VerifyRequest`] and [`VerifyResponse`] that this crate speaks: the
/// version the SDK sends. Version 2 added the verdict's `subscription_state` and
/// `store_checked` claims and the reasons `on_hold`, `paused` and `refund_limit`; the
/// envelope and the request are otherwise unchanged.
pub const PROTOCOL_VERSION: u32 = 2;

/// The oldest protocol version a verifier still answers. A v1 client (an SDK already shipped,
/// whose verdict parser refuses unknown claims and reasons) gets a verdict downgraded by
/// [`crate::VerdictClaims::for_protocol`] in a v1 response.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Whether a verifier answers requests of protocol version `v`
/// ([`MIN_PROTOCOL_VERSION`]..=[`PROTOCOL_VERSION`]).
pub fn is_supported_version(v: u32) -> bool {
    (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&v)
}

/// Minimum nonce length in bytes (before base64url).
pub const MIN_NONCE_BYTES: usize = 16;

/// Maximum nonce length in bytes (before base64url).
pub const MAX_NONCE_BYTES: usize = 128;

/// Longest app id, account id or expected product id, in bytes of UTF-8 (not characters).
pub const MAX_ID_BYTES: usize = 256;
// The fixed messages of [`RequestError`] say "256 bytes".
const _: () = assert!(MAX_ID_BYTES == 256);

/// Why a request breaks the wire rules. The messages name the rule, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.as_str())]
#[non_exhaustive]
pub enum RequestError {
    /// `v` is not a supported version ([`is_supported_version`]).
    Version,
    /// The nonce is not base64url without padding.
    NonceEncoding,
    /// The nonce is shorter than [`MIN_NONCE_BYTES`] or longer than [`MAX_NONCE_BYTES`].
    NonceLength,
    /// The app id is empty or blank, or longer than [`MAX_ID_BYTES`].
    AppId(IdFault),
    /// The account id is empty or blank, or longer than [`MAX_ID_BYTES`].
    AccountId(IdFault),
    /// The expected product id is empty or blank, or longer than [`MAX_ID_BYTES`].
    ProductId(IdFault),
    /// A restore carries more than [`crate::entitlements::MAX_RESTORE_RECEIPTS`] receipts.
    TooManyReceipts,
}

/// What is wrong with an id (app, account or expected product).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdFault {
    /// Empty, or only whitespace.
    Blank,
    /// Longer than [`MAX_ID_BYTES`] bytes of UTF-8.
    TooLong,
}

impl RequestError {
    /// The fixed message (safe to send to the peer: it names the rule, not the value).
    pub fn as_str(self) -> &'static str {
        use IdFault::{Blank, TooLong};
        match self {
            RequestError::Version => "unsupported protocol version",
            RequestError::NonceEncoding => "nonce is not base64url",
            RequestError::NonceLength => "nonce length out of range",
            RequestError::AppId(Blank) => "app id is empty or blank",
            RequestError::AppId(TooLong) => "app id is longer than 256 bytes",
            RequestError::AccountId(Blank) => {
                "account id is empty or blank: pass the player's account id (any stable, non-empty id of your own)"
            }
            RequestError::AccountId(TooLong) => "account id is longer than 256 bytes",
            RequestError::ProductId(Blank) => "expected product id is empty or blank",
            RequestError::ProductId(TooLong) => "expected product id is longer than 256 bytes",
            RequestError::TooManyReceipts => "a restore carries at most 50 receipts",
        }
    }
}

/// An id is 1..=[`MAX_ID_BYTES`] bytes and not only whitespace.
fn id_fault(id: &str) -> Result<(), IdFault> {
    if id.trim().is_empty() {
        Err(IdFault::Blank)
    } else if id.len() > MAX_ID_BYTES {
        Err(IdFault::TooLong)
    } else {
        Ok(())
    }
}

/// The app id rule: 1..=[`MAX_ID_BYTES`] bytes, not only whitespace.
pub fn validate_app_id(app_id: &str) -> Result<(), RequestError> {
    id_fault(app_id).map_err(RequestError::AppId)
}

/// The account id rule: 1..=[`MAX_ID_BYTES`] bytes, not only whitespace (otherwise opaque).
pub fn validate_account_id(account_id: &str) -> Result<(), RequestError> {
    id_fault(account_id).map_err(RequestError::AccountId)
}

/// The expected product id rule: 1..=[`MAX_ID_BYTES`] bytes, not only whitespace (compared
/// byte for byte with the store's product id).
pub fn validate_product_id(product_id: &str) -> Result<(), RequestError> {
    id_fault(product_id).map_err(RequestError::ProductId)
}

/// The nonce rule: base64url without padding of [`MIN_NONCE_BYTES`]..=[`MAX_NONCE_BYTES`] bytes.
pub fn validate_nonce(nonce: &str) -> Result<(), RequestError> {
    // Longer text cannot decode to an acceptable length: refuse it before decoding.
    if nonce.len() > MAX_NONCE_BYTES.div_ceil(3) * 4 {
        return Err(RequestError::NonceLength);
    }
    let raw = URL_SAFE_NO_PAD
        .decode(nonce.as_bytes())
        .map_err(|_| RequestError::NonceEncoding)?;
    if (MIN_NONCE_BYTES..=MAX_NONCE_BYTES).contains(&raw.len()) {
        Ok(())
    } else {
        Err(RequestError::NonceLength)
    }
}

/// The SDK that sent a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdkInfo {
    /// SDK name, e.g. `payseal-kotlin`.
    pub name: String,
    /// SDK version.
    pub version: String,
}

/// The sealed request's plaintext (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// Protocol version: [`PROTOCOL_VERSION`] from this SDK, [`MIN_PROTOCOL_VERSION`] or later
    /// from SDKs already shipped. The verdict answering it speaks this version.
    pub v: u32,
    /// Fresh random nonce, base64url without padding, at least [`MIN_NONCE_BYTES`] bytes.
    pub nonce: String,
    /// The app id as configured on the verifier.
    pub app_id: String,
    /// The app's account id (opaque to PaySeal).
    pub account_id: String,
    /// The store's payment response.
    pub receipt: Receipt,
    /// Who sent it.
    pub sdk: SdkInfo,
    /// The product the app sold, when it says so: a genuine receipt for another product is
    /// then `not_paid / wrong_product` and not recorded. Absent from the JSON when `None`, so
    /// a request without it is byte for byte what it was before the field existed (a verifier
    /// older than the field refuses a request that carries it: upgrade verifiers first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_product_id: Option<String>,
}

impl VerifyRequest {
    /// Every wire rule of a request: version, nonce, app id, account id, expected product id
    /// when present (in that order).
    pub fn validate(&self) -> Result<(), RequestError> {
        if !is_supported_version(self.v) {
            return Err(RequestError::Version);
        }
        validate_nonce(&self.nonce)?;
        validate_app_id(&self.app_id)?;
        validate_account_id(&self.account_id)?;
        match &self.expected_product_id {
            Some(product) => validate_product_id(product),
            None => Ok(()),
        }
    }
}

/// The sealed response's plaintext (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyResponse {
    /// Protocol version: the request's `v`, echoed (the verdict's claims are that version's).
    pub v: u32,
    /// The verdict token (compact JWS).
    pub verdict: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> VerifyRequest {
        VerifyRequest {
            v: PROTOCOL_VERSION,
            nonce: URL_SAFE_NO_PAD.encode([7u8; 32]),
            app_id: "dev.payseal.demo".into(),
            account_id: "account-1".into(),
            receipt: Receipt::AppStore {
                jws: "a.b.c".into(),
            },
            sdk: SdkInfo {
                name: "test".into(),
                version: "0".into(),
            },
            expected_product_id: None,
        }
    }

    fn with(edit: impl FnOnce(&mut VerifyRequest)) -> Result<(), RequestError> {
        let mut r = request();
        edit(&mut r);
        r.validate()
    }

    #[test]
    fn a_good_request_passes() {
        assert_eq!(request().validate(), Ok(()));
    }

    #[test]
    fn version_is_checked() {
        assert_eq!(with(|r| r.v = 1), Ok(()));
        assert_eq!(with(|r| r.v = 2), Ok(()));
        assert_eq!(with(|r| r.v = 3), Err(RequestError::Version));
        assert_eq!(with(|r| r.v = 0), Err(RequestError::Version));
        assert!(
            is_supported_version(MIN_PROTOCOL_VERSION) && is_supported_version(PROTOCOL_VERSION)
        );
        assert!(!is_supported_version(PROTOCOL_VERSION + 1));
    }

    #[test]
    fn nonce_bounds_are_inclusive() {
        for (len, ok) in [
            (15, false),
            (16, true),
            (128, true),
            (129, false),
            (0, false),
        ] {
            let nonce = URL_SAFE_NO_PAD.encode(vec![1u8; len]);
            let expected = if ok {
                Ok(())
            } else {
                Err(RequestError::NonceLength)
            };
            assert_eq!(validate_nonce(&nonce), expected, "{len} bytes");
        }
        assert_eq!(
            validate_nonce(&"A".repeat(10_000)),
            Err(RequestError::NonceLength)
        );
        let padded = format!("{}=", URL_SAFE_NO_PAD.encode([1u8; 17]));
        assert_eq!(validate_nonce(&padded), Err(RequestError::NonceEncoding));
        assert_eq!(
            validate_nonce(&"+/".repeat(12)),
            Err(RequestError::NonceEncoding)
        );
    }

    #[test]
    fn id_bounds_count_bytes_not_characters() {
        assert_eq!(validate_account_id(&"a".repeat(MAX_ID_BYTES)), Ok(()));
        assert_eq!(
            validate_account_id(&"a".repeat(MAX_ID_BYTES + 1)),
            Err(RequestError::AccountId(IdFault::TooLong))
        );
        // 128 two-byte characters are 256 bytes; one more is over.
        assert_eq!(validate_account_id(&"é".repeat(128)), Ok(()));
        assert_eq!(
            validate_account_id(&"é".repeat(129)),
            Err(RequestError::AccountId(IdFault::TooLong))
        );
        for blank in ["", " ", "\t\n"] {
            assert_eq!(
                validate_account_id(blank),
                Err(RequestError::AccountId(IdFault::Blank))
            );
            assert_eq!(
                validate_app_id(blank),
                Err(RequestError::AppId(IdFault::Blank))
            );
        }
        // The message says which: a blank account id is not a length problem.
        let blank = RequestError::AccountId(IdFault::Blank).to_string();
        assert!(blank.contains("account id is empty or blank"), "{blank}");
        assert!(!blank.contains("length"), "{blank}");
        let long = RequestError::AccountId(IdFault::TooLong).to_string();
        assert!(long.contains("longer than 256 bytes"), "{long}");
        assert_eq!(
            with(|r| r.app_id = "x".repeat(MAX_ID_BYTES + 1)),
            Err(RequestError::AppId(IdFault::TooLong))
        );
        assert_eq!(
            with(|r| r.account_id = "x".repeat(MAX_ID_BYTES + 1)),
            Err(RequestError::AccountId(IdFault::TooLong))
        );
        assert_eq!(with(|r| r.account_id = "x".repeat(MAX_ID_BYTES)), Ok(()));
    }

    #[test]
    fn expected_product_id_is_optional_on_the_wire_and_bounded() {
        // Absent: the JSON is what it was before the field existed, and old JSON parses.
        let plain = request();
        let json = serde_json::to_string(&plain).unwrap();
        assert!(!json.contains("expected_product_id"), "{json}");
        assert_eq!(
            json,
            r#"{"v":2,"nonce":"BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc","app_id":"dev.payseal.demo","account_id":"account-1","receipt":{"store":"app_store","jws":"a.b.c"},"sdk":{"name":"test","version":"0"}}"#
        );
        assert_eq!(serde_json::from_str::<VerifyRequest>(&json).unwrap(), plain);
        // Present: carried, parsed back, checked like the other ids.
        let mut with_product = request();
        with_product.expected_product_id = Some("gems_1000".into());
        let json = serde_json::to_string(&with_product).unwrap();
        assert!(
            json.ends_with(r#","expected_product_id":"gems_1000"}"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<VerifyRequest>(&json).unwrap(),
            with_product
        );
        assert_eq!(with_product.validate(), Ok(()));
        for (bad, fault) in [
            ("".to_string(), IdFault::Blank),
            (" ".into(), IdFault::Blank),
            ("p".repeat(MAX_ID_BYTES + 1), IdFault::TooLong),
        ] {
            assert_eq!(
                with(|r| r.expected_product_id = Some(bad.clone())),
                Err(RequestError::ProductId(fault))
            );
            assert_eq!(
                validate_product_id(&bad),
                Err(RequestError::ProductId(fault))
            );
        }
        assert_eq!(
            with(|r| r.expected_product_id = Some("p".repeat(MAX_ID_BYTES))),
            Ok(())
        );
        assert_eq!(
            RequestError::ProductId(IdFault::TooLong).to_string(),
            "expected product id is longer than 256 bytes"
        );
    }
}

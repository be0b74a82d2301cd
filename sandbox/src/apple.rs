//! The App Store test CA (root P-384 → intermediate P-384 → leaf P-256, Apple's marker OIDs) and ES256 JWS signing.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use rand::RngCore;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DistinguishedName, DnType,
    IsCa, KeyPair, KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384,
};
use time::OffsetDateTime;

use crate::files::{create_private_once, der_to_pem, io_err, pem_to_der, read_text, temp_sibling};
use crate::SandboxError;

/// OID Apple puts on the StoreKit / App Store receipt signing leaf (`1.2.840.113635.100.6.11.1`).
pub const APPLE_LEAF_MARKER_OID: &[u64] = &[1, 2, 840, 113635, 100, 6, 11, 1];
/// OID Apple puts on the WWDR intermediate (`1.2.840.113635.100.6.2.1`).
pub const APPLE_INTERMEDIATE_MARKER_OID: &[u64] = &[1, 2, 840, 113635, 100, 6, 2, 1];

/// DER of ASN.1 NULL, the value Apple's marker extensions carry.
const ASN1_NULL: [u8; 2] = [0x05, 0x00];

const DAY_MS: i64 = 86_400_000;
const YEAR_MS: i64 = 365 * DAY_MS;

/// Validity and marker of a certificate to make (Unix milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertSpec {
    /// Whether the certificate carries its Apple marker OID (leaf …6.11.1, intermediate …6.2.1).
    pub marker_oid: bool,
    /// Start of validity, Unix milliseconds.
    pub not_before_ms: i64,
    /// End of validity, Unix milliseconds.
    pub not_after_ms: i64,
}

impl CertSpec {
    /// A certificate with its marker OID, valid from a day before `now_ms` for `years` years.
    pub fn valid_around(now_ms: i64, years: i64) -> CertSpec {
        CertSpec {
            marker_oid: true,
            not_before_ms: now_ms - DAY_MS,
            not_after_ms: now_ms + years * YEAR_MS,
        }
    }
}

/// A certificate made by the sandbox store, with its private key (for forging honestly in tests).
pub struct IssuedCert {
    /// The certificate as published (the persisted DER for the store's own CA).
    der: Vec<u8>,
    /// An rcgen certificate with the same name and key, used only to issue further certificates.
    issuer: Certificate,
    key: KeyPair,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCert")
            .field("der_len", &self.der.len())
            .finish_non_exhaustive()
    }
}

impl IssuedCert {
    /// The certificate's DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as PEM.
    pub fn pem(&self) -> String {
        der_to_pem(&self.der, "CERTIFICATE")
    }

    /// The private key, PKCS#8 DER (for signing app receipts with it).
    pub(crate) fn key_der(&self) -> &[u8] {
        self.key.serialized_der()
    }

    /// Sign a compact JWS (ES256) with this certificate's key; fails unless it is a P-256 key.
    pub fn sign_jws(&self, header_json: &str, payload_json: &str) -> Result<String, SandboxError> {
        sign_es256_jws(self.key.serialized_der(), header_json, payload_json)
    }
}

/// The three DER certificates of an App Store chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStoreChain {
    /// Leaf (P-256, signs the JWS).
    pub leaf: Vec<u8>,
    /// Intermediate (P-384 CA).
    pub intermediate: Vec<u8>,
    /// Root (P-384, self-signed).
    pub root: Vec<u8>,
}

/// What distinguishes the store's two Apple test CAs: the StoreKit 2 one (like Apple Root CA -
/// G3: ECDSA) and the app receipt one (like Apple Inc. Root CA: RSA 2048 throughout).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CaProfile {
    dir: &'static str,
    root_cn: &'static str,
    leaf_cn: &'static str,
    rsa: bool,
}

/// The StoreKit 2 test CA (root P-384 → intermediate P-384 → leaf P-256).
pub(crate) const G3: CaProfile = CaProfile {
    dir: "app-store-ca",
    root_cn: "PaySeal Sandbox Root CA - G3",
    leaf_cn: "PaySeal Sandbox StoreKit Signing",
    rsa: false,
};

/// The app receipt test CA (RSA 2048 root → intermediate → leaf, as Apple Inc. Root CA's).
pub(crate) const RECEIPTS: CaProfile = CaProfile {
    dir: "app-receipt-ca",
    root_cn: "PaySeal Sandbox Apple Root CA",
    leaf_cn: "PaySeal Sandbox Mac App Store and iTunes Store Receipt Signing",
    rsa: true,
};

/// The store's persisted App Store CA.
pub(crate) struct AppleCa {
    root: IssuedCert,
    intermediate: IssuedCert,
    leaf: IssuedCert,
    root_pem_path: PathBuf,
}

const NAMES: [&str; 3] = ["root", "intermediate", "leaf"];

fn ms_to_time(ms: i64) -> Result<OffsetDateTime, SandboxError> {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map_err(|e| SandboxError::Certificate(format!("validity out of range: {e}")))
}

fn cert_err(e: rcgen::Error) -> SandboxError {
    SandboxError::Certificate(e.to_string())
}

fn dn(common_name: &str, unit: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationalUnitName, unit);
    dn.push(
        DnType::OrganizationName,
        "PaySeal Sandbox Store (not Apple)",
    );
    dn.push(DnType::CountryName, "US");
    dn
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

fn root_params(profile: &CaProfile, spec: &CertSpec) -> Result<CertificateParams, SandboxError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(profile.root_cn, "PaySeal Sandbox Certification Authority");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = ms_to_time(spec.not_before_ms)?;
    p.not_after = ms_to_time(spec.not_after_ms)?;
    p.serial_number = Some(random_serial());
    Ok(p)
}

fn intermediate_params(spec: &CertSpec) -> Result<CertificateParams, SandboxError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(
        "PaySeal Sandbox Worldwide Developer Relations Certification Authority",
        "G6",
    );
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.use_authority_key_identifier_extension = true;
    if spec.marker_oid {
        p.custom_extensions.push(CustomExtension::from_oid_content(
            APPLE_INTERMEDIATE_MARKER_OID,
            ASN1_NULL.to_vec(),
        ));
    }
    p.not_before = ms_to_time(spec.not_before_ms)?;
    p.not_after = ms_to_time(spec.not_after_ms)?;
    p.serial_number = Some(random_serial());
    Ok(p)
}

fn leaf_params(profile: &CaProfile, spec: &CertSpec) -> Result<CertificateParams, SandboxError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(
        profile.leaf_cn,
        "PaySeal Sandbox Worldwide Developer Relations",
    );
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.use_authority_key_identifier_extension = true;
    if spec.marker_oid {
        p.custom_extensions.push(CustomExtension::from_oid_content(
            APPLE_LEAF_MARKER_OID,
            ASN1_NULL.to_vec(),
        ));
    }
    p.not_before = ms_to_time(spec.not_before_ms)?;
    p.not_after = ms_to_time(spec.not_after_ms)?;
    p.serial_number = Some(random_serial());
    Ok(p)
}

fn new_key(alg: &'static rcgen::SignatureAlgorithm) -> Result<KeyPair, SandboxError> {
    KeyPair::generate_for(alg).map_err(|e| SandboxError::KeyGeneration(e.to_string()))
}

/// A new RSA-2048 key (rcgen makes none itself with `ring`), signing SHA-256.
fn new_rsa_key() -> Result<KeyPair, SandboxError> {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
        .map_err(|e| SandboxError::KeyGeneration(e.to_string()))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| SandboxError::KeyGeneration(e.to_string()))?;
    rsa_key_pair(&pem).map_err(|e| SandboxError::KeyGeneration(e.to_string()))
}

fn rsa_key_pair(pem: &str) -> Result<KeyPair, rcgen::Error> {
    KeyPair::from_pkcs8_pem_and_sign_algo(pem, &rcgen::PKCS_RSA_SHA256)
}

fn profile_key(
    profile: &CaProfile,
    ec: &'static rcgen::SignatureAlgorithm,
) -> Result<KeyPair, SandboxError> {
    if profile.rsa {
        new_rsa_key()
    } else {
        new_key(ec)
    }
}

/// Make a leaf (P-256; RSA for app receipts) signed by `issuer`.
pub(crate) fn make_leaf(
    profile: &CaProfile,
    issuer: &IssuedCert,
    spec: &CertSpec,
) -> Result<IssuedCert, SandboxError> {
    let key = profile_key(profile, &PKCS_ECDSA_P256_SHA256)?;
    let cert = leaf_params(profile, spec)?
        .signed_by(&key, &issuer.issuer, &issuer.key)
        .map_err(cert_err)?;
    Ok(IssuedCert::fresh(cert, key))
}

/// Make an intermediate (P-384 CA; RSA for app receipts) signed by `root`.
pub(crate) fn make_intermediate(
    profile: &CaProfile,
    root: &IssuedCert,
    spec: &CertSpec,
) -> Result<IssuedCert, SandboxError> {
    let key = profile_key(profile, &PKCS_ECDSA_P384_SHA384)?;
    let cert = intermediate_params(spec)?
        .signed_by(&key, &root.issuer, &root.key)
        .map_err(cert_err)?;
    Ok(IssuedCert::fresh(cert, key))
}

/// Make a self-signed root (P-384; RSA for app receipts).
pub(crate) fn make_root(profile: &CaProfile, spec: &CertSpec) -> Result<IssuedCert, SandboxError> {
    let key = profile_key(profile, &PKCS_ECDSA_P384_SHA384)?;
    let cert = root_params(profile, spec)?
        .self_signed(&key)
        .map_err(cert_err)?;
    Ok(IssuedCert::fresh(cert, key))
}

impl AppleCa {
    /// Load the CA of `profile` from its directory under `dir`, creating it (atomically, as a
    /// whole) when absent.
    pub(crate) fn open_or_create(
        dir: &Path,
        profile: &CaProfile,
        now_ms: i64,
    ) -> Result<AppleCa, SandboxError> {
        let ca_dir = dir.join(profile.dir);
        if !ca_dir.join("leaf.pem").exists() {
            Self::create(&ca_dir, profile, now_ms)?;
        }
        Self::load(&ca_dir, profile)
    }

    fn create(ca_dir: &Path, profile: &CaProfile, now_ms: i64) -> Result<(), SandboxError> {
        // Back-dated a year, so purchases dated in the recent past (tests, imported fixtures) verify.
        let spec = |years: i64| CertSpec {
            marker_oid: true,
            not_before_ms: now_ms - YEAR_MS,
            not_after_ms: now_ms + years * YEAR_MS,
        };
        let root = make_root(profile, &spec(25))?;
        let intermediate = make_intermediate(profile, &root, &spec(10))?;
        let leaf = make_leaf(profile, &intermediate, &spec(5))?;
        let staging = temp_sibling(ca_dir);
        fs::create_dir(&staging).map_err(io_err(&staging))?;
        for (name, item) in NAMES.iter().zip([&root, &intermediate, &leaf]) {
            create_private_once(
                &staging.join(format!("{name}.key.pem")),
                item.key.serialize_pem().as_bytes(),
            )?;
            let cert_path = staging.join(format!("{name}.pem"));
            fs::write(&cert_path, item.pem()).map_err(io_err(&cert_path))?;
        }
        // Publish the whole CA at once; if another process won the race, keep its CA.
        if fs::rename(&staging, ca_dir).is_err() {
            let _ = fs::remove_dir_all(&staging);
            if !ca_dir.join("leaf.pem").exists() {
                return Err(SandboxError::Io {
                    path: ca_dir.to_path_buf(),
                    source: std::io::Error::other("could not publish an App Store test CA"),
                });
            }
        }
        Ok(())
    }

    fn load(ca_dir: &Path, profile: &CaProfile) -> Result<AppleCa, SandboxError> {
        let mut items = Vec::with_capacity(3);
        for name in NAMES {
            let key_path = ca_dir.join(format!("{name}.key.pem"));
            let pem = zeroize::Zeroizing::new(read_text(&key_path)?);
            let key = if profile.rsa {
                rsa_key_pair(&pem)
            } else {
                KeyPair::from_pem(&pem)
            };
            let key = key.map_err(|e| SandboxError::BadKeyFile {
                path: key_path.clone(),
                reason: e.to_string(),
            })?;
            let cert_path = ca_dir.join(format!("{name}.pem"));
            let der = pem_to_der(&read_text(&cert_path)?, "CERTIFICATE").ok_or_else(|| {
                SandboxError::BadKeyFile {
                    path: cert_path.clone(),
                    reason: "no CERTIFICATE PEM block".into(),
                }
            })?;
            // Rebuild an rcgen issuer with the same name and key; the stored DER is what we publish.
            let spec = CertSpec::valid_around(0, 1);
            let params = match name {
                "root" => root_params(profile, &spec)?,
                "intermediate" => intermediate_params(&spec)?,
                _ => leaf_params(profile, &spec)?,
            };
            let issuer = params.self_signed(&key).map_err(cert_err)?;
            items.push(IssuedCert { der, issuer, key });
        }
        let mut it = items.into_iter();
        let (Some(root), Some(intermediate), Some(leaf)) = (it.next(), it.next(), it.next()) else {
            return Err(SandboxError::Certificate("incomplete CA".into()));
        };
        Ok(AppleCa {
            root,
            intermediate,
            leaf,
            root_pem_path: ca_dir.join("root.pem"),
        })
    }

    pub(crate) fn root(&self) -> &IssuedCert {
        &self.root
    }

    pub(crate) fn intermediate(&self) -> &IssuedCert {
        &self.intermediate
    }

    pub(crate) fn leaf(&self) -> &IssuedCert {
        &self.leaf
    }

    pub(crate) fn root_pem_path(&self) -> &Path {
        &self.root_pem_path
    }
}

impl IssuedCert {
    fn fresh(cert: Certificate, key: KeyPair) -> IssuedCert {
        IssuedCert {
            der: cert.der().to_vec(),
            issuer: cert,
            key,
        }
    }
}

/// The JWS header Apple uses: `{"alg":"ES256","x5c":[...]}` with standard Base64 DER certificates.
pub fn app_store_header_json(x5c: &[&[u8]]) -> String {
    let certs: Vec<String> = x5c.iter().map(|c| STANDARD.encode(c)).collect();
    serde_json::json!({ "alg": "ES256", "x5c": certs }).to_string()
}

/// Sign `header.payload` ES256 with a PKCS#8 P-256 key; JWS signature is r||s (64 bytes).
pub(crate) fn sign_es256_jws(
    pkcs8_der: &[u8],
    header_json: &str,
    payload_json: &str,
) -> Result<String, SandboxError> {
    let key = p256::ecdsa::SigningKey::from_pkcs8_der(pkcs8_der)
        .map_err(|e| SandboxError::Signing(format!("ES256 needs a P-256 key: {e}")))?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(payload_json)
    );
    let sig: p256::ecdsa::Signature = key.sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(sig.to_bytes())
    ))
}

/// An App Store Server Notification V2 to sign (`responseBodyV2DecodedPayload`, field for field).
///
/// `transaction`, when set, is signed as the nested `signedTransactionInfo` (its state decides
/// `revocationDate`: a `REFUND` or `REVOKE` carries a refunded transaction, a `REFUND_REVERSED`
/// a purchased one); `TEST` carries none. Apple omits `appAppleId` in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStoreNotification {
    /// `notificationType`: `REFUND`, `REVOKE`, `REFUND_REVERSED`, `CONSUMPTION_REQUEST`, `TEST`, ...
    pub notification_type: String,
    /// `subtype`, when the type has one.
    pub subtype: Option<String>,
    /// `notificationUUID`; random when `None`.
    pub notification_uuid: Option<String>,
    /// `data.bundleId`.
    pub bundle_id: String,
    /// `data.environment`.
    pub environment: payseal_protocol::Environment,
    /// The transaction signed into `data.signedTransactionInfo`.
    pub transaction: Option<crate::Order>,
    /// Whether to add a `data.signedRenewalInfo` (auto-renewable subscriptions).
    pub renewal_info: bool,
    /// What the `signedRenewalInfo` and `data.status` say (with `renewal_info`).
    pub renewal: RenewalSpec,
}

/// The subscription state a notification's `signedRenewalInfo` (`JWSRenewalInfoDecodedPayload`)
/// and `data.status` carry. The default: renewing, active (`status` 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalSpec {
    /// `autoRenewStatus`: 1 renews, 0 turned off.
    pub auto_renew_status: u8,
    /// `gracePeriodExpiresDate` (billing grace), Unix milliseconds.
    pub grace_period_expires_date: Option<i64>,
    /// `isInBillingRetryPeriod`.
    pub is_in_billing_retry_period: Option<bool>,
    /// `expirationIntent` (1 voluntary, 2 billing error, ...).
    pub expiration_intent: Option<u8>,
    /// `data.status`: 1 active, 2 expired, 3 billing retry, 4 grace, 5 revoked.
    pub status: u8,
}

impl Default for RenewalSpec {
    fn default() -> Self {
        Self {
            auto_renew_status: 1,
            grace_period_expires_date: None,
            is_in_billing_retry_period: None,
            expiration_intent: None,
            status: 1,
        }
    }
}

impl AppStoreNotification {
    /// A notification of `notification_type` about `order`'s transaction (bundle and
    /// environment from the order). For `REFUND` and `REVOKE` the transaction is signed
    /// refunded (with a `revocationDate`), for other types as the order says.
    pub fn about(notification_type: &str, order: &crate::Order) -> AppStoreNotification {
        let mut transaction = order.clone();
        if matches!(notification_type, "REFUND" | "REVOKE") {
            transaction.state = crate::PurchaseState::Refunded;
        }
        AppStoreNotification {
            notification_type: notification_type.to_string(),
            subtype: None,
            notification_uuid: None,
            bundle_id: order.app_id.clone(),
            environment: order.environment,
            transaction: Some(transaction),
            renewal_info: false,
            renewal: RenewalSpec::default(),
        }
    }

    /// A `TEST` notification (no transaction), as App Store Connect's "Request a Test
    /// Notification" sends.
    pub fn test(
        bundle_id: &str,
        environment: payseal_protocol::Environment,
    ) -> AppStoreNotification {
        AppStoreNotification {
            notification_type: "TEST".into(),
            subtype: None,
            notification_uuid: None,
            bundle_id: bundle_id.to_string(),
            environment,
            transaction: None,
            renewal_info: false,
            renewal: RenewalSpec::default(),
        }
    }
}

/// `data` of a V2 notification.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    app_apple_id: Option<u64>,
    bundle_id: &'a str,
    bundle_version: &'static str,
    environment: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_transaction_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signed_renewal_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    consumption_request_reason: Option<&'static str>,
}

/// `responseBodyV2DecodedPayload`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct NotificationPayload<'a> {
    notification_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subtype: Option<&'a str>,
    #[serde(rename = "notificationUUID")]
    notification_uuid: String,
    data: NotificationData<'a>,
    version: &'static str,
    signed_date: i64,
}

/// `JWSRenewalInfoDecodedPayload` of an auto-renewing subscription.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RenewalInfo<'a> {
    original_transaction_id: &'a str,
    auto_renew_product_id: &'a str,
    product_id: &'a str,
    auto_renew_status: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    grace_period_expires_date: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_in_billing_retry_period: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_intent: Option<u8>,
    signed_date: i64,
    environment: &'static str,
    recent_subscription_start_date: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    renewal_date: Option<i64>,
}

/// The `JWSRenewalInfoDecodedPayload` JSON of `order`'s chain as `spec` says, dated `at_ms`
/// (also what the App Store Server API's `lastTransactions[].signedRenewalInfo` carries).
pub fn renewal_info_json(
    order: &crate::Order,
    transaction_id: &str,
    spec: &RenewalSpec,
    at_ms: i64,
) -> Result<String, SandboxError> {
    let chain = order
        .original_transaction_id
        .as_deref()
        .unwrap_or(transaction_id);
    let renewal = RenewalInfo {
        original_transaction_id: chain,
        auto_renew_product_id: &order.product_id,
        product_id: &order.product_id,
        auto_renew_status: spec.auto_renew_status,
        grace_period_expires_date: spec.grace_period_expires_date,
        is_in_billing_retry_period: spec.is_in_billing_retry_period,
        expiration_intent: spec.expiration_intent,
        signed_date: at_ms,
        environment: apple_environment(order.environment),
        recent_subscription_start_date: at_ms,
        renewal_date: (spec.auto_renew_status == 1)
            .then(|| order.expires_at.unwrap_or(at_ms + 30 * DAY_MS)),
    };
    serde_json::to_string(&renewal)
        .map_err(|e| SandboxError::Signing(format!("JSON encoding: {e}")))
}

fn apple_environment(env: payseal_protocol::Environment) -> &'static str {
    match env {
        payseal_protocol::Environment::Production => "Production",
        payseal_protocol::Environment::Sandbox => "Sandbox",
    }
}

/// A stable 10-digit `appAppleId` for a bundle id.
fn app_apple_id(bundle_id: &str) -> u64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bundle_id.as_bytes());
    1_000_000_000 + u64::from(u32::from_be_bytes([d[0], d[1], d[2], d[3]])) % 1_000_000_000
}

/// The notification's `responseBodyV2DecodedPayload` JSON, its nested JWS signed by `sign`.
pub(crate) fn notification_payload_json(
    n: &AppStoreNotification,
    at_ms: i64,
    sign: impl Fn(&str) -> Result<String, SandboxError>,
) -> Result<String, SandboxError> {
    let env = apple_environment(n.environment);
    let (signed_transaction_info, tx) = match &n.transaction {
        Some(order) => {
            let mut order = order.clone();
            // The transaction id is fixed now, so the renewal info can name it.
            let tx_id = order
                .transaction_id
                .get_or_insert_with(|| format!("2000000{}", crate::formats::random_digits(9)))
                .clone();
            let payload = crate::formats::app_store_payload_json(&order, at_ms)?;
            (Some(sign(&payload)?), Some((tx_id, order)))
        }
        None => (None, None),
    };
    let signed_renewal_info = match (&tx, n.renewal_info) {
        (Some((tx_id, order)), true) => {
            Some(sign(&renewal_info_json(order, tx_id, &n.renewal, at_ms)?)?)
        }
        _ => None,
    };
    let payload = NotificationPayload {
        notification_type: &n.notification_type,
        subtype: n.subtype.as_deref(),
        notification_uuid: n
            .notification_uuid
            .clone()
            .unwrap_or_else(crate::formats::random_uuid),
        data: NotificationData {
            app_apple_id: (n.environment == payseal_protocol::Environment::Production)
                .then(|| app_apple_id(&n.bundle_id)),
            bundle_id: &n.bundle_id,
            bundle_version: "1",
            environment: env,
            signed_transaction_info,
            signed_renewal_info,
            status: n.renewal_info.then_some(n.renewal.status),
            consumption_request_reason: (n.notification_type == "CONSUMPTION_REQUEST")
                .then_some("UNINTENDED_PURCHASE"),
        },
        version: "2.0",
        signed_date: at_ms,
    };
    serde_json::to_string(&payload)
        .map_err(|e| SandboxError::Signing(format!("JSON encoding: {e}")))
}

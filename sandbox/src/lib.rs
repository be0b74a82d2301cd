//! # payseal-sandbox
//!
//! A local settlement server for development and tests: it issues purchases in the
//! **real store formats**, signed by test keys that it keeps in a directory:
//! - Google Play: the `Purchase.getOriginalJson()` JSON with a Base64 SHA1withRSA signature
//!   (RSA-2048), and the public key as the Play Console shows it (Base64 X.509 SPKI);
//! - App Store (StoreKit 2): a compact JWS signed ES256 whose `x5c` chain runs from a leaf with
//!   Apple's marker OID `1.2.840.113635.100.6.11.1` through an intermediate with
//!   `1.2.840.113635.100.6.2.1` to a P-384 test root, with a `JWSTransactionDecodedPayload`;
//! - Huawei AppGallery: `InAppPurchaseData` with a SHA256WithRSA (or RSA-PSS) signature;
//! - the PaySeal sandbox store: a small purchase JSON signed Ed25519.
//!
//! It is **not** a production store and never stands in for one: its keys are test keys, and a
//! verifier trusts its App Store root only when a configuration names that root file explicitly
//! (never by default). It also serves tests that forge receipts honestly: a second store in
//! another directory is "the attacker's own store", and the low-level signers
//! ([`SandboxStore::sign_app_store_jws`], [`SandboxStore::make_app_store_leaf`], ...) build
//! chains and payloads the real stores would never sign.
//!
//! ```
//! use payseal_protocol::{Receipt, Store};
//! use payseal_sandbox::{Order, SandboxStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = SandboxStore::open_or_create(dir.path()).unwrap();
//! let receipt = store
//!     .issue(&Order::new(Store::Sandbox, "dev.payseal.demo", "coins_100"))
//!     .unwrap();
//! assert!(matches!(receipt, Receipt::Sandbox { .. }));
//! // The same directory gives the same keys next time.
//! let again = SandboxStore::open_or_create(dir.path()).unwrap();
//! assert_eq!(again.sandbox_public_key(), store.sandbox_public_key());
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod app_receipt;
mod apple;
mod files;
mod formats;

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use payseal_protocol::{Environment, HuaweiAlgorithm, Receipt, Store};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use sha2::{Digest, Sha256};

pub use apple::{
    app_store_header_json, renewal_info_json, AppStoreChain, AppStoreNotification, CertSpec,
    IssuedCert, RenewalSpec, APPLE_INTERMEDIATE_MARKER_OID, APPLE_LEAF_MARKER_OID,
};

/// Where `payseal-verifier dev --state-dir D` keeps the sandbox store: `D/sandbox-store`.
pub const DEV_STORE_SUBDIR: &str = "sandbox-store";

/// Errors of the sandbox store.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Reading or writing the store directory failed.
    #[error("sandbox store I/O on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key or certificate file exists but cannot be used.
    #[error("sandbox store file {path} is unusable: {reason}")]
    BadKeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Generating a key failed.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// Making a certificate failed.
    #[error("certificate generation failed: {0}")]
    Certificate(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The order cannot be expressed in the store's format (e.g. a pending StoreKit 2 transaction).
    #[error("{0}")]
    Unsupported(String),
}

/// The state of the purchase to issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PurchaseState {
    /// Paid and completed.
    Purchased,
    /// Awaiting payment (Play `2`, Huawei `-1`; StoreKit 2 has no such transaction).
    Pending,
    /// Cancelled (Play `1`, Huawei `1`, App Store: a revoked transaction).
    Cancelled,
    /// Refunded after payment (Huawei `2`, App Store: a revoked transaction, sandbox
    /// `refunded`). Play's purchase JSON has no such state: issuing one is an error.
    Refunded,
}

/// The type of product bought, each store writing it its own way (App Store `type`, Huawei
/// `kind`, Play's `autoRenewing` in a subscription's JSON, the sandbox store's `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProductType {
    /// Used up once delivered (the default).
    #[default]
    Consumable,
    /// Bought once, kept.
    NonConsumable,
    /// An auto-renewable subscription: a renewal chain with an expiry per period.
    AutoRenewableSubscription,
    /// A non-renewing subscription (App Store: no `expiresDate`; Huawei `kind` 3).
    NonRenewingSubscription,
}

impl ProductType {
    /// Whether it is a subscription of either kind.
    pub fn is_subscription(self) -> bool {
        matches!(
            self,
            ProductType::AutoRenewableSubscription | ProductType::NonRenewingSubscription
        )
    }
}

/// Default length of a subscription period when an order names no expiry: 30 days.
pub const DEFAULT_PERIOD_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// What to issue: store, app, product, state, environment, quantity and transaction id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// The store whose format to use.
    pub store: Store,
    /// Play `packageName`, App Store `bundleId`, Huawei `packageName`, sandbox `app_id`.
    pub app_id: String,
    /// Product id.
    pub product_id: String,
    /// Purchase state.
    pub state: PurchaseState,
    /// Production or sandbox (the PaySeal sandbox store is always sandbox).
    pub environment: Environment,
    /// Quantity (at least 1).
    pub quantity: u32,
    /// Transaction id (Play/Huawei `orderId`, App Store `transactionId`); random when `None`.
    pub transaction_id: Option<String>,
    /// The app's account token: Play `obfuscatedAccountId` (at most 64 characters), App Store
    /// `appAccountToken` (a UUID). Absent from the purchase when `None`; issuing one for
    /// Huawei or the sandbox store, whose formats have no such field, is an error.
    pub account_token: Option<String>,
    /// Product type (consumable by default).
    pub product_type: ProductType,
    /// Subscriptions: end of the paid period, Unix milliseconds (in the past for a lapsed one);
    /// `None`: [`DEFAULT_PERIOD_MS`] after the purchase. An App Store non-renewing
    /// subscription never carries one (Apple signs none).
    pub expires_at: Option<i64>,
    /// Auto-renewable subscriptions: the renewal chain's id, the same for the first purchase
    /// and every renewal (App Store `originalTransactionId`, Huawei `subscriptionId`, the
    /// sandbox `original_transaction_id`; Play: the original `orderId`, from which the chain's
    /// `purchaseToken` is derived and renewals' `orderId`s `ID..N` are made). `None`: a new
    /// chain (App Store: the transaction's own id).
    pub original_transaction_id: Option<String>,
}

impl Order {
    /// A purchased, sandbox-environment order of quantity 1 with a random transaction id.
    pub fn new(store: Store, app_id: impl Into<String>, product_id: impl Into<String>) -> Order {
        Order {
            store,
            app_id: app_id.into(),
            product_id: product_id.into(),
            state: PurchaseState::Purchased,
            environment: Environment::Sandbox,
            quantity: 1,
            transaction_id: None,
            account_token: None,
            product_type: ProductType::Consumable,
            expires_at: None,
            original_transaction_id: None,
        }
    }

    /// An auto-renewable subscription order of the chain `original_transaction_id` (a new
    /// chain when `None`) whose period ends at `expires_at` (Unix ms).
    pub fn subscription(
        store: Store,
        app_id: impl Into<String>,
        product_id: impl Into<String>,
        expires_at: i64,
        original_transaction_id: Option<String>,
    ) -> Order {
        Order {
            product_type: ProductType::AutoRenewableSubscription,
            expires_at: Some(expires_at),
            original_transaction_id,
            ..Order::new(store, app_id, product_id)
        }
    }
}

/// The sandbox store: its signing keys and App Store test CA, persisted in a directory.
pub struct SandboxStore {
    dir: PathBuf,
    google_play: rsa::RsaPrivateKey,
    huawei: rsa::RsaPrivateKey,
    sandbox: ed25519_dalek::SigningKey,
    apple: apple::AppleCa,
    apple_receipts: apple::AppleCa,
}

impl std::fmt::Debug for SandboxStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

const GOOGLE_PLAY_KEY: &str = "google-play.key.pem";
const HUAWEI_KEY: &str = "huawei.key.pem";
const SANDBOX_KEY: &str = "sandbox.key.pem";

/// Current time, Unix milliseconds (the one clock: [`payseal_protocol::time`]).
pub use payseal_protocol::time::now_ms;

fn bad_key(path: &Path, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::BadKeyFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

fn load_or_create_rsa(path: &Path) -> Result<rsa::RsaPrivateKey, SandboxError> {
    if !path.exists() {
        let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
            .map_err(|e| SandboxError::KeyGeneration(e.to_string()))?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SandboxError::KeyGeneration(e.to_string()))?;
        files::create_private_once(path, pem.as_bytes())?;
    }
    let pem = zeroize_string(files::read_text(path)?);
    rsa::RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| bad_key(path, e))
}

fn load_or_create_ed25519(path: &Path) -> Result<ed25519_dalek::SigningKey, SandboxError> {
    if !path.exists() {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let pem = key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| SandboxError::KeyGeneration(e.to_string()))?;
        files::create_private_once(path, pem.as_bytes())?;
    }
    let pem = zeroize_string(files::read_text(path)?);
    ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| bad_key(path, e))
}

fn zeroize_string(s: String) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(s)
}

impl SandboxStore {
    /// Open the store kept in `dir`, creating the directory, keys and test CA on first use.
    ///
    /// Existing keys are reused; new private keys are PKCS#8 PEM files with mode 0600.
    pub fn open_or_create(dir: &Path) -> Result<SandboxStore, SandboxError> {
        std::fs::create_dir_all(dir).map_err(files::io_err(dir))?;
        let google_play = load_or_create_rsa(&dir.join(GOOGLE_PLAY_KEY))?;
        let huawei = load_or_create_rsa(&dir.join(HUAWEI_KEY))?;
        let sandbox = load_or_create_ed25519(&dir.join(SANDBOX_KEY))?;
        let apple = apple::AppleCa::open_or_create(dir, &apple::G3, now_ms())?;
        let apple_receipts = apple::AppleCa::open_or_create(dir, &apple::RECEIPTS, now_ms())?;
        Ok(SandboxStore {
            dir: dir.to_path_buf(),
            google_play,
            huawei,
            sandbox,
            apple,
            apple_receipts,
        })
    }

    /// The directory the store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Play licensing key as the Play Console shows it: Base64 X.509 SubjectPublicKeyInfo DER.
    pub fn google_play_public_key(&self) -> String {
        spki_base64(&self.google_play)
    }

    /// The Huawei IAP public key as AppGallery Connect shows it: Base64 X.509 SubjectPublicKeyInfo DER.
    pub fn huawei_public_key(&self) -> String {
        spki_base64(&self.huawei)
    }

    /// The sandbox store's Ed25519 public key: standard Base64 of the raw 32 bytes.
    pub fn sandbox_public_key(&self) -> String {
        STANDARD.encode(self.sandbox.verifying_key().as_bytes())
    }

    /// The PEM file of the App Store test root CA (configure a verifier with it to trust this store).
    pub fn app_store_root_path(&self) -> PathBuf {
        self.apple.root_pem_path().to_path_buf()
    }

    /// Lowercase hex SHA-256 of the App Store test root's DER.
    pub fn app_store_root_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.apple.root().der()))
    }

    /// The App Store chain's DER certificates (leaf, intermediate, root).
    pub fn app_store_chain(&self) -> AppStoreChain {
        AppStoreChain {
            leaf: self.apple.leaf().der().to_vec(),
            intermediate: self.apple.intermediate().der().to_vec(),
            root: self.apple.root().der().to_vec(),
        }
    }

    /// The store's App Store root (DER and key), e.g. to sign a custom intermediate.
    pub fn app_store_root(&self) -> &IssuedCert {
        self.apple.root()
    }

    /// The store's App Store intermediate (DER and key).
    pub fn app_store_intermediate(&self) -> &IssuedCert {
        self.apple.intermediate()
    }

    /// Make a new App Store leaf (P-256) signed by `issuer` (the store's intermediate when `None`).
    pub fn make_app_store_leaf(
        &self,
        issuer: Option<&IssuedCert>,
        spec: &CertSpec,
    ) -> Result<IssuedCert, SandboxError> {
        apple::make_leaf(
            &apple::G3,
            issuer.unwrap_or(self.apple.intermediate()),
            spec,
        )
    }

    /// Make a new App Store intermediate (P-384 CA) signed by this store's root.
    pub fn make_app_store_intermediate(&self, spec: &CertSpec) -> Result<IssuedCert, SandboxError> {
        apple::make_intermediate(&apple::G3, self.apple.root(), spec)
    }

    /// Make a new self-signed P-384 root, e.g. an attacker's root with the same name.
    pub fn make_app_store_root(spec: &CertSpec) -> Result<IssuedCert, SandboxError> {
        apple::make_root(&apple::G3, spec)
    }

    /// Sign any header and payload as a compact JWS (ES256) with the store's App Store leaf key.
    pub fn sign_app_store_jws(
        &self,
        header_json: &str,
        payload_json: &str,
    ) -> Result<String, SandboxError> {
        self.apple.leaf().sign_jws(header_json, payload_json)
    }

    /// The header the store's transactions carry: `{"alg":"ES256","x5c":[leaf, intermediate, root]}`.
    pub fn app_store_header(&self) -> String {
        app_store_header_json(&[
            self.apple.leaf().der(),
            self.apple.intermediate().der(),
            self.apple.root().der(),
        ])
    }

    /// The PEM file of the app receipt test root CA (the sandbox's Apple Inc. Root CA: configure
    /// a verifier's `[[trust.apple_receipt_roots]]` with it to trust this store's app receipts).
    pub fn app_receipt_root_path(&self) -> PathBuf {
        self.apple_receipts.root_pem_path().to_path_buf()
    }

    /// Lowercase hex SHA-256 of the app receipt test root's DER.
    pub fn app_receipt_root_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.apple_receipts.root().der()))
    }

    /// The app receipt chain's DER certificates (leaf, intermediate, root; all RSA 2048).
    pub fn app_receipt_chain(&self) -> AppStoreChain {
        AppStoreChain {
            leaf: self.apple_receipts.leaf().der().to_vec(),
            intermediate: self.apple_receipts.intermediate().der().to_vec(),
            root: self.apple_receipts.root().der().to_vec(),
        }
    }

    /// The app receipt CA's intermediate (DER and key), e.g. to issue a custom signer.
    pub fn app_receipt_intermediate(&self) -> &IssuedCert {
        self.apple_receipts.intermediate()
    }

    /// Make a new app receipt signer (RSA) issued by `issuer` (the store's app receipt
    /// intermediate when `None`).
    pub fn make_app_receipt_leaf(
        &self,
        issuer: Option<&IssuedCert>,
        spec: &CertSpec,
    ) -> Result<IssuedCert, SandboxError> {
        apple::make_leaf(
            &apple::RECEIPTS,
            issuer.unwrap_or(self.apple_receipts.intermediate()),
            spec,
        )
    }

    /// Make a new RSA intermediate issued by `root` (the store's app receipt root when `None`).
    pub fn make_app_receipt_intermediate(
        &self,
        root: Option<&IssuedCert>,
        spec: &CertSpec,
    ) -> Result<IssuedCert, SandboxError> {
        apple::make_intermediate(
            &apple::RECEIPTS,
            root.unwrap_or(self.apple_receipts.root()),
            spec,
        )
    }

    /// Make a new self-signed RSA root named like the store's app receipt root: an attacker's
    /// own "Apple Inc. Root CA" (Freedom-style forgeries).
    pub fn make_app_receipt_root(spec: &CertSpec) -> Result<IssuedCert, SandboxError> {
        apple::make_root(&apple::RECEIPTS, spec)
    }

    /// Apple's app receipt payload (DER `SET OF ReceiptAttribute`) for `orders` (one app and
    /// environment; each order's transaction id, or a random one, in `transaction_ids`'s
    /// order), created at `at_ms`.
    pub fn app_receipt_payload(
        &self,
        orders: &[Order],
        transaction_ids: &[String],
        at_ms: i64,
    ) -> Result<Vec<u8>, SandboxError> {
        app_receipt::payload(orders, transaction_ids, at_ms)
    }

    /// Sign an app receipt payload as PKCS#7 SignedData (RSA PKCS#1 v1.5 SHA-256) with
    /// `signer` (the store's app receipt leaf when `None`), carrying `certificates` (the
    /// store's leaf and intermediate when `None`); `signed_attributes`: sign a content type and
    /// message digest attribute set instead of the content itself. Base64, as a device holds it.
    pub fn sign_app_receipt(
        &self,
        payload: &[u8],
        signer: Option<&IssuedCert>,
        certificates: Option<&[&[u8]]>,
        signed_attributes: bool,
    ) -> Result<String, SandboxError> {
        let leaf = self.apple_receipts.leaf();
        let own = [leaf.der(), self.apple_receipts.intermediate().der()];
        app_receipt::sign(
            payload,
            signer.unwrap_or(leaf),
            certificates.unwrap_or(&own),
            signed_attributes,
        )
    }

    /// Issue an App Store app receipt (the original StoreKit's, Unity IAP's `AppleAppStore`
    /// payload) holding `order`, dated now, naming its transaction.
    pub fn issue_app_receipt(&self, order: &Order) -> Result<Receipt, SandboxError> {
        self.issue_app_receipt_at(std::slice::from_ref(order), now_ms())
    }

    /// Issue an app receipt holding every order (one app and environment), created at `at_ms`,
    /// naming the first order's transaction.
    pub fn issue_app_receipt_at(
        &self,
        orders: &[Order],
        at_ms: i64,
    ) -> Result<Receipt, SandboxError> {
        let ids = app_receipt::transaction_ids(orders);
        let payload = self.app_receipt_payload(orders, &ids, at_ms)?;
        Ok(Receipt::AppStoreReceipt {
            app_receipt: self.sign_app_receipt(&payload, None, None, false)?,
            transaction_id: ids.into_iter().next().unwrap_or_default(),
        })
    }

    /// Base64 SHA1withRSA (PKCS#1 v1.5) signature over `data` with the Play key.
    pub fn sign_google_play(&self, data: &str) -> String {
        let key = rsa::pkcs1v15::SigningKey::<sha1::Sha1>::new(self.google_play.clone());
        STANDARD.encode(key.sign(data.as_bytes()).to_bytes())
    }

    /// Base64 signature over `data` with the Huawei key: SHA256WithRSA, or RSA-PSS (SHA-256, MGF1-SHA-256, salt 32).
    pub fn sign_huawei(&self, data: &str, algorithm: HuaweiAlgorithm) -> String {
        match algorithm {
            HuaweiAlgorithm::Sha256WithRsa => {
                let key = rsa::pkcs1v15::SigningKey::<Sha256>::new(self.huawei.clone());
                STANDARD.encode(key.sign(data.as_bytes()).to_bytes())
            }
            HuaweiAlgorithm::Sha256WithRsaPss => {
                let key = rsa::pss::BlindedSigningKey::<Sha256>::new_with_salt_len(
                    self.huawei.clone(),
                    32,
                );
                let sig = key.sign_with_rng(&mut rand::rngs::OsRng, data.as_bytes());
                STANDARD.encode(sig.to_bytes())
            }
        }
    }

    /// Base64 Ed25519 signature over `data` with the sandbox store key.
    pub fn sign_sandbox(&self, data: &str) -> String {
        STANDARD.encode(self.sandbox.sign(data.as_bytes()).to_bytes())
    }

    /// Issue one purchase in `order.store`'s real format, dated now.
    pub fn issue(&self, order: &Order) -> Result<Receipt, SandboxError> {
        self.issue_at(order, now_ms())
    }

    /// Issue one purchase dated `at_ms` (Unix milliseconds: purchase and signing time).
    pub fn issue_at(&self, order: &Order, at_ms: i64) -> Result<Receipt, SandboxError> {
        self.issue_with(order, at_ms, HuaweiAlgorithm::Sha256WithRsa)
    }

    /// Issue a Huawei purchase signed RSA-PSS (`SHA256WithRSA/PSS`) instead of PKCS#1 v1.5.
    pub fn issue_huawei_pss(&self, order: &Order) -> Result<Receipt, SandboxError> {
        if order.store != Store::Huawei {
            return Err(SandboxError::Unsupported(format!(
                "RSA-PSS signatures are a Huawei option; this order is for {}",
                order.store
            )));
        }
        self.issue_with(order, now_ms(), HuaweiAlgorithm::Sha256WithRsaPss)
    }

    fn issue_with(
        &self,
        order: &Order,
        at_ms: i64,
        huawei_alg: HuaweiAlgorithm,
    ) -> Result<Receipt, SandboxError> {
        if order.quantity == 0 {
            return Err(SandboxError::Unsupported(
                "quantity must be at least 1".into(),
            ));
        }
        match order.store {
            Store::GooglePlay => {
                let purchase_data = formats::google_play_json(order, at_ms)?;
                let signature = self.sign_google_play(&purchase_data);
                Ok(Receipt::GooglePlay {
                    purchase_data,
                    signature,
                })
            }
            Store::AppStore => {
                let payload = formats::app_store_payload_json(order, at_ms)?;
                let jws = self.sign_app_store_jws(&self.app_store_header(), &payload)?;
                Ok(Receipt::AppStore { jws })
            }
            Store::Huawei => {
                let purchase_data = formats::huawei_json(order, at_ms)?;
                let signature = self.sign_huawei(&purchase_data, huawei_alg);
                Ok(Receipt::Huawei {
                    purchase_data,
                    signature,
                    algorithm: huawei_alg,
                })
            }
            Store::Sandbox => {
                let purchase_data = formats::sandbox_json(order, at_ms)?;
                let signature = self.sign_sandbox(&purchase_data);
                Ok(Receipt::Sandbox {
                    purchase_data,
                    signature,
                })
            }
        }
    }

    /// An App Store Server Notification V2 as Apple POSTs it: the body
    /// `{"signedPayload":"<JWS>"}`, the payload and its nested `signedTransactionInfo` (and
    /// `signedRenewalInfo`) signed like the store's transactions, dated `at_ms`.
    pub fn app_store_notification(
        &self,
        notification: &AppStoreNotification,
        at_ms: i64,
    ) -> Result<String, SandboxError> {
        let header = self.app_store_header();
        let sign = |payload: &str| self.sign_app_store_jws(&header, payload);
        let payload = apple::notification_payload_json(notification, at_ms, sign)?;
        Ok(Self::app_store_notification_body(&sign(&payload)?))
    }

    /// The notification body Apple POSTs around a `signedPayload`: `{"signedPayload":"..."}`.
    pub fn app_store_notification_body(signed_payload: &str) -> String {
        serde_json::json!({ "signedPayload": signed_payload }).to_string()
    }

    /// The App Store `JWSTransactionDecodedPayload` JSON this store would sign for `order` at `at_ms`.
    pub fn app_store_payload(&self, order: &Order, at_ms: i64) -> Result<String, SandboxError> {
        formats::app_store_payload_json(order, at_ms)
    }
}

fn spki_base64(key: &rsa::RsaPrivateKey) -> String {
    match key.to_public_key().to_public_key_der() {
        Ok(doc) => STANDARD.encode(doc.as_bytes()),
        // Encoding a valid RSA public key cannot fail; an empty string never verifies anything.
        Err(_) => String::new(),
    }
}

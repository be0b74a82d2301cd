//! # payseal-sdk-core
//!
//! The part of PaySeal that runs inside the app. Given a store receipt (Google Play, App
//! Store, Huawei, or the PaySeal sandbox), it:
//!
//! 1. connects to the verifier named in the app's embedded **profile** over TLS 1.3, with
//!    WebPKI validation *and* an SPKI SHA-256 pin check on the chain (S130; a mismatch is
//!    [`TransportError::PinMismatch`], never retried);
//! 2. seals the request (receipt, app id, account id, fresh 32-byte nonce) to the verifier's
//!    HPKE key and opens the sealed answer ([`Client::verify`], S140–S170);
//! 3. accepts the verdict only if it is signed by a profile key and echoes this request's
//!    nonce, receipt hash, app and account ([`check_verdict`], S180); the device clock refuses
//!    nothing (it is often wrong; the fresh nonce proves the verdict answers this request),
//!    its skew against the verdict's `iat` is reported ([`Clock`],
//!    [`CheckedVerdict::device_clock_skew_secs`]);
//! 4. retries network failures and 5xx with backoff inside a deadline ([`RetryPolicy`]), and
//!    keeps a receipt on disk until [`Client::retry_pending`] gets its verdict whenever the
//!    verifier may have recorded it without the app getting a checked verdict
//!    ([`PendingStore`]).
//!
//! Trust roots are the same on every platform (Android, iOS, JVM hosts): the Mozilla set
//! compiled in by `webpki-roots`, plus the options' extra PEM roots; the pins are checked on
//! top (the OS store is not used: same behaviour everywhere, no JNI set-up on Android, no
//! user-installed CA). Pending files hold the store receipt, the account id, the app id,
//! timestamps and an attempt count, never a key, nonce or token ([`PendingEntry`]).
//!
//! It is **not** the store integration (the app buys through Play Billing / StoreKit and
//! hands the result over), not the verifier, and not a way to decide `paid` on the device
//! without the verifier: the verdict token is also forwarded to the app's server, which
//! verifies it with any JOSE library.
//!
//! ```no_run
//! use payseal_sdk_core::{Client, Options, Receipt};
//!
//! # async fn demo(profile_json: &str, purchase_json: String, signature: String)
//! # -> Result<(), payseal_sdk_core::ClientError> {
//! let mut options = Options::new("dev.payseal.demo");
//! options.pending_dir = Some("/data/app/files/payseal-pending".into());
//! let client = Client::new(profile_json, options)?; // InvalidProfile-type errors here
//! let receipt = Receipt::GooglePlay { purchase_data: purchase_json, signature };
//! // With the product the app sold: a genuine receipt for another one is not paid.
//! let verdict = client
//!     .verify_product(&receipt, "account-42", Some("gems_1000"))
//!     .await?;
//! if verdict.is_paid() {
//!     // deliver, and send `verdict.token` to the application server
//! }
//! # Ok(()) }
//! ```
//!
//! ## From Kotlin and Swift
//! The UniFFI surface is the [`ffi`] namespace (plus [`set_logger`]): Kotlin (`dev.payseal`) and Swift
//! (module `PaySeal`) call `PaySeal(profileJson, PaySealOptions(appId = ...))`, then the
//! suspend / `async` `verify(receipt, accountId, expectedProductId)` (the product optional,
//! default none; or `verifyBlocking` from Java), which
//! returns a `Verdict` (`paid`, `reason`, `redemption`, `environment` as a
//! `StoreEnvironment`, `token`, `deviceClockSkewSecs`, ...) or throws a
//! `PaySealException` / `PaySealError` (`InvalidProfile`, `InvalidReceipt`, `Network`,
//! `Timeout`, `PinMismatch`, `Tampered`, `ServerRejected`, `Internal`: the one vocabulary of
//! [`PaySealErrorKind`], also in pending results, pending files and logs). `retryPending()`,
//! `pendingCount()`, `receiptFromJson(json)`, `setLogger(logger)` and the account token
//! helpers `accountTokenUuidV5(namespace, accountId)` / `accountTokenSha256Hex(accountId)`
//! (the store's `appAccountToken` / `obfuscatedAccountId` at purchase time) complete it. Bindings
//! are generated in library mode by the workspace's `uniffi-bindgen` with the root
//! `uniffi.toml`.
//!
//! ## The crate's face
//! The Rust API is at the crate root. Two namespaces: [`ffi`], the UniFFI surface with the
//! names Kotlin and Swift see (`StoreEnvironment`, `NotPaidReason`, the receipt and store
//! enums, `sdk_version`); and [`runtime`], the SDK's one tokio runtime, for other binding
//! layers over this crate (the Unity C surface) that must run their calls on it.

#![deny(missing_docs)]
// No unsafe code written here. UniFFI's scaffolding (the `extern "C"` exports and their
// lifting and lowering) is expanded from uniffi's macros, which this lint does not inspect,
// and is otherwise in `uniffi_core`.
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

uniffi::setup_scaffolding!("payseal");

mod client;
mod clock;
mod config;
mod decision;
mod entitlements;
mod error;
pub mod ffi;
mod log;
mod pending;
pub mod runtime;
mod tls;
mod transport;
mod unity_iap;

pub use client::{Client, ClientError, Kept, PendingReport, Refusal, Restored, Unverified};
pub use clock::{Clock, OffsetClock, SystemClock};
pub use config::{ConfigError, Options, RetryPolicy};
pub use decision::{check as check_verdict, CheckedVerdict, DecisionError, Expected};
pub use entitlements::{
    check as check_entitlements, CacheError, CheckedEntitlements, EntitlementsCache,
    ExpectedEntitlements,
};
pub use error::{PaySealError, PaySealErrorKind};
pub use ffi::{
    account_token_sha256_hex, account_token_uuid_v5, default_options, receipt_from_json,
    receipt_sha256, receipt_to_json, PaySeal, PaySealOptions, PendingOutcome, PendingResult,
    Receipt, Verdict,
};
pub use log::{clear_logger, set_logger, LogLevel, PaySealLogger};
pub use pending::{PendingEntry, PendingError, PendingStore};
pub use tls::TlsError;
pub use transport::TransportError;
pub use unity_iap::{receipt_from_unity_iap, UnityIapError};

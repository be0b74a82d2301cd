//! # payseal-protocol
//!
//! PaySeal's wire formats and their crypto, shared by the SDK, the verifier and
//! application servers. It is pure Rust with no I/O: no sockets, no files, no clocks (callers
//! pass `now`). It is not the SDK (`payseal-sdk-core`), not the server (`payseal-verifier`)
//! and not the application server's token check (`payseal-appserver`), though all three are
//! built on it.
//!
//! The shared vocabulary is at the crate root: the store receipts and their canonical hash
//! ([`Receipt`], [`Store`], [`HuaweiAlgorithm`]), the request and response plaintexts
//! ([`VerifyRequest`], [`VerifyResponse`], [`SdkInfo`]) and the verdict's claims and enums
//! ([`VerdictClaims`], [`Outcome`], [`Reason`], ...). Everything else lives in one namespace
//! per concept:
//! - [`envelope`]: RFC 9458-style HPKE sealing of requests and responses
//!   (X25519, HKDF-SHA256, ChaCha20-Poly1305) and the key configuration encoding;
//! - [`entitlements`]: the signed entitlements document (what an account owns now), its
//!   sealed request (with an optional restore batch) and answer;
//! - [`verdict`]: the signed verdict, a compact JWS (EdDSA / Ed25519): signing and verifying
//!   keys, JWKS;
//! - [`profile`]: the versioned JSON document an app embeds to trust a verifier, parsed into
//!   decoded types;
//! - [`pin`]: TLS SPKI pins (`sha256/<base64>`) and the SPKI of a certificate;
//! - [`url`]: the verifier URL rule (`https://host[:port]`) and its pieces;
//! - [`request`]: the request's wire rules (nonce, app id, account id and expected product id
//!   limits) that the SDK and the verifier both apply;
//! - [`account_binding`]: the account token an app gives its store at purchase time
//!   (`appAccountToken`, `obfuscatedAccountId`) and its check;
//! - [`webhook`]: the signed webhook event format, its `PaySeal-Signature` header and the
//!   receiver's check.
//!
//! Test vectors for other implementations (a sealed request and response with their keys, a
//! verdict token with its key) are in `protocol/tests/vectors/`, described in its README.
//!
//! ```
//! use payseal_protocol::envelope::{open_request, seal_request, ServerKeyPair};
//!
//! let server = ServerKeyPair::generate(1);
//! let (sealed, client) = seal_request(&server.config(), b"hello").unwrap();
//! let (plain, reply) = open_request(std::slice::from_ref(&server), &sealed).unwrap();
//! assert_eq!(plain, b"hello");
//! let sealed_answer = reply.seal_response(b"world").unwrap();
//! assert_eq!(client.open_response(&sealed_answer).unwrap(), b"world");
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod account_binding;
pub mod app_server;
pub mod entitlements;
pub mod envelope;
pub mod pin;
pub mod profile;
mod receipt;
pub mod request;
mod subscription;
pub mod time;
pub mod url;
pub mod verdict;
pub mod webhook;

pub use account_binding::AccountBinding;
pub use receipt::{HuaweiAlgorithm, Receipt, Store};
pub use request::{
    is_supported_version, SdkInfo, VerifyRequest, VerifyResponse, MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
};
pub use verdict::{
    Environment, Outcome, PurchaseKind, Reason, Redemption, RefundCounts, RefundHistoryClaim,
    SubscriptionState, VerdictClaims,
};

//! # payseal-attacks
//!
//! PaySeal's end-to-end attack suite (issue 4, `tests/attacks.rs`, run with
//! `cargo test -p payseal-attacks --test attacks`) and the one tool it shares with the Kotlin
//! and Swift suites: [`Mitm`], a TLS-terminating relay holding the verifier's own (pinned)
//! certificate and key, as a compromised load balancer would, which can pass traffic through,
//! flip a bit in each sealed response, answer every request with the first response it saw,
//! or swap responses between clients, or, given the verifier's own HPKE and verdict keys,
//! re-sign each verdict with changed claims (`Mode::Resign`, to drive the SDKs through claims
//! no verifier path produces yet) ([`Mode`]). It records what it relayed ([`Report`]) so a
//! test can assert it only ever saw ciphertext. The `payseal-mitm` binary is its command-line
//! form (see `attacks/README.md`).
//!
//! It is **not** a general proxy nor a production component: it listens on loopback
//! addresses only, keeps bodies of at most [`MAX_BODY_BYTES`], and exists to prove that
//! PaySeal refuses what it relays.
//!
//! ```no_run
//! use payseal_attacks::{Mitm, MitmConfig, Mode};
//!
//! # async fn demo() -> Result<(), payseal_attacks::MitmError> {
//! let relay = Mitm::start(MitmConfig {
//!     listen: "127.0.0.1:0".parse().unwrap(),
//!     upstream: "https://localhost:8443".into(),
//!     cert_pem: "state/tls/cert.pem".into(), // the verifier's own, pinned, pair
//!     key_pem: "state/tls/key.pem".into(),
//!     upstream_ca_pem: "state/tls/cert.pem".into(),
//!     mode: Mode::FlipResponse,
//!     watch: vec![],
//!     report_path: None,
//!     resign: None,
//! })
//! .await?;
//! // point the SDK at https://localhost:{relay.local_addr().port()}, verify, then:
//! assert!(!relay.report().plaintext_seen);
//! relay.shutdown();
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod mitm;

pub use mitm::{
    Mitm, MitmConfig, MitmError, Mode, Report, Resign, MAX_BODY_BYTES, MAX_KEPT_BYTES,
    PLAINTEXT_MARKERS,
};

//! # payseal-attacks
//!
//! PaySeal's end-to-end attack suite (issue 4, `tests/attacks.rs`, run with
//! `cargo test -p payseal-attacks --test attacks`) and the tool it shares with the Kotlin and
//! Swift suites: [`mitm`], a TLS-terminating relay holding the verifier's own (pinned)
//! certificate and key, as a compromised load balancer would, which can pass traffic
//! through, flip a bit in each sealed response, answer every request with the first
//! response it saw, or swap responses between clients. It records what it relayed so a test
//! can assert it only ever saw ciphertext.
//!
//! The `payseal-mitm` binary is the command-line form (see `attacks/README.md`). It listens
//! on loopback addresses only.

#![warn(missing_docs)]

pub mod mitm;

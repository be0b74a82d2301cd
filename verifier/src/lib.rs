//! # payseal-verifier
//!
//! The PaySeal verification server. It receives a store receipt sealed by the PaySeal SDK
//! (RFC 9458-style HPKE envelope over pinned TLS), checks the store's signature by that store's
//! rule (Google Play, App Store, Huawei AppGallery, the PaySeal sandbox store), records the
//! redemption in a ledger so a receipt pays once and for one account, and answers with a sealed,
//! Ed25519-signed verdict (compact JWS) that the app and its application server can check.
//!
//! It decides purchases from the store's signed data and the roots you configure, not by asking
//! the stores. It calls store servers only for what a receipt cannot say, and only when
//! configured ([`notifications`]): Google Play's Voided Purchases API and Google's OIDC keys
//! (refunds and their push notifications), Huawei's Order service (to check a refund
//! notification against Huawei's signed data). It is not the SDK (`payseal-sdk-core`), and it does
//! not deliver items: the app's own server does that from the verdict. Nor is this library a
//! stable API for third parties: the product is the `payseal-verifier` binary ([`cli::main`]);
//! the library is public so that its tests, benchmarks, the fuzz targets and the other crates'
//! tests can embed the server and its parts.
//!
//! ```text
//! # A complete local setup (keys, self-signed TLS, sandbox store, config) in one folder; a
//! # build with development mode (`cargo build -p payseal-verifier --features dev`):
//! payseal-verifier dev --listen 127.0.0.1:8443 --state-dir ./payseal-dev
//! # ... prints the URL, the TLS pins and the paths, writes ./payseal-dev/profile.json, serves.
//! payseal-sandbox google-play --dir ./payseal-dev --app dev.payseal.demo --product coins_100 > r.json
//! payseal-verifier check --config ./payseal-dev/verifier.toml --app dev.payseal.demo r.json
//! ```
//!
//! The same, embedded (feature `dev`): a development state folder, the server bound on a free
//! port, stopped.
//!
//! ```
//! use payseal_verifier::{dev, profile, server::Server};
//!
//! let state = tempfile::tempdir().unwrap();
//! // A free port (the public URL in the profile names it, so not `:0`).
//! let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
//! let paths = dev::prepare(state.path(), listen).unwrap(); // keys, TLS, sandbox store, config
//! let settings = dev::load(&paths, listen).unwrap();
//! let profile = profile::build(&settings).unwrap(); // what the app embeds to trust this server
//! assert!(profile.to_json().contains(&format!("https://localhost:{}", listen.port())));
//!
//! let server = Server::bind(settings).unwrap(); // TLS loaded, ledger opened, port bound
//! assert_eq!(server.local_addr(), listen);
//! let runtime = tokio::runtime::Runtime::new().unwrap();
//! // `run` serves until the future completes; here it completes at once (graceful shutdown).
//! runtime.block_on(server.run(async {})).unwrap();
//! ```
//!
//! ## Public face
//!
//! At the root: the decision ([`Verifier`], [`Decision`], [`ServiceError`], [`now_ms`]), the TLS
//! set-up ([`install_crypto_provider`], [`server_config`], [`leaf_pin`], [`ReloadableTls`],
//! [`TlsError`]) and the key files' readers ([`read_hpke_key`], [`read_verdict_key`],
//! [`KeyError`]). Then one section per concept:
//! - [`config`]: TOML + environment → [`settings::Settings`] ([`settings`]: the typed settings);
//! - `dev` (feature `dev`, off by default: it links the sandbox store, which mints receipts):
//!   development mode, a complete local state folder; [`profile`]: the SDK profile;
//! - [`rules`]: the pure store rules, re-exported from the `payseal-rules` crate
//!   ([`rules::check_receipt`]);
//! - [`ledger`]: the redemption ledger, webhook outbox and notification record (the
//!   `payseal-ledger` crate, re-exported; SQLite by default, PostgreSQL for several instances):
//!   [`ledger::open`], [`ledger::connect`], [`ledger::SqliteLedger`], [`ledger::PostgresLedger`];
//! - [`webhook`]: signed delivery to the application server ([`webhook::outbox`], the ledger's,
//!   [`webhook::signing`]) and the receiver's check;
//! - [`notifications`]: store server notifications (refunds and revocations the stores report);
//! - [`server`]: HTTPS (`POST /v1/verify`, `GET /v1/keys`, `/healthz`, `/readyz`, the stores'
//!   notifications) and `/metrics` on a private plain-HTTP listener: [`server::Server`];
//! - [`cli`]: the command line.
//!
//! The rest is private: key and certificate file generation (`keys`, `certs`), logging, the
//! accept loop and connection table, metrics, problem documents and the webhook delivery
//! worker.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod app_store_api;
pub mod background;
mod certs;
pub mod cli;
pub mod config;
#[cfg(feature = "dev")]
pub mod dev;
pub mod entitlements;
pub mod google_api;
mod keys;
/// The redemption ledger (the `payseal-ledger` crate).
pub use payseal_ledger as ledger;
mod logging;
mod metrics;
pub mod notifications;
pub mod profile;
pub mod refunds;
pub mod server;
mod service;
pub mod settings;
mod tls;
pub mod webhook;

/// The pure store rules (the `payseal-rules` crate): what [`settings::Settings`] holds per app
/// and what [`Verifier`] decides a receipt with.
pub use payseal_rules as rules;

pub use keys::{read_hpke_key, read_verdict_key, KeyError};
pub use service::{now_ms, Decision, ServiceError, Verifier};
pub use tls::{install_crypto_provider, leaf_pin, server_config, ReloadableTls, TlsError};

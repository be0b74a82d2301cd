//! # payseal-verifier
//!
//! The PaySeal verification server. It receives a store receipt sealed by the PaySeal SDK
//! (RFC 9458-style HPKE envelope over pinned TLS), checks the store's signature by that store's
//! rule (Google Play, App Store, Huawei AppGallery, the PaySeal sandbox store), records the
//! redemption in a ledger so a receipt pays once and for one account, and answers with a sealed,
//! Ed25519-signed verdict (compact JWS) that the app and its application server can check.
//!
//! Parts: [`config`] (TOML + environment → [`settings::Settings`]), [`keys`] (key files),
//! [`rules`] (the pure store rules), [`ledger`] (the redemption ledger and webhook outbox;
//! SQLite by default, PostgreSQL for several instances), [`service`] (the decision),
//! [`webhook`] (signed delivery to the application server and the receiver's check),
//! [`notifications`] (store server notifications: refunds and revocations the stores report),
//! [`server`] (HTTPS: `POST /v1/verify`, `GET /v1/keys`, `/healthz`, `/readyz`, `/metrics`),
//! [`tls`], [`certs`] (production TLS key, CSR and leaf), [`profile`] (the SDK profile), [`dev`]
//! (development mode), [`logging`] (text or JSON lines) and [`cli`].
//!
//! It decides purchases from the store's signed data and the roots you configure, not by asking
//! the stores. It calls store servers only for what a receipt cannot say, and only when
//! configured ([`notifications`]): Google Play's Voided Purchases API and Google's OIDC keys
//! (refunds and their push notifications), Huawei's Order service (to check a refund
//! notification against Huawei's signed data). It is not the SDK (`payseal-sdk-core`), and it does
//! not deliver items: the app's own server does that from the verdict.
//!
//! ```text
//! # A complete local setup (keys, self-signed TLS, sandbox store, config) in one folder:
//! payseal-verifier dev --listen 127.0.0.1:8443 --state-dir ./payseal-dev
//! # ... prints the URL, the TLS pins and the paths, writes ./payseal-dev/profile.json, serves.
//! payseal-sandbox google-play --dir ./payseal-dev --app dev.payseal.demo --product coins_100 > r.json
//! payseal-verifier check --config ./payseal-dev/verifier.toml --app dev.payseal.demo r.json
//! ```

pub mod certs;
pub mod cli;
pub mod config;
pub mod dev;
pub mod keys;
pub mod ledger;
pub mod logging;
pub mod notifications;
pub mod profile;
pub mod rules;
pub mod server;
pub mod service;
pub mod settings;
pub mod tls;
pub mod webhook;

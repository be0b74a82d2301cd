//! # payseal-appserver
//!
//! The application server's side of PaySeal verdict tokens. The app forwards the compact JWS
//! its SDK got from the verifier; the server calls this crate and gets either a typed
//! [`Grant`] (deliver `quantity` of `product_id` to `account`) or a typed [`TokenError`]
//! saying why not (`Expired`, `UnknownKey`, `WrongApp`, `NotPaid { reason }`, `Replayed`,
//! `AlreadyDelivered`, `TooOld`, ...).
//!
//! - **Signature**: checked by `payseal_protocol::verdict::VerdictVerifier` (EdDSA only,
//!   known `kid`s only, `typ: payseal-verdict+jwt`, `exp`/`iat` with clock skew); this crate
//!   adds no second implementation of the crypto.
//! - **Keys**: fixed, from the SDK profile or a JWK Set ([`TokenVerifier`]), or fetched from
//!   the verifier's `GET /v1/keys` and cached with a TTL, refetched once (rate-limited) for
//!   an unknown `kid`, last good set kept when a fetch fails ([`JwksSource`],
//!   [`JwksTokenVerifier`]).
//! - **Policy** ([`Policy`]): expected app (required), expected issuer, allowed
//!   environments, maximum age since `iat`, `outcome == paid`.
//! - **Replay** ([`ReplayGuard`], [`MemoryReplayGuard`]): each token (`jti`) is accepted once;
//!   see [`ReplayGuard`] for backing the guard with the app server's database.
//! - **Delivery** ([`DeliveryGuard`], [`MemoryDeliveryGuard`]): each purchase ([`PurchaseKey`]:
//!   app, store, transaction id) is delivered once, whichever of its tokens comes first. Every
//!   verification of a purchase gives a new token (fresh `jti`, `redemption: repeat` after the
//!   first), so the replay guard alone would deliver a consumable once per verification; see
//!   [`DeliveryGuard`] for the key and for backing the guard with a SQL table.
//! - **Webhooks** ([`webhook`], [`verify_webhook`]): the check an application server runs on
//!   every signed webhook the verifier POSTs (signature on the raw body in constant time,
//!   timestamp tolerance); deduplicate the returned event by its `id`.
//!
//! - **App-server API credential** ([`AppServerCredential`]): the app's key for the
//!   verifier's app-server API (HTTP Basic; the same file as the verifier's
//!   `[apps."ID".app_server] api_key_file`), attached to a request by
//!   [`AppServerCredential::authorize`].
//! - **Delivery and consumption reports** ([`VerifierApi`]): confirm a delivery, report
//!   consumption and an account's consent to the verifier (its evidence when a store asks about
//!   a refund); [`VerifierApi::accept`] is the delivery guard that confirms by itself.
//!
//! - **Entitlements** ([`VerifierApi::entitlements`], [`check_entitlements`]): what an account
//!   owns now, fetched with the app-server credential (`GET /v1/app-server/entitlements`, bound
//!   to a fresh nonce) or forwarded by the app, checked with the verdict keys
//!   (`typ: payseal-entitlements+jwt`) into typed [`Entitlements`].
//!
//! Everything is at the crate root except the webhook vocabulary ([`webhook`]). The pure parts
//! ([`Policy`], the guards, [`TokenVerifier`], [`RefreshSchedule`]) do no I/O; the only I/O is
//! the JWKS fetch of [`JwksSource`] (reqwest over rustls, ring provider, no global state).
//!
//! It is not the HTTP endpoint that receives webhooks, not the verifier and not the SDK. A
//! `repeat` redemption means "the verifier has seen this purchase for this account before":
//! [`TokenVerifier::accept`] delivers it only if the [`DeliveryGuard`] has no record of it.
//!
//! ```
//! use payseal_appserver::{
//!     MemoryDeliveryGuard, MemoryReplayGuard, Policy, TokenError, TokenVerifier,
//! };
//! # use payseal_protocol::verdict::VerdictSigningKey;
//! # let key = VerdictSigningKey::from_seed("v1", [7; 32]);
//! # let now = 1_700_000_000;
//! # let claims = payseal_protocol::VerdictClaims {
//! #     iss: "https://verify.example.com".into(), iat: now, exp: now + 300, jti: "j1".into(),
//! #     nonce: "n".into(), app: "dev.payseal.demo".into(), sub: "account-42".into(),
//! #     store: payseal_protocol::Store::GooglePlay, environment: None,
//! #     product_id: Some("coins_100".into()), transaction_id: Some("GPA.1".into()),
//! #     original_transaction_id: None, quantity: Some(1), purchased_at: None, kind: None, expires_at: None,
//! #     receipt_sha256: "00".repeat(32), outcome: payseal_protocol::Outcome::Paid,
//! #     reason: None, redemption: Some(payseal_protocol::Redemption::First),
//! #     subscription_state: None, store_checked: None, refund_history: None };
//! # let token = key.sign(&claims).unwrap();
//! # let keys = vec![key.public_key()];
//! // keys: from TokenVerifier::from_profile_json(profile, ..), or use JwksTokenVerifier.
//! let verifier = TokenVerifier::new(
//!     keys,
//!     Policy::new("dev.payseal.demo").with_issuer("https://verify.example.com"),
//! );
//! let (seen, delivered) = (MemoryReplayGuard::new(), MemoryDeliveryGuard::new());
//! // now: payseal_appserver::unix_now()
//! let grant = verifier.accept(&token, now, &seen, &delivered)?;
//! assert_eq!((grant.account.as_str(), grant.product_id.as_str()), ("account-42", "coins_100"));
//! // The same token again is refused.
//! assert!(matches!(
//!     verifier.accept(&token, now, &seen, &delivered),
//!     Err(TokenError::Replayed { .. })
//! ));
//! // The purchase verified again: a new token (fresh jti, repeat), not delivered again.
//! # let mut claims = claims;
//! # claims.jti = "j2".into();
//! # claims.redemption = Some(payseal_protocol::Redemption::Repeat);
//! # let token = key.sign(&claims).unwrap();
//! assert!(matches!(
//!     verifier.accept(&token, now, &seen, &delivered),
//!     Err(TokenError::AlreadyDelivered { .. })
//! ));
//! # Ok::<(), TokenError>(())
//! ```
//!
//! With keys from the verifier (rotation followed automatically), as the book's recipe (docs/src/delivery.md):
//!
//! ```no_run
//! # fn deliver(_: &str, _: &str, _: u32, _: &str) {}
//! # fn already_there() {}
//! # fn refuse(_: Option<payseal_protocol::Reason>) {}
//! # async fn handle(token: String) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use payseal_appserver::*;
//! let source = JwksSource::new(JwksOptions::new("https://verify.example.com/v1/keys"))?;
//! let tokens = JwksTokenVerifier::new(Arc::new(source),
//!     Policy::new("dev.payseal.demo").with_issuer("https://verify.example.com"));
//! // One process: in memory. Several instances: implement both traits over your database.
//! let (seen, delivered) = (MemoryReplayGuard::new(), MemoryDeliveryGuard::new());
//! match tokens.accept(&token, unix_now(), &seen, &delivered).await {
//!     Ok(g) => deliver(&g.account, &g.product_id, g.quantity, &g.transaction_id),
//!     Err(TokenError::AlreadyDelivered { .. }) => already_there(), // verified again: nothing to give
//!     Err(TokenError::NotPaid { reason }) => refuse(reason),
//!     Err(e) => return Err(e.into()), // Expired, UnknownKey, WrongApp, Replayed, TooOld, ...
//! }
//! # Ok(()) }
//! ```
//!
//! The same in five lines, as on the front page (README.md, "Check the verdict on your server"):
//!
//! ```no_run
//! # fn deliver(_: &str, _: &str, _: u32, _: &str) {}
//! # async fn handle(token: String) -> Result<(), Box<dyn std::error::Error>> {
//! # use std::sync::Arc;
//! # use payseal_appserver::*;
//! # let (seen, delivered) = (MemoryReplayGuard::new(), MemoryDeliveryGuard::new());
//! let keys = JwksSource::new(JwksOptions::new("https://verify.example.com/v1/keys"))?;
//! let tokens = JwksTokenVerifier::new(Arc::new(keys),
//!     Policy::new("com.example.game").with_issuer("https://verify.example.com"));
//! let g = tokens.accept(&token, unix_now(), &seen, &delivered).await?; // each jti once, each purchase once
//! deliver(&g.account, &g.product_id, g.quantity, &g.transaction_id);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

mod credential;
mod delivery;
mod entitlements;
mod jwks;
mod policy;
mod replay;
mod reports;
mod verifier;

pub use credential::{AppServerCredential, CredentialError};
pub use delivery::{DeliveryError, DeliveryGuard, MemoryDeliveryGuard, PurchaseKey};
pub use entitlements::{check_entitlements, Entitlements, EntitlementsError};
pub use jwks::{JwksError, JwksOptions, JwksSource, JwksStats, JwksTokenVerifier, RefreshSchedule};
pub use policy::{is_paid, Grant, Policy, TokenError};
pub use replay::{MemoryReplayGuard, ReplayError, ReplayGuard};
pub use reports::{ReportError, VerifierApi, VerifierApiOptions};
pub use verifier::TokenVerifier;

/// Signed webhooks from the verifier: the receiver's check ([`webhook::verify_webhook`]), the
/// event format and the header names, so an application server needs only this crate.
/// The same items as [`payseal_protocol::webhook`].
pub mod webhook {
    pub use payseal_protocol::webhook::{
        verify_webhook, EntitlementsChangedData, Event, EventKind, ReinstatedData, RevokedData,
        SubscriptionUpdatedData, WebhookError, WebhookEvent, DEFAULT_TOLERANCE,
        ENTITLEMENTS_CHANGED, EVENT_HEADER, ID_HEADER, PURCHASE_PAID, PURCHASE_REINSTATED,
        PURCHASE_REVOKED, SIGNATURE_HEADER, SUBSCRIPTION_UPDATED,
    };
}
pub use webhook::{verify_webhook, WebhookError, WebhookEvent};

/// The current time in Unix seconds (the `now` the checks take; 0 if the clock is before 1970):
/// [`payseal_protocol::time::now_s`].
pub use payseal_protocol::time::now_s as unix_now;

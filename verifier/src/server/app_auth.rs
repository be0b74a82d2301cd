//! The app-server API's credential: every route an application server calls (delivery and
//! consumption reports, entitlements) takes an [`AuthenticatedApp`], which yields the app the
//! request is authenticated as, or answers `401` with nothing recorded.
//!
//! The scheme is HTTP Basic (RFC 7617) over the verifier's TLS: user = the app id, password =
//! the content of the app's `[apps."ID".app_server] api_key_file`
//! ([`crate::settings::AppServerKey`], compared in constant time on SHA-256 digests). The key
//! is never logged; a refusal logs only its [`AuthError`] class and, when named, the app id.
//! `payseal_appserver::AppServerCredential` sends it.
//!
//! A handler then checks that what it is asked about belongs to that app: an authenticated
//! app never reads or reports another app's purchase.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::problem::Problem;
use super::AppState;
use crate::settings::AppServerKey;

/// `GET` route answering `{"app": ID}` for a valid credential: an application server checks its
/// configuration with it.
pub const IDENTITY_ROUTE: &str = "/v1/app-server/identity";

/// The app a request is authenticated as (a configured app with an `app_server` key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedApp(pub String);

impl AuthenticatedApp {
    /// The app id.
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// Why a request is not authenticated (logged as a class; the answer is the same `401`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// Not `Basic` with Base64 of `app:key` in visible ASCII.
    #[error("Authorization is not Basic base64(app:key)")]
    Malformed,
    /// The app has no `app_server` key configured (or is not configured at all).
    #[error("app {0:?} has no app_server key")]
    UnknownApp(String),
    /// The key is not the app's.
    #[error("wrong key for app {0:?}")]
    WrongKey(String),
}

impl AuthError {
    /// A label for logs.
    pub fn class(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed => "malformed",
            AuthError::UnknownApp(_) => "unknown_app",
            AuthError::WrongKey(_) => "wrong_key",
        }
    }
}

/// Authenticate `headers` against the configured keys (pure: no I/O, no logging).
pub fn authenticate(
    headers: &HeaderMap,
    keys: &HashMap<String, AppServerKey>,
) -> Result<AuthenticatedApp, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Malformed)?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::Malformed);
    }
    let decoded = zeroize::Zeroizing::new(
        STANDARD
            .decode(encoded.trim())
            .map_err(|_| AuthError::Malformed)?,
    );
    let colon = decoded
        .iter()
        .position(|b| *b == b':')
        .ok_or(AuthError::Malformed)?;
    let (app, secret) = (&decoded[..colon], &decoded[colon + 1..]);
    let app = std::str::from_utf8(app).map_err(|_| AuthError::Malformed)?;
    if app.is_empty() {
        return Err(AuthError::Malformed);
    }
    match keys.get(app) {
        None => Err(AuthError::UnknownApp(app.to_string())),
        Some(key) if key.matches(secret) => Ok(AuthenticatedApp(app.to_string())),
        Some(_) => Err(AuthError::WrongKey(app.to_string())),
    }
}

/// The `401` every refusal gets (the same for every cause).
fn unauthorized() -> Response {
    let mut response = Problem::new(StatusCode::UNAUTHORIZED, "Unauthorized", "unauthorized")
        .detail("present the app's app_server key: HTTP Basic, user = app id")
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"payseal-app-server\", charset=\"UTF-8\""),
    );
    response
}

impl FromRequestParts<AppState> for AuthenticatedApp {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        authenticate(&parts.headers, &state.verifier.settings().app_server_keys).map_err(|e| {
            match &e {
                AuthError::UnknownApp(app) | AuthError::WrongKey(app) => {
                    tracing::warn!(app = %app, class = e.class(), "app-server API: refused")
                }
                _ => tracing::debug!(class = e.class(), "app-server API: refused"),
            }
            unauthorized()
        })
    }
}

/// `GET /v1/app-server/identity`: the authenticated app.
pub(super) async fn identity(app: AuthenticatedApp) -> Response {
    axum::Json(serde_json::json!({ "app": app.0 })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn keys() -> HashMap<String, AppServerKey> {
        HashMap::from([
            (
                "game.a".to_string(),
                AppServerKey::from_secret(KEY.as_bytes()),
            ),
            (
                "game.b".to_string(),
                AppServerKey::from_secret(b"another-key-another-key-another-k"),
            ),
        ])
    }

    fn basic(raw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(raw));
        h.insert(header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn the_apps_own_key_authenticates_that_app_only() {
        assert_eq!(
            authenticate(&basic(&format!("game.a:{KEY}")), &keys()),
            Ok(AuthenticatedApp("game.a".into()))
        );
        assert_eq!(
            authenticate(&basic(&format!("game.b:{KEY}")), &keys()),
            Err(AuthError::WrongKey("game.b".into()))
        );
        assert_eq!(
            authenticate(&basic(&format!("game.c:{KEY}")), &keys()),
            Err(AuthError::UnknownApp("game.c".into()))
        );
    }

    #[test]
    fn missing_or_malformed_headers_are_refused() {
        assert_eq!(
            authenticate(&HeaderMap::new(), &keys()),
            Err(AuthError::Missing)
        );
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            format!("Bearer {KEY}").parse().unwrap(),
        );
        assert_eq!(authenticate(&bearer, &keys()), Err(AuthError::Malformed));
        assert_eq!(
            authenticate(&basic("game.a"), &keys()),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            authenticate(&basic(&format!(":{KEY}")), &keys()),
            Err(AuthError::Malformed)
        );
        let mut junk = HeaderMap::new();
        junk.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(authenticate(&junk, &keys()), Err(AuthError::Malformed));
    }
}

//! The service account's OAuth2 access tokens ([`AccessTokens`]): an RS256 JWT-bearer
//! assertion for the `androidpublisher` scope (`crate::settings::assertion`) exchanged at the
//! key file's `token_uri`, cached until a minute before its `expires_in`. One instance per
//! service account serves the Voided Purchases poller and the Play Developer API client alike.

use std::time::Duration;

use serde::Deserialize;

use crate::settings::{assertion, ServiceAccountKey};
use crate::upstream::{read_limited, CachedToken, UpstreamError};

/// The JWT bearer grant type.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Largest token response accepted, bytes.
const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// Why a token endpoint's answer carries no usable access token.
#[derive(Debug, thiserror::Error)]
pub enum TokenResponseError {
    /// Not the JSON of a token response.
    #[error("not a token response: {0}")]
    Json(#[from] serde_json::Error),
    /// `access_token` is empty.
    #[error("empty access_token")]
    Empty,
    /// `token_type` is not `Bearer`.
    #[error("token_type is not Bearer")]
    NotBearer,
}

/// The access token and its lifetime from a token endpoint's JSON answer (RFC 6749 §5.1; both
/// Google's and Huawei's token endpoints answer so). Pure.
pub fn parse_token_response(json: &[u8]) -> Result<(String, Duration), TokenResponseError> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: String,
        #[serde(default)]
        expires_in: Option<u64>,
        #[serde(default)]
        token_type: Option<String>,
    }
    let a: Answer = serde_json::from_slice(json)?;
    if a.access_token.is_empty() {
        return Err(TokenResponseError::Empty);
    }
    if a.token_type
        .as_deref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
    {
        return Err(TokenResponseError::NotBearer);
    }
    Ok((
        a.access_token,
        Duration::from_secs(a.expires_in.unwrap_or(3600)),
    ))
}

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The OAuth assertion could not be signed.
    #[error("OAuth token: cannot sign the assertion: {0}")]
    Assertion(#[from] jsonwebtoken::errors::Error),
    /// The token endpoint could not be reached, or its answer read.
    #[error("OAuth token: {0}")]
    Upstream(UpstreamError),
    /// The token endpoint refused the assertion (its `error` code, which names no secret).
    #[error("OAuth token: token endpoint answered HTTP {status} {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The answer's `error` (`invalid_grant`, ...), empty when absent.
        error: String,
    },
}

/// OAuth2 access tokens of one service account, cached until a minute before they expire.
#[derive(Debug)]
pub struct AccessTokens {
    key: ServiceAccountKey,
    token_uri: String,
    client: reqwest::Client,
    timeout: Duration,
    cached: CachedToken,
}

impl AccessTokens {
    /// Tokens for `key`, exchanged at `token_uri` with `client` within `timeout`.
    pub fn new(
        key: ServiceAccountKey,
        token_uri: String,
        client: reqwest::Client,
        timeout: Duration,
    ) -> Self {
        Self {
            key,
            token_uri,
            client,
            timeout,
            cached: CachedToken::default(),
        }
    }

    /// A valid access token (cached, or fetched now).
    pub async fn get(&self) -> Result<zeroize::Zeroizing<String>, TokenError> {
        self.cached.get_or_fetch(|| self.fetch()).await
    }

    async fn fetch(&self) -> Result<(String, Duration), TokenError> {
        let now_s = payseal_protocol::time::now_ms() / 1000;
        const WHAT: &str = "token endpoint";
        let jwt = assertion(&self.key, &self.token_uri, now_s)?;
        let response = self
            .client
            .post(&self.token_uri)
            .timeout(self.timeout)
            .form(&[
                ("grant_type", JWT_BEARER_GRANT),
                ("assertion", jwt.as_str()),
            ])
            .send()
            .await
            .map_err(|e| TokenError::Upstream(UpstreamError::transport(WHAT, e)))?;
        let status = response.status();
        let body = read_limited(WHAT, response, MAX_TOKEN_RESPONSE_BYTES)
            .await
            .map_err(TokenError::Upstream)?;
        if !status.is_success() {
            // The error JSON ({"error": "invalid_grant", ...}) names no secret.
            let error = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_default();
            return Err(TokenError::Refused {
                status: status.as_u16(),
                error,
            });
        }
        parse_token_response(&body)
            .map_err(|e| TokenError::Upstream(UpstreamError::decode(WHAT, e)))
    }

    /// Drop the cached token (after the API refused it).
    pub async fn forget(&self) {
        self.cached.forget().await;
    }
}

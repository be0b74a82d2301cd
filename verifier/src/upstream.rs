//! Calling a store's server (Google's token endpoint, JWKS and Play Developer API, Huawei's
//! token endpoint and Order service): the one error type of such a call ([`UpstreamError`]),
//! bounded body reading ([`read_limited`]) and the OAuth2 access-token cache
//! (`CachedToken`), and the int64 fields Google and Huawei send as strings ([`int64`]). The requests are made with the verifier's one outbound client
//! (`crate::background::outbound_client`), each with its own timeout.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

/// Why a store's server gave no usable answer. Never carries a URL's query, a token or a
/// secret: transport errors are reduced to their kind and text without the URL.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The request could not be sent or its answer read (connect, timeout, TLS, reset).
    #[error("{what}: {detail}")]
    Transport {
        /// Which server.
        what: &'static str,
        /// The transport error, without the URL.
        detail: String,
    },
    /// The server answered with a status that is not a success.
    #[error("{what} answered HTTP {status}")]
    Status {
        /// Which server.
        what: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// The answer is larger than accepted.
    #[error("{what}: response larger than {max} bytes")]
    TooLarge {
        /// Which server.
        what: &'static str,
        /// The bound, bytes.
        max: usize,
    },
    /// The answer does not decode as that server's format.
    #[error("{what}: {source}")]
    Decode {
        /// Which server.
        what: &'static str,
        /// Why (from the pure decoder).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server refused a fresh access token too.
    #[error("{what} refused a fresh access token")]
    Unauthorized {
        /// Which server.
        what: &'static str,
    },
}

impl UpstreamError {
    /// A transport error of `what`, without its URL.
    pub fn transport(what: &'static str, e: reqwest::Error) -> Self {
        UpstreamError::Transport {
            what,
            detail: e.without_url().to_string(),
        }
    }

    /// A decoding error of `what`'s answer.
    pub fn decode(what: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> Self {
        UpstreamError::Decode {
            what,
            source: Box::new(e),
        }
    }
}

/// Read the body of `what`'s answer, at most `max` bytes (a larger one is an error, not
/// truncated).
pub async fn read_limited(
    what: &'static str,
    mut response: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, UpstreamError> {
    let too_large = UpstreamError::TooLarge { what, max };
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(max).unwrap_or(u64::MAX))
    {
        return Err(too_large);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| UpstreamError::transport(what, e))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An OAuth2 access token, kept until a minute before it expires. Never printed.
#[derive(Default)]
pub(crate) struct CachedToken(Mutex<Option<(zeroize::Zeroizing<String>, Instant)>>);

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CachedToken(***)")
    }
}

impl CachedToken {
    /// The cached token, or a new one from `fetch` (its token and lifetime), cached.
    pub(crate) async fn get_or_fetch<E, F>(
        &self,
        fetch: impl FnOnce() -> F,
    ) -> Result<zeroize::Zeroizing<String>, E>
    where
        F: std::future::Future<Output = Result<(String, Duration), E>>,
    {
        let mut cached = self.0.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = fetch().await?;
        let token = zeroize::Zeroizing::new(token);
        let until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
        *cached = Some((token.clone(), until));
        Ok(token)
    }

    /// Drop the cached token (after the server refused it).
    pub(crate) async fn forget(&self) {
        *self.0.lock().await = None;
    }
}

/// An int64 that Google and Huawei send as a JSON string (`"1503349566168"`) or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int64 {
    Text(String),
    Number(i64),
}

/// Deserialize an [`Int64`] field (serde `deserialize_with`).
pub fn int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Int64::deserialize(d)? {
        Int64::Number(n) => Ok(n),
        Int64::Text(s) => s
            .parse()
            .map_err(|_| serde::de::Error::custom("not an int64")),
    }
}

/// Deserialize an optional [`Int64`] field (serde `deserialize_with`).
pub fn opt_int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "int64")] i64);
    Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
}

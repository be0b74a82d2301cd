//! A cached JSON Web Key Set fetched over HTTPS (Google's OIDC signing keys for Pub/Sub push
//! tokens, `https://www.googleapis.com/oauth2/v3/certs` by default).
//!
//! Keys are kept for the configured TTL. A token whose `kid` is not in the cache makes one
//! refetch (Google rotates its keys and publishes the new one before using it), at most once
//! every [`MIN_REFETCH`], so a stream of forged tokens with random `kid`s cannot turn the
//! verifier into a load generator against the key server. A failed fetch keeps the keys in
//! hand. Only RSA keys are kept (`kty` `RSA`, `alg` absent or `RS256`, `use` absent or `sig`);
//! a key of another type in the set is skipped, not an error.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::DecodingKey;
use tokio::sync::Mutex;

use super::upstream::{read_limited, UpstreamError};

/// Shortest time between two fetches caused by an unknown `kid`.
pub const MIN_REFETCH: Duration = Duration::from_secs(2);

/// Largest JWKS document accepted, bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why no key could be had for a token.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The key set could not be fetched or parsed (and none was cached for this `kid`).
    #[error("JWKS unavailable: {0}")]
    Unavailable(#[from] UpstreamError),
    /// The set (freshly fetched) has no usable key with this `kid`.
    #[error("no signing key with kid {0:?}")]
    UnknownKid(String),
}

/// The usable RSA keys of a JWKS document, by `kid`. Pure (no I/O).
pub fn parse_jwks(json: &[u8]) -> Result<HashMap<String, DecodingKey>, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(json)?;
    let mut keys = HashMap::new();
    for value in set.keys {
        // A key this library cannot read (another kty, a new field shape) is skipped.
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let alg_ok = jwk
            .common
            .key_algorithm
            .is_none_or(|a| a == jsonwebtoken::jwk::KeyAlgorithm::RS256);
        let use_ok = jwk
            .common
            .public_key_use
            .as_ref()
            .is_none_or(|u| *u == jsonwebtoken::jwk::PublicKeyUse::Signature);
        if let (AlgorithmParameters::RSA(rsa), true, true) = (&jwk.algorithm, alg_ok, use_ok) {
            if let Ok(key) = DecodingKey::from_rsa_components(&rsa.n, &rsa.e) {
                keys.insert(kid, key);
            }
        }
    }
    Ok(keys)
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// A JWKS URL with its cached keys.
pub struct JwksCache {
    url: String,
    ttl: Duration,
    client: reqwest::Client,
    timeout: Duration,
    cached: Mutex<Cached>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.url)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache of the set at `url`, kept `ttl`, fetched with `client` within `timeout`.
    pub fn new(url: String, ttl: Duration, client: reqwest::Client, timeout: Duration) -> Self {
        Self {
            url,
            ttl,
            client,
            timeout,
            cached: Mutex::new(Cached::default()),
        }
    }

    /// The key with `kid`: from the cache while fresh, else after one (rate-limited) fetch.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, JwksError> {
        let mut cached = self.cached.lock().await;
        let now = Instant::now();
        let fresh = cached
            .fetched_at
            .is_some_and(|at| now.duration_since(at) < self.ttl);
        if fresh {
            if let Some(key) = cached.keys.get(kid) {
                return Ok(key.clone());
            }
        }
        let may_fetch = !fresh
            || cached
                .last_attempt
                .is_none_or(|at| now.duration_since(at) >= MIN_REFETCH);
        if may_fetch {
            cached.last_attempt = Some(now);
            match self.fetch().await {
                Ok(keys) => {
                    cached.keys = keys;
                    cached.fetched_at = Some(Instant::now());
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed");
                    // Keep the keys in hand (a stale key still verifies while Google serves it).
                    return cached
                        .keys
                        .get(kid)
                        .cloned()
                        .ok_or(JwksError::Unavailable(e));
                }
            }
        }
        cached
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| JwksError::UnknownKid(kid.to_string()))
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, UpstreamError> {
        const WHAT: &str = "JWKS";
        let response = self
            .client
            .get(&self.url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| UpstreamError::transport(WHAT, e))?;
        if !response.status().is_success() {
            return Err(UpstreamError::Status {
                what: WHAT,
                status: response.status().as_u16(),
            });
        }
        let body = read_limited(WHAT, response, MAX_JWKS_BYTES).await?;
        parse_jwks(&body).map_err(|e| UpstreamError::decode(WHAT, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_signature_keys_with_a_kid_are_kept() {
        let n = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";
        let set = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "a", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "b", "n": n, "e": "AQAB"},
            {"kty": "RSA", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": n, "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "x", "y": "y"},
            {"kty": "weird", "kid": "w"}
        ]});
        let keys = parse_jwks(set.to_string().as_bytes()).unwrap();
        let mut kids: Vec<_> = keys.keys().cloned().collect();
        kids.sort();
        assert_eq!(kids, ["a", "b"]);
        assert!(parse_jwks(b"[]").is_err());
        assert!(parse_jwks(b"{\"keys\": 1}").is_err());
    }
}

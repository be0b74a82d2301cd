//! A cached JSON Web Key Set fetched over HTTPS (Google's OIDC signing keys for Pub/Sub push
//! tokens, `https://www.googleapis.com/oauth2/v3/certs` by default).
//!
//! Keys are kept for the configured TTL. A token whose `kid` is not in hand makes one refetch
//! (Google rotates its keys and publishes the new one before using it). Fetches are at most one
//! every [`MIN_REFETCH`], counted from the last *attempt* (failed or not, also before any set
//! was ever fetched), and never two at once, so a stream of forged tokens with random `kid`s
//! cannot turn the verifier into a load generator against the key server: an unknown `kid`
//! within the interval is refused at once, and unknown `kid`s arriving while a fetch is in
//! flight wait for that one fetch. No lock is held across a fetch: a token whose `kid` is in
//! hand is answered at once even while a fetch is in flight, and a set older than the TTL is
//! refreshed in the background while its keys keep answering. A failed fetch keeps the keys in
//! hand. When to fetch is decided by the pure [`plan`]. Only RSA keys are kept (`kty` `RSA`,
//! `alg` absent or `RS256`, `use` absent or `sig`); a key of another type in the set is
//! skipped, not an error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::DecodingKey;
use tokio::sync::watch;

use crate::upstream::{read_limited, UpstreamError};

/// Shortest time between two fetches of the key set (the first is not delayed).
pub const MIN_REFETCH: Duration = Duration::from_secs(2);

/// Largest JWKS document accepted, bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Why no key could be had for a token.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// The last fetch of the key set failed (and no key in hand has this `kid`).
    #[error("JWKS unavailable: {0}")]
    Unavailable(#[source] Arc<UpstreamError>),
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

/// What a request for a key does, decided from the cache's state alone ([`plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Answer from the keys in hand: the key, or a refusal.
    Answer,
    /// Answer from the keys in hand (the `kid` is there) and refresh the stale set in the
    /// background.
    AnswerAndRefresh,
    /// Start a fetch and answer from its result (an unknown `kid`, a fetch allowed).
    Fetch,
    /// Answer from the result of the fetch already in flight (an unknown `kid`).
    Wait,
}

/// Whether a fetch may start at `now`, the last one having started at `last_attempt`: the
/// first always, then at most one per `interval`, whether the last one succeeded or not.
pub fn may_attempt(now: Instant, last_attempt: Option<Instant>, interval: Duration) -> bool {
    last_attempt.is_none_or(|at| now.saturating_duration_since(at) >= interval)
}

/// What a request for a key does. `known`: the `kid` is in hand; `stale`: no set was fetched
/// within the TTL; `in_flight`: a fetch is under way; `may_attempt`: [`may_attempt`] allows
/// one. A known `kid` never waits for a fetch; an unknown one never starts a second fetch.
pub fn plan(known: bool, stale: bool, in_flight: bool, may_attempt: bool) -> Plan {
    match (known, in_flight, may_attempt) {
        (true, false, true) if stale => Plan::AnswerAndRefresh,
        (true, _, _) => Plan::Answer,
        (false, true, _) => Plan::Wait,
        (false, false, true) => Plan::Fetch,
        (false, false, false) => Plan::Answer,
    }
}

/// The keys in hand and when they were fetched.
#[derive(Default)]
struct State {
    keys: HashMap<String, DecodingKey>,
    /// The last successful fetch.
    fetched_at: Option<Instant>,
    /// The start of the last fetch, successful or not.
    last_attempt: Option<Instant>,
    /// Why the last fetch failed; `None` once one succeeds.
    last_error: Option<Arc<UpstreamError>>,
    in_flight: bool,
}

impl State {
    fn answer(&self, kid: &str) -> Result<DecodingKey, JwksError> {
        self.keys
            .get(kid)
            .cloned()
            .ok_or_else(|| match &self.last_error {
                Some(e) => JwksError::Unavailable(e.clone()),
                None => JwksError::UnknownKid(kid.to_string()),
            })
    }
}

/// What a fetch task shares with the cache.
struct Inner {
    url: String,
    client: reqwest::Client,
    timeout: Duration,
    state: Mutex<State>,
    /// Bumped when a fetch ends; the requests waiting for it watch this.
    fetched: watch::Sender<u64>,
}

impl Inner {
    /// The state; never held across an await.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record the end of the fetch in flight and wake the requests waiting for it.
    fn finish(&self, result: Option<Result<HashMap<String, DecodingKey>, UpstreamError>>) {
        let mut state = self.state();
        match result {
            Some(Ok(keys)) => {
                state.keys = keys;
                state.fetched_at = Some(Instant::now());
                state.last_error = None;
            }
            Some(Err(e)) => {
                tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed");
                // Keep the keys in hand (a stale key still verifies while Google serves it).
                state.last_error = Some(Arc::new(e));
            }
            None => {}
        }
        state.in_flight = false;
        self.fetched.send_modify(|n| *n += 1);
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

/// One fetch in flight: ends it even if its task is dropped before recording a result (and
/// only it: once ended, a later fetch's `in_flight` is not this one's).
struct InFlight {
    inner: Arc<Inner>,
    ended: bool,
}

impl InFlight {
    async fn run(mut self) {
        let result = self.inner.fetch().await;
        self.ended = true;
        self.inner.finish(Some(result));
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.ended {
            self.inner.finish(None);
        }
    }
}

/// A JWKS URL with its cached keys.
pub struct JwksCache {
    ttl: Duration,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache")
            .field("url", &self.inner.url)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache of the set at `url`, kept `ttl`, fetched with `client` within `timeout`.
    pub fn new(url: String, ttl: Duration, client: reqwest::Client, timeout: Duration) -> Self {
        Self {
            ttl,
            inner: Arc::new(Inner {
                url,
                client,
                timeout,
                state: Mutex::new(State::default()),
                fetched: watch::Sender::new(0),
            }),
        }
    }

    /// The key with `kid`: from the keys in hand, or after a fetch as [`plan`] decides.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, JwksError> {
        let mut fetched = {
            let mut state = self.inner.state();
            let now = Instant::now();
            let stale = state
                .fetched_at
                .is_none_or(|at| now.saturating_duration_since(at) >= self.ttl);
            let allowed = may_attempt(now, state.last_attempt, MIN_REFETCH);
            let known = state.keys.contains_key(kid);
            match plan(known, stale, state.in_flight, allowed) {
                Plan::Answer => return state.answer(kid),
                Plan::AnswerAndRefresh => {
                    self.start_fetch(&mut state, now);
                    return state.answer(kid);
                }
                Plan::Fetch => {
                    self.start_fetch(&mut state, now);
                    self.inner.fetched.subscribe()
                }
                // Subscribed under the lock while the fetch is in flight: its end is a change.
                Plan::Wait => self.inner.fetched.subscribe(),
            }
        };
        // The sender lives in `self.inner`, so this ends when the fetch does.
        let _ = fetched.changed().await;
        self.inner.state().answer(kid)
    }

    /// Mark a fetch in flight and run it in its own task (a request that gives up does not
    /// cancel it).
    fn start_fetch(&self, state: &mut State, now: Instant) {
        state.in_flight = true;
        state.last_attempt = Some(now);
        let fetch = InFlight {
            inner: self.inner.clone(),
            ended: false,
        };
        tokio::spawn(fetch.run());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_is_attempted_at_most_once_per_interval_failed_or_not() {
        let t0 = Instant::now();
        let i = Duration::from_secs(2);
        assert!(may_attempt(t0, None, i), "the first attempt");
        assert!(!may_attempt(t0, Some(t0), i));
        assert!(!may_attempt(t0 + i - Duration::from_millis(1), Some(t0), i));
        assert!(may_attempt(t0 + i, Some(t0), i));
        // A clock read before the attempt was recorded is not a negative duration.
        assert!(!may_attempt(t0, Some(t0 + Duration::from_millis(5)), i));
    }

    #[test]
    fn a_known_kid_never_waits_and_an_unknown_one_never_starts_a_second_fetch() {
        use Plan::*;
        // (known, stale, in_flight, may_attempt) → plan
        let table = [
            ((true, false, false, true), Answer),
            ((true, false, true, true), Answer),
            ((true, true, false, true), AnswerAndRefresh),
            ((true, true, false, false), Answer),
            ((true, true, true, true), Answer),
            ((false, false, false, true), Fetch),
            ((false, true, false, true), Fetch),
            ((false, false, false, false), Answer),
            ((false, true, false, false), Answer),
            ((false, false, true, true), Wait),
            ((false, true, true, false), Wait),
        ];
        for ((known, stale, in_flight, allowed), want) in table {
            assert_eq!(
                plan(known, stale, in_flight, allowed),
                want,
                "known {known} stale {stale} in_flight {in_flight} allowed {allowed}"
            );
        }
    }

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

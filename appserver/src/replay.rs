//! Refusing a verdict token this server has already accepted: the [`ReplayGuard`] trait and
//! an in-memory implementation, [`MemoryReplayGuard`]. Pure logic plus a mutex; no I/O.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Why a token could not be claimed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// This `jti` was already claimed and has not expired.
    #[error("verdict already accepted")]
    Seen,
    /// The guard could not record the claim (database down, guard full); refuse the token.
    #[error("replay guard storage: {0}")]
    Storage(String),
}

/// Remembers accepted verdict ids until they expire. Implementations must make
/// [`ReplayGuard::claim`] atomic: of two concurrent claims of one `jti`, exactly one succeeds.
///
/// A token is remembered by its `jti` until its `exp` (plus the clock skew): after that the
/// signature check refuses it as expired anyway, so the guard can forget it.
///
/// # Backing it with the application server's database
/// Several app-server instances must share one guard, and the record should commit together
/// with the delivery. A table keyed by `jti`, with an atomic insert, is all it takes:
///
/// ```text
/// CREATE TABLE payseal_accepted_verdicts (
///     jti        TEXT PRIMARY KEY,
///     expires_at BIGINT NOT NULL        -- Unix seconds: exp + skew
/// );
/// -- claim (inside the transaction that delivers the item):
/// INSERT INTO payseal_accepted_verdicts (jti, expires_at) VALUES ($1, $2)
///     ON CONFLICT (jti) DO NOTHING;     -- 0 rows inserted  =>  ReplayError::Seen
/// -- housekeeping, from time to time:
/// DELETE FROM payseal_accepted_verdicts WHERE expires_at < $now;
/// ```
///
/// Implement [`ReplayGuard::claim`] with that insert (map a database error to
/// [`ReplayError::Storage`], which refuses the token: fail closed). If delivery happens in the
/// same transaction, use `TokenVerifier::check` (no guard) and run the insert yourself, so a
/// failed delivery does not burn the token.
pub trait ReplayGuard: Send + Sync {
    /// Record `jti` as accepted until `keep_until` (Unix seconds), or fail with
    /// [`ReplayError::Seen`] if it is already recorded. `now` (Unix seconds) lets the guard
    /// drop entries whose `keep_until` has passed.
    fn claim(&self, jti: &str, keep_until: i64, now: i64) -> Result<(), ReplayError>;
}

#[derive(Debug, Default)]
struct Seen {
    by_jti: HashMap<String, i64>,
    by_expiry: BTreeSet<(i64, String)>,
}

impl Seen {
    fn evict(&mut self, now: i64) {
        while let Some((keep_until, _)) = self.by_expiry.first() {
            if *keep_until >= now {
                break;
            }
            if let Some((_, jti)) = self.by_expiry.pop_first() {
                self.by_jti.remove(&jti);
            }
        }
    }
}

/// An in-process [`ReplayGuard`]: a map from `jti` to its expiry, evicted as time passes.
///
/// Good for one app-server process. Memory is bounded by the genuine tokens accepted within
/// one token lifetime (forged tokens never reach the guard); past `max_entries` new claims are
/// refused with [`ReplayError::Storage`] rather than forgetting live ids.
#[derive(Debug)]
pub struct MemoryReplayGuard {
    seen: Mutex<Seen>,
    max_entries: usize,
}

impl Default for MemoryReplayGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryReplayGuard {
    /// Default capacity: one million live ids (about 100 MB at most).
    pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

    /// An empty guard with [`Self::DEFAULT_MAX_ENTRIES`].
    pub fn new() -> Self {
        Self::with_max_entries(Self::DEFAULT_MAX_ENTRIES)
    }
    /// An empty guard holding at most `max_entries` live ids.
    pub fn with_max_entries(max_entries: usize) -> Self {
        Self {
            seen: Mutex::new(Seen::default()),
            max_entries,
        }
    }
    /// Live ids currently remembered (after evicting those expired at `now`).
    pub fn len(&self, now: i64) -> usize {
        let mut seen = self.lock();
        seen.evict(now);
        seen.by_jti.len()
    }
    /// Whether no live id is remembered at `now`.
    pub fn is_empty(&self, now: i64) -> bool {
        self.len(now) == 0
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that
        // matters more than refusing service, so keep going with the data.
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ReplayGuard for MemoryReplayGuard {
    fn claim(&self, jti: &str, keep_until: i64, now: i64) -> Result<(), ReplayError> {
        let mut seen = self.lock();
        seen.evict(now);
        if seen.by_jti.contains_key(jti) {
            return Err(ReplayError::Seen);
        }
        if seen.by_jti.len() >= self.max_entries {
            return Err(ReplayError::Storage(format!(
                "{} live verdict ids remembered (the limit)",
                self.max_entries
            )));
        }
        seen.by_jti.insert(jti.to_owned(), keep_until);
        seen.by_expiry.insert((keep_until, jti.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn second_claim_is_seen() {
        let guard = MemoryReplayGuard::new();
        assert_eq!(guard.claim("a", 100, 0), Ok(()));
        assert_eq!(guard.claim("a", 100, 50), Err(ReplayError::Seen));
        assert_eq!(guard.claim("b", 100, 50), Ok(()));
        assert_eq!(guard.len(50), 2);
    }

    #[test]
    fn evicted_after_keep_until() {
        let guard = MemoryReplayGuard::new();
        guard.claim("a", 100, 0).unwrap();
        guard.claim("b", 200, 0).unwrap();
        assert_eq!(guard.len(100), 2, "kept through keep_until itself");
        assert_eq!(guard.len(101), 1);
        assert_eq!(guard.len(201), 0);
        assert!(guard.is_empty(201));
    }

    #[test]
    fn full_guard_refuses_rather_than_forgets() {
        let guard = MemoryReplayGuard::with_max_entries(2);
        guard.claim("a", 100, 0).unwrap();
        guard.claim("b", 100, 0).unwrap();
        assert!(matches!(
            guard.claim("c", 100, 0),
            Err(ReplayError::Storage(_))
        ));
        assert_eq!(guard.claim("a", 100, 0), Err(ReplayError::Seen));
        // Once the old ones expire there is room again.
        assert_eq!(guard.claim("c", 300, 101), Ok(()));
    }

    #[test]
    fn concurrent_claims_exactly_one_wins() {
        let guard = Arc::new(MemoryReplayGuard::new());
        let wins: usize = (0..8)
            .map(|_| {
                let guard = guard.clone();
                std::thread::spawn(move || guard.claim("same", 100, 0).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(wins, 1);
    }
}

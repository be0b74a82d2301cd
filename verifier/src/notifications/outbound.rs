//! Bounded, deduplicated outbound calls made because of an **unsigned** inbound notification
//! (Huawei's order notifications: anyone can send one, and each makes the verifier call
//! Huawei's Order service with the app's credentials).
//!
//! [`CallGuard`] stands in front of such calls, one guard per app:
//! - **dedupe**: a call for a key (the purchase token) made within `dedupe_window` is not made
//!   again: a notification arriving while it runs waits for its answer, one arriving after
//!   gets the same answer ([`Guarded::Deduplicated`]); an answer the caller says not to keep
//!   (a failure) is forgotten once given, so the store's retry calls again;
//! - **per-minute bound**: at most `per_minute` calls in any 60 s; past it the notification is
//!   answered [`Guarded::RateLimited`] (the store retries later);
//! - **concurrency bound**: at most `concurrent` calls at once; the others wait their turn.
//!
//! The memory it keeps is bounded by the calls it let through: at most `per_minute` keys per
//! minute of `dedupe_window`.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use payseal_verifier::notifications::outbound::{CallGuard, CallLimits, Guarded};
//!
//! let guard = CallGuard::new(CallLimits { per_minute: 1, concurrent: 1, dedupe_window: Duration::from_secs(600) });
//! assert_eq!(guard.call("tok", || async { ("refunded", true) }).await, Guarded::Called("refunded"));
//! assert_eq!(guard.call("tok", || async { unreachable!() }).await, Guarded::Deduplicated("refunded"));
//! assert_eq!(guard.call("other", || async { unreachable!() }).await, Guarded::<&str>::RateLimited);
//! # });
//! ```

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};

pub use crate::settings::{
    CallLimits, DEFAULT_CONCURRENT, DEFAULT_DEDUPE_WINDOW, DEFAULT_PER_MINUTE,
};

/// What [`CallGuard::call`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded<T> {
    /// The call was made; its answer.
    Called(T),
    /// The same key's call (in flight, or made within the window) answered for this one.
    Deduplicated(T),
    /// Over the per-minute bound (or the call this one waited for was abandoned): not made.
    RateLimited,
}

impl<T> Guarded<T> {
    /// The `result` label of `payseal_store_outbound_calls_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Guarded::Called(_) => "called",
            Guarded::Deduplicated(_) => "deduplicated",
            Guarded::RateLimited => "rate_limited",
        }
    }
}

/// One key's call: running (its answer not yet sent), or done at a time.
struct Entry<T> {
    started: Instant,
    answer: watch::Receiver<Option<T>>,
}

/// What [`CallGuard::admit`] decided.
enum Admission<T> {
    /// Make the call; send its answer here.
    Call(watch::Sender<Option<T>>),
    /// The same key's call answers: wait for it.
    Wait(watch::Receiver<Option<T>>),
    /// Over the per-minute bound.
    Limited,
}

struct State<T> {
    /// Start times of the calls of the last 60 s, oldest first.
    started: VecDeque<Instant>,
    /// Calls by key, within the dedupe window.
    by_key: HashMap<String, Entry<T>>,
}

/// The guard of one app's outbound calls (see the module docs).
pub struct CallGuard<T> {
    limits: CallLimits,
    state: Mutex<State<T>>,
    permits: Arc<Semaphore>,
}

impl<T> std::fmt::Debug for CallGuard<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallGuard")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Removes a running call's entry when its caller goes away before answering (so waiting
/// duplicates are released and a later notification calls again).
struct Abandon<'g, T> {
    guard: &'g CallGuard<T>,
    key: &'g str,
    armed: bool,
}

impl<T> Drop for Abandon<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            self.guard.lock().by_key.remove(self.key);
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);

impl<T> CallGuard<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A panic while holding this lock leaves consistent data (plain inserts and removes).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Clone + Send + Sync> CallGuard<T> {
    /// A guard with these bounds (`concurrent` and `per_minute` at least 1).
    pub fn new(limits: CallLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.concurrent.max(1))),
            limits,
            state: Mutex::new(State {
                started: VecDeque::new(),
                by_key: HashMap::new(),
            }),
        }
    }

    /// Whether a call for `key` may be made now (then it is counted and registered), or waits
    /// for the same key's call, or is over the bound. Synchronous: the lock is never held
    /// across an await.
    fn admit(&self, key: &str) -> Admission<T> {
        let now = Instant::now();
        let mut state = self.lock();
        let window = self.limits.dedupe_window;
        state
            .by_key
            .retain(|_, e| now.duration_since(e.started) < window);
        while state
            .started
            .front()
            .is_some_and(|t| now.duration_since(*t) >= MINUTE)
        {
            state.started.pop_front();
        }
        if let Some(entry) = state.by_key.get(key) {
            return Admission::Wait(entry.answer.clone());
        }
        if state.started.len() >= self.limits.per_minute.max(1) as usize {
            return Admission::Limited;
        }
        state.started.push_back(now);
        let (sender, answer) = watch::channel(None);
        state.by_key.insert(
            key.to_string(),
            Entry {
                started: now,
                answer,
            },
        );
        Admission::Call(sender)
    }

    /// Make the call `f` for `key` unless the guard answers for it. `f` returns the answer
    /// and whether to keep it for the dedupe window (`false`: a failure, forgotten once the
    /// waiting duplicates have it).
    pub async fn call<F, Fut>(&self, key: &str, f: F) -> Guarded<T>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (T, bool)>,
    {
        let sender = match self.admit(key) {
            Admission::Call(sender) => sender,
            Admission::Limited => return Guarded::RateLimited,
            Admission::Wait(mut answer) => {
                return match answer.wait_for(Option::is_some).await {
                    Ok(value) => match value.as_ref() {
                        Some(v) => Guarded::Deduplicated(v.clone()),
                        None => Guarded::RateLimited,
                    },
                    // The caller making the call went away.
                    Err(_) => Guarded::RateLimited,
                };
            }
        };
        let mut abandon = Abandon {
            guard: self,
            key,
            armed: true,
        };
        let (value, keep) = {
            // The semaphore is never closed.
            let _permit = self.permits.acquire().await;
            f().await
        };
        abandon.armed = false;
        let _ = sender.send(Some(value.clone()));
        if !keep {
            self.lock().by_key.remove(key);
        }
        Guarded::Called(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn limits(per_minute: u32, concurrent: usize) -> CallLimits {
        CallLimits {
            per_minute,
            concurrent,
            dedupe_window: Duration::from_secs(600),
        }
    }

    #[tokio::test]
    async fn concurrent_duplicates_share_one_call() {
        let guard = Arc::new(CallGuard::new(limits(20, 4)));
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (guard, calls) = (guard.clone(), calls.clone());
                tokio::spawn(async move {
                    guard
                        .call("tok", || async {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            ("answer", true)
                        })
                        .await
                })
            })
            .collect();
        let mut labels = HashMap::new();
        for t in tasks {
            let g = t.await.unwrap();
            assert_ne!(g, Guarded::RateLimited);
            *labels.entry(g.label()).or_insert(0) += 1;
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(labels["called"], 1);
        assert_eq!(labels["deduplicated"], 39);
    }

    #[tokio::test]
    async fn distinct_keys_are_bounded_per_minute_and_at_once() {
        let guard = Arc::new(CallGuard::new(limits(5, 2)));
        let (now, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let (guard, now, max) = (guard.clone(), now.clone(), max.clone());
                tokio::spawn(async move {
                    guard
                        .call(&format!("tok-{i}"), || async move {
                            let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                            max.fetch_max(n, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            now.fetch_sub(1, Ordering::SeqCst);
                            (i, true)
                        })
                        .await
                })
            })
            .collect();
        let mut called = 0;
        let mut limited = 0;
        for t in tasks {
            match t.await.unwrap() {
                Guarded::Called(_) => called += 1,
                Guarded::RateLimited => limited += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!((called, limited), (5, 7));
        assert!(max.load(Ordering::SeqCst) <= 2, "{max:?}");
    }

    #[tokio::test]
    async fn a_failure_is_not_kept_and_a_kept_answer_expires() {
        let guard = CallGuard::new(CallLimits {
            per_minute: 10,
            concurrent: 1,
            dedupe_window: Duration::from_millis(100),
        });
        assert_eq!(
            guard.call("tok", || async { ("down", false) }).await,
            Guarded::Called("down")
        );
        assert_eq!(
            guard.call("tok", || async { ("up", true) }).await,
            Guarded::Called("up"),
            "a failure is called again"
        );
        assert_eq!(
            guard.call("tok", || async { ("again", true) }).await,
            Guarded::Deduplicated("up")
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            guard.call("tok", || async { ("later", true) }).await,
            Guarded::Called("later"),
            "after the window"
        );
    }

    #[tokio::test]
    async fn an_abandoned_call_releases_its_duplicates() {
        let guard = Arc::new(CallGuard::<&str>::new(limits(10, 1)));
        let first = {
            let guard = guard.clone();
            tokio::spawn(async move {
                guard
                    .call("tok", || async {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        ("never", true)
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiting = {
            let guard = guard.clone();
            tokio::spawn(async move { guard.call("tok", || async { ("dup", true) }).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        first.abort();
        assert_eq!(waiting.await.unwrap(), Guarded::RateLimited);
        assert_eq!(
            guard.call("tok", || async { ("now", true) }).await,
            Guarded::Called("now")
        );
    }
}

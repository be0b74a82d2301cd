//! Delivering each purchase once: the [`DeliveryGuard`] trait, keyed by [`PurchaseKey`]
//! (app, store, transaction id), and an in-memory implementation, [`MemoryDeliveryGuard`].
//! Pure logic plus a mutex; no I/O.

use std::collections::HashMap;
use std::sync::Mutex;

use payseal_protocol::Store;

use crate::policy::Grant;

/// What identifies one purchase: the verifier's redemption key plus the app.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PurchaseKey {
    /// The app id (one app server may serve several apps from one table).
    pub app: String,
    /// The store.
    pub store: Store,
    /// The store's transaction id (the verdict's `transaction_id`).
    pub transaction_id: String,
}

impl PurchaseKey {
    /// The purchase a grant is for.
    pub fn of(grant: &Grant) -> Self {
        Self {
            app: grant.claims.app.clone(),
            store: grant.store,
            transaction_id: grant.transaction_id.clone(),
        }
    }
}

impl std::fmt::Display for PurchaseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.app, self.store, self.transaction_id)
    }
}

/// Why a purchase was not claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// This purchase was delivered before (by the token `verdict_id`, at `delivered_at`).
    #[error("purchase already delivered by verdict {verdict_id:?}")]
    AlreadyDelivered {
        /// The `jti` of the token whose grant delivered the purchase.
        verdict_id: String,
        /// When it was delivered (Unix seconds).
        delivered_at: i64,
    },
    /// The records could not be read or written (database down, guard full); grant nothing.
    #[error("delivery records storage: {0}")]
    Storage(String),
}

/// Remembers which purchases were delivered. Implementations must make
/// [`DeliveryGuard::claim`] atomic: of any number of concurrent claims of one [`PurchaseKey`]
/// (from tokens with different `jti`s), exactly one succeeds.
///
/// This is not the replay guard ([`ReplayGuard`](crate::ReplayGuard)). The replay guard refuses the *same token*
/// twice, by `jti`. But every verification gives a new token: the owner of a purchase who has
/// it verified again (a restore, a retry, a modified client calling the verifier in a loop)
/// gets a fresh `jti` each time, with `redemption: repeat`. Granting by `jti` would deliver one
/// genuine consumable once per verification. The delivery guard decides by the purchase
/// itself: `repeat` means "already delivered: deliver only if your own records say you have
/// not".
///
/// # The key
/// `(app, store, transaction_id)`: the verifier's own redemption key (its ledger row is per
/// store, app and transaction key, and the verdict's `transaction_id` is that key: Play
/// `orderId` or `purchaseToken`, App Store `transactionId`, Huawei `orderId`, sandbox
/// `transaction_id`). Not part of it:
/// - `original_transaction_id`: App Store renewals of a subscription are new transactions
///   sharing the original's id; each renewal is a new period to deliver. It is kept in the
///   grant for entitlement bookkeeping ("this subscription is active"), which is the app's own.
/// - the account and the product: the verifier binds a purchase to one account, and a second
///   purchase of the same product is a second delivery (two packs of coins bought, two given).
///
/// # Backing it with the application server's database
/// Several app-server instances must share the records, and a record must outlive restarts
/// (the in-memory guard forgets everything when the process stops, so it suits one process in
/// development and tests only). A table with the key as its primary key, and an atomic insert:
///
/// ```text
/// CREATE TABLE payseal_deliveries (
///     app            TEXT NOT NULL,
///     store          TEXT NOT NULL,    -- google_play, app_store, huawei, sandbox
///     transaction_id TEXT NOT NULL,
///     account        TEXT NOT NULL,
///     product_id     TEXT NOT NULL,
///     quantity       BIGINT NOT NULL,
///     verdict_id     TEXT NOT NULL,    -- the jti of the token that delivered it
///     delivered_at   BIGINT NOT NULL,  -- Unix seconds
///     PRIMARY KEY (app, store, transaction_id)
/// );
/// -- claim (ideally inside the transaction that gives the item):
/// INSERT INTO payseal_deliveries VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
///     ON CONFLICT (app, store, transaction_id) DO NOTHING;
/// -- 1 row inserted: deliver. 0 rows: already delivered; read the row for
/// -- DeliveryError::AlreadyDelivered:
/// SELECT verdict_id, delivered_at FROM payseal_deliveries
///     WHERE app = $1 AND store = $2 AND transaction_id = $3;
/// -- release (the delivery failed after the claim, outside one transaction):
/// DELETE FROM payseal_deliveries
///     WHERE app = $1 AND store = $2 AND transaction_id = $3 AND verdict_id = $4;
/// ```
///
/// The primary key makes the insert atomic under any number of concurrent instances: exactly
/// one insert of a key succeeds. Rows are never deleted by time (a purchase stays delivered).
/// Implement [`DeliveryGuard::claim`] with the insert (a database error is
/// [`DeliveryError::Storage`], which grants nothing: fail closed) and
/// [`DeliveryGuard::release`] with the delete. A complete rusqlite implementation, tested with
/// threads on one SQLite file: `appserver/tests/sql_delivery_guard.rs`. Best of all, run the
/// insert in the same database transaction that gives the item (then no release is needed:
/// a failed delivery rolls the claim back): call `TokenVerifier::check` and the replay guard
/// yourself, then the insert and the delivery in one transaction (also shown in that test).
pub trait DeliveryGuard: Send + Sync {
    /// Record `grant`'s purchase as delivered at `now` (Unix seconds), or fail with
    /// [`DeliveryError::AlreadyDelivered`] if it is recorded already.
    fn claim(&self, grant: &Grant, now: i64) -> Result<(), DeliveryError>;
    /// Forget the claim `grant` made (only if that grant's verdict made it), because the
    /// delivery failed: a later token of the purchase then delivers it.
    fn release(&self, grant: &Grant) -> Result<(), DeliveryError>;
}

#[derive(Debug, Clone)]
struct Delivered {
    verdict_id: String,
    delivered_at: i64,
}

/// An in-process [`DeliveryGuard`]: a map from [`PurchaseKey`] to the delivering verdict.
///
/// For one app-server process in development and tests: it forgets everything when the process
/// stops, after which a re-verified purchase would be delivered again. In production back the
/// trait with your database (see [`DeliveryGuard`]). Past `max_entries` new claims are
/// refused with [`DeliveryError::Storage`] rather than forgetting a delivery.
#[derive(Debug)]
pub struct MemoryDeliveryGuard {
    delivered: Mutex<HashMap<PurchaseKey, Delivered>>,
    max_entries: usize,
}

impl Default for MemoryDeliveryGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryDeliveryGuard {
    /// Default capacity: one million purchases.
    pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

    /// An empty guard with [`Self::DEFAULT_MAX_ENTRIES`].
    pub fn new() -> Self {
        Self::with_max_entries(Self::DEFAULT_MAX_ENTRIES)
    }
    /// An empty guard holding at most `max_entries` purchases.
    pub fn with_max_entries(max_entries: usize) -> Self {
        Self {
            delivered: Mutex::new(HashMap::new()),
            max_entries,
        }
    }
    /// Purchases recorded as delivered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
    /// Whether no purchase is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether `key` is recorded as delivered.
    pub fn is_delivered(&self, key: &PurchaseKey) -> bool {
        self.lock().contains_key(key)
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PurchaseKey, Delivered>> {
        // Each operation leaves the map consistent before it can panic, so keep the data.
        self.delivered.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DeliveryGuard for MemoryDeliveryGuard {
    fn claim(&self, grant: &Grant, now: i64) -> Result<(), DeliveryError> {
        let key = PurchaseKey::of(grant);
        let mut delivered = self.lock();
        if let Some(d) = delivered.get(&key) {
            return Err(DeliveryError::AlreadyDelivered {
                verdict_id: d.verdict_id.clone(),
                delivered_at: d.delivered_at,
            });
        }
        if delivered.len() >= self.max_entries {
            return Err(DeliveryError::Storage(format!(
                "{} purchases recorded (the limit)",
                self.max_entries
            )));
        }
        delivered.insert(
            key,
            Delivered {
                verdict_id: grant.verdict_id.clone(),
                delivered_at: now,
            },
        );
        Ok(())
    }

    fn release(&self, grant: &Grant) -> Result<(), DeliveryError> {
        let key = PurchaseKey::of(grant);
        let mut delivered = self.lock();
        if delivered
            .get(&key)
            .is_some_and(|d| d.verdict_id == grant.verdict_id)
        {
            delivered.remove(&key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use payseal_protocol::Redemption;
    use std::sync::Arc;

    const NOW: i64 = 1_700_000_000;

    /// A grant of purchase `tx` through the token `jti`.
    fn grant(tx: &str, jti: &str, redemption: Redemption) -> Grant {
        let mut c = crate::verifier::tests::claims();
        c.transaction_id = Some(tx.into());
        c.jti = jti.into();
        c.redemption = Some(redemption);
        Policy::new(c.app.clone()).evaluate(&c, NOW).unwrap()
    }

    #[test]
    fn a_purchase_is_delivered_once_whatever_the_token() {
        let guard = MemoryDeliveryGuard::new();
        assert_eq!(
            guard.claim(&grant("tx-1", "j1", Redemption::First), NOW),
            Ok(())
        );
        for jti in ["j2", "j3", "j4"] {
            assert_eq!(
                guard.claim(&grant("tx-1", jti, Redemption::Repeat), NOW + 5),
                Err(DeliveryError::AlreadyDelivered {
                    verdict_id: "j1".into(),
                    delivered_at: NOW
                })
            );
        }
        // Another purchase (of the same product, by the same account) is another delivery.
        assert_eq!(
            guard.claim(&grant("tx-2", "j5", Redemption::First), NOW),
            Ok(())
        );
        assert_eq!(guard.len(), 2);
    }

    #[test]
    fn the_key_is_app_store_and_transaction() {
        let guard = MemoryDeliveryGuard::new();
        let play = grant("tx-1", "j1", Redemption::First);
        guard.claim(&play, NOW).unwrap();
        let mut other_store = grant("tx-1", "j2", Redemption::First);
        other_store.store = Store::Huawei;
        assert_eq!(guard.claim(&other_store, NOW), Ok(()));
        let mut other_app = grant("tx-1", "j3", Redemption::First);
        other_app.claims.app = "com.other.game".into();
        assert_eq!(guard.claim(&other_app, NOW), Ok(()));
        // A renewal: a new transaction with the same original transaction is delivered.
        let mut renewal = grant("tx-1-renewal", "j4", Redemption::First);
        renewal.original_transaction_id = Some("tx-1".into());
        assert_eq!(guard.claim(&renewal, NOW), Ok(()));
        assert!(guard.is_delivered(&PurchaseKey::of(&play)));
        assert_eq!(
            PurchaseKey::of(&play).to_string(),
            "dev.payseal.demo/sandbox/tx-1"
        );
    }

    #[test]
    fn release_only_by_the_claiming_verdict() {
        let guard = MemoryDeliveryGuard::new();
        let first = grant("tx-1", "j1", Redemption::First);
        let repeat = grant("tx-1", "j2", Redemption::Repeat);
        guard.claim(&first, NOW).unwrap();
        // A refused grant cannot undo the delivery that happened.
        guard.release(&repeat).unwrap();
        assert!(guard.claim(&repeat, NOW).is_err());
        // The delivery failed: released, and the next token of the purchase delivers it.
        guard.release(&first).unwrap();
        assert!(guard.is_empty());
        assert_eq!(guard.claim(&repeat, NOW), Ok(()));
    }

    #[test]
    fn full_guard_refuses_rather_than_forgets() {
        let guard = MemoryDeliveryGuard::with_max_entries(1);
        guard
            .claim(&grant("tx-1", "j1", Redemption::First), NOW)
            .unwrap();
        assert!(matches!(
            guard.claim(&grant("tx-2", "j2", Redemption::First), NOW),
            Err(DeliveryError::Storage(_))
        ));
        assert!(matches!(
            guard.claim(&grant("tx-1", "j3", Redemption::Repeat), NOW),
            Err(DeliveryError::AlreadyDelivered { .. })
        ));
    }

    #[test]
    fn concurrent_tokens_of_one_purchase_exactly_one_delivers() {
        let guard = Arc::new(MemoryDeliveryGuard::new());
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let winners: Vec<String> = (0..8)
            .map(|i| {
                let (guard, barrier) = (guard.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let g = grant("tx-1", &format!("j{i}"), Redemption::Repeat);
                    barrier.wait();
                    guard.claim(&g, NOW).map(|()| g.verdict_id)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .filter_map(|h| h.join().unwrap().ok())
            .collect();
        assert_eq!(winners.len(), 1, "{winners:?}");
        assert_eq!(guard.len(), 1);
    }
}

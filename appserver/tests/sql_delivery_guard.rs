//! A [`DeliveryGuard`] over SQL, as `payseal_appserver::DeliveryGuard` documents it: one row per
//! purchase under a primary key (app, store, transaction id), claimed with
//! `INSERT … ON CONFLICT DO NOTHING`. Here on a real SQLite file with rusqlite; the same
//! statements work on PostgreSQL.
//!
//! Tested: several app-server instances (each its own connection to one file) racing on
//! re-verified tokens of one purchase deliver it exactly once; the records survive a restart;
//! a release lets a later token deliver; and the better pattern, the claim and the item given
//! in one transaction, where a failed delivery rolls the claim back.

use std::path::Path;
use std::sync::{Arc, Barrier, Mutex};

use payseal_appserver::{
    DeliveryError, DeliveryGuard, Grant, MemoryReplayGuard, Policy, PurchaseKey, ReplayGuard,
    TokenError, TokenVerifier,
};
use payseal_protocol::verdict::VerdictSigningKey;
use payseal_protocol::{Environment, Outcome, Redemption, Store, VerdictClaims};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

// ---- the example implementation ------------------------------------------------------------

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS payseal_deliveries (
    app            TEXT NOT NULL,
    store          TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    account        TEXT NOT NULL,
    product_id     TEXT NOT NULL,
    quantity       INTEGER NOT NULL,
    verdict_id     TEXT NOT NULL,
    delivered_at   INTEGER NOT NULL,
    PRIMARY KEY (app, store, transaction_id)
);
CREATE TABLE IF NOT EXISTS inventory (
    account TEXT NOT NULL,
    product_id TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count <= 1000),
    PRIMARY KEY (account, product_id)
);";

/// Delivery records in a SQLite database (one connection; give each instance its own).
struct SqlDeliveries {
    conn: Mutex<Connection>,
}

fn storage(e: rusqlite::Error) -> DeliveryError {
    DeliveryError::Storage(e.to_string())
}

impl SqlDeliveries {
    fn open(path: &Path) -> rusqlite::Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The claim: insert the row, or say who delivered it. Works on a connection or a transaction.
fn claim_row(conn: &Connection, grant: &Grant, now: i64) -> Result<(), DeliveryError> {
    let key = PurchaseKey::of(grant);
    let inserted = conn
        .execute(
            "INSERT INTO payseal_deliveries
                 (app, store, transaction_id, account, product_id, quantity, verdict_id, delivered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (app, store, transaction_id) DO NOTHING",
            params![
                key.app,
                key.store.as_str(),
                key.transaction_id,
                grant.account,
                grant.product_id,
                grant.quantity,
                grant.verdict_id,
                now
            ],
        )
        .map_err(storage)?;
    if inserted == 1 {
        return Ok(());
    }
    let (verdict_id, delivered_at) = conn
        .query_row(
            "SELECT verdict_id, delivered_at FROM payseal_deliveries
             WHERE app = ?1 AND store = ?2 AND transaction_id = ?3",
            params![key.app, key.store.as_str(), key.transaction_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(storage)?;
    Err(DeliveryError::AlreadyDelivered {
        verdict_id,
        delivered_at,
    })
}

impl DeliveryGuard for SqlDeliveries {
    fn claim(&self, grant: &Grant, now: i64) -> Result<(), DeliveryError> {
        claim_row(&self.conn(), grant, now)
    }

    fn release(&self, grant: &Grant) -> Result<(), DeliveryError> {
        let key = PurchaseKey::of(grant);
        self.conn()
            .execute(
                "DELETE FROM payseal_deliveries
                 WHERE app = ?1 AND store = ?2 AND transaction_id = ?3 AND verdict_id = ?4",
                params![
                    key.app,
                    key.store.as_str(),
                    key.transaction_id,
                    grant.verdict_id
                ],
            )
            .map_err(storage)?;
        Ok(())
    }
}

/// The recommended path: check the token, spend its jti, then claim the purchase and give the
/// item in one transaction. If giving fails, the claim is rolled back with it.
fn grant_in_one_transaction(
    conn: &mut Connection,
    tokens: &TokenVerifier,
    seen: &dyn ReplayGuard,
    token: &str,
    now: i64,
) -> Result<Grant, String> {
    let grant = tokens.check(token, now).map_err(|e| e.to_string())?;
    let keep_until = grant.claims.exp + tokens.policy().skew_secs();
    seen.claim(&grant.verdict_id, keep_until, now)
        .map_err(|e| e.to_string())?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    claim_row(&tx, &grant, now).map_err(|e| e.to_string())?;
    tx.execute(
        "INSERT INTO inventory (account, product_id, count) VALUES (?1, ?2, ?3)
         ON CONFLICT (account, product_id) DO UPDATE SET count = count + excluded.count",
        params![grant.account, grant.product_id, grant.quantity],
    )
    .map_err(|e| format!("giving the item: {e}"))?; // dropping tx rolls the claim back
    tx.commit().map_err(|e| e.to_string())?;
    Ok(grant)
}

// ---- the tests -----------------------------------------------------------------------------

const APP: &str = "dev.payseal.demo";
const ISS: &str = "https://verify.example.com";

fn now() -> i64 {
    payseal_appserver::unix_now()
}

fn key() -> VerdictSigningKey {
    VerdictSigningKey::from_seed("v1", [3; 32])
}

fn tokens() -> TokenVerifier {
    TokenVerifier::new(vec![key().public_key()], Policy::new(APP).with_issuer(ISS))
}

/// A genuine token of purchase `tx`, as the `n`th verification of it gives one.
fn token(tx: &str, n: u32, quantity: u32) -> String {
    let iat = now();
    key()
        .sign(&VerdictClaims {
            iss: ISS.into(),
            iat,
            exp: iat + 300,
            jti: format!("{tx}-verification-{n}"),
            nonce: "bm9uY2Vub25jZW5vbmNl".into(),
            app: APP.into(),
            sub: "player-1".into(),
            store: Store::GooglePlay,
            environment: Some(Environment::Sandbox),
            product_id: Some("coins_100".into()),
            transaction_id: Some(tx.into()),
            original_transaction_id: None,
            quantity: Some(quantity),
            purchased_at: None,
            kind: None,
            expires_at: None,
            receipt_sha256: "ab".repeat(32),
            outcome: Outcome::Paid,
            reason: None,
            redemption: Some(if n == 0 {
                Redemption::First
            } else {
                Redemption::Repeat
            }),
            subscription_state: None,
            store_checked: None,
            refund_history: None,
        })
        .unwrap()
}

fn rows(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("SELECT count(*) FROM payseal_deliveries", [], |r| r.get(0))
        .unwrap()
}

fn coins(conn: &Connection) -> Option<i64> {
    conn.query_row(
        "SELECT count FROM inventory WHERE account = 'player-1' AND product_id = 'coins_100'",
        [],
        |r| r.get(0),
    )
    .optional()
    .unwrap()
}

#[test]
fn instances_racing_on_one_purchase_deliver_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    SqlDeliveries::open(&path).unwrap(); // the schema, once
    let seen = Arc::new(MemoryReplayGuard::new());
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    // Each thread is an app-server instance with its own connection, handed its own
    // re-verified token (fresh jti) of the same purchase; all claim at once.
    let results: Vec<Result<Grant, TokenError>> = (0..threads)
        .map(|i| {
            let (path, seen, barrier) = (path.clone(), seen.clone(), barrier.clone());
            std::thread::spawn(move || {
                let instance = SqlDeliveries::open(&path).unwrap();
                let token = token("GPA.1", u32::try_from(i).unwrap(), 1);
                barrier.wait();
                tokens().accept(&token, now(), &*seen, &instance)
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let delivered: Vec<&Grant> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(delivered.len(), 1, "{results:?}");
    let winner = &delivered[0].verdict_id;
    for r in &results {
        match r {
            Ok(_) => {}
            Err(TokenError::AlreadyDelivered {
                transaction_id,
                verdict_id,
            }) => assert_eq!((transaction_id.as_str(), verdict_id), ("GPA.1", winner)),
            Err(e) => panic!("unexpected refusal: {e}"),
        }
    }
    assert_eq!(rows(&path), 1);

    // Restarted instance, same file: the purchase stays delivered; another purchase delivers.
    let restarted = SqlDeliveries::open(&path).unwrap();
    let seen = MemoryReplayGuard::new();
    assert!(matches!(
        tokens().accept(&token("GPA.1", 100, 1), now(), &seen, &restarted),
        Err(TokenError::AlreadyDelivered { .. })
    ));
    let other = tokens()
        .accept(&token("GPA.2", 0, 1), now(), &seen, &restarted)
        .unwrap();
    assert_eq!(other.transaction_id, "GPA.2");
    assert_eq!(rows(&path), 2);
}

#[test]
fn released_after_a_failed_delivery_then_a_later_token_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let db = SqlDeliveries::open(&path).unwrap();
    let seen = MemoryReplayGuard::new();
    let lost = tokens()
        .accept(&token("GPA.1", 0, 1), now(), &seen, &db)
        .unwrap();
    // A token that was refused cannot release the delivery it lost to.
    let refused = tokens().check(&token("GPA.1", 1, 1), now()).unwrap();
    db.release(&refused).unwrap();
    assert_eq!(rows(&path), 1);
    // The delivery of `lost` failed: released, and the next verification delivers.
    db.release(&lost).unwrap();
    assert_eq!(rows(&path), 0);
    let grant = tokens()
        .accept(&token("GPA.1", 2, 1), now(), &seen, &db)
        .unwrap();
    assert_eq!(grant.redemption, Redemption::Repeat);
    assert_eq!(rows(&path), 1);
}

#[test]
fn claim_and_item_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    SqlDeliveries::open(&path).unwrap();
    let mut conn = Connection::open(&path).unwrap();
    let seen = MemoryReplayGuard::new();
    let v = tokens();

    let first = grant_in_one_transaction(&mut conn, &v, &seen, &token("GPA.1", 0, 100), now());
    assert_eq!(first.unwrap().quantity, 100);
    assert_eq!(coins(&conn), Some(100));
    // Re-verified tokens of the same purchase: nothing more given.
    for n in 1..4 {
        let again = grant_in_one_transaction(&mut conn, &v, &seen, &token("GPA.1", n, 100), now());
        assert!(again.unwrap_err().contains("already delivered"));
    }
    assert_eq!(coins(&conn), Some(100));

    // Giving fails (the inventory's CHECK refuses 1100 coins): the claim is rolled back too.
    let too_many = grant_in_one_transaction(&mut conn, &v, &seen, &token("GPA.2", 0, 1000), now());
    assert!(too_many.unwrap_err().starts_with("giving the item"));
    assert_eq!(rows(&path), 1, "no record of GPA.2 without the item");
    assert_eq!(coins(&conn), Some(100));
    // Once the player has room, a later token of GPA.2 delivers it.
    conn.execute("UPDATE inventory SET count = 0", []).unwrap();
    let retried = grant_in_one_transaction(&mut conn, &v, &seen, &token("GPA.2", 1, 1000), now());
    assert_eq!(retried.unwrap().transaction_id, "GPA.2");
    assert_eq!(coins(&conn), Some(1000));
    assert_eq!(rows(&path), 2);
}

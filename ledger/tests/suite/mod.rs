//! What the ledger's test binaries share: the generic suite ([`cases`], [`notifications`]),
//! run on every backend, and the real PostgreSQL server they use ([`pg`]).

#![allow(dead_code)]

pub mod cases;
pub mod consumption;
pub mod notifications;
pub mod pg;

use std::sync::Arc;

use payseal_ledger::outbox::Delivery;
use payseal_ledger::{Ledger, LedgerOptions};

/// A ledger under test and whatever keeps its storage alive.
pub struct TestLedger {
    /// The ledger.
    pub ledger: Arc<dyn Ledger>,
    /// Dropped after the test (a temp folder, ...).
    pub _keep: Box<dyn std::any::Any + Send>,
}

/// A SQLite ledger in a fresh temp folder.
pub async fn sqlite_ledger() -> TestLedger {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    TestLedger {
        ledger: payseal_ledger::connect(&url, &LedgerOptions::default())
            .await
            .unwrap(),
        _keep: Box::new(dir),
    }
}

/// A PostgreSQL ledger on a fresh database of the test server.
pub async fn postgres_ledger() -> TestLedger {
    let (ledger, _url) = pg::fresh_ledger().await;
    TestLedger {
        ledger,
        _keep: Box::new(()),
    }
}

/// The bodies of outbox rows, parsed (each checked to be a webhook event of its row).
pub fn revoked_events(rows: &[Delivery]) -> Vec<serde_json::Value> {
    rows.iter()
        .map(|d| {
            let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
            assert_eq!(body["id"], d.id.as_str(), "{body}");
            assert_eq!(body["type"], d.event_type.as_str(), "{body}");
            assert_eq!(body["app"], d.app_id.as_str(), "{body}");
            body
        })
        .collect()
}

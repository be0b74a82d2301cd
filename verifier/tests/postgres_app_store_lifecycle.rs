//! The App Store subscription lifecycle (`tests/apple_lifecycle`) on a real PostgreSQL ledger
//! (a fresh database): the chain's state from signed notifications and Get All Subscription
//! Statuses, and the `subscription.updated` rows in the same transaction.
//!
//! Needs the `postgres-tests` feature and `PAYSEAL_TEST_POSTGRES_URL` (scripts/postgres.sh).

mod apple_lifecycle;
mod apple_support;
mod common;
mod webhook_support;

use common::pg::{fresh_database, use_postgres};
use common::StateDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_and_apples_answers_drive_the_chain_postgres() {
    let state = StateDir::new();
    use_postgres(&state.paths.config, &fresh_database().await);
    apple_lifecycle::run(state).await;
}

//! The Play subscription lifecycle from RTDN (`tests/google_support/lifecycle_scenario.rs`) on
//! a real PostgreSQL ledger (a fresh database): the chain's state and answer time (migration
//! 0011) and the `subscription.updated` rows in the same transaction.
//!
//! Needs the `postgres-tests` feature and `PAYSEAL_TEST_POSTGRES_URL` (scripts/postgres.sh).

mod common;
mod google_support;
mod webhook_support;

use common::pg::{fresh_database, use_postgres};
use common::StateDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_pushes_update_the_chain_from_googles_answer_postgres() {
    let state = StateDir::new();
    use_postgres(&state.paths.config, &fresh_database().await);
    google_support::lifecycle_scenario::run(state).await;
}

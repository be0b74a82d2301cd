//! The Google Play Voided Purchases poller scenario (`tests/google_support/voided_scenario.rs`)
//! on a real PostgreSQL ledger (a fresh database): the cursor is stored in
//! `payseal_google_voided_cursor` (migration 0005) and survives restarts.
//!
//! Needs the `postgres-tests` feature and `PAYSEAL_TEST_POSTGRES_URL` (scripts/postgres.sh).

mod common;
mod google_support;
mod webhook_support;

use common::pg::{fresh_database, use_postgres};
use common::StateDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voided_purchases_are_revoked_and_the_cursor_survives_restarts_postgres() {
    let state = StateDir::new();
    use_postgres(&state.paths.config, &fresh_database().await);
    google_support::voided_scenario::run(state).await;
}

//! Google Play acknowledgements (`tests/google_support/ack_scenario.rs`) on a real PostgreSQL
//! ledger (migration 0007, `payseal_store_acks`): once per first redemption, durable across a
//! restart, and exactly once with two verifier instances sharing the database.
//!
//! Needs the `postgres-tests` feature and `PAYSEAL_TEST_POSTGRES_URL` (scripts/postgres.sh).

mod common;
mod google_support;
mod webhook_support;

use common::pg::{fresh_database, use_postgres};
use common::StateDir;
use google_support::ack_scenario;

async fn on_postgres(url: &str) -> StateDir {
    let state = StateDir::new();
    use_postgres(&state.paths.config, url);
    state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_redemptions_are_acknowledged_once_and_refusals_never_postgres() {
    let url = fresh_database().await;
    ack_scenario::acknowledged_once(on_postgres(&url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_waits_in_the_ledger_across_a_restart_postgres() {
    let url = fresh_database().await;
    ack_scenario::survives_restart(on_postgres(&url).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_acknowledge_each_purchase_exactly_once_postgres() {
    let url = fresh_database().await;
    ack_scenario::two_instances(on_postgres(&url).await, on_postgres(&url).await).await;
}

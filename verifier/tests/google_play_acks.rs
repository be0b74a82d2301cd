//! Google Play acknowledge / consume after the first redemption, on the SQLite ledger, against
//! the fake Play Developer API (`google_support`): once per first redemption, consumed only
//! when listed, read back when already acknowledged on the device, never for repeats, other
//! accounts or refused purchases, durable across a restart while Google is down and across a SIGKILL mid-call. The same on
//! PostgreSQL, with two instances: `tests/postgres_google_play_acks.rs`.

mod common;
mod google_support;
mod webhook_support;

use common::StateDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_redemptions_are_acknowledged_once_and_refusals_never_sqlite() {
    google_support::ack_scenario::acknowledged_once(StateDir::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_waits_in_the_ledger_across_a_restart_sqlite() {
    google_support::ack_scenario::survives_restart(StateDir::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_in_flight_survives_a_sigkill_and_is_made_once_sqlite() {
    google_support::ack_scenario::survives_sigkill_mid_attempt(StateDir::new()).await;
}

//! The ledger under the verifier's service, on every backend (the ledger alone is tested by
//! the generic suite of the `payseal-ledger` crate, `ledger/tests/ledger_suite.rs`):
//! - `sqlite::*`: a temp file; always runs.
//! - `postgres::*`: a fresh database on a REAL PostgreSQL server; built with the
//!   `postgres-tests` feature, and then failing loudly without `PAYSEAL_TEST_POSTGRES_URL`
//!   (`eval "$(scripts/postgres.sh start)"` provides it; `scripts/test.sh` does it all).
//!
//! Plus, always: a PostgreSQL ledger whose server is unreachable fails fast and the server
//! answers `503` + `Retry-After` and a not-ready `/readyz`, with no password in errors or logs.

mod common;

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{open_verdict, request, StateDir, TestServer, APP};
use payseal_protocol::envelope;
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store};
use payseal_sandbox::{Order, PurchaseState};
use payseal_verifier::ledger::PostgresLedger;
use payseal_verifier::ledger::{self, Ledger, LedgerOptions};
use payseal_verifier::Verifier;

/// Through the service: refused receipts (forged, wrong app, unknown app, pending) record
/// nothing; the genuine one is then `first` for its account, and `already_redeemed` for others.
async fn rejected_receipts_record_nothing(ledger: Arc<dyn Ledger>) {
    let state = StateDir::new();
    let settings = state.settings();
    let key_config = settings.hpke_keys[0].config();
    let verdicts = VerdictVerifier::new(
        settings
            .verdict_keys
            .iter()
            .map(|k| k.public_key())
            .collect(),
    );
    let service = Verifier::new(Arc::new(settings), Arc::clone(&ledger));
    let ask = |app: &str, account: &str, receipt: &Receipt| {
        let req = request(app, account, receipt);
        let (body, ctx) =
            envelope::seal_request(&key_config, &serde_json::to_vec(&req).unwrap()).unwrap();
        let service = service.clone();
        let verdicts = &verdicts;
        async move {
            let decision = service.verify(&body).await.unwrap();
            open_verdict(verdicts, ctx, &decision.sealed)
        }
    };

    let transaction = format!("GPA.{}", uuid::Uuid::new_v4());
    let mut order = Order::new(Store::GooglePlay, APP, "coins_100");
    order.transaction_id = Some(transaction.clone());
    let genuine = state.store.issue(&order).unwrap();
    let Receipt::GooglePlay {
        purchase_data,
        signature,
    } = &genuine
    else {
        panic!("not a Play receipt")
    };

    // A real signature over altered JSON (same orderId, another product).
    let forged = Receipt::GooglePlay {
        purchase_data: purchase_data.replace("coins_100", "coins_999"),
        signature: signature.clone(),
    };
    let v = ask(APP, "mallory", &forged).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::BadSignature))
    );
    // The genuine receipt for an app that is not configured.
    let v = ask("com.not.configured", "mallory", &genuine).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::UnknownApp))
    );
    // A pending purchase with the same orderId.
    let mut pending = order.clone();
    pending.state = PurchaseState::Pending;
    let v = ask(APP, "mallory", &state.store.issue(&pending).unwrap()).await;
    assert_eq!(v.outcome, Outcome::NotPaid);
    assert_eq!(v.reason, Some(Reason::NotPurchased));

    assert_eq!(ledger.count_redemptions().await.unwrap(), 0);
    assert_eq!(
        ledger
            .find(Store::GooglePlay, APP, &transaction)
            .await
            .unwrap(),
        None
    );

    let v = ask(APP, "alice", &genuine).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::First))
    );
    let v = ask(APP, "alice", &genuine).await;
    assert_eq!(
        (v.outcome, v.redemption),
        (Outcome::Paid, Some(Redemption::Repeat))
    );
    let v = ask(APP, "mallory", &genuine).await;
    assert_eq!(
        (v.outcome, v.reason),
        (Outcome::NotPaid, Some(Reason::AlreadyRedeemed))
    );
    assert_eq!(ledger.count_redemptions().await.unwrap(), 1);
    let row = ledger
        .find(Store::GooglePlay, APP, &transaction)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.account_id, "alice");
    assert_eq!(row.receipt_sha256, genuine.sha256_hex());
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rejected_receipts_record_nothing_through_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
        let ledger = super::ledger::connect(&url, &super::LedgerOptions::default())
            .await
            .unwrap();
        super::rejected_receipts_record_nothing(ledger).await;
    }
}

#[cfg(feature = "postgres-tests")]
mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rejected_receipts_record_nothing_through_the_service() {
        let (ledger, _url) = crate::common::pg::fresh_dyn_ledger().await;
        super::rejected_receipts_record_nothing(ledger).await;
    }
}

/// Everything logged by this test binary (a global subscriber; only the test below reads it).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_postgres_fails_fast_503_not_ready_and_never_shows_the_password() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://payseal:hunter2@127.0.0.1:{port}/payseal");
    let options = LedgerOptions {
        connect_timeout: Duration::from_secs(2),
        query_timeout: Duration::from_secs(2),
        ..LedgerOptions::default()
    };

    // Start-up (migrations) cannot reach it: an error, quickly, without the password.
    let started = Instant::now();
    let err = ledger::connect(&url, &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(10), "{err}");
    assert!(err.contains("PostgreSQL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    // A server whose pool cannot connect: 503 + Retry-After, /readyz not ready.
    let pool_only: Arc<dyn ledger::Ledger> = Arc::new(PostgresLedger::new(&url, &options).unwrap());
    assert!(!format!("{pool_only:?}").contains("hunter2"));
    let err = pool_only.ready().await.unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
    let state = StateDir::new();
    let settings = state.settings();
    let mut server = TestServer::start_with_ledger(state, settings, pool_only).await;

    let ready = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["retry-after"], "1");
    assert_eq!(ready.headers()["content-type"], "application/problem+json");

    let receipt = server.state.issue(Store::GooglePlay);
    let (body, _) = server.seal(&request(APP, "alice", &receipt));
    let response = server.post(body).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 503);
    assert!(
        problem["detail"].as_str().unwrap_or("").contains("ledger"),
        "{problem}"
    );
    server.stop().await.unwrap();

    let _ = std::io::stderr().flush();
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(
        text.contains("ledger unavailable"),
        "the 503 was logged: {text}"
    );
    assert!(!text.contains("hunter2"), "password in the logs: {text}");
}

//! Signed webhooks end to end, in process: a real verifier over TLS on 127.0.0.1 and a real
//! HTTP receiver on 127.0.0.1 that checks each request with `verify_webhook` and deduplicates by
//! id. Deliveries survive the receiver failing, are signed, counted in `/metrics`, given up
//! after the app's give-up age and brought back by `payseal-verifier webhooks retry`.

mod common;
mod webhook_support;

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use common::{bin, StateDir, TestServer, APP};
use payseal_protocol::{Outcome, Reason, Redemption, Store};
use payseal_verifier::webhook::signing::{signature_header, ID_HEADER, SIGNATURE_HEADER};
use payseal_verifier::webhook::PURCHASE_PAID;
use webhook_support::{configure, RunningReceiver, SECRET};

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_failing_first_deliveries_gets_every_paid_first_exactly_once() {
    let receiver = RunningReceiver::start(3).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    let mut server = TestServer::start_on(state, |_| {}).await;

    // Five paid/first verdicts, plus a repeat and an already_redeemed (no events for those).
    let mut firsts = Vec::new();
    let mut receipts = Vec::new();
    for i in 0..5 {
        let receipt = server.state.issue(Store::GooglePlay);
        let v = server.verify(&format!("acct-{i}"), &receipt).await;
        assert_eq!(
            (v.outcome, v.redemption),
            (Outcome::Paid, Some(Redemption::First))
        );
        firsts.push(v);
        receipts.push(receipt);
    }
    let v = server.verify("acct-0", &receipts[0]).await;
    assert_eq!(v.redemption, Some(Redemption::Repeat));
    let v = server.verify("mallory", &receipts[1]).await;
    assert_eq!(v.reason, Some(Reason::AlreadyRedeemed));

    receiver
        .wait_for(Duration::from_secs(30), "5 events", |s| s.events.len() >= 5)
        .await;
    // Let any stray extra delivery arrive before counting.
    tokio::time::sleep(Duration::from_millis(400)).await;
    {
        let seen = receiver.receiver.seen.lock().unwrap();
        assert_eq!(seen.failed_on_purpose, 3);
        assert!(seen.rejected.is_empty(), "{:?}", seen.rejected);
        let want: HashSet<&str> = firsts.iter().map(|v| v.jti.as_str()).collect();
        let got: HashSet<&str> = seen.events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(got, want, "exactly the paid/first verdicts, by jti");
        assert!(
            seen.deliveries.values().all(|n| *n == 1),
            "no duplicates when every 2xx arrives: {:?}",
            seen.deliveries
        );
        for event in &seen.events {
            assert_eq!(event.event_type, PURCHASE_PAID);
            assert_eq!(event.app, APP);
            let claims = firsts.iter().find(|v| v.jti == event.id).unwrap();
            assert_eq!(event.data["jti"], claims.jti.as_str());
            assert_eq!(event.data["sub"], claims.sub.as_str());
            assert_eq!(event.data["outcome"], "paid");
            assert_eq!(event.data["redemption"], "first");
            assert_eq!(
                event.data["transaction_id"].as_str(),
                claims.transaction_id.as_deref()
            );
        }
    }

    // /metrics: 5 delivered, at least 3 retried, nothing failed, nothing pending.
    let mut text = String::new();
    for _ in 0..40 {
        text = server
            .client
            .get(server.metrics_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metric(&text, "payseal_webhook_outbox_pending") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        metric(
            &text,
            "payseal_webhook_deliveries_total{result=\"delivered\"}"
        ),
        5.0
    );
    assert!(
        metric(
            &text,
            "payseal_webhook_deliveries_total{result=\"retried\"}"
        ) >= 3.0
    );
    assert_eq!(
        metric(&text, "payseal_webhook_deliveries_total{result=\"failed\"}"),
        0.0
    );
    assert_eq!(metric(&text, "payseal_webhook_outbox_pending"), 0.0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_altered_and_stale_webhooks_are_refused_by_the_receiver() {
    let receiver = RunningReceiver::start(0).await;
    payseal_verifier::install_crypto_provider();
    let client = reqwest::Client::new();
    let now = payseal_verifier::now_ms() / 1000;
    let body = format!(
        r#"{{"id":"evt-1","type":"purchase.paid","created":{now},"app":"{APP}","data":{{"sub":"alice"}}}}"#
    );
    let send = |header: String, body: String| {
        let client = client.clone();
        let url = receiver.url();
        async move {
            client
                .post(url)
                .header(SIGNATURE_HEADER, header)
                .header(ID_HEADER, "evt-1")
                .header("PaySeal-Event", "purchase.paid")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Wrong secret.
    let forged = signature_header(b"not-the-secret-at-all", now, body.as_bytes());
    assert_eq!(send(forged, body.clone()).await, 400);
    // Genuine signature, altered body.
    let genuine = signature_header(SECRET.as_bytes(), now, body.as_bytes());
    assert_eq!(
        send(genuine.clone(), body.replace("alice", "mallory")).await,
        400
    );
    // Genuine signature, but 10 minutes old (a replay).
    let stale = signature_header(SECRET.as_bytes(), now - 600, body.as_bytes());
    assert_eq!(send(stale, body.clone()).await, 400);
    // No signature.
    assert_eq!(send(String::new(), body.clone()).await, 400);
    {
        let seen = receiver.receiver.seen.lock().unwrap();
        assert!(seen.events.is_empty());
        assert_eq!(seen.rejected.len(), 4, "{:?}", seen.rejected);
        assert!(
            seen.rejected[0].contains("signature"),
            "{:?}",
            seen.rejected
        );
        assert!(
            seen.rejected[1].contains("signature"),
            "{:?}",
            seen.rejected
        );
        assert!(
            seen.rejected[2].contains("timestamp"),
            "{:?}",
            seen.rejected
        );
    }
    // The genuine one is accepted; sent twice, it is handled once.
    assert_eq!(send(genuine.clone(), body.clone()).await, 200);
    assert_eq!(send(genuine, body).await, 200);
    let seen = receiver.receiver.seen.lock().unwrap();
    assert_eq!(seen.events.len(), 1);
    assert_eq!(seen.deliveries["evt-1"], 2);
}

fn cli(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin())
        .arg("webhooks")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_up_deliveries_are_listed_failed_and_retried_by_the_cli() {
    // The receiver refuses everything for a while; the give-up age is made tiny.
    let receiver = RunningReceiver::start(usize::MAX).await;
    let state = StateDir::new();
    configure(&state.paths.config, &receiver.url());
    let config = state.paths.config.clone();
    let mut server = TestServer::start_on(state, |s| {
        s.webhooks.get_mut(APP).unwrap().give_up_after = Duration::from_millis(300);
    })
    .await;
    let receipt = server.state.issue(Store::GooglePlay);
    let v = server.verify("alice", &receipt).await;
    assert_eq!(v.redemption, Some(Redemption::First));

    // Wait until the worker gives up.
    let mut failed = String::new();
    for _ in 0..100 {
        let (code, out, err) = cli(&config, &["list", "--failed"]);
        assert_eq!(code, 0, "{err}");
        if out.contains(&v.jti) {
            failed = out;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let row: serde_json::Value = serde_json::from_str(failed.lines().next().unwrap_or("null"))
        .unwrap_or_else(|_| panic!("no failed row listed: {failed:?}"));
    assert_eq!(row["id"], v.jti.as_str());
    assert_eq!(row["state"], "failed");
    assert_eq!(row["type"], "purchase.paid");
    assert_eq!(row["last_error"], "HTTP 500");
    assert!(row["attempts"].as_i64().unwrap() >= 1);
    assert!(!failed.contains(SECRET), "no secret in the listing");
    assert!(row.get("body").is_none(), "no body in the listing");
    let metrics = server
        .client
        .get(server.metrics_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metric(
            &metrics,
            "payseal_webhook_deliveries_total{result=\"failed\"}"
        ) >= 1.0
    );
    assert_eq!(receiver.events().len(), 0);

    // Usage errors.
    let (code, _, _) = cli(&config, &["retry"]);
    assert_eq!(code, 2, "retry needs an id or --all-failed");
    let (code, _, err) = cli(&config, &["retry", "no-such-id"]);
    assert_eq!(code, 1, "{err}");

    // The receiver is fixed; the operator retries.
    receiver
        .receiver
        .fail_next
        .store(0, std::sync::atomic::Ordering::SeqCst);
    let (code, out, err) = cli(&config, &["retry", &v.jti]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 delivery queued again"), "{out}");
    receiver
        .wait_for(Duration::from_secs(20), "the retried event", |s| {
            s.events.len() == 1
        })
        .await;
    assert_eq!(receiver.events()[0].id, v.jti);
    let (code, out, _) = cli(&config, &["list", "--failed"]);
    assert_eq!((code, out.as_str()), (0, ""));
    let (code, out, _) = cli(&config, &["list"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"state\":\"delivered\""), "{out}");
    server.stop().await.unwrap();
}

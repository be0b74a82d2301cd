//! The Google Play Voided Purchases API poller against a local fake Google (token endpoint
//! checking the service account's RS256 assertion; voided-purchases endpoint requiring the
//! bearer token, paging, failing with 429 then 503 first) on the SQLite ledger: voided purchases
//! revoke their redemptions and send `purchase.revoked`, the cursor persists across restarts.
//! The same scenario on PostgreSQL: `tests/postgres_google_voided.rs`.

mod common;
mod google_support;
mod webhook_support;

use std::time::{Duration, Instant};

use common::{StateDir, TestServer};
use google_support::voided_scenario::{configure_poller, stored_cursor};
use google_support::{keys, FakeGoogle, API_ACCOUNT};
use payseal_protocol::{Redemption, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voided_purchases_are_revoked_and_the_cursor_survives_restarts_sqlite() {
    google_support::voided_scenario::run(StateDir::new()).await;
}

/// An assertion signed by another key than the account's: the fake token endpoint refuses it,
/// the API is never called, nothing is revoked, the cursor is not stored, polls count as errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_signed_by_the_wrong_key_gets_no_token_and_changes_nothing() {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    let state = StateDir::new();
    let receipt = state.issue(Store::GooglePlay);
    google.add_voided(
        common::APP,
        payseal_verifier::now_ms() - 5 * 60_000,
        &common::play_order_id(&receipt),
        &google_support::voided_scenario::purchase_token(&receipt),
    );
    configure_poller(&state, &google, &google.key_file(API_ACCOUNT, &keys()[4]));
    let mut server = TestServer::start_on(state, |_| {}).await;
    assert_eq!(
        server.verify("alice", &receipt).await.redemption,
        Some(Redemption::First)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while google.state.lock().unwrap().refused_assertions.len() < 2 {
        assert!(Instant::now() < deadline, "no token request");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let refused = google.state.lock().unwrap().refused_assertions.clone();
    assert!(refused[0].contains("assertion"), "{refused:?}");
    assert!(google.api_requests().is_empty());
    assert_eq!(
        server.verify("alice", &receipt).await.redemption,
        Some(Redemption::Repeat)
    );
    let text = server.metrics_text().await;
    assert!(
        common::metric_value(&text, "payseal_google_voided_polls_total{result=\"error\"}") >= 1.0
    );
    server.stop().await.unwrap();
    assert_eq!(stored_cursor(&server.state).await, None);
}

/// `[google_play.rtdn]` and `[apps."ID".google_play.voided_purchases]` resolve, and a bad value
/// stops the start naming the file, the key and the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_play_notification_config_is_resolved_and_checked() {
    use payseal_verifier::config::load_with_env;
    let google = FakeGoogle::start().await;
    let state = StateDir::new();
    configure_poller(&state, &google, &google.key_file(API_ACCOUNT, &keys()[3]));
    let config = state.paths.config.clone();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "\n[google_play.rtdn]\naudience = \"https://v.test/push\"\n\
         service_account = \"push@p.iam.gserviceaccount.com\"\n",
    );
    std::fs::write(&config, &text).unwrap();
    let s = load_with_env(&config, |_| None).unwrap();
    let rtdn = s.google_play_rtdn.as_ref().unwrap();
    assert_eq!(rtdn.jwks_url, "https://www.googleapis.com/oauth2/v3/certs");
    assert_eq!(rtdn.jwks_ttl, Duration::from_secs(3600));
    let [v] = s.google_play_voided.as_slice() else {
        panic!("one poller")
    };
    assert_eq!(
        (v.app_id.as_str(), v.package_name.as_str()),
        (common::APP, common::APP)
    );
    assert_eq!(v.token_uri, google.url("/token"), "from the key file");
    assert_eq!(v.max_results, 2);
    assert_eq!(v.poll_interval, Duration::from_millis(300));
    assert_eq!(v.initial_lookback, Duration::from_secs(30 * 24 * 3600));
    assert!(
        !format!("{v:?}").contains("PRIVATE KEY"),
        "the key never prints"
    );
    // The offline check reads the same file.
    payseal_verifier::config::load_offline(&config).unwrap();

    let voided_key = format!("apps.\"{}\".google_play.voided_purchases", common::APP);
    let api_base = format!("api_base = \"{}\"", google.url(""));
    let bad_key_file = config.parent().unwrap().join("not-a-key.json");
    std::fs::write(&bad_key_file, r#"{"type": "authorized_user"}"#).unwrap();
    for (from, to, key, reason) in [
        (
            "audience = \"https://v.test/push\"",
            "audience = \" \"",
            "google_play.rtdn.audience".to_string(),
            "must not be empty",
        ),
        (
            "service_account = \"push@p.iam.gserviceaccount.com\"",
            "service_account = \"push\"",
            "google_play.rtdn.service_account".to_string(),
            "not a service account email",
        ),
        (
            "service_account = \"push@p.iam.gserviceaccount.com\"",
            "service_account = \"push@p.iam.gserviceaccount.com\"\njwks_url = \"http://certs.example/x\"",
            "google_play.rtdn.jwks_url".to_string(),
            "plain http is allowed only to a loopback address",
        ),
        (
            "service_account_key = \"play-service-account.json\"",
            "service_account_key = \"missing.json\"",
            format!("{voided_key}.service_account_key"),
            "missing.json",
        ),
        (
            "service_account_key = \"play-service-account.json\"",
            "service_account_key = \"not-a-key.json\"",
            format!("{voided_key}.service_account_key"),
            "not a Google service-account key file",
        ),
        (
            "max_results = 2",
            "max_results = 5000",
            format!("{voided_key}.max_results"),
            "outside 1..=1000",
        ),
        (
            "retry_max_ms = 400",
            "retry_max_ms = 10",
            format!("{voided_key}.retry_max_ms"),
            "at least retry_base_ms",
        ),
        (
            api_base.as_str(),
            "api_base = \"ftp://example.com\"",
            format!("{voided_key}.api_base"),
            "expected https",
        ),
        (
            "max_results = 2",
            "max_results = 2\npoll_every = 3",
            format!("{voided_key}.poll_every"),
            "unknown field",
        ),
    ] {
        std::fs::write(&config, text.replacen(from, to, 1)).unwrap();
        let err = load_with_env(&config, |_| None).unwrap_err().to_string();
        assert!(err.contains(&config.display().to_string()), "{err}");
        assert!(err.contains(&key), "no {key:?} in {err}");
        assert!(err.contains(reason), "no {reason:?} in {err}");
        assert!(!err.contains("PRIVATE KEY"), "{err}");
    }
}

fn poll_cli(config: &std::path::Path, extra: &[&str]) -> (i32, Vec<serde_json::Value>, String) {
    let out = std::process::Command::new(common::bin())
        .args(["google-play", "--config"])
        .arg(config)
        .arg("poll")
        .args(extra)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `payseal-verifier google-play poll`: one poll now, printed; the cursor it stores is where the
/// next one starts; a failing poll exits 1 naming the error; usage errors exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poll_command_revokes_prints_and_keeps_the_cursor() {
    let google = FakeGoogle::start().await;
    google.register_account(API_ACCOUNT, &keys()[3]);
    let mut server = TestServer::start().await;
    let receipt = server.state.issue(Store::GooglePlay);
    assert_eq!(
        server.verify("alice", &receipt).await.redemption,
        Some(Redemption::First)
    );
    server.stop().await.unwrap();
    let state = server.state;
    let config = state.paths.config.clone();
    let (code, _, err) = poll_cli(&config, &[]);
    assert_eq!(code, 2, "no poller configured: {err}");

    google.add_voided(
        common::APP,
        payseal_verifier::now_ms() - 5 * 60_000,
        &common::play_order_id(&receipt),
        &google_support::voided_scenario::purchase_token(&receipt),
    );
    configure_poller(&state, &google, &google.key_file(API_ACCOUNT, &keys()[3]));
    let (code, lines, err) = poll_cli(&config, &["--app", common::APP]);
    assert_eq!(code, 0, "{err}");
    let [first] = lines.as_slice() else {
        panic!("{lines:?}")
    };
    assert_eq!(
        (&first["purchases"], &first["revoked"]),
        (&serde_json::json!(1), &serde_json::json!(1))
    );
    let end = first["end_ms"].as_i64().unwrap();
    assert_eq!(stored_cursor(&state).await, Some(end));
    let row = state
        .ledger()
        .lookup(
            Store::GooglePlay,
            common::APP,
            &common::play_order_id(&receipt),
        )
        .unwrap()
        .unwrap();
    assert!(row.revoke_reason.unwrap().contains("Voided Purchases API"));

    let (code, lines, _) = poll_cli(&config, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        lines[0]["start_ms"].as_i64(),
        Some(end),
        "resumes at the cursor"
    );
    assert_eq!(lines[0]["revoked"], 0);

    let (code, _, err) = poll_cli(&config, &["--app", "no.such.app"]);
    assert_eq!(code, 2, "{err}");
    google.state.lock().unwrap().fail_next = [403].into();
    let (code, lines, _) = poll_cli(&config, &[]);
    assert_eq!(code, 1);
    assert!(
        lines[0]["error"].as_str().unwrap().contains("HTTP 403"),
        "{lines:?}"
    );
}

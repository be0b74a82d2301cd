//! The log hook: events reach the app's logger, carry no secret, and a failing logger
//! cannot break a verification. One test per process, since the logger is global.

mod common;

use std::sync::{Arc, Mutex};

use common::TestVerifier;
use payseal_protocol::{Receipt, Store};
use payseal_sdk_core::{clear_logger, set_logger, LogLevel, PaySealLogger};

#[derive(Default)]
struct Collect(Mutex<Vec<(LogLevel, String)>>);

impl PaySealLogger for Collect {
    fn log(&self, level: LogLevel, message: String) {
        self.0.lock().unwrap().push((level, message));
    }
}

struct Panics;

impl PaySealLogger for Panics {
    fn log(&self, _level: LogLevel, _message: String) {
        panic!("a broken app logger");
    }
}

fn secrets_of(receipt: &Receipt) -> Vec<String> {
    match receipt {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        } => {
            let order: serde_json::Value = serde_json::from_str(purchase_data).unwrap();
            vec![
                signature.clone(),
                order["purchaseToken"].as_str().unwrap().to_string(),
                order["orderId"].as_str().unwrap().to_string(),
            ]
        }
        other => panic!("not a Play receipt: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_logger_without_secrets_and_a_broken_logger_is_harmless() {
    let mut verifier = TestVerifier::start().await;
    let pending = tempfile::tempdir().unwrap();
    let sdk = verifier.sdk(Some(pending.path()));
    let logs = Arc::new(Collect::default());
    set_logger(logs.clone());

    let paid = verifier.issue(Store::GooglePlay);
    let verdict = sdk.verify(paid.clone(), "alice".into()).await.unwrap();
    assert!(verdict.paid);
    verifier.stop().await;
    let offline = verifier.issue(Store::GooglePlay);
    let _ = sdk
        .verify(offline.clone(), "alice".into())
        .await
        .unwrap_err();
    clear_logger();

    let events = logs.0.lock().unwrap().clone();
    let has =
        |level: LogLevel, text: &str| events.iter().any(|(l, m)| *l == level && m.contains(text));
    assert!(has(LogLevel::Debug, "attempt 1/4"), "{events:#?}");
    assert!(
        has(LogLevel::Info, "paid after 1 attempt(s)"),
        "{events:#?}"
    );
    assert!(has(LogLevel::Warn, "retrying in"), "{events:#?}");
    assert!(has(LogLevel::Info, "kept pending"), "{events:#?}");
    // The skew of a correct clock is a debug event (a warning only beyond 60 s).
    assert!(has(LogLevel::Debug, "device clock skew"), "{events:#?}");
    assert!(!has(LogLevel::Warn, "device clock skew"), "{events:#?}");
    let mut secrets = secrets_of(&paid);
    secrets.extend(secrets_of(&offline));
    secrets.push(verdict.token.clone());
    secrets.push("eyJ".into()); // any JWS (verdict token) or base64 JSON
    for (_, message) in &events {
        for secret in &secrets {
            assert!(
                !message.contains(secret.as_str()),
                "{message} leaks {secret}"
            );
        }
    }
    assert_eq!(
        logs.0.lock().unwrap().len(),
        events.len(),
        "cleared logger still called"
    );

    // A logger that panics (a Kotlin/Swift logger that throws) does not break the SDK.
    verifier.restart().await;
    set_logger(Arc::new(Panics));
    let verdict = sdk
        .verify(verifier.issue(Store::GooglePlay), "bob".into())
        .await
        .unwrap();
    assert!(verdict.paid);
    clear_logger();
}

//! Property test: `POST /v1/verify` answers arbitrary bodies (random bytes, flipped bits in a
//! genuine envelope, envelopes of arbitrary plaintext, wrong content types, oversized bodies)
//! with 400/413/415 (or a signed `not_paid` verdict), never a 5xx, and records nothing.

mod common;

use common::{request, TestServer, APP};
use payseal_protocol::envelope;
use payseal_protocol::{Outcome, Store};
use payseal_verifier::server::REQUEST_CONTENT_TYPE;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
enum Body {
    Random(Vec<u8>),
    FlippedBit(prop::sample::Index, u8),
    SealedPlaintext(Vec<u8>),
    WrongContentType(String, Vec<u8>),
    Oversized(usize),
}

#[test]
fn verify_answers_arbitrary_bodies_without_5xx_or_records() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut server = rt.block_on(TestServer::start());
    let genuine = request(APP, "alice", &server.state.issue(Store::GooglePlay));
    let (sealed_genuine, _) = server.seal(&genuine);
    let max_body = server.state.settings().limits.max_body_bytes;

    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024).prop_map(Body::Random),
        (any::<prop::sample::Index>(), 0u8..8).prop_map(|(i, b)| Body::FlippedBit(i, b)),
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Body::SealedPlaintext),
        (
            prop::sample::select(vec![
                "application/json",
                "text/plain",
                "",
                "application/payseal-requestx",
                "multipart/form-data"
            ]),
            prop::collection::vec(any::<u8>(), 0..256),
        )
            .prop_map(|(t, b)| Body::WrongContentType(t.to_string(), b)),
        (1usize..4096).prop_map(Body::Oversized),
    ];
    let mut runner = TestRunner::new(Config::with_cases(64));
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    runner
        .run(&strategy, |body| {
            let (content_type, bytes) = match body {
                Body::Random(b) => (REQUEST_CONTENT_TYPE.to_string(), b),
                Body::FlippedBit(i, bit) => {
                    let mut b = sealed_genuine.clone();
                    let at = i.index(b.len());
                    b[at] ^= 1 << bit;
                    (REQUEST_CONTENT_TYPE.to_string(), b)
                }
                Body::SealedPlaintext(p) => {
                    let (b, _) = envelope::seal_request(&server.key_config, &p).unwrap();
                    (REQUEST_CONTENT_TYPE.to_string(), b)
                }
                Body::WrongContentType(t, b) => (t, b),
                Body::Oversized(extra) => (
                    REQUEST_CONTENT_TYPE.to_string(),
                    vec![0x42; max_body + extra],
                ),
            };
            let (status, ct, text) = rt.block_on(async {
                let response = server
                    .client
                    .post(server.url("/v1/verify"))
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(bytes)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let ct = response
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap_or("").to_string())
                    .unwrap_or_default();
                (status, ct, response.bytes().await.unwrap())
            });
            *seen.borrow_mut().entry(status).or_default() += 1;
            prop_assert!(
                matches!(status, 400 | 413 | 415),
                "status {} ({}): {}",
                status,
                ct,
                String::from_utf8_lossy(&text)
            );
            prop_assert!(
                ct.starts_with("application/problem+json"),
                "content type {}",
                ct
            );
            let doc: serde_json::Value = serde_json::from_slice(&text)
                .map_err(|e| TestCaseError::fail(format!("problem is not JSON: {e}")))?;
            prop_assert_eq!(doc["status"].as_u64(), Some(u64::from(status)));
            Ok(())
        })
        .unwrap();
    let seen = seen.into_inner();
    assert!(seen.contains_key(&400), "statuses {seen:?}");

    // Nothing was recorded, and the server still answers a genuine request.
    assert_eq!(
        server.state.ledger().count().unwrap(),
        0,
        "statuses {seen:?}"
    );
    let claims = rt.block_on(server.verify_request(&genuine));
    assert_eq!(claims.outcome, Outcome::Paid);
    assert_eq!(server.state.ledger().count().unwrap(), 1);
    rt.block_on(server.stop()).unwrap();
}

//! HTTP-level tests against a real verifier on 127.0.0.1 over real TLS.

mod common;

use common::{play_order_id, request, TestServer, APP};
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store};
use payseal_sandbox::SandboxStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn genuine_then_repeat_then_other_account_for_every_store() {
    let mut server = TestServer::start().await;
    for store in [
        Store::GooglePlay,
        Store::AppStore,
        Store::Huawei,
        Store::Sandbox,
    ] {
        let receipt = server.state.issue(store);
        let first = server.verify("alice", &receipt).await;
        assert_eq!(first.outcome, Outcome::Paid, "{store}: {first:?}");
        assert_eq!(first.redemption, Some(Redemption::First), "{store}");
        assert_eq!(first.reason, None);
        assert_eq!(first.store, store);
        assert_eq!(first.product_id.as_deref(), Some("coins_100"));
        assert_eq!(first.quantity, Some(1));
        assert!(first.exp > first.iat);
        assert!(first.transaction_id.is_some());

        let again = server.verify("alice", &receipt).await;
        assert_eq!(again.outcome, Outcome::Paid, "{store}");
        assert_eq!(again.redemption, Some(Redemption::Repeat), "{store}");
        assert_ne!(again.jti, first.jti);

        let other = server.verify("mallory", &receipt).await;
        assert_eq!(other.outcome, Outcome::NotPaid, "{store}");
        assert_eq!(other.reason, Some(Reason::AlreadyRedeemed), "{store}");
        assert_eq!(other.redemption, None);
    }
    // The first account still owns the Play transaction, recorded with the first verdict's id.
    let ledger = server.state.ledger();
    assert_eq!(ledger.count().unwrap(), 4);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_row_names_owner_and_first_verdict() {
    let mut server = TestServer::start().await;
    let receipt = server.state.issue(Store::GooglePlay);
    let first = server.verify("alice", &receipt).await;
    let row = server
        .state
        .ledger()
        .lookup(Store::GooglePlay, APP, &play_order_id(&receipt))
        .unwrap()
        .expect("row recorded before the verdict was sent");
    assert_eq!(row.account_id, "alice");
    assert_eq!(row.first_verdict_id, first.jti);
    assert_eq!(row.receipt_sha256, receipt.sha256_hex());
    assert_eq!(row.product_id, "coins_100");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_receipts_are_not_paid_and_leave_no_row() {
    let mut server = TestServer::start().await;
    // A real signature over altered JSON.
    let genuine = server.state.issue(Store::GooglePlay);
    let Receipt::GooglePlay {
        purchase_data,
        signature,
    } = &genuine
    else {
        unreachable!()
    };
    let altered = Receipt::GooglePlay {
        purchase_data: purchase_data.replace("coins_100", "coins_999"),
        signature: signature.clone(),
    };
    assert_ne!(&altered, &genuine);
    let v = server.verify("alice", &altered).await;
    assert_eq!(v.outcome, Outcome::NotPaid);
    assert_eq!(v.reason, Some(Reason::BadSignature));
    assert_eq!(v.redemption, None);

    // A purchase signed by the attacker's own store.
    let attacker_dir = tempfile::tempdir().unwrap();
    common::copy_dir(common::template_store(), attacker_dir.path());
    // Replace the Play and sandbox keys with the attacker's own.
    for f in ["google-play.key.pem", "sandbox.key.pem"] {
        std::fs::remove_file(attacker_dir.path().join(f)).unwrap();
    }
    let attacker = SandboxStore::open_or_create(attacker_dir.path()).unwrap();
    for store in [Store::GooglePlay, Store::Sandbox] {
        let fake = attacker
            .issue(&payseal_sandbox::Order::new(store, APP, "coins_100"))
            .unwrap();
        let v = server.verify("alice", &fake).await;
        assert_eq!(v.outcome, Outcome::NotPaid, "{store}");
        assert_eq!(v.reason, Some(Reason::BadSignature), "{store}");
    }
    assert_eq!(server.state.ledger().count().unwrap(), 0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_app_and_refused_states_are_sealed_not_paid() {
    let mut server = TestServer::start().await;
    let receipt = server.state.issue(Store::GooglePlay);
    let v = server
        .verify_request(&request("com.unknown.app", "alice", &receipt))
        .await;
    assert_eq!(v.outcome, Outcome::NotPaid);
    assert_eq!(v.reason, Some(Reason::UnknownApp));

    let mut order = payseal_sandbox::Order::new(Store::GooglePlay, APP, "coins_100");
    order.state = payseal_sandbox::PurchaseState::Pending;
    let pending = server.state.store.issue(&order).unwrap();
    let v = server.verify("alice", &pending).await;
    assert_eq!(v.outcome, Outcome::NotPaid);
    assert_eq!(v.reason, Some(Reason::NotPurchased));

    // A receipt of another app, genuinely signed.
    let other_app = server
        .state
        .store
        .issue(&payseal_sandbox::Order::new(
            Store::GooglePlay,
            "com.other.app",
            "coins_100",
        ))
        .unwrap();
    let v = server.verify("alice", &other_app).await;
    assert_eq!(v.reason, Some(Reason::WrongApp));

    assert_eq!(server.state.ledger().count().unwrap(), 0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_receipt_to_production_only_app_is_untrusted_environment() {
    let mut server = TestServer::start_with(|s| {
        let app = s.apps.get_mut(APP).unwrap();
        app.environments = vec![payseal_protocol::Environment::Production];
    })
    .await;
    let receipt = server.state.issue(Store::GooglePlay);
    let v = server.verify("alice", &receipt).await;
    assert_eq!(v.outcome, Outcome::NotPaid);
    assert_eq!(v.reason, Some(Reason::UntrustedEnvironment));
    assert_eq!(server.state.ledger().count().unwrap(), 0);
    server.stop().await.unwrap();
}

async fn assert_problem(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "application/problem+json"
    );
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["status"], status);
    assert!(doc["title"].is_string());
    doc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_flipped_and_plaintext_bodies_are_400_problems_and_record_nothing() {
    let mut server = TestServer::start().await;
    let receipt = server.state.issue(Store::GooglePlay);

    // Garbage.
    let doc = assert_problem(server.post(vec![0x42; 300]).await, 400).await;
    let text = doc.to_string();
    assert!(
        !text.contains("key id") && !text.contains("decrypt"),
        "{text}"
    );

    // A flipped bit in an otherwise genuine envelope.
    let req = request(APP, "alice", &receipt);
    let (mut body, _) = server.seal(&req);
    let last = body.len() - 1;
    body[last] ^= 1;
    assert_problem(server.post(body).await, 400).await;

    // Plaintext where an envelope is required.
    let plain = serde_json::to_vec(&req).unwrap();
    assert_problem(server.post(plain).await, 400).await;

    // A valid envelope around JSON that is not a request.
    let (body, _) =
        payseal_protocol::envelope::seal_request(&server.key_config, b"{\"hello\":1}").unwrap();
    assert_problem(server.post(body).await, 400).await;

    // A short nonce.
    let mut short = request(APP, "alice", &receipt);
    short.nonce = "AAAA".into();
    let (body, _) = server.seal(&short);
    assert_problem(server.post(body).await, 400).await;

    // Wrong content type.
    let (body, _) = server.seal(&req);
    let r = server
        .client
        .post(server.url("/v1/verify"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(r, 415).await;

    assert_eq!(server.state.ledger().count().unwrap(), 0);
    // The genuine request still works afterwards.
    assert_eq!(
        server.verify("alice", &receipt).await.outcome,
        Outcome::Paid
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_body_is_413() {
    let mut server = TestServer::start_with(|s| s.limits.max_body_bytes = 4096).await;
    assert_problem(server.post(vec![7u8; 5000]).await, 413).await;
    // Just under the limit is read (and refused as a bad envelope, not as too large).
    assert_problem(server.post(vec![7u8; 4000]).await, 400).await;
    assert_eq!(server.state.ledger().count().unwrap(), 0);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_health_ready_and_metrics() {
    let mut server = TestServer::start().await;
    let receipt = server.state.issue(Store::Sandbox);
    assert_eq!(
        server.verify("alice", &receipt).await.outcome,
        Outcome::Paid
    );
    assert_eq!(
        server.verify("bob", &receipt).await.reason,
        Some(Reason::AlreadyRedeemed)
    );
    assert_problem(server.post(b"nope".to_vec()).await, 400).await;

    // JWKS + HPKE configs.
    let r = server
        .client
        .get(server.url("/v1/keys"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    let jwks: payseal_protocol::verdict::Jwks = serde_json::from_value(doc.clone()).unwrap();
    assert_eq!(jwks.keys.len(), 1);
    let published = payseal_protocol::verdict::VerdictPublicKey::from_jwk(&jwks.keys[0]).unwrap();
    let settings = server.state.settings();
    assert_eq!(published, settings.verdict_keys[0].public_key());
    assert_eq!(jwks.keys[0].alg, "EdDSA");
    let configs = doc["hpke_configs"].as_array().unwrap();
    assert_eq!(configs.len(), 1);
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(configs[0].as_str().unwrap())
        .unwrap();
    assert_eq!(
        payseal_protocol::envelope::KeyConfig::decode(&raw).unwrap(),
        server.key_config
    );

    let r = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_problem(
        server
            .client
            .get(server.url("/nowhere"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;

    let r = server
        .client
        .get(server.metrics_url())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let line = |needle: &[&str]| {
        text.lines()
            .find(|l| {
                l.starts_with("payseal_requests_total") && needle.iter().all(|n| l.contains(n))
            })
            .unwrap_or_else(|| panic!("no metric with {needle:?} in\n{text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(line(&["route=\"/v1/verify\"", "outcome=\"paid\""]), "1");
    assert_eq!(line(&["reason=\"already_redeemed\""]), "1");
    assert_eq!(line(&["status=\"400\"", "reason=\"envelope\""]), "1");
    assert!(text.contains("payseal_request_duration_seconds_bucket"));
    assert!(text.contains("payseal_request_duration_seconds_count{route=\"/v1/verify\"} 3"));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_receipt_raced_over_http_from_several_accounts_has_one_first() {
    let server = TestServer::start().await;
    let receipt = server.state.issue(Store::GooglePlay);
    let server = std::sync::Arc::new(server);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let server = server.clone();
        let receipt = receipt.clone();
        tasks.push(tokio::spawn(async move {
            let account = format!("acct-{}", i % 4);
            let v = server.verify(&account, &receipt).await;
            (account, v)
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let firsts: Vec<_> = results
        .iter()
        .filter(|(_, v)| v.redemption == Some(Redemption::First))
        .collect();
    assert_eq!(firsts.len(), 1, "{results:?}");
    let owner = firsts[0].0.clone();
    for (account, v) in &results {
        if *account == owner {
            assert_eq!(v.outcome, Outcome::Paid);
        } else {
            assert_eq!(v.reason, Some(Reason::AlreadyRedeemed));
        }
    }
    let row = server
        .state
        .ledger()
        .lookup(Store::GooglePlay, APP, &play_order_id(&receipt))
        .unwrap()
        .unwrap();
    assert_eq!(row.account_id, owner);
}

/// Send `total` bytes of `body` on `stream` in flow-controlled chunks until done or the server
/// resets the stream (it answered early); the bytes sent.
async fn send_body(mut stream: h2::SendStream<bytes::Bytes>, total: usize) -> usize {
    const CHUNK: usize = 64 * 1024;
    let chunk = bytes::Bytes::from(vec![7u8; CHUNK]);
    let mut sent = 0;
    while sent < total {
        let want = CHUNK.min(total - sent);
        stream.reserve_capacity(want);
        let granted = match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(n)) => n.min(want),
            Some(Err(_)) | None => return sent,
        };
        if granted == 0 {
            continue;
        }
        let end = sent + granted == total;
        if stream.send_data(chunk.slice(..granted), end).is_err() {
            return sent;
        }
        sent += granted;
    }
    sent
}

/// The issue's reproduction, with a real HTTP/2 client (h2, as hyper's client uses it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_body_over_http2_gets_a_413_problem_and_the_stream_ends_cleanly() {
    // The 413 and 415 bodies are read and discarded after the answer (server/body.rs).
    const BODY: usize = 64 * 1024 * 1024;
    let mut server = TestServer::start().await;
    let pem = std::fs::read(&server.state.paths.tls_cert).unwrap();
    let config = common::tls_client_config(&pem, b"h2");
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut client, connection) = h2::client::handshake(tls).await.unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::post("https://localhost/v1/verify")
        .header("content-type", "application/payseal-request")
        .header("content-length", BODY.to_string())
        .body(())
        .unwrap();
    let (response, stream) = client.send_request(request, false).unwrap();
    let upload = tokio::spawn(send_body(stream, BODY));
    let response = tokio::time::timeout(std::time::Duration::from_secs(30), response)
        .await
        .expect("no answer within 30 s")
        .expect("the stream ended without a status");
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let mut body = response.into_body();
    let mut doc = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("the problem document was cut off");
        let _ = body.flow_control().release_capacity(chunk.len());
        doc.extend_from_slice(&chunk);
    }
    let doc: serde_json::Value = serde_json::from_slice(&doc).unwrap();
    assert_eq!(doc["status"], 413);
    let sent = tokio::time::timeout(std::time::Duration::from_secs(10), upload)
        .await
        .expect("the upload was neither read nor stopped")
        .unwrap();
    // The stream ended cleanly: the rest of the body was read and discarded, no reset (a
    // reset while the client still sends makes clients such as curl drop the answer:
    // "HTTP/2 stream was not closed cleanly: PROTOCOL_ERROR").
    assert_eq!(sent, BODY, "the stream was reset after {sent} bytes");
    // The connection serves on: the refusal ended only its stream.
    let (response, _) = client
        .send_request(
            http::Request::get("https://localhost/healthz")
                .body(())
                .unwrap(),
            true,
        )
        .unwrap();
    let response = tokio::time::timeout(std::time::Duration::from_secs(5), response)
        .await
        .expect("no answer on the same connection")
        .expect("the connection was closed after the 413");
    assert_eq!(response.status(), 200);
    // A wrong content type is answered before the body too: 415, and the same clean end.
    const OTHER: usize = 4 * 1024 * 1024;
    let request = http::Request::post("https://localhost/v1/verify")
        .header("content-type", "application/json")
        .header("content-length", OTHER.to_string())
        .body(())
        .unwrap();
    let (response, stream) = client.send_request(request, false).unwrap();
    let upload = tokio::spawn(send_body(stream, OTHER));
    let response = tokio::time::timeout(std::time::Duration::from_secs(30), response)
        .await
        .expect("no answer within 30 s")
        .expect("the stream ended without a status");
    assert_eq!(response.status(), 415);
    let sent = tokio::time::timeout(std::time::Duration::from_secs(10), upload)
        .await
        .expect("the upload was neither read nor stopped")
        .unwrap();
    assert_eq!(sent, OTHER, "the stream was reset after {sent} bytes");
    drop(client);
    connection.abort();
    assert_eq!(server.state.ledger().count().unwrap(), 0);
    server.stop().await.unwrap();
}

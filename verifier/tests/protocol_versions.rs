//! Protocol versions through the real verifier: a v1 request (an SDK already shipped) gets a v1
//! response whose verdict v1's frozen parser accepts; a v2 request gets a v2 response; an
//! unknown version is refused and records nothing.

mod common;

#[path = "../../protocol/tests/v1/mod.rs"]
mod v1;

use common::{request, TestServer};
use payseal_protocol::{Outcome, Reason, Redemption, Store, VerifyResponse, PROTOCOL_VERSION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_request_gets_a_verdict_v1_parses_and_v2_gets_v2() {
    let mut server = TestServer::start().await;
    for store in [Store::GooglePlay, Store::AppStore, Store::Sandbox] {
        let receipt = server.state.issue(store);
        for (account, v, outcome, reason) in [
            ("alice", 1, Outcome::Paid, None),
            ("alice", 2, Outcome::Paid, None),
            (
                "mallory",
                1,
                Outcome::NotPaid,
                Some(Reason::AlreadyRedeemed),
            ),
            (
                "mallory",
                2,
                Outcome::NotPaid,
                Some(Reason::AlreadyRedeemed),
            ),
        ] {
            let mut req = request(common::APP, account, &receipt);
            req.v = v;
            let (body, ctx) = server.seal(&req);
            let response = server.post(body).await;
            assert_eq!(response.status(), 200, "{store} v{v}");
            let plain = ctx.open_response(&response.bytes().await.unwrap()).unwrap();
            let parsed: VerifyResponse = serde_json::from_slice(&plain).unwrap();
            assert_eq!(
                parsed.v, v,
                "{store}: the response echoes the request's version"
            );
            let claims = server
                .verdicts
                .verify(&parsed.verdict, payseal_verifier::now_ms() / 1000)
                .unwrap();
            assert_eq!(claims.outcome, outcome, "{store} v{v} {account}");
            assert_eq!(claims.reason, reason, "{store} v{v} {account}");
            assert_eq!(claims.nonce, req.nonce);
            if v == 1 {
                // What an SDK and an application server already shipped run on it.
                let old = v1::parse_response(&plain).unwrap();
                let old_claims = v1::parse_token_claims(&old.verdict).unwrap();
                assert_eq!(old_claims.nonce, req.nonce);
                assert_eq!(old_claims.jti, claims.jti);
            } else {
                assert!(v1::parse_response(&plain).is_err(), "a v1 SDK refuses v2");
            }
        }
        let again = server.verify("alice", &receipt).await;
        assert_eq!(again.redemption, Some(Redemption::Repeat));
    }
    assert_eq!(PROTOCOL_VERSION, 2);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_version_is_refused_and_records_nothing() {
    let mut server = TestServer::start().await;
    let receipt = server.state.issue(Store::GooglePlay);
    for v in [0, PROTOCOL_VERSION + 1, u32::MAX] {
        let mut req = request(common::APP, "alice", &receipt);
        req.v = v;
        let (body, _) = server.seal(&req);
        let response = server.post(body).await;
        assert_eq!(response.status(), 400, "v{v}");
    }
    assert_eq!(server.state.ledger().count().unwrap(), 0);
    // The same receipt at a supported version is still first.
    let first = server.verify("alice", &receipt).await;
    assert_eq!(first.redemption, Some(Redemption::First));
    server.stop().await.unwrap();
}

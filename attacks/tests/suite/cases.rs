//! The cases of issue 4, each through the real SDK and the real verifier, each asserting the
//! answer AND the ledger (no redemption it should not hold). A case returns what it showed,
//! or why it failed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use payseal_attacks::{Mitm, MitmConfig, Mode};
use payseal_protocol::envelope::{self, ServerKeyPair};
use payseal_protocol::time::{now_ms, now_s};
use payseal_protocol::verdict::{VerdictSigningKey, VERDICT_TYP};
use payseal_protocol::{Environment, Receipt, Store, VerdictClaims};
use payseal_sandbox::{app_store_header_json, CertSpec, Order, PurchaseState, SandboxStore};
use payseal_sdk_core::{check_verdict, DecisionError, Expected};
use payseal_verifier::server::REQUEST_CONTENT_TYPE;

use super::net;
use super::world::{self, outcome, World, APP, PROD_APP};

/// A case's result: what it showed, or why it failed.
pub type CaseResult = Result<String, String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Assert the SDK's answer for `receipt` from `account`.
async fn expect(
    sdk: &payseal_sdk_core::Client,
    receipt: &Receipt,
    account: &str,
    want: &str,
    what: &str,
) -> Result<(), String> {
    let got = outcome(sdk, receipt, account).await;
    ensure!(got == want, "{what}: expected `{want}`, got `{got}`");
    Ok(())
}

/// Assert the ledger holds no row for `receipt` (under `app`) and has `rows` rows.
fn untouched(w: &World, app: &str, receipts: &[&Receipt], rows: u64) -> Result<(), String> {
    for r in receipts {
        if let Some(owner) = w.owner(app, r) {
            return Err(format!("ledger holds a redemption owned by {owner:?}"));
        }
    }
    let now = w.rows();
    ensure!(now == rows, "ledger rows {rows} → {now}");
    Ok(())
}

fn play_parts(r: &Receipt) -> (String, String) {
    match r {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        } => (purchase_data.clone(), signature.clone()),
        _ => (String::new(), String::new()),
    }
}

fn play(purchase_data: String, signature: String) -> Receipt {
    Receipt::GooglePlay {
        purchase_data,
        signature,
    }
}

/// 01: a random signature on a Play purchase.
pub async fn random_signature(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let genuine = w.genuine(Store::GooglePlay);
    let (data, sig) = play_parts(&genuine);
    let sig_len = STANDARD.decode(&sig).map_err(|e| e.to_string())?.len();
    let forged = play(data, world::random_b64(sig_len));
    expect(
        &sdk,
        &forged,
        "mallory",
        "not_paid bad_signature",
        "random signature",
    )
    .await?;
    untouched(&w, APP, &[&forged], rows)?;
    // Control: the same purchase with its real signature is paid and recorded.
    expect(&sdk, &genuine, "alice", "paid first", "genuine control").await?;
    ensure!(
        w.owner(APP, &genuine).as_deref() == Some("alice"),
        "genuine purchase not recorded for alice"
    );
    Ok("not_paid bad_signature, ledger untouched (genuine control: paid first, recorded)".into())
}

/// 02: a genuine Play signature over altered JSON.
pub async fn altered_json(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let genuine = w.genuine(Store::GooglePlay);
    let (data, sig) = play_parts(&genuine);
    let pending = w.issue(&Order {
        state: PurchaseState::Pending,
        ..Order::new(Store::GooglePlay, APP, "coins_100")
    });
    let (pending_data, pending_sig) = play_parts(&pending);
    let order_id = world::transaction_key(&genuine).ok_or("no orderId")?;
    let variants = [
        (
            "product",
            play(data.replace("coins_100", "coins_9999"), sig.clone()),
        ),
        (
            "package",
            play(data.replace(APP, "com.attacker.game"), sig.clone()),
        ),
        (
            "orderId",
            play(
                data.replace(&order_id, "GPA.0000-0000-0000-00000"),
                sig.clone(),
            ),
        ),
        (
            "purchaseState 2→0",
            play(
                pending_data.replace("\"purchaseState\":2", "\"purchaseState\":0"),
                pending_sig,
            ),
        ),
    ];
    for (what, forged) in &variants {
        ensure!(
            play_parts(forged).0 != data && play_parts(forged).0 != play_parts(&pending).0,
            "variant {what} did not change the JSON"
        );
        expect(&sdk, forged, "mallory", "not_paid bad_signature", what).await?;
    }
    let all: Vec<&Receipt> = variants
        .iter()
        .map(|(_, r)| r)
        .chain([&genuine, &pending])
        .collect();
    untouched(&w, APP, &all, rows)?;
    Ok(format!(
        "{} altered purchases (product, package, orderId, purchaseState) → not_paid bad_signature, ledger untouched",
        variants.len()
    ))
}

/// 03: purchases signed by the attacker's own keys, served by a fake store.
pub async fn fake_store(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let order = |s| Order::new(s, APP, "coins_100");
    let play = w
        .fake_store
        .issue(&order(Store::GooglePlay))
        .map_err(|e| e.to_string())?;
    let huawei = w
        .fake_store
        .issue(&order(Store::Huawei))
        .map_err(|e| e.to_string())?;
    let sandbox = w
        .fake_store
        .issue(&order(Store::Sandbox))
        .map_err(|e| e.to_string())?;
    for (what, r) in [
        ("Play", &play),
        ("Huawei", &huawei),
        ("sandbox store", &sandbox),
    ] {
        expect(&sdk, r, "mallory", "not_paid bad_signature", what).await?;
    }
    untouched(&w, APP, &[&play, &huawei, &sandbox], rows)?;
    Ok("Play, Huawei and sandbox-store purchases from the attacker's store → not_paid bad_signature, ledger untouched".into())
}

fn jws_parts(r: &Receipt) -> Vec<String> {
    match r {
        Receipt::AppStore { jws } => jws.split('.').map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn app_store(jws: String) -> Receipt {
    Receipt::AppStore { jws }
}

/// 04: App Store JWS forgeries.
pub async fn app_store_forgeries(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let now = now_ms();
    let chain = w.store.app_store_chain();
    let mut forged: Vec<(&str, Receipt, &str)> = Vec::new();

    // The attacker's store: its own root, with Apple's marker OIDs copied down the chain.
    let fake = w
        .fake_store
        .issue(&Order::new(Store::AppStore, APP, "coins_100"))
        .map_err(|e| e.to_string())?;
    forged.push((
        "self-made root with Apple OIDs",
        fake,
        "not_paid untrusted_chain",
    ));
    // A leaf (with the marker OID) signed directly by a self-made root.
    let root = SandboxStore::make_app_store_root(&CertSpec::valid_around(now, 5))
        .map_err(|e| e.to_string())?;
    let leaf = w
        .store
        .make_app_store_leaf(Some(&root), &CertSpec::valid_around(now, 2))
        .map_err(|e| e.to_string())?;
    let payload = w
        .store
        .app_store_payload(&Order::new(Store::AppStore, APP, "coins_100"), now)
        .map_err(|e| e.to_string())?;
    let jws = leaf
        .sign_jws(&app_store_header_json(&[leaf.der(), root.der()]), &payload)
        .map_err(|e| e.to_string())?;
    forged.push((
        "leaf under a self-made root",
        app_store(jws),
        "not_paid untrusted_chain",
    ));

    // alg changed: none (no signature) and HS256 (HMAC keyed with the leaf certificate).
    let genuine = w.genuine(Store::AppStore);
    let p = jws_parts(&genuine);
    let x5c: Vec<String> = [&chain.leaf, &chain.intermediate, &chain.root]
        .iter()
        .map(|c| STANDARD.encode(c))
        .collect();
    let none = URL_SAFE_NO_PAD.encode(serde_json::json!({"alg": "none", "x5c": x5c}).to_string());
    forged.push((
        "alg none",
        app_store(format!("{none}.{}.", p[1])),
        "not_paid bad_signature",
    ));
    let hs = URL_SAFE_NO_PAD.encode(serde_json::json!({"alg": "HS256", "x5c": x5c}).to_string());
    let input = format!("{hs}.{}", p[1]);
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &chain.leaf),
        input.as_bytes(),
    );
    forged.push((
        "alg HS256",
        app_store(format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))),
        "not_paid bad_signature",
    ));

    // x5c stripped to the leaf, and reordered; signed by the genuine leaf key.
    let sign = |header: String| -> Result<Receipt, String> {
        let payload = w
            .store
            .app_store_payload(&Order::new(Store::AppStore, APP, "coins_100"), now)
            .map_err(|e| e.to_string())?;
        Ok(app_store(
            w.store
                .sign_app_store_jws(&header, &payload)
                .map_err(|e| e.to_string())?,
        ))
    };
    forged.push((
        "x5c stripped to the leaf",
        sign(app_store_header_json(&[&chain.leaf]))?,
        "not_paid untrusted_chain",
    ));
    forged.push((
        "x5c reordered",
        sign(app_store_header_json(&[
            &chain.intermediate,
            &chain.leaf,
            &chain.root,
        ]))?,
        "not_paid untrusted_chain",
    ));
    // A leaf under the genuine intermediate but without the marker OID.
    let unmarked = w
        .store
        .make_app_store_leaf(
            None,
            &CertSpec {
                marker_oid: false,
                ..CertSpec::valid_around(now, 2)
            },
        )
        .map_err(|e| e.to_string())?;
    let payload = w
        .store
        .app_store_payload(&Order::new(Store::AppStore, APP, "coins_100"), now)
        .map_err(|e| e.to_string())?;
    let jws = unmarked
        .sign_jws(
            &app_store_header_json(&[unmarked.der(), &chain.intermediate, &chain.root]),
            &payload,
        )
        .map_err(|e| e.to_string())?;
    forged.push((
        "leaf lacking the marker OID",
        app_store(jws),
        "not_paid untrusted_chain",
    ));

    for (what, r, want) in &forged {
        expect(&sdk, r, "mallory", want, what).await?;
    }
    let all: Vec<&Receipt> = forged.iter().map(|(_, r, _)| r).chain([&genuine]).collect();
    untouched(&w, APP, &all, rows)?;
    // Control: the genuine JWS is paid.
    expect(
        &sdk,
        &genuine,
        "alice",
        "paid first",
        "genuine App Store control",
    )
    .await?;
    Ok(format!(
        "{} forgeries (self-made roots ×2 → untrusted_chain; alg none/HS256 → bad_signature; x5c stripped/reordered, unmarked leaf → untrusted_chain), ledger untouched (genuine control paid)",
        forged.len()
    ))
}

/// 18: App Store app receipts (the original StoreKit, Unity IAP's iOS payload) forged the way
/// Freedom-style tools do: signed under a self-made "Apple Inc. Root CA" with Apple's marker
/// OIDs copied; and one purchase presented as app receipt and as JWS redeems once.
pub async fn app_receipt_forgeries(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let now = now_ms();
    let order = |tx: &str| {
        let mut o = Order::new(Store::AppStore, APP, "coins_100");
        o.transaction_id = Some(tx.into());
        o
    };
    let mut forged: Vec<(&str, Receipt, &str)> = Vec::new();
    // The attacker's whole store: root, WWDR-like intermediate and signer of its own.
    let fake = w
        .fake_store
        .issue_app_receipt(&order("1000000180000001"))
        .map_err(|e| e.to_string())?;
    forged.push((
        "receipt signed under a self-made Apple root",
        fake,
        "not_paid untrusted_chain",
    ));
    // A genuine receipt's payload re-signed by a marked signer under a self-made root.
    let root = SandboxStore::make_app_receipt_root(&CertSpec::valid_around(now, 5))
        .map_err(|e| e.to_string())?;
    let inter = w
        .store
        .make_app_receipt_intermediate(Some(&root), &CertSpec::valid_around(now, 3))
        .map_err(|e| e.to_string())?;
    let leaf = w
        .store
        .make_app_receipt_leaf(Some(&inter), &CertSpec::valid_around(now, 2))
        .map_err(|e| e.to_string())?;
    let ids = vec!["1000000180000002".to_string()];
    let payload = w
        .store
        .app_receipt_payload(&[order(&ids[0])], &ids, now - 1000)
        .map_err(|e| e.to_string())?;
    let resigned = w
        .store
        .sign_app_receipt(
            &payload,
            Some(&leaf),
            Some(&[leaf.der(), inter.der()]),
            false,
        )
        .map_err(|e| e.to_string())?;
    forged.push((
        "genuine payload re-signed under a self-made root",
        Receipt::AppStoreReceipt {
            app_receipt: resigned,
            transaction_id: ids[0].clone(),
        },
        "not_paid untrusted_chain",
    ));
    // A genuine receipt naming a transaction it does not hold.
    let Receipt::AppStoreReceipt { app_receipt, .. } = w
        .store
        .issue_app_receipt(&order("1000000180000003"))
        .map_err(|e| e.to_string())?
    else {
        return Err("the sandbox store issued no app receipt".into());
    };
    forged.push((
        "a transaction the receipt does not hold",
        Receipt::AppStoreReceipt {
            app_receipt,
            transaction_id: "1000000189999999".into(),
        },
        "not_paid not_purchased",
    ));
    for (what, r, want) in &forged {
        expect(&sdk, r, "mallory", want, what).await?;
    }
    let all: Vec<&Receipt> = forged.iter().map(|(_, r, _)| r).collect();
    untouched(&w, APP, &all, rows)?;

    // Control: a genuine app receipt pays; the same purchase as a StoreKit 2 JWS is the same
    // redemption (repeat for the buyer, already_redeemed for anyone else).
    let receipt = w
        .store
        .issue_app_receipt(&order("1000000180000004"))
        .map_err(|e| e.to_string())?;
    let jws = w.issue(&order("1000000180000004"));
    expect(&sdk, &receipt, "alice", "paid first", "genuine app receipt").await?;
    expect(
        &sdk,
        &jws,
        "alice",
        "paid repeat",
        "the same purchase as JWS",
    )
    .await?;
    expect(
        &sdk,
        &jws,
        "mallory",
        "not_paid already_redeemed",
        "JWS, other account",
    )
    .await?;
    expect(
        &sdk,
        &receipt,
        "mallory",
        "not_paid already_redeemed",
        "app receipt, other account",
    )
    .await?;
    ensure!(w.rows() == rows + 1, "ledger rows {rows} → {}", w.rows());
    Ok(format!(
        "{} app receipt forgeries (self-made Apple root ×2 → untrusted_chain, unheld transaction → not_purchased), ledger untouched; genuine app receipt paid, the same purchase as JWS redeemed once (1 row)",
        forged.len()
    ))
}

/// 05: a fake verifier with a certificate from a CA the device trusts, key not pinned.
pub async fn unpinned_fake_verifier(w: Arc<World>) -> CaseResult {
    let rows = w.rows();
    let (chain, key) = w.ca.issue_localhost();
    let (addr, seen) = net::fake_verifier(&chain, &key).await;
    let sdk = w.sdk_via(APP, addr);
    let receipt = w.genuine(Store::GooglePlay);
    let got = outcome(&sdk, &receipt, "alice").await;
    ensure!(
        got == "error pin_mismatch",
        "expected PinMismatch, got `{got}`"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let connections = seen.connections.load(Ordering::SeqCst);
    ensure!(
        connections == 1,
        "{connections} connections (a pin mismatch is never retried)"
    );
    let handshakes = seen.handshakes.load(Ordering::SeqCst);
    ensure!(
        handshakes == 0,
        "the fake verifier completed {handshakes} handshakes"
    );
    let plaintext = seen.plaintext_bytes.load(Ordering::SeqCst);
    ensure!(
        plaintext == 0,
        "the fake verifier read {plaintext} plaintext bytes"
    );
    // At the TCP level: a ClientHello, maybe a CCS, at most one small encrypted alert.
    let records = seen.client_records();
    ensure!(
        records.first().map(|r| r.0) == Some(22),
        "first client record is not a ClientHello: {records:?}"
    );
    let after_hello: usize = records.iter().skip(1).map(|(_, len)| 5 + len).sum();
    let (sealed, _) = w.seal(APP, "alice", &receipt);
    ensure!(
        after_hello <= 64,
        "the client sent {after_hello} bytes after its ClientHello (records {records:?}); a sealed request is {} bytes",
        sealed.len()
    );
    untouched(&w, APP, &[&receipt], rows)?;
    Ok(format!(
        "PinMismatch, 1 connection, 0 handshakes completed, 0 plaintext bytes; client sent {after_hello} B after its ClientHello (a sealed request is {} B), ledger untouched",
        sealed.len()
    ))
}

async fn mitm(w: &World, mode: Mode, watch: Vec<String>) -> Result<Mitm, String> {
    Mitm::start(MitmConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        upstream: format!("https://localhost:{}", w.addr.port()),
        cert_pem: w.paths.tls_cert.clone(),
        key_pem: w.tls_key.clone(),
        upstream_ca_pem: w.ca.pem_path.clone(),
        mode,
        watch,
        report_path: None,
        resign: None,
    })
    .await
    .map_err(|e| e.to_string())
}

fn secrets_of(r: &Receipt) -> Vec<String> {
    let (data, sig) = play_parts(r);
    let mut v = vec![sig.clone(), data];
    v.extend(world::transaction_key(r));
    if let Ok(raw) = STANDARD.decode(&sig) {
        v.push(URL_SAFE_NO_PAD.encode(raw));
    }
    v
}

/// 06: a compromised TLS-terminating proxy holding the pinned certificate and key.
pub async fn compromised_proxy(w: Arc<World>) -> CaseResult {
    let rows = w.rows();
    // (a) flips a bit in the sealed response.
    let r1 = w.genuine(Store::GooglePlay);
    let flip = mitm(&w, Mode::FlipResponse, secrets_of(&r1)).await?;
    let sdk = w.sdk_via(APP, flip.local_addr());
    let got = outcome(&sdk, &r1, "alice").await;
    ensure!(
        got == "error tampered",
        "flipped response: expected Tampered, got `{got}`"
    );
    let flip_report = flip.report();
    ensure!(
        flip_report.responses_altered >= 1,
        "the proxy altered nothing"
    );
    // (b) swaps in another client's sealed response.
    let r2 = w.genuine(Store::GooglePlay);
    let r3 = w.genuine(Store::GooglePlay);
    let mut watch = secrets_of(&r2);
    watch.extend(secrets_of(&r3));
    let swap = mitm(&w, Mode::SwapResponses, watch).await?;
    let sdk = w.sdk_via(APP, swap.local_addr());
    expect(
        &sdk,
        &r2,
        "bob",
        "paid first",
        "first client through the swapping proxy",
    )
    .await?;
    let got = outcome(&sdk, &r3, "carol").await;
    ensure!(
        got == "error tampered",
        "swapped response: expected Tampered, got `{got}`"
    );
    ensure!(
        swap.report().responses_altered == 1,
        "the proxy swapped nothing"
    );
    // Ledger: each genuine receipt belongs to its own buyer, nothing else was added.
    for (r, who) in [(&r1, "alice"), (&r2, "bob"), (&r3, "carol")] {
        let owner = w.owner(APP, r);
        ensure!(
            owner.as_deref() == Some(who),
            "owner {owner:?}, expected {who}"
        );
    }
    ensure!(w.rows() == rows + 3, "ledger rows {rows} → {}", w.rows());
    // The buyer is not locked out: straight to the verifier, the purchase is theirs.
    expect(
        &w.sdk(),
        &r1,
        "alice",
        "paid repeat",
        "retry without the proxy",
    )
    .await?;
    // (c) the proxy saw only ciphertext.
    let mut relayed = 0u64;
    for (name, m, receipts) in [("flip", &flip, vec![&r1]), ("swap", &swap, vec![&r2, &r3])] {
        let report = m.report();
        ensure!(
            !report.plaintext_seen
                && report.watch_hits.is_empty()
                && report.plaintext_markers.is_empty(),
            "{name} proxy saw plaintext: {report:?}"
        );
        let bytes = m.relayed_bytes();
        ensure!(!bytes.is_empty(), "{name} proxy relayed nothing");
        for r in receipts {
            for s in secrets_of(r) {
                ensure!(
                    !net::contains(&bytes, s.as_bytes()),
                    "{name} proxy saw receipt bytes"
                );
            }
        }
        relayed += report.client_to_upstream_bytes + report.upstream_to_client_bytes;
    }
    // The detector works: a plaintext body through the same kind of proxy is flagged.
    let pass = mitm(&w, Mode::Pass, secrets_of(&r1)).await?;
    let (data, _) = play_parts(&r1);
    let _ = w
        .http
        .post(format!(
            "https://localhost:{}/v1/verify",
            pass.local_addr().port()
        ))
        .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
        .body(data)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    ensure!(
        pass.report().plaintext_seen,
        "the plaintext detector saw nothing in a plaintext body"
    );
    Ok(format!(
        "flipped → Tampered, swapped → Tampered; each receipt owned by its buyer (+3 rows, retry → paid repeat); proxies relayed {relayed} B with no receipt bytes (a plaintext body is flagged)"
    ))
}

/// 07: an old `paid` verdict replayed as the answer to a new request.
pub async fn replayed_verdict(w: Arc<World>) -> CaseResult {
    let rows = w.rows();
    let genuine = w.genuine(Store::GooglePlay);
    let replay = mitm(&w, Mode::ReplayFirstResponse, Vec::new()).await?;
    let sdk = w.sdk_via(APP, replay.local_addr());
    let first = sdk
        .verify(&genuine, "alice")
        .await
        .map_err(|e| format!("first request: {}", world::kind(e)))?;
    ensure!(
        first.is_paid(),
        "first request not paid: {}",
        world::describe(&first)
    );
    // A new request (a forged purchase) gets the recorded `paid` answer.
    let (data, sig) = play_parts(&w.genuine(Store::GooglePlay));
    let forged = play(
        data,
        world::random_b64(STANDARD.decode(sig).map_err(|e| e.to_string())?.len()),
    );
    let got = outcome(&sdk, &forged, "mallory").await;
    ensure!(
        got == "error tampered",
        "replayed answer: expected Tampered, got `{got}`"
    );
    // The same request again from the genuine buyer: still refused (fresh nonce, fresh keys).
    let got = outcome(&sdk, &genuine, "alice").await;
    ensure!(
        got == "error tampered",
        "replayed to the same buyer: expected Tampered, got `{got}`"
    );
    ensure!(
        replay.report().responses_altered == 2,
        "the proxy replayed {} answers",
        replay.report().responses_altered
    );
    // Even the bare token of the old verdict, checked by the SDK's decision against the new
    // request, is refused for its nonce.
    let new_nonce = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
    let profile_keys = payseal_protocol::profile::Profile::parse(&w.profile_json)
        .map(|p| p.verdict_keys)
        .map_err(|e| e.to_string())?;
    let checker = payseal_protocol::verdict::VerdictVerifier::new(profile_keys);
    let hash = genuine.sha256_hex();
    let res = check_verdict(
        &checker,
        &first.token,
        &Expected {
            nonce: &new_nonce,
            receipt_sha256: &hash,
            app_id: APP,
            account_id: "alice",
            product_id: None,
        },
        now_s(),
    );
    ensure!(
        res == Err(DecisionError::Nonce),
        "old token for a new nonce: {res:?}"
    );
    untouched(&w, APP, &[&forged], rows + 1)?;
    ensure!(
        w.owner(APP, &genuine).as_deref() == Some("alice"),
        "genuine not owned by alice"
    );
    Ok("replayed sealed answer → Tampered (×2, cannot open), old token vs new nonce → DecisionError::Nonce; forged purchase not recorded".into())
}

/// 08: a receipt replayed from another account; the same account again.
pub async fn account_replay(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let r = w.genuine(Store::GooglePlay);
    expect(&sdk, &r, "alice", "paid first", "buyer").await?;
    expect(
        &sdk,
        &r,
        "mallory",
        "not_paid already_redeemed",
        "other account",
    )
    .await?;
    expect(&sdk, &r, "alice", "paid repeat", "same account again").await?;
    let a = w.genuine(Store::AppStore);
    expect(&sdk, &a, "alice", "paid first", "App Store buyer").await?;
    expect(
        &sdk,
        &a,
        "mallory",
        "not_paid already_redeemed",
        "App Store other account",
    )
    .await?;
    for x in [&r, &a] {
        let owner = w.owner(APP, x);
        ensure!(owner.as_deref() == Some("alice"), "owner {owner:?}");
    }
    ensure!(w.rows() == rows + 2, "ledger rows {rows} → {}", w.rows());
    Ok("other account → not_paid already_redeemed, same account → paid repeat (Play, App Store); rows stay owned by the buyer".into())
}

/// 09: a receipt of another app.
pub async fn other_app(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let play = w.issue(&Order::new(
        Store::GooglePlay,
        "com.other.game",
        "coins_100",
    ));
    let apple = w.issue(&Order::new(Store::AppStore, "com.other.game", "coins_100"));
    let huawei = w.issue(&Order::new(Store::Huawei, "com.other.game", "coins_100"));
    for (what, r) in [
        ("Play package", &play),
        ("App Store bundle id", &apple),
        ("Huawei package", &huawei),
    ] {
        expect(&sdk, r, "mallory", "not_paid wrong_app", what).await?;
    }
    untouched(&w, APP, &[&play, &apple, &huawei], rows)?;
    untouched(&w, "com.other.game", &[&play, &apple, &huawei], rows)?;
    Ok(
        "another app's Play, App Store and Huawei purchases → not_paid wrong_app, ledger untouched"
            .into(),
    )
}

/// 10: pending or cancelled purchases, a revoked App Store transaction.
pub async fn not_purchased(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let with = |store, state| {
        w.issue(&Order {
            state,
            ..Order::new(store, APP, "coins_100")
        })
    };
    let cases = [
        (
            "pending Play",
            with(Store::GooglePlay, PurchaseState::Pending),
            "not_paid not_purchased",
        ),
        (
            "cancelled Play",
            with(Store::GooglePlay, PurchaseState::Cancelled),
            "not_paid not_purchased",
        ),
        (
            "revoked App Store",
            with(Store::AppStore, PurchaseState::Cancelled),
            "not_paid revoked",
        ),
    ];
    for (what, r, want) in &cases {
        expect(&sdk, r, "alice", want, what).await?;
    }
    let all: Vec<&Receipt> = cases.iter().map(|(_, r, _)| r).collect();
    untouched(&w, APP, &all, rows)?;
    Ok("pending/cancelled Play → not_paid not_purchased, revoked App Store → not_paid revoked, ledger untouched".into())
}

/// 11: a sandbox receipt sent to a production-only app.
pub async fn sandbox_to_production(w: Arc<World>) -> CaseResult {
    let sdk = payseal_sdk_core::Client::new(&w.profile_json, w.options(PROD_APP))
        .map_err(|e| e.to_string())?;
    let rows = w.rows();
    let sandbox = w.issue(&Order::new(Store::GooglePlay, PROD_APP, "coins_100"));
    expect(
        &sdk,
        &sandbox,
        "alice",
        "not_paid untrusted_environment",
        "sandbox receipt",
    )
    .await?;
    untouched(&w, PROD_APP, &[&sandbox], rows)?;
    // Control: a production purchase of the same app is paid.
    let production = w.issue(&Order {
        environment: Environment::Production,
        ..Order::new(Store::GooglePlay, PROD_APP, "coins_100")
    });
    expect(
        &sdk,
        &production,
        "alice",
        "paid first",
        "production control",
    )
    .await?;
    ensure!(w.rows() == rows + 1, "ledger rows {rows} → {}", w.rows());
    Ok("sandbox Play receipt → not_paid untrusted_environment, ledger untouched (production control paid)".into())
}

fn is_problem_400(status: u16, ct: &str, body: &[u8]) -> Result<(), String> {
    ensure!(status == 400, "status {status}");
    ensure!(
        ct.starts_with("application/problem+json"),
        "content type {ct:?}"
    );
    let doc: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("problem document: {e}"))?;
    ensure!(doc["status"] == 400, "problem document {doc}");
    Ok(())
}

/// 12: a flipped bit anywhere in the request envelope.
pub async fn flipped_request_bit(w: Arc<World>) -> CaseResult {
    let rows = w.rows();
    let receipt = w.genuine(Store::GooglePlay);
    let (sealed, ctx) = w.seal(APP, "alice", &receipt);
    let len = sealed.len();
    // Every header byte (key id, KEM, KDF, AEAD), the encapsulated key, and the ciphertext
    // from start to tag, each bit position of a byte at least once.
    let mut positions: Vec<usize> = (0..7).collect();
    positions.extend((7..39).step_by(3));
    positions.extend((39..len).step_by((len / 40).max(1)));
    positions.push(len - 1);
    positions.sort_unstable();
    positions.dedup();
    for (n, &i) in positions.iter().enumerate() {
        let mut bad = sealed.clone();
        bad[i] ^= 1 << (n % 8);
        let (status, ct, body) = w.post_sealed(bad).await?;
        is_problem_400(status, &ct, &body).map_err(|e| format!("bit flipped at byte {i}: {e}"))?;
    }
    untouched(&w, APP, &[&receipt], rows)?;
    // Control: the unflipped envelope is answered and recorded.
    let (status, _, body) = w.post_sealed(sealed).await?;
    ensure!(status == 200, "unflipped envelope: status {status}");
    ctx.open_response(&body)
        .map_err(|e| format!("unflipped answer: {e}"))?;
    ensure!(
        w.owner(APP, &receipt).as_deref() == Some("alice"),
        "control not recorded"
    );
    Ok(format!(
        "{} single-bit flips over the {len}-byte envelope → 400 problem document each, nothing recorded (unflipped control → 200, recorded)",
        positions.len()
    ))
}

/// 13: plaintext JSON where an envelope is required; an unknown key id.
pub async fn plaintext_and_unknown_key(w: Arc<World>) -> CaseResult {
    let rows = w.rows();
    let receipt = w.genuine(Store::GooglePlay);
    let plain = serde_json::json!({
        "v": 1, "nonce": "bm9uY2Utbm9uY2Utbm9uY2U", "app_id": APP, "account_id": "mallory",
        "receipt": serde_json::to_value(&receipt).map_err(|e| e.to_string())?,
        "sdk": {"name": "attacker", "version": "0"}
    })
    .to_string()
    .into_bytes();
    let (status, ct, body) = w.post_sealed(plain.clone()).await?;
    is_problem_400(status, &ct, &body).map_err(|e| format!("plaintext JSON: {e}"))?;
    let (status, _, _) = w.post("application/json", plain).await?;
    ensure!(
        status == 415,
        "plaintext JSON as application/json: status {status}"
    );
    // A well-formed envelope sealed to a key id the verifier does not have.
    let own = w.key_config.key_id;
    let other = ServerKeyPair::generate(own.wrapping_add(77));
    let request = serde_json::json!({
        "v": 1, "nonce": "bm9uY2Utbm9uY2Utbm9uY2U", "app_id": APP, "account_id": "mallory",
        "receipt": serde_json::to_value(&receipt).map_err(|e| e.to_string())?,
        "sdk": {"name": "attacker", "version": "0"}
    })
    .to_string();
    let (sealed, _) =
        envelope::seal_request(&other.config(), request.as_bytes()).map_err(|e| e.to_string())?;
    let (status, ct, body) = w.post_sealed(sealed).await?;
    is_problem_400(status, &ct, &body).map_err(|e| format!("unknown key id: {e}"))?;
    // The right key id with another public key (the attacker's own key pair).
    let wrong = ServerKeyPair::generate(own).config();
    let (sealed, _) =
        envelope::seal_request(&wrong, request.as_bytes()).map_err(|e| e.to_string())?;
    let (status, ct, body) = w.post_sealed(sealed).await?;
    is_problem_400(status, &ct, &body).map_err(|e| format!("known key id, wrong key: {e}"))?;
    untouched(&w, APP, &[&receipt], rows)?;
    Ok("plaintext JSON → 400 problem (415 as application/json), unknown key id → 400, known id with another key → 400; nothing recorded".into())
}

fn forge_token(
    header: serde_json::Value,
    claims: &VerdictClaims,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// 14: expired, unknown-key and alg-changed verdict tokens. An expired token that echoes the
/// request's nonce is the verifier's answer to that request, so the SDK takes it whatever the
/// device clock says (issue 14: a wrong clock must not lose a paid purchase) and reports the
/// skew; the application server, whose clock is good, refuses it.
pub async fn bad_tokens(w: Arc<World>) -> CaseResult {
    let rows = w.rows();
    let receipt = w.genuine(Store::GooglePlay);
    let genuine = w
        .sdk()
        .verify(&receipt, "alice")
        .await
        .map_err(|e| format!("genuine verify: {}", world::kind(e)))?;
    ensure!(genuine.is_paid(), "genuine not paid");
    let claims = genuine.claims.clone();
    let kid = w.verdict_key.kid().to_string();
    let profile_keys = payseal_protocol::profile::Profile::parse(&w.profile_json)
        .map(|p| p.verdict_keys)
        .map_err(|e| e.to_string())?;
    let sdk_checker = payseal_protocol::verdict::VerdictVerifier::new(profile_keys);
    let expected = Expected {
        nonce: &claims.nonce,
        receipt_sha256: &claims.receipt_sha256,
        app_id: &claims.app,
        account_id: &claims.sub,
        product_id: None,
    };
    let now = now_s();
    // Controls: the genuine token passes both checks.
    check_verdict(&sdk_checker, &genuine.token, &expected, now)
        .map_err(|e| format!("genuine token refused by the SDK: {e}"))?;
    w.app_server
        .verify(&genuine.token, now)
        .map_err(|e| format!("genuine token refused by the app server: {e}"))?;

    let mut expired = claims.clone();
    expired.iat = now - 7200;
    expired.exp = now - 3600;
    let expired = w.verdict_key.sign(&expired).map_err(|e| e.to_string())?;
    let unknown = VerdictSigningKey::generate(kid.clone())
        .sign(&claims)
        .map_err(|e| e.to_string())?;
    let jwk =
        serde_json::to_value(w.verdict_key.public_key().to_jwk()).map_err(|e| e.to_string())?;
    let x = jwk["x"].as_str().unwrap_or_default().as_bytes().to_vec();
    let hs256 = forge_token(
        serde_json::json!({"alg": "HS256", "kid": kid, "typ": VERDICT_TYP}),
        &claims,
        |input| {
            ring::hmac::sign(&ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &x), input)
                .as_ref()
                .to_vec()
        },
    );
    let none = forge_token(
        serde_json::json!({"alg": "none", "kid": kid, "typ": VERDICT_TYP}),
        &claims,
        |_| Vec::new(),
    );
    let real = w.verdict_key.sign(&claims).map_err(|e| e.to_string())?;
    let real_sig = real.rsplit('.').next().unwrap_or_default().to_string();
    let es256_relabel = {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(
                serde_json::json!({"alg": "ES256", "kid": kid, "typ": VERDICT_TYP}).to_string()
            ),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).map_err(|e| e.to_string())?)
        );
        format!("{input}.{real_sig}")
    };
    let sdk = check_verdict(&sdk_checker, &expired, &expected, now)
        .map_err(|e| format!("expired token for this nonce refused by the SDK: {e}"))?;
    ensure!(
        sdk.device_clock_skew_secs == 7200,
        "expired token: skew {} s",
        sdk.device_clock_skew_secs
    );
    ensure!(
        w.app_server.verify(&expired, now).is_err(),
        "expired: application server accepted it"
    );
    let tokens = [
        ("unknown key", unknown),
        ("alg HS256", hs256),
        ("alg none", none),
        ("alg ES256 relabelled", es256_relabel),
    ];
    for (what, token) in &tokens {
        let sdk = check_verdict(&sdk_checker, token, &expected, now);
        ensure!(
            matches!(sdk, Err(DecisionError::Token(_))),
            "{what}: SDK decision {sdk:?}"
        );
        let server = w.app_server.verify(token, now);
        ensure!(server.is_err(), "{what}: application server accepted it");
    }
    ensure!(w.rows() == rows + 1, "ledger rows {rows} → {}", w.rows());
    Ok(format!(
        "{} forged tokens (unknown key, alg HS256/none/ES256) refused by the SDK decision and by the app server's JWKS check (genuine control accepted by both); an expired token for this nonce refused by the app server, taken by the SDK with its skew reported",
        tokens.len()
    ))
}

/// 15: oversized bodies, slow-loris clients, a storm of bad requests.
pub async fn storm(w: Arc<World>) -> CaseResult {
    let rows = w.rows();
    let sdk = w.sdk();
    // Unloaded latency of good requests (fresh receipts).
    let mut base = Vec::new();
    for _ in 0..5 {
        let r = w.genuine(Store::GooglePlay);
        let t = Instant::now();
        expect(&sdk, &r, "alice", "paid first", "unloaded").await?;
        base.push(t.elapsed());
    }
    base.sort();
    let median = base[base.len() / 2];
    // Oversized bodies → 413: one just over the limit, sent whole; one declaring 1 MiB of
    // which 80 KiB are sent (the server answers without waiting for the rest). Raw HTTP/1.1,
    // so the answer is read before the server closes the connection.
    for (declared, sent) in [(64 * 1024 + 1, 64 * 1024 + 1), (1024 * 1024, 80 * 1024)] {
        let status = net::oversized_post(&w.ca.pem, w.addr, declared, sent)
            .await
            .map_err(|e| format!("{declared}-byte body: {e}"))?;
        ensure!(
            status == "HTTP/1.1 413 Payload Too Large",
            "{declared}-byte body: {status:?}"
        );
    }
    // Slow-loris clients.
    let lorises: Vec<_> = (0..32)
        .map(|_| {
            tokio::spawn(net::slow_loris(
                w.ca.pem.clone(),
                w.addr,
                Duration::from_millis(250),
                world::HEADER_TIMEOUT * 5,
            ))
        })
        .collect();
    // 2,000 garbage posts over 64 connections.
    const CONNS: usize = 64;
    const POSTS: usize = 2_000;
    let storm_start = Instant::now();
    let workers: Vec<_> = (0..CONNS)
        .map(|c| {
            let w = w.clone();
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .use_rustls_tls()
                    .tls_built_in_root_certs(false)
                    .add_root_certificate(reqwest::Certificate::from_pem(w.ca.pem.as_bytes()).ok()?)
                    .pool_max_idle_per_host(1)
                    .timeout(Duration::from_secs(30))
                    .build()
                    .ok()?;
                let mut statuses = Vec::new();
                for i in (c..POSTS).step_by(CONNS) {
                    let body: Vec<u8> = (0..(200 + i % 800))
                        .map(|j| (i * 31 + j * 7) as u8)
                        .collect();
                    let status = client
                        .post(w.verify_url())
                        .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
                        .body(body)
                        .send()
                        .await
                        .map(|r| r.status().as_u16())
                        .unwrap_or(0);
                    statuses.push(status);
                }
                Some(statuses)
            })
        })
        .collect();
    // A good request during the storm.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = w.genuine(Store::GooglePlay);
    let t = Instant::now();
    expect(&sdk, &during, "bob", "paid first", "during the storm").await?;
    let loaded = t.elapsed();
    let bound = (median * 20).max(Duration::from_secs(2));
    ensure!(
        loaded < bound,
        "good request took {loaded:?} under load (bound {bound:?}, unloaded median {median:?})"
    );
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    for wk in workers {
        let statuses = wk
            .await
            .map_err(|e| e.to_string())?
            .ok_or("storm client setup failed")?;
        for s in statuses {
            *counts.entry(s).or_default() += 1;
        }
    }
    let storm_time = storm_start.elapsed();
    ensure!(
        counts.get(&400) == Some(&POSTS),
        "garbage answers {counts:?} (expected {POSTS} × 400)"
    );
    let mut closed = Vec::new();
    for l in lorises {
        match l
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("slow client: {e}"))?
        {
            Some(d) => closed.push(d),
            None => return Err("a slow-loris connection was never closed".into()),
        }
    }
    closed.sort();
    let slowest = closed.last().copied().unwrap_or_default();
    ensure!(
        closed.first().copied().unwrap_or_default()
            >= world::HEADER_TIMEOUT - Duration::from_millis(100),
        "a slow client was closed after {:?}, before the header timeout",
        closed[0]
    );
    // The server is still up and answers normally.
    let health = w
        .http
        .get(format!("https://localhost:{}/healthz", w.addr.port()))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    ensure!(health.status() == 200, "healthz {}", health.status());
    let after = w.genuine(Store::GooglePlay);
    expect(&sdk, &after, "carol", "paid first", "after the storm").await?;
    ensure!(
        w.rows() == rows + 7,
        "ledger rows {rows} → {} (expected only the 7 good requests)",
        w.rows()
    );
    Ok(format!(
        "413 ×2; {} slow-loris closed after {:?}–{:?} (header timeout {:?}); {POSTS} garbage posts over {CONNS} connections → 400 ×{POSTS} in {:.1}s; good request during the storm {loaded:?} (unloaded median {median:?}, bound {bound:?}); only the 7 good requests recorded",
        closed.len(),
        closed[0],
        slowest,
        world::HEADER_TIMEOUT,
        storm_time.as_secs_f64()
    ))
}

/// Verify for the product the app sold and describe the answer (as [`outcome`]).
async fn outcome_for(
    sdk: &payseal_sdk_core::Client,
    receipt: &Receipt,
    account: &str,
    product: &str,
) -> String {
    match sdk.verify_product(receipt, account, Some(product)).await {
        Ok(v) => world::describe(&v),
        Err(e) => format!("error {}", world::kind(e)),
    }
}

/// A purchase of `product` in `store`'s real format, with an account token when given.
fn bought(w: &World, store: Store, product: &str, token: Option<String>) -> Receipt {
    w.issue(&Order {
        account_token: token,
        ..Order::new(store, APP, product)
    })
}

/// 16: a genuine, older, unredeemed cheap receipt answering an expensive purchase (a
/// Freedom-style substitution).
pub async fn cheap_receipt_substitution(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let mut shown = Vec::new();
    for store in [Store::GooglePlay, Store::AppStore] {
        let cheap = bought(&w, store, "coins_100", None);
        let got = outcome_for(&sdk, &cheap, "mallory", "coins_100000").await;
        ensure!(
            got == "not_paid wrong_product",
            "{store}: cheap receipt for the expensive product: {got}"
        );
        untouched(&w, APP, &[&cheap], rows + shown.len() as u64)?;
        // Not consumed: the same receipt for its own product is paid and recorded once.
        let got = outcome_for(&sdk, &cheap, "mallory", "coins_100").await;
        ensure!(got == "paid first", "{store}: own product: {got}");
        let got = outcome_for(&sdk, &cheap, "mallory", "coins_100000").await;
        ensure!(
            got == "not_paid wrong_product",
            "{store}: redeemed receipt presented again for the expensive product: {got}"
        );
        let owner = w.owner(APP, &cheap);
        ensure!(owner.as_deref() == Some("mallory"), "owner {owner:?}");
        shown.push(store);
    }
    ensure!(w.rows() == rows + 2, "ledger rows {rows} → {}", w.rows());
    Ok("cheap Play and App Store receipts for an expensive product → not_paid wrong_product, nothing recorded; for their own product → paid first; again for the expensive one → wrong_product".into())
}

/// 17: a receipt bound by the store to another account (Play `obfuscatedAccountId`, App
/// Store `appAccountToken`, UUIDv5 of the buyer's account id) presented by another account
/// before the buyer redeemed it.
pub async fn account_bound_receipt(w: Arc<World>) -> CaseResult {
    let sdk = w.sdk();
    let rows = w.rows();
    let binding =
        payseal_protocol::AccountBinding::uuid_v5(payseal_verifier::dev::DEV_ACCOUNT_NAMESPACE)
            .map_err(|e| e.to_string())?;
    for store in [Store::GooglePlay, Store::AppStore] {
        let r = bought(&w, store, "coins_100", Some(binding.token("alice")));
        expect(
            &sdk,
            &r,
            "mallory",
            "not_paid wrong_account",
            "another account first",
        )
        .await?;
        untouched(&w, APP, &[&r], w.rows())?;
        expect(&sdk, &r, "alice", "paid first", "the bound account").await?;
        expect(
            &sdk,
            &r,
            "mallory",
            "not_paid wrong_account",
            "another account after",
        )
        .await?;
    }
    ensure!(w.rows() == rows + 2, "ledger rows {rows} → {}", w.rows());
    Ok("Play / App Store receipts bound to alice → not_paid wrong_account for mallory (nothing recorded), paid first for alice".into())
}

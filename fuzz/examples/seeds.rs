//! Write the fuzz fixtures (once) and the seed corpora from them.
//!
//! ```sh
//! cd fuzz && cargo run --example seeds      # fixtures/ kept if present; corpus/<target>/seed-* rewritten
//! ```
//! Seeds are real: receipts issued by the fixture sandbox store in every store format (purchased,
//! pending, cancelled, production, another app, Huawei PSS), a request sealed to the fixture HPKE
//! key, the verifier's answer to the fixed request, the profile, a verdict token and the config.

use std::fs;
use std::path::Path;

use payseal_fuzz::{fixtures, fixtures_dir, APP, RESPONSE_REQUEST, VERDICT_NOW};
use payseal_protocol::envelope::{self, KeyConfig};
use payseal_protocol::{
    Environment, HuaweiAlgorithm, Outcome, Receipt, Redemption, SdkInfo, Store, VerdictClaims,
    VerifyRequest, VerifyResponse, PROTOCOL_VERSION,
};
use payseal_sandbox::{Order, PurchaseState};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn two_part(data: &str, sig: &str) -> Vec<u8> {
    let mut v = data.as_bytes().to_vec();
    v.push(0);
    v.extend_from_slice(sig.as_bytes());
    v
}

fn main() {
    let dir = fixtures_dir();
    if !dir.join(payseal_verifier::dev::CONFIG_FILE).exists() {
        payseal_verifier::dev::prepare(&dir, "127.0.0.1:8443".parse().unwrap())
            .expect("dev state for the fuzz fixtures");
    }
    let f = fixtures();
    let store = &f.store;

    // Receipts in every format and state.
    let mut receipts: Vec<(String, Receipt)> = Vec::new();
    for s in [
        Store::GooglePlay,
        Store::AppStore,
        Store::Huawei,
        Store::Sandbox,
    ] {
        let name = s.as_str();
        receipts.push((
            format!("{name}-paid"),
            store.issue(&Order::new(s, APP, "gems_100")).unwrap(),
        ));
        let mut other = Order::new(s, "com.other.app", "gems_100");
        other.quantity = 3;
        receipts.push((format!("{name}-other-app"), store.issue(&other).unwrap()));
        if s != Store::Sandbox {
            let mut prod = Order::new(s, APP, "gems_500");
            prod.environment = Environment::Production;
            receipts.push((format!("{name}-production"), store.issue(&prod).unwrap()));
            let mut cancelled = Order::new(s, APP, "gems_100");
            cancelled.state = PurchaseState::Cancelled;
            receipts.push((
                format!("{name}-cancelled"),
                store.issue(&cancelled).unwrap(),
            ));
        }
        if matches!(s, Store::GooglePlay | Store::Huawei) {
            let mut pending = Order::new(s, APP, "gems_100");
            pending.state = PurchaseState::Pending;
            receipts.push((format!("{name}-pending"), store.issue(&pending).unwrap()));
        }
    }
    receipts.push((
        "huawei-pss".into(),
        store
            .issue_huawei_pss(&Order::new(Store::Huawei, APP, "gems_100"))
            .unwrap(),
    ));

    for (name, receipt) in &receipts {
        assert_eq!(
            f.check(receipt).is_ok(),
            name.ends_with("-paid") || name.ends_with("-production") || name == "huawei-pss",
            "{name}: {:?}",
            f.check(receipt)
        );
        write("receipt_json", name, &serde_json::to_vec(receipt).unwrap());
        match receipt {
            Receipt::GooglePlay {
                purchase_data,
                signature,
            } => write(
                "rule_google_play",
                name,
                &two_part(purchase_data, signature),
            ),
            Receipt::Huawei {
                purchase_data,
                signature,
                algorithm,
            } => {
                let mut v = vec![u8::from(*algorithm == HuaweiAlgorithm::Sha256WithRsaPss)];
                v.extend(two_part(purchase_data, signature));
                write("rule_huawei", name, &v)
            }
            Receipt::Sandbox {
                purchase_data,
                signature,
            } => write("rule_sandbox", name, &two_part(purchase_data, signature)),
            Receipt::AppStore { jws } => write("rule_app_store", name, jws.as_bytes()),
            Receipt::AppStoreReceipt { .. } => unreachable!("app receipts are seeded below"),
        }
    }

    // App Store app receipts: paid, another app, cancelled, production; Base64 \0 transaction
    // id, and one raw DER seed (the target names APP_RECEIPT_TRANSACTION for it).
    let order = |app: &str, state: PurchaseState, env: Environment| {
        let mut o = Order::new(Store::AppStore, app, "gems_100");
        o.transaction_id = Some(payseal_fuzz::APP_RECEIPT_TRANSACTION.into());
        o.state = state;
        o.environment = env;
        o
    };
    for (name, o, paid) in [
        ("paid", order(APP, PurchaseState::Purchased, Environment::Sandbox), true),
        ("production", order(APP, PurchaseState::Purchased, Environment::Production), true),
        ("other-app", order("com.other.app", PurchaseState::Purchased, Environment::Sandbox), false),
        ("cancelled", order(APP, PurchaseState::Cancelled, Environment::Sandbox), false),
    ] {
        let r = store.issue_app_receipt(&o).unwrap();
        assert_eq!(f.check(&r).is_ok(), paid, "app receipt {name}: {:?}", f.check(&r));
        let Receipt::AppStoreReceipt { app_receipt, transaction_id } = &r else { unreachable!() };
        write("rule_app_receipt", name, &two_part(app_receipt, transaction_id));
        write("receipt_json", &format!("app-receipt-{name}"), &serde_json::to_vec(&r).unwrap());
        if name == "paid" {
            use base64::Engine;
            let der = base64::engine::general_purpose::STANDARD.decode(app_receipt).unwrap();
            write("rule_app_receipt", "paid-der", &der);
            // Unity IAP's unified receipts around it, and around a Play purchase.
            let unified = serde_json::json!({"Store": "AppleAppStore", "TransactionID": transaction_id, "Payload": app_receipt});
            write("unity_iap", "apple", unified.to_string().as_bytes());
        }
    }
    let play = store.issue(&Order::new(Store::GooglePlay, APP, "gems_100")).unwrap();
    if let Receipt::GooglePlay { purchase_data, signature } = &play {
        let payload = serde_json::json!({"json": purchase_data, "signature": signature, "skuDetails": ["{}"]});
        let unified = serde_json::json!({"Store": "GooglePlay", "TransactionID": "GPA.1", "Payload": payload.to_string()});
        write("unity_iap", "google-play", unified.to_string().as_bytes());
    }

    // Raw DER for the chain parsing, one seed per position.
    let chain = store.app_store_chain();
    for (mode, (name, der)) in [
        ("leaf", &chain.leaf),
        ("intermediate", &chain.intermediate),
        ("root", &chain.root),
    ]
    .into_iter()
    .enumerate()
    {
        let mut v = vec![mode as u8];
        v.extend_from_slice(der);
        write("app_store_der", name, &v);
        let mut raw = vec![3u8];
        raw.extend_from_slice(der);
        write("app_store_der", &format!("raw-{name}"), &raw);
    }

    // Envelopes.
    let config = f.settings.hpke_keys[0].config();
    let request = VerifyRequest {
        v: PROTOCOL_VERSION,
        nonce: "AAECAwQFBgcICQoLDA0ODw".into(),
        app_id: APP.into(),
        account_id: "account-1".into(),
        receipt: receipts[0].1.clone(),
        sdk: SdkInfo {
            name: "payseal-fuzz".into(),
            version: "0".into(),
        },
        expected_product_id: None,
    };
    let request_json = serde_json::to_vec(&request).unwrap();
    write("request_json", "request", &request_json);
    let (sealed, _) =
        envelope::seal_request_deterministic(&config, &request_json, &[9; 32]).unwrap();
    write("envelope_open_request", "request", &sealed);
    write("envelope_key_config", "config", &config.encode());
    write(
        "envelope_key_config",
        "list",
        &KeyConfig::encode_list(&[config.clone(), config]),
    );

    let (sealed, _) = f.client_context();
    let (plain, reply) = envelope::open_request(&f.settings.hpke_keys, &sealed).unwrap();
    assert_eq!(plain, RESPONSE_REQUEST);

    // A verdict token at VERDICT_NOW, and the response carrying it.
    let claims = VerdictClaims {
        iss: f.settings.public_url.clone(),
        iat: VERDICT_NOW,
        exp: VERDICT_NOW + 600,
        jti: "fuzz-1".into(),
        nonce: request.nonce.clone(),
        app: APP.into(),
        sub: "account-1".into(),
        store: Store::GooglePlay,
        environment: Some(Environment::Sandbox),
        product_id: Some("gems_100".into()),
        transaction_id: Some("GPA.1".into()),
        original_transaction_id: None,
        quantity: Some(1),
        purchased_at: Some(VERDICT_NOW * 1000),
        kind: None,
        expires_at: None,
        receipt_sha256: receipts[0].1.sha256_hex(),
        outcome: Outcome::Paid,
        reason: None,
        redemption: Some(Redemption::First),
        subscription_state: None,
        store_checked: None,
        refund_history: None,
    };
    let token = f.settings.verdict_keys[0].sign(&claims).unwrap();
    assert!(f.verdict_verifier().verify(&token, VERDICT_NOW).is_ok());
    write("verdict_verify", "paid", token.as_bytes());
    let response = serde_json::to_vec(&VerifyResponse {
        v: PROTOCOL_VERSION,
        verdict: token,
    })
    .unwrap();
    write("request_json", "response", &response);
    let sealed_response = reply
        .seal_response_with_nonce(&response, [5; envelope::RESPONSE_NONCE_LEN])
        .unwrap();
    let (_, client) = f.client_context();
    assert_eq!(client.open_response(&sealed_response).unwrap(), response);
    write("envelope_open_response", "response", &sealed_response);

    // Profile and configuration.
    let profile = payseal_verifier::profile::build(&f.settings)
        .unwrap()
        .to_json();
    write("profile_parse", "profile", profile.as_bytes());
    let config_text = fs::read(payseal_fuzz::config_path()).unwrap();
    write("config_parse", "dev", &config_text);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../verifier/config.example.toml");
    write("config_parse", "example", &fs::read(example).unwrap());

    println!("fixtures in {}; seeds written", dir.display());
}

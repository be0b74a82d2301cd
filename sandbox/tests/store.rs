//! The sandbox store: persistence, and each format as the real store's clients would read it.

use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use payseal_protocol::{Environment, HuaweiAlgorithm, Receipt, Store};
use payseal_sandbox::{CertSpec, Order, PurchaseState, SandboxError, SandboxStore};
use rsa::pkcs8::DecodePublicKey;
use serde_json::Value;
use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

struct Shared {
    _dir: tempfile::TempDir,
    store: SandboxStore,
}

fn store() -> &'static SandboxStore {
    static STORE: OnceLock<Shared> = OnceLock::new();
    &STORE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = SandboxStore::open_or_create(dir.path()).unwrap();
            Shared { _dir: dir, store }
        })
        .store
}

fn rsa_key(b64_spki: &str) -> rsa::RsaPublicKey {
    rsa::RsaPublicKey::from_public_key_der(&STANDARD.decode(b64_spki).unwrap()).unwrap()
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn keys_persist_and_private_files_are_0600() {
    let dir = tempfile::tempdir().unwrap();
    let a = SandboxStore::open_or_create(dir.path()).unwrap();
    let b = SandboxStore::open_or_create(dir.path()).unwrap();
    assert_eq!(a.google_play_public_key(), b.google_play_public_key());
    assert_eq!(a.huawei_public_key(), b.huawei_public_key());
    assert_eq!(a.sandbox_public_key(), b.sandbox_public_key());
    assert_eq!(a.app_store_root_sha256(), b.app_store_root_sha256());
    assert_eq!(a.app_store_chain(), b.app_store_chain());
    assert_ne!(a.google_play_public_key(), a.huawei_public_key());

    // A purchase issued after reopening verifies with the key published before.
    let r = b
        .issue(&Order::new(Store::Sandbox, "dev.payseal.demo", "coins"))
        .unwrap();
    let Receipt::Sandbox {
        purchase_data,
        signature,
    } = r
    else {
        panic!("sandbox receipt expected");
    };
    let vk: [u8; 32] = STANDARD
        .decode(a.sandbox_public_key())
        .unwrap()
        .try_into()
        .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&vk).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&STANDARD.decode(signature).unwrap()).unwrap();
    vk.verify_strict(purchase_data.as_bytes(), &sig).unwrap();

    // The root file is the published root; its fingerprint matches.
    let pem = std::fs::read_to_string(a.app_store_root_path()).unwrap();
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    assert_eq!(
        hex::encode(Sha256::digest(&parsed.contents)),
        a.app_store_root_sha256()
    );

    #[cfg(unix)]
    {
        for f in ["google-play.key.pem", "huawei.key.pem", "sandbox.key.pem"] {
            let p = dir.path().join(f);
            assert_eq!(mode(&p), 0o600, "{f}");
            assert!(std::fs::read_to_string(&p)
                .unwrap()
                .starts_with("-----BEGIN PRIVATE KEY-----"));
        }
        for f in ["root", "intermediate", "leaf"] {
            let p = dir.path().join("app-store-ca").join(format!("{f}.key.pem"));
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    // Debug output never shows key material.
    let dbg = format!("{a:?}");
    assert!(!dbg.contains("PRIVATE") && dbg.contains("SandboxStore"));
}

#[test]
fn another_directory_is_another_store() {
    let dir = tempfile::tempdir().unwrap();
    let other = SandboxStore::open_or_create(dir.path()).unwrap();
    assert_ne!(
        other.google_play_public_key(),
        store().google_play_public_key()
    );
    assert_ne!(
        other.app_store_root_sha256(),
        store().app_store_root_sha256()
    );
}

#[test]
fn google_play_purchase_is_play_json_signed_sha1_with_rsa() {
    let s = store();
    let mut order = Order::new(Store::GooglePlay, "com.example.game", "gems_100");
    order.quantity = 3;
    let Receipt::GooglePlay {
        purchase_data,
        signature,
    } = s.issue(&order).unwrap()
    else {
        panic!("play receipt expected");
    };
    let v: Value = serde_json::from_str(&purchase_data).unwrap();
    let order_id = v["orderId"].as_str().unwrap();
    assert!(order_id.starts_with("GPA.") && order_id.len() == "GPA.1234-1234-1234-12345".len());
    assert_eq!(v["packageName"], "com.example.game");
    assert_eq!(v["productId"], "gems_100");
    assert_eq!(v["purchaseState"], 0);
    assert_eq!(v["purchaseType"], 0, "test purchases carry purchaseType 0");
    assert_eq!(v["quantity"], 3);
    assert_eq!(v["acknowledged"], false);
    assert!(v["purchaseTime"].as_i64().unwrap() > 1_600_000_000_000);
    assert!(v["purchaseToken"].as_str().unwrap().len() > 40);

    let key = rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(rsa_key(&s.google_play_public_key()));
    let sig = rsa::pkcs1v15::Signature::try_from(STANDARD.decode(&signature).unwrap().as_slice())
        .unwrap();
    use rsa::signature::Verifier as _;
    key.verify(purchase_data.as_bytes(), &sig).unwrap();
    assert!(key
        .verify(
            purchase_data.replace("gems_100", "gems_999").as_bytes(),
            &sig
        )
        .is_err());

    order.environment = Environment::Production;
    order.state = PurchaseState::Pending;
    order.transaction_id = Some("GPA.0000-1111-2222-33333".into());
    let Receipt::GooglePlay { purchase_data, .. } = s.issue(&order).unwrap() else {
        panic!("play receipt expected");
    };
    let v: Value = serde_json::from_str(&purchase_data).unwrap();
    assert!(
        v.get("purchaseType").is_none(),
        "production has no purchaseType"
    );
    assert_eq!(v["purchaseState"], 2);
    assert_eq!(v["orderId"], "GPA.0000-1111-2222-33333");
    order.state = PurchaseState::Cancelled;
    let Receipt::GooglePlay { purchase_data, .. } = s.issue(&order).unwrap() else {
        panic!("play receipt expected");
    };
    let v: Value = serde_json::from_str(&purchase_data).unwrap();
    assert_eq!(v["purchaseState"], 1);
}

fn split_jws(jws: &str) -> (Value, Value, Vec<u8>, String) {
    let parts: Vec<&str> = jws.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    (header, payload, sig, format!("{}.{}", parts[0], parts[1]))
}

fn has_ext(cert: &X509Certificate<'_>, oid: &str) -> bool {
    cert.extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == oid)
}

#[test]
fn app_store_transaction_is_storekit2_jws_with_apple_shaped_chain() {
    let s = store();
    let order = Order::new(Store::AppStore, "com.example.game", "gems_100");
    let Receipt::AppStore { jws } = s.issue(&order).unwrap() else {
        panic!("app store receipt expected");
    };
    let (header, payload, sig, signing_input) = split_jws(&jws);
    assert_eq!(header["alg"], "ES256");
    let x5c: Vec<Vec<u8>> = header["x5c"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| STANDARD.decode(c.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(x5c.len(), 3);
    let chain = s.app_store_chain();
    assert_eq!(x5c, vec![chain.leaf, chain.intermediate, chain.root]);
    let (_, leaf) = X509Certificate::from_der(&x5c[0]).unwrap();
    let (_, inter) = X509Certificate::from_der(&x5c[1]).unwrap();
    let (_, root) = X509Certificate::from_der(&x5c[2]).unwrap();
    assert!(has_ext(&leaf, "1.2.840.113635.100.6.11.1"));
    assert!(has_ext(&inter, "1.2.840.113635.100.6.2.1"));
    assert!(inter.is_ca() && root.is_ca() && !leaf.is_ca());
    leaf.verify_signature(Some(inter.public_key())).unwrap();
    inter.verify_signature(Some(root.public_key())).unwrap();
    root.verify_signature(None).unwrap();
    assert_eq!(
        root.public_key()
            .algorithm
            .parameters
            .as_ref()
            .unwrap()
            .as_oid()
            .unwrap()
            .to_id_string(),
        "1.3.132.0.34",
        "root and intermediate are P-384 like Apple Root CA - G3"
    );

    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&leaf.public_key().subject_public_key.data)
        .unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&sig).unwrap();
    vk.verify(signing_input.as_bytes(), &sig).unwrap();

    for field in [
        "transactionId",
        "originalTransactionId",
        "bundleId",
        "productId",
        "purchaseDate",
        "originalPurchaseDate",
        "quantity",
        "type",
        "inAppOwnershipType",
        "signedDate",
        "environment",
        "transactionReason",
        "storefront",
        "storefrontId",
        "price",
        "currency",
        "appTransactionId",
    ] {
        assert!(payload.get(field).is_some(), "{field} missing");
    }
    assert_eq!(payload["bundleId"], "com.example.game");
    assert_eq!(payload["type"], "Consumable");
    assert_eq!(payload["environment"], "Sandbox");
    assert!(payload.get("revocationDate").is_none());
    assert!(
        payload.get("webOrderLineItemId").is_none(),
        "only for subscriptions"
    );
}

#[test]
fn app_store_cancelled_is_revoked_and_pending_is_refused() {
    let s = store();
    let mut order = Order::new(Store::AppStore, "com.example.game", "gems_100");
    order.state = PurchaseState::Cancelled;
    order.environment = Environment::Production;
    let Receipt::AppStore { jws } = s.issue(&order).unwrap() else {
        panic!("app store receipt expected");
    };
    let (_, payload, _, _) = split_jws(&jws);
    assert!(payload["revocationDate"].as_i64().is_some());
    assert!(payload["revocationReason"].as_i64().is_some());
    assert_eq!(payload["environment"], "Production");

    order.state = PurchaseState::Pending;
    match s.issue(&order) {
        Err(SandboxError::Unsupported(msg)) => assert!(msg.contains("pending")),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn custom_certificates_for_forgery_tests() {
    let s = store();
    let now = payseal_sandbox::now_ms();
    let mut spec = CertSpec::valid_around(now, 1);
    spec.marker_oid = false;
    let plain_leaf = s.make_app_store_leaf(None, &spec).unwrap();
    let (_, leaf) = X509Certificate::from_der(plain_leaf.der()).unwrap();
    assert!(!has_ext(&leaf, "1.2.840.113635.100.6.11.1"));
    let chain = s.app_store_chain();
    let (_, inter) = X509Certificate::from_der(&chain.intermediate).unwrap();
    leaf.verify_signature(Some(inter.public_key())).unwrap();

    let inter2 = s.make_app_store_intermediate(&spec).unwrap();
    let (_, i2) = X509Certificate::from_der(inter2.der()).unwrap();
    assert!(!has_ext(&i2, "1.2.840.113635.100.6.2.1"));
    let (_, root) = X509Certificate::from_der(&chain.root).unwrap();
    i2.verify_signature(Some(root.public_key())).unwrap();

    // A leaf's key signs JWS; an intermediate's P-384 key cannot make ES256.
    let jws = plain_leaf.sign_jws(r#"{"alg":"ES256"}"#, "{}").unwrap();
    assert_eq!(jws.split('.').count(), 3);
    assert!(inter2.sign_jws(r#"{"alg":"ES256"}"#, "{}").is_err());
}

#[test]
fn huawei_purchase_is_in_app_purchase_data_signed_pkcs1_or_pss() {
    let s = store();
    let order = Order::new(Store::Huawei, "com.example.game", "gems_100");
    let Receipt::Huawei {
        purchase_data,
        signature,
        algorithm,
    } = s.issue(&order).unwrap()
    else {
        panic!("huawei receipt expected");
    };
    assert_eq!(algorithm, HuaweiAlgorithm::Sha256WithRsa);
    let v: Value = serde_json::from_str(&purchase_data).unwrap();
    for field in [
        "orderId",
        "packageName",
        "applicationId",
        "productId",
        "purchaseTime",
        "purchaseToken",
        "purchaseState",
        "purchaseType",
        "consumptionState",
        "currency",
        "price",
        "country",
        "kind",
    ] {
        assert!(v.get(field).is_some(), "{field} missing");
    }
    assert_eq!(v["packageName"], "com.example.game");
    assert_eq!(v["purchaseState"], 0);
    assert_eq!(v["purchaseType"], 0);
    let pk = rsa_key(&s.huawei_public_key());
    use rsa::signature::Verifier as _;
    let sig_bytes = STANDARD.decode(&signature).unwrap();
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(pk.clone())
        .verify(
            purchase_data.as_bytes(),
            &rsa::pkcs1v15::Signature::try_from(sig_bytes.as_slice()).unwrap(),
        )
        .unwrap();

    let Receipt::Huawei {
        purchase_data,
        signature,
        algorithm,
    } = s.issue_huawei_pss(&order).unwrap()
    else {
        panic!("huawei receipt expected");
    };
    assert_eq!(algorithm, HuaweiAlgorithm::Sha256WithRsaPss);
    let sig_bytes = STANDARD.decode(&signature).unwrap();
    let pss = rsa::pss::Signature::try_from(sig_bytes.as_slice()).unwrap();
    rsa::pss::VerifyingKey::<Sha256>::new(pk.clone())
        .verify(purchase_data.as_bytes(), &pss)
        .unwrap();
    // PKCS#1 v1.5 verification of a PSS signature fails: the algorithms are really different.
    assert!(rsa::pkcs1v15::VerifyingKey::<Sha256>::new(pk)
        .verify(
            purchase_data.as_bytes(),
            &rsa::pkcs1v15::Signature::try_from(sig_bytes.as_slice()).unwrap()
        )
        .is_err());

    let mut pending = order.clone();
    pending.state = PurchaseState::Pending;
    pending.environment = Environment::Production;
    let Receipt::Huawei { purchase_data, .. } = s.issue(&pending).unwrap() else {
        panic!("huawei receipt expected");
    };
    let v: Value = serde_json::from_str(&purchase_data).unwrap();
    assert_eq!(v["purchaseState"], -1);
    assert!(v.get("purchaseType").is_none());
    assert!(s
        .issue_huawei_pss(&Order::new(Store::GooglePlay, "a", "b"))
        .is_err());
}

#[test]
fn sandbox_purchase_fields_and_zero_quantity() {
    let s = store();
    let mut order = Order::new(Store::Sandbox, "dev.payseal.demo", "coins");
    order.transaction_id = Some("tx-1".into());
    order.state = PurchaseState::Cancelled;
    let Receipt::Sandbox { purchase_data, .. } = s.issue_at(&order, 1_700_000_000_000).unwrap()
    else {
        panic!("sandbox receipt expected");
    };
    let v: Value = serde_json::from_str(&purchase_data).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"app_id":"dev.payseal.demo","product_id":"coins","transaction_id":"tx-1",
            "state":"cancelled","purchased_at":1_700_000_000_000_i64,"quantity":1})
    );
    order.quantity = 0;
    assert!(matches!(s.issue(&order), Err(SandboxError::Unsupported(_))));
}

#[test]
fn concurrent_first_opens_agree_on_one_set_of_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh");
    let stores: Vec<SandboxStore> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| SandboxStore::open_or_create(&path).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let reopened = SandboxStore::open_or_create(&path).unwrap();
    for s in &stores {
        assert_eq!(
            s.google_play_public_key(),
            reopened.google_play_public_key()
        );
        assert_eq!(s.huawei_public_key(), reopened.huawei_public_key());
        assert_eq!(s.sandbox_public_key(), reopened.sandbox_public_key());
        assert_eq!(s.app_store_chain(), reopened.app_store_chain());
        assert_eq!(s.app_receipt_chain(), reopened.app_receipt_chain());
    }
    // No temporary files or staging directories are left behind.
    let names: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    // Three keys, the App Store CA and the app receipt CA.
    assert_eq!(names.len(), 5, "{names:?}");
}

#[test]
fn a_corrupt_key_file_is_reported_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    SandboxStore::open_or_create(dir.path()).unwrap();
    let key = dir.path().join("google-play.key.pem");
    std::fs::write(&key, "not a key").unwrap();
    match SandboxStore::open_or_create(dir.path()) {
        Err(SandboxError::BadKeyFile { path, .. }) => assert_eq!(path, key),
        other => panic!("expected BadKeyFile, got {other:?}"),
    }
    assert_eq!(std::fs::read_to_string(&key).unwrap(), "not a key");
}

#[test]
fn refunded_is_each_stores_own_signal_and_play_has_none() {
    let s = store();
    // Huawei: purchaseState 2, same orderId as the paid purchase it refunds.
    let mut order = Order::new(Store::Huawei, "com.example.game", "gems_100");
    order.transaction_id = Some("2026112500000000abc.1234567".into());
    order.state = PurchaseState::Refunded;
    let Receipt::Huawei { purchase_data, .. } = s.issue(&order).unwrap() else {
        panic!("huawei receipt expected");
    };
    let v: Value = serde_json::from_str(&purchase_data).unwrap();
    assert_eq!(v["purchaseState"], 2);
    assert_eq!(v["orderId"], "2026112500000000abc.1234567");

    // Sandbox: state "refunded".
    let mut order = Order::new(Store::Sandbox, "com.example.game", "gems_100");
    order.state = PurchaseState::Refunded;
    let Receipt::Sandbox { purchase_data, .. } = s.issue(&order).unwrap() else {
        panic!("sandbox receipt expected");
    };
    let v: Value = serde_json::from_str(&purchase_data).unwrap();
    assert_eq!(v["state"], "refunded");

    // App Store: a transaction with a revocationDate.
    let mut order = Order::new(Store::AppStore, "com.example.game", "gems_100");
    order.state = PurchaseState::Refunded;
    let Receipt::AppStore { jws } = s.issue(&order).unwrap() else {
        panic!("app store receipt expected");
    };
    let (_, payload, _, _) = split_jws(&jws);
    assert!(payload["revocationDate"].is_i64(), "{payload}");

    // Play: no such state in the purchase JSON.
    let mut order = Order::new(Store::GooglePlay, "com.example.game", "gems_100");
    order.state = PurchaseState::Refunded;
    match s.issue(&order) {
        Err(SandboxError::Unsupported(why)) => assert!(why.contains("Voided"), "{why}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn account_tokens_are_carried_in_the_real_fields() {
    let s = store();
    // Play: obfuscatedAccountId, exactly as given, inside the signed JSON.
    let mut order = Order::new(Store::GooglePlay, "com.example.game", "gems_100");
    order.account_token = Some("a".repeat(64));
    let Receipt::GooglePlay { purchase_data, .. } = s.issue(&order).unwrap() else {
        panic!("play receipt expected");
    };
    let v: Value = serde_json::from_str(&purchase_data).unwrap();
    assert_eq!(v["obfuscatedAccountId"], "a".repeat(64));
    order.account_token = None;
    let Receipt::GooglePlay { purchase_data, .. } = s.issue(&order).unwrap() else {
        panic!("play receipt expected");
    };
    assert!(
        !purchase_data.contains("obfuscatedAccountId"),
        "{purchase_data}"
    );
    for bad in [String::new(), "a".repeat(65)] {
        order.account_token = Some(bad);
        assert!(matches!(s.issue(&order), Err(SandboxError::Unsupported(_))));
    }

    // App Store: appAccountToken, a UUID (written lowercase, as Apple's JSON has it).
    let mut order = Order::new(Store::AppStore, "com.example.game", "gems_100");
    order.account_token = Some("7E3FB20B-4CDB-47CC-936D-99D65F608138".into());
    let Receipt::AppStore { jws } = s.issue(&order).unwrap() else {
        panic!("app store receipt expected");
    };
    let (_, payload, _, _) = split_jws(&jws);
    assert_eq!(
        payload["appAccountToken"],
        "7e3fb20b-4cdb-47cc-936d-99d65f608138"
    );
    order.account_token = Some("alice".into());
    assert!(matches!(s.issue(&order), Err(SandboxError::Unsupported(_))));
    order.account_token = None;
    let Receipt::AppStore { jws } = s.issue(&order).unwrap() else {
        panic!("app store receipt expected");
    };
    assert!(split_jws(&jws).1.get("appAccountToken").is_none());

    // Huawei and the sandbox store have no such field.
    for store_kind in [Store::Huawei, Store::Sandbox] {
        let mut order = Order::new(store_kind, "com.example.game", "gems_100");
        order.account_token = Some("7e3fb20b-4cdb-47cc-936d-99d65f608138".into());
        assert!(
            matches!(s.issue(&order), Err(SandboxError::Unsupported(_))),
            "{store_kind}"
        );
    }
}

//! `GET /v1/app-server/entitlements` against a real verifier on 127.0.0.1 over real TLS, through
//! `VerifierApi::entitlements` (the app-server credential, a fresh nonce, the document checked
//! with the verifier's keys into typed `Entitlements`); and `check_entitlements` refusing a
//! document for another app, account or request, or a forged one.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use payseal_appserver::{
    check_entitlements, AppServerCredential, EntitlementsError, ReportError, VerifierApi,
    VerifierApiOptions,
};
use payseal_protocol::envelope;
use payseal_protocol::verdict::{VerdictSigningKey, VerdictVerifier};
use payseal_protocol::{Outcome, SdkInfo, Store, VerifyRequest, VerifyResponse, PROTOCOL_VERSION};
use payseal_sandbox::{Order, ProductType, SandboxStore};
use payseal_verifier::dev::DEV_APP_ID as APP;
use payseal_verifier::server::{Server, REQUEST_CONTENT_TYPE};

const KEY: &str = "3f1c0e2a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";

fn write_key(path: &Path) {
    std::fs::write(path, format!("{KEY}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_server_reads_an_accounts_signed_entitlements() {
    let dir = tempfile::tempdir().unwrap();
    let paths = payseal_verifier::dev::prepare(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let key_file = dir.path().join("app-server.key");
    write_key(&key_file);
    let text = std::fs::read_to_string(&paths.config).unwrap().replacen(
        "# public_url defaults to",
        "public_url = \"https://localhost:8443\"\n# public_url defaults to",
        1,
    ) + &format!(
        "\n[apps.\"{APP}\".app_server]\napi_key_file = \"{}\"\n\n\
         [apps.\"{APP}\".entitlements]\npremium = [\"lifetime_pro\"]\n",
        key_file.display()
    );
    std::fs::write(&paths.config, text).unwrap();
    let settings = payseal_verifier::config::load_with_env(&paths.config, |_| None).unwrap();
    let key_config = settings.hpke_keys[0].config();
    let keys = VerdictVerifier::new(
        settings
            .verdict_keys
            .iter()
            .map(|k| k.public_key())
            .collect(),
    );
    let server = Server::bind(settings).unwrap();
    let base = format!("https://127.0.0.1:{}", server.local_addr().port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    payseal_verifier::install_crypto_provider();
    let pem = std::fs::read(&paths.tls_cert).unwrap();

    // alice buys lifetime_pro (a real sealed verify).
    let store = SandboxStore::open_or_create(&paths.sandbox_store).unwrap();
    let mut order = Order::new(Store::Sandbox, APP, "lifetime_pro");
    order.product_type = ProductType::NonConsumable;
    let request = VerifyRequest {
        v: PROTOCOL_VERSION,
        nonce: URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
        app_id: APP.into(),
        account_id: "alice".into(),
        receipt: store.issue(&order).unwrap(),
        sdk: SdkInfo {
            name: "payseal-appserver-tests".into(),
            version: "0".into(),
        },
        expected_product_id: None,
    };
    let (body, ctx) =
        envelope::seal_request(&key_config, &serde_json::to_vec(&request).unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let sealed = http
        .post(format!("{base}/v1/verify"))
        .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let answer: VerifyResponse =
        serde_json::from_slice(&ctx.open_response(&sealed).unwrap()).unwrap();
    let now = payseal_appserver::unix_now();
    assert_eq!(
        keys.verify(&answer.verdict, now).unwrap().outcome,
        Outcome::Paid
    );

    let api = |key: &str| {
        VerifierApi::new(
            VerifierApiOptions::new(base.clone()).with_extra_root_pem(pem.clone()),
            AppServerCredential::new(APP, key).unwrap(),
        )
        .unwrap()
    };
    let alice = api(KEY).entitlements("alice", &keys, now).await.unwrap();
    assert!(alice.has("premium"));
    assert_eq!((alice.app.as_str(), alice.account.as_str()), (APP, "alice"));
    assert_eq!(alice.items.len(), 1);
    assert_eq!(alice.items[0].product_id, "lifetime_pro");
    assert_eq!(alice.items[0].store, Store::Sandbox);
    let bob = api(KEY).entitlements("bob", &keys, now).await.unwrap();
    assert!(bob.items.is_empty());
    let wrong = api(&"0".repeat(64)).entitlements("alice", &keys, now).await;
    assert!(
        matches!(
            wrong,
            Err(EntitlementsError::Fetch(ReportError::Unauthorized))
        ),
        "{wrong:?}"
    );
    // No credential at all; a bad query: refused.
    let r = http
        .get(format!(
            "{base}/v1/app-server/entitlements?account=alice&nonce=bm9uY2Vub25jZW5vbmNlbm9uY2U"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = AppServerCredential::new(APP, KEY)
        .unwrap()
        .authorize(http.get(format!(
            "{base}/v1/app-server/entitlements?account=alice&nonce=short"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The document as an app would forward it: checked for this app, account and nonce.
    let token = &alice.token;
    assert!(check_entitlements(&keys, token, APP, "alice", None, now).is_ok());
    assert!(matches!(
        check_entitlements(&keys, token, "com.other", "alice", None, now),
        Err(EntitlementsError::WrongApp)
    ));
    assert!(matches!(
        check_entitlements(&keys, token, APP, "bob", None, now),
        Err(EntitlementsError::WrongAccount)
    ));
    assert!(matches!(
        check_entitlements(&keys, token, APP, "alice", Some("another-nonce-0000"), now),
        Err(EntitlementsError::Nonce)
    ));
    assert!(matches!(
        check_entitlements(&keys, token, APP, "alice", None, now + 24 * 3600),
        Err(EntitlementsError::Token(_))
    ));
    assert!(matches!(
        check_entitlements(&keys, &answer.verdict, APP, "alice", None, now),
        Err(EntitlementsError::Token(_))
    ));
    let forger = VerdictSigningKey::generate(keys.keys()[0].kid.clone());
    let claims = payseal_protocol::entitlements::verify(&keys, token, now).unwrap();
    let forged = payseal_protocol::entitlements::sign(&forger, &claims).unwrap();
    assert!(matches!(
        check_entitlements(&keys, &forged, APP, "alice", None, now),
        Err(EntitlementsError::Token(_))
    ));
    let _ = tx.send(());
    task.await.unwrap().unwrap();
}

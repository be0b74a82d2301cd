//! The verifier's app-server API credential, against a real verifier on 127.0.0.1 over real
//! TLS: `AppServerCredential` authenticates as its app (`GET /v1/app-server/identity`); no
//! credential, a wrong key, another app's name with this key, and an app without a key are all
//! `401`; a key file readable by group or others stops the configuration.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use payseal_appserver::{
    AppServerCredential, JwksOptions, JwksSource, JwksTokenVerifier, MemoryDeliveryGuard,
    MemoryReplayGuard, Policy, PurchaseKey, ReportError, TokenError, VerifierApi,
    VerifierApiOptions,
};
use payseal_protocol::app_server::ReportResult;
use payseal_protocol::envelope::{self, KeyConfig};
use payseal_protocol::{SdkInfo, Store, VerifyRequest, VerifyResponse, PROTOCOL_VERSION};
use payseal_sandbox::{Order, SandboxStore};
use payseal_verifier::dev::{DevPaths, DEV_APP_ID as APP};
use payseal_verifier::ledger::{DeliveryReports as _, SqliteLedger};
use payseal_verifier::server::{Server, ServerError, REQUEST_CONTENT_TYPE};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const KEY: &str = "3f1c0e2a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
const OTHER_APP: &str = "com.example.other";
const OTHER_KEY: &str = "0000111122223333444455556666777788889999aaaabbbbccccddddeeeeffff";

fn write_key(path: &Path, key: &str, mode: u32) {
    std::fs::write(path, format!("{key}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// A dev state directory whose app has an app_server key, plus a second (sandbox) app with its
/// own key.
fn prepare(dir: &Path, mode: u32) -> (DevPaths, PathBuf) {
    let paths = payseal_verifier::dev::prepare(dir, "127.0.0.1:0".parse().unwrap()).unwrap();
    let key_file = dir.join("app-server.key");
    let other_key = dir.join("other-app-server.key");
    write_key(&key_file, KEY, mode);
    write_key(&other_key, OTHER_KEY, 0o600);
    let text = std::fs::read_to_string(&paths.config).unwrap();
    let sandbox_key = text
        .lines()
        .skip_while(|l| !l.contains(".sandbox]"))
        .find(|l| l.trim_start().starts_with("public_key"))
        .unwrap()
        .to_string();
    let text = text.replacen(
        "# public_url defaults to",
        "public_url = \"https://localhost:8443\"\n# public_url defaults to",
        1,
    ) + &format!(
        "\n[apps.\"{APP}\".app_server]\napi_key_file = \"{}\"\n\n\
         [apps.\"{OTHER_APP}\"]\nenvironments = [\"sandbox\"]\n\
         [apps.\"{OTHER_APP}\".sandbox]\n{sandbox_key}\n\
         [apps.\"{OTHER_APP}\".app_server]\napi_key_file = \"{}\"\n",
        key_file.display(),
        other_key.display()
    );
    std::fs::write(&paths.config, text).unwrap();
    (paths, key_file)
}

struct Running {
    base: String,
    key_config: KeyConfig,
    cert_pem: Vec<u8>,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl Running {
    async fn start(paths: &DevPaths) -> Self {
        let settings = payseal_verifier::config::load_with_env(&paths.config, |_| None).unwrap();
        let key_config = settings.hpke_keys[0].config();
        let server = Server::bind(settings).unwrap();
        let base = format!("https://127.0.0.1:{}", server.local_addr().port());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        payseal_verifier::install_crypto_provider();
        let pem = std::fs::read(&paths.tls_cert).unwrap();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        Self {
            base,
            key_config,
            cert_pem: pem,
            http,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    async fn identity(&self, credential: Option<&AppServerCredential>) -> (u16, serde_json::Value) {
        let request = self
            .http
            .get(format!("{}/v1/app-server/identity", self.base));
        let request = match credential {
            Some(c) => c.authorize(request),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        if status == 401 {
            assert!(response.headers().contains_key("www-authenticate"));
        }
        (status, response.json().await.unwrap())
    }

    /// A real verification of a new sandbox purchase: the verdict token as the app gets it.
    async fn token(&self, paths: &DevPaths, account: &str) -> String {
        let store = SandboxStore::open_or_create(&paths.sandbox_store).unwrap();
        let receipt = store
            .issue(&Order::new(Store::GooglePlay, APP, "coins_100"))
            .unwrap();
        let request = VerifyRequest {
            v: PROTOCOL_VERSION,
            nonce: URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
            app_id: APP.into(),
            account_id: account.into(),
            receipt,
            sdk: SdkInfo {
                name: "payseal-appserver-tests".into(),
                version: "0".into(),
            },
            expected_product_id: None,
        };
        let (body, ctx) =
            envelope::seal_request(&self.key_config, &serde_json::to_vec(&request).unwrap())
                .unwrap();
        let response = self
            .http
            .post(format!("{}/v1/verify", self.base))
            .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let plain = ctx.open_response(&response.bytes().await.unwrap()).unwrap();
        serde_json::from_slice::<VerifyResponse>(&plain)
            .unwrap()
            .verdict
    }

    fn api(&self, credential: AppServerCredential) -> VerifierApi {
        VerifierApi::new(
            VerifierApiOptions::new(&self.base).with_extra_root_pem(self.cert_pem.clone()),
            credential,
        )
        .unwrap()
    }

    fn tokens(&self) -> JwksTokenVerifier {
        let source = JwksSource::new(
            JwksOptions::new(format!("{}/v1/keys", self.base))
                .with_extra_root_pem(self.cert_pem.clone()),
        )
        .unwrap();
        JwksTokenVerifier::new(
            Arc::new(source),
            Policy::new(APP).with_issuer("https://localhost:8443"),
        )
    }

    async fn stop(&mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

#[tokio::test]
async fn the_credential_authenticates_its_own_app_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, key_file) = prepare(dir.path(), 0o600);
    let mut server = Running::start(&paths).await;

    let mine = AppServerCredential::from_file(APP, &key_file).unwrap();
    let (status, body) = server.identity(Some(&mine)).await;
    assert_eq!((status, body["app"].as_str()), (200, Some(APP)));
    let other = AppServerCredential::new(OTHER_APP, OTHER_KEY).unwrap();
    let (status, body) = server.identity(Some(&other)).await;
    assert_eq!((status, body["app"].as_str()), (200, Some(OTHER_APP)));

    // No credential, a wrong key, this app's key under the other app's name, an unknown app.
    assert_eq!(server.identity(None).await.0, 401);
    let wrong = AppServerCredential::new(APP, &KEY.replace('3', "4")).unwrap();
    assert_eq!(server.identity(Some(&wrong)).await.0, 401);
    let swapped = AppServerCredential::new(OTHER_APP, KEY).unwrap();
    assert_eq!(server.identity(Some(&swapped)).await.0, 401);
    let unknown = AppServerCredential::new("com.example.unknown", KEY).unwrap();
    let (status, body) = server.identity(Some(&unknown)).await;
    assert_eq!((status, body["status"].as_u64()), (401, Some(401)));
    server.stop().await;
}

#[cfg(unix)]
#[test]
fn a_key_file_readable_by_others_stops_the_configuration_without_quoting_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = prepare(dir.path(), 0o644);
    let err = payseal_verifier::config::load_with_env(&paths.config, |_| None).unwrap_err();
    let text = err.to_string();
    assert_eq!(
        err.key(),
        Some(format!("apps.{APP:?}.app_server.api_key_file").as_str()),
        "{text}"
    );
    assert!(text.contains("readable by group or others"), "{text}");
    assert!(!text.contains(KEY), "{text}");
}

#[test]
fn a_short_key_stops_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, key_file) = prepare(dir.path(), 0o600);
    write_key(&key_file, "too-short", 0o600);
    let err = payseal_verifier::config::load_with_env(&paths.config, |_| None).unwrap_err();
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_guard_confirms_by_itself_and_reports_land_only_on_this_apps_purchase() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, key_file) = prepare(dir.path(), 0o600);
    let mut server = Running::start(&paths).await;
    let api = server.api(AppServerCredential::from_file(APP, &key_file).unwrap());
    let tokens = server.tokens();
    let (seen, delivered) = (MemoryReplayGuard::new(), MemoryDeliveryGuard::new());

    let token = server.token(&paths, "alice").await;
    let (grant, confirmed) = api
        .accept(
            &tokens,
            &token,
            payseal_appserver::unix_now(),
            &seen,
            &delivered,
        )
        .await
        .unwrap();
    confirmed.unwrap();
    let purchase = PurchaseKey::of(&grant);
    api.report_consumption(&purchase, "alice", 40_000, Some(3))
        .await
        .unwrap();
    api.set_consent("alice", true).await.unwrap();

    // The same token again: refused by the replay guard, nothing confirmed twice.
    assert!(matches!(
        api.accept(
            &tokens,
            &token,
            payseal_appserver::unix_now(),
            &seen,
            &delivered
        )
        .await,
        Err(TokenError::Replayed { .. })
    ));
    // Another account, too much, another app's credential, no credential: refused.
    assert_eq!(
        api.report_consumption(&purchase, "mallory", 0, None).await,
        Err(ReportError::Refused(ReportResult::WrongAccount))
    );
    assert_eq!(
        api.report_consumption(&purchase, "alice", 100_001, None)
            .await,
        Err(ReportError::Refused(ReportResult::Invalid))
    );
    let other = server.api(AppServerCredential::new(OTHER_APP, OTHER_KEY).unwrap());
    assert_eq!(
        other
            .report_consumption(&purchase, "alice", 100_000, None)
            .await,
        Err(ReportError::Refused(ReportResult::NotFound))
    );
    assert_eq!(
        other.confirm_delivery(&grant).await,
        Err(ReportError::Refused(ReportResult::NotFound))
    );
    let wrong = server.api(AppServerCredential::new(APP, &KEY.replace('3', "4")).unwrap());
    assert_eq!(
        wrong.set_consent("alice", false).await,
        Err(ReportError::Unauthorized)
    );
    let response = server
        .http
        .post(format!("{}/v1/app-server/deliveries", server.base))
        .json(
            &serde_json::json!({"store": "google_play", "transaction_id": grant.transaction_id,
            "account": "alice", "delivered": true, "consumed_milliunits": 100000}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let mine = AppServerCredential::from_file(APP, &key_file).unwrap();
    let response = mine
        .authorize(
            server
                .http
                .post(format!("{}/v1/app-server/deliveries", server.base)),
        )
        .json(
            &serde_json::json!({"store": "google_play", "transaction_id": "x",
            "account": "alice", "app": "com.example.other"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        400,
        "a body that is not the documented JSON"
    );

    // The refund history: none yet; after the store's refund, one for alice, none for others.
    assert_eq!(api.refund_history("alice", 90).await.unwrap().total, 0);
    let ledger = SqliteLedger::open(&paths.ledger).unwrap();
    payseal_verifier::ledger::Redemptions::revoke(
        &ledger,
        payseal_verifier::ledger::RevocationRequest {
            store: Store::GooglePlay,
            app_id: APP.into(),
            transaction_key: grant.transaction_id.clone(),
            reason: "refund".into(),
            now_ms: payseal_protocol::time::now_ms(),
        },
        false,
    )
    .await
    .unwrap();
    let history = api.refund_history("alice", 90).await.unwrap();
    assert_eq!(
        (history.total, history.refunds.get("google_play").copied()),
        (1, Some(1))
    );
    assert_eq!(other.refund_history("alice", 90).await.unwrap().total, 0);
    assert_eq!(
        api.refund_history("alice", 0).await,
        Err(ReportError::Refused(ReportResult::Invalid))
    );
    assert_eq!(
        wrong.refund_history("alice", 90).await,
        Err(ReportError::Unauthorized)
    );

    // The ledger holds exactly this app's reports.
    let e = ledger
        .evidence(Store::GooglePlay, APP, &grant.transaction_id)
        .await
        .unwrap()
        .unwrap();
    let report = e.report.clone().unwrap();
    assert_eq!(e.redemption.account_id, "alice");
    assert!(report.delivered_at_ms.is_some());
    assert_eq!(
        (
            report.consumed_milliunits,
            report.usage_events,
            e.consented()
        ),
        (Some(40_000), Some(3), true)
    );
    assert!(ledger
        .evidence(Store::GooglePlay, OTHER_APP, &grant.transaction_id)
        .await
        .unwrap()
        .is_none());
    server.stop().await;
}

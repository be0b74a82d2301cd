//! Shared test helpers: a dev-style state directory, a real verifier on 127.0.0.1:0 over real
//! TLS, sealing requests and opening verdicts with the protocol crate.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use payseal_protocol::envelope::{self, ClientContext, KeyConfig};
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{
    Receipt, SdkInfo, Store, VerdictClaims, VerifyRequest, VerifyResponse, PROTOCOL_VERSION,
};
use payseal_sandbox::{Order, SandboxStore};
use payseal_verifier::ledger::SqliteLedger;
use payseal_verifier::server::{Server, ServerError, REQUEST_CONTENT_TYPE};
use payseal_verifier::settings::Settings;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod instance;
pub mod pg;
pub mod process;
pub mod sdk;

/// The app the dev configuration sets up.
pub const APP: &str = payseal_verifier::dev::DEV_APP_ID;

/// Copy a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A sandbox store made once per test binary (RSA key generation is slow in debug builds).
pub fn template_store() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        SandboxStore::open_or_create(dir.path()).unwrap();
        dir
    })
    .path()
}

/// A state directory prepared like `payseal-verifier dev` (with a copy of the shared store).
pub struct StateDir {
    /// Keeps the folder alive.
    pub dir: tempfile::TempDir,
    /// The dev layout.
    pub paths: payseal_verifier::dev::DevPaths,
    /// The sandbox store configured in it.
    pub store: SandboxStore,
}

impl StateDir {
    /// A fresh state directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            template_store(),
            &dir.path().join(payseal_sandbox::DEV_STORE_SUBDIR),
        );
        let paths =
            payseal_verifier::dev::prepare(dir.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
        // Listening on port 0, so name a public URL explicitly.
        let text = std::fs::read_to_string(&paths.config).unwrap();
        let text = text.replacen(
            "# public_url defaults to",
            "public_url = \"https://localhost:8443\"\n# public_url defaults to",
            1,
        );
        std::fs::write(&paths.config, text).unwrap();
        let store = SandboxStore::open_or_create(&paths.sandbox_store).unwrap();
        Self { dir, paths, store }
    }

    /// Load the configuration with no environment overrides.
    pub fn settings(&self) -> Settings {
        payseal_verifier::config::load_with_env(&self.paths.config, |_| None).unwrap()
    }

    /// Issue a purchase.
    pub fn issue(&self, store: Store) -> Receipt {
        self.store
            .issue(&Order::new(store, APP, "coins_100"))
            .unwrap()
    }

    /// Read the ledger file through a second connection.
    pub fn ledger(&self) -> SqliteLedger {
        SqliteLedger::open(&self.paths.ledger).unwrap()
    }

    /// The row of `key` (`store`, the test app), read through the configured ledger (SQLite or
    /// PostgreSQL).
    pub async fn find_row(
        &self,
        store: Store,
        key: &str,
    ) -> Option<payseal_verifier::ledger::RedemptionRow> {
        let settings = self.settings();
        let ledger = payseal_verifier::ledger::connect(&settings.ledger_url, &settings.ledger)
            .await
            .unwrap();
        ledger.find(store, APP, key).await.unwrap()
    }

    /// Whether the ledger's entitlement rule (`grants`) grants `account`'s purchase `key` now
    /// (read through the configured ledger).
    pub async fn grants_now(&self, account: &str, key: &str) -> bool {
        let settings = self.settings();
        let ledger = payseal_verifier::ledger::connect(&settings.ledger_url, &settings.ledger)
            .await
            .unwrap();
        let owned = ledger.owned(APP, account).await.unwrap();
        let p = owned
            .iter()
            .find(|p| p.transaction_key == key)
            .expect("the account owns the purchase");
        payseal_verifier::ledger::grants(p, payseal_verifier::now_ms())
    }
}

/// A running verifier.
pub struct TestServer {
    /// The state directory it serves from.
    pub state: StateDir,
    /// Bound address.
    pub addr: SocketAddr,
    /// HPKE key configuration to seal to.
    pub key_config: KeyConfig,
    /// Verdict checker with the server's keys.
    pub verdicts: VerdictVerifier,
    /// HTTPS client trusting the server's certificate.
    pub client: reqwest::Client,
    /// Public URL (verdict `iss`).
    pub public_url: String,
    /// The private `/metrics` listener (the dev configuration puts it on a free loopback port).
    pub metrics_addr: Option<SocketAddr>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

/// An HTTPS client that trusts `cert_pem` only.
pub fn client_for(cert_pem: &Path) -> reqwest::Client {
    payseal_verifier::install_crypto_provider();
    let pem = std::fs::read(cert_pem).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

/// A fresh nonce (16 random bytes, base64url).
pub fn nonce() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

/// A verify request for `receipt` from `account`.
pub fn request(app: &str, account: &str, receipt: &Receipt) -> VerifyRequest {
    VerifyRequest {
        v: PROTOCOL_VERSION,
        nonce: nonce(),
        app_id: app.into(),
        account_id: account.into(),
        receipt: receipt.clone(),
        sdk: SdkInfo {
            name: "payseal-tests".into(),
            version: "0".into(),
        },
        expected_product_id: None,
    }
}

impl TestServer {
    /// Start a server on a fresh state directory.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Start a server on a fresh state directory, adjusting the settings first.
    pub async fn start_with(tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::start_on(StateDir::new(), tweak).await
    }

    /// Start a server on `state`, adjusting the settings first. The ledger is the configured
    /// one (`sqlite:…`, or `postgres://…`: connected and migrated).
    pub async fn start_on(state: StateDir, tweak: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = state.settings();
        tweak(&mut settings);
        let ledger = payseal_verifier::ledger::connect(&settings.ledger_url, &settings.ledger)
            .await
            .unwrap();
        Self::start_with_ledger(state, settings, ledger).await
    }

    /// Start a server on `state` with `settings`, recording into `ledger` (any backend).
    pub async fn start_with_ledger(
        state: StateDir,
        settings: Settings,
        ledger: Arc<dyn payseal_verifier::ledger::Ledger>,
    ) -> Self {
        let key_config = settings.hpke_keys[0].config();
        let verdicts = VerdictVerifier::new(
            settings
                .verdict_keys
                .iter()
                .map(|k| k.public_key())
                .collect(),
        );
        let public_url = settings.public_url.clone();
        let server = Server::bind_with_ledger(settings, ledger).unwrap();
        let addr = server.local_addr();
        let metrics_addr = server.metrics_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        let client = client_for(&state.paths.tls_cert);
        Self {
            state,
            addr,
            metrics_addr,
            key_config,
            verdicts,
            client,
            public_url,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{}", self.addr.port(), path)
    }

    /// Seal a request.
    pub fn seal(&self, request: &VerifyRequest) -> (Vec<u8>, ClientContext) {
        envelope::seal_request(&self.key_config, &serde_json::to_vec(request).unwrap()).unwrap()
    }

    /// POST raw bytes to /v1/verify with the PaySeal content type.
    pub async fn post(&self, body: Vec<u8>) -> reqwest::Response {
        self.client
            .post(self.url("/v1/verify"))
            .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Send a request and return the checked verdict claims (nonce and receipt hash checked).
    pub async fn verify_request(&self, request: &VerifyRequest) -> VerdictClaims {
        let (body, ctx) = self.seal(request);
        let response = self.post(body).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            "application/payseal-response"
        );
        let sealed = response.bytes().await.unwrap();
        let claims = open_verdict(&self.verdicts, ctx, &sealed);
        assert_eq!(claims.nonce, request.nonce);
        assert_eq!(claims.receipt_sha256, request.receipt.sha256_hex());
        assert_eq!(claims.app, request.app_id);
        assert_eq!(claims.sub, request.account_id);
        assert_eq!(claims.iss, self.public_url);
        claims
    }

    /// Verify `receipt` for `account` of the dev app.
    pub async fn verify(&self, account: &str, receipt: &Receipt) -> VerdictClaims {
        self.verify_request(&request(APP, account, receipt)).await
    }

    /// `account`'s signed entitlements of the dev app ([`entitlements_at`]), issued by this
    /// server's public URL.
    pub async fn entitlements(
        &self,
        account: &str,
    ) -> payseal_protocol::entitlements::EntitlementsClaims {
        let base = self.url("");
        let doc = entitlements_at(
            &self.client,
            &base,
            &self.key_config,
            &self.verdicts,
            account,
        )
        .await;
        assert_eq!(doc.iss, self.public_url);
        doc
    }

    /// `http://ADDR/metrics` of the private metrics listener.
    pub fn metrics_url(&self) -> String {
        let addr = self.metrics_addr.expect("metrics_listen is off");
        format!("http://{addr}/metrics")
    }

    /// The `GET /metrics` text (on the private metrics listener).
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.metrics_url())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Ask the server to shut down gracefully and wait for it.
    pub async fn stop(&mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap(),
            None => Ok(()),
        }
    }

    /// Trigger shutdown without waiting.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Wait for the server task.
    pub async fn join(&mut self) -> Result<(), ServerError> {
        match self.task.take() {
            Some(task) => task.await.unwrap(),
            None => Ok(()),
        }
    }
}

/// Open a sealed response and verify the verdict token inside.
pub fn open_verdict(
    verdicts: &VerdictVerifier,
    ctx: ClientContext,
    sealed: &[u8],
) -> VerdictClaims {
    let plain = ctx.open_response(sealed).unwrap();
    let response: VerifyResponse = serde_json::from_slice(&plain).unwrap();
    assert_eq!(response.v, PROTOCOL_VERSION);
    let now = payseal_verifier::now_ms() / 1000;
    verdicts.verify(&response.verdict, now).unwrap()
}

/// The transaction key a Play receipt will be recorded under (its `orderId`).
pub fn play_order_id(receipt: &Receipt) -> String {
    let Receipt::GooglePlay { purchase_data, .. } = receipt else {
        panic!("not a Play receipt")
    };
    let v: serde_json::Value = serde_json::from_str(purchase_data).unwrap();
    v["orderId"].as_str().unwrap().to_string()
}

/// Shared pointer helper for tasks.
pub fn arc<T>(t: T) -> Arc<T> {
    Arc::new(t)
}

/// The path of the built CLI.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_payseal-verifier"))
}

/// A raw TLS connection to the server (for hand-written HTTP/1.1).
pub async fn tls_connect(
    server: &TestServer,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let pem = std::fs::read(&server.state.paths.tls_cert).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.addr).await?;
    connector
        .connect("localhost".try_into().unwrap(), tcp)
        .await
}

/// A rustls client configuration trusting the certificates in `roots_pem` (PEM, any number)
/// and offering `alpn` (e.g. `h2`, `http/1.1`).
pub fn tls_client_config(roots_pem: &[u8], alpn: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &roots_pem[..]) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

/// One sample of a `/metrics` text: `name` with its labels as printed (e.g.
/// `payseal_connections_timed_out_total{phase="idle"}`).
pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// A loopback port free right now (for a child process to listen on).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `account`'s signed entitlements of the dev app from the verifier at `base`
/// (`POST /v1/entitlements`, sealed to `key_config`, no restore), checked: signature and `typ`
/// with `verdicts`, then nonce, app and account.
pub async fn entitlements_at(
    http: &reqwest::Client,
    base: &str,
    key_config: &KeyConfig,
    verdicts: &VerdictVerifier,
    account: &str,
) -> payseal_protocol::entitlements::EntitlementsClaims {
    use payseal_protocol::entitlements::{self, EntitlementsRequest, EntitlementsResponse};
    let request = EntitlementsRequest {
        v: PROTOCOL_VERSION,
        nonce: nonce(),
        app_id: APP.into(),
        account_id: account.into(),
        sdk: SdkInfo {
            name: "payseal-tests".into(),
            version: "0".into(),
        },
        restore: vec![],
    };
    let (body, ctx) =
        envelope::seal_request(key_config, &serde_json::to_vec(&request).unwrap()).unwrap();
    let response = http
        .post(format!("{base}{}", entitlements::ENTITLEMENTS_PATH))
        .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{base}");
    let plain = ctx.open_response(&response.bytes().await.unwrap()).unwrap();
    let answer: EntitlementsResponse = serde_json::from_slice(&plain).unwrap();
    let now = payseal_verifier::now_ms() / 1000;
    let doc = entitlements::verify(verdicts, &answer.entitlements, now).unwrap();
    assert_eq!(doc.nonce, request.nonce);
    assert_eq!((doc.app.as_str(), doc.sub.as_str()), (APP, account));
    doc
}

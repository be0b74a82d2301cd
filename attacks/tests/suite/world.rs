//! The world the attacks run in: a REAL verifier (payseal-verifier's server, in process, on
//! 127.0.0.1, real TLS with an rcgen CA-issued certificate for `localhost`, SQLite ledger in
//! a temp dir), the genuine sandbox store it trusts, an attacker's own store, the app's
//! profile, and the REAL SDK (`payseal_sdk_core::Client`, pins checked, the test CA added as
//! an extra root like a private deployment would).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use payseal_protocol::envelope::{self, ClientContext, KeyConfig};
use payseal_protocol::profile::Profile;
use payseal_protocol::verdict::{Jwks, VerdictSigningKey, VerdictVerifier};
use payseal_protocol::{Receipt, SdkInfo, Store, VerifyRequest, PROTOCOL_VERSION};
use payseal_sandbox::{Order, SandboxStore};
use payseal_sdk_core::{CheckedVerdict, Client, ClientError, Options, PaySealError};
use payseal_verifier::dev::{DevPaths, DEV_APP_ID};
use payseal_verifier::ledger::SqliteLedger;
use payseal_verifier::server::{ConnectionLimits, Server, REQUEST_CONTENT_TYPE};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::sync::oneshot;

/// The dev app (all stores, sandbox and production).
pub const APP: &str = DEV_APP_ID;
/// An app configured for production purchases only.
pub const PROD_APP: &str = "dev.payseal.prod";
/// The header-read timeout the verifier runs with (case 15 waits for it).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// A test certificate authority the "device" trusts (an extra root of the SDK).
pub struct TestCa {
    /// PEM of the CA certificate.
    pub pem: String,
    /// Where the PEM is written (for payseal-mitm's `--upstream-ca`).
    pub pem_path: PathBuf,
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    fn new(dir: &std::path::Path) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "PaySeal attack-suite device-trusted CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA cert");
        let pem_path = dir.join("device-ca.pem");
        std::fs::write(&pem_path, cert.pem()).expect("write CA");
        Self {
            pem: cert.pem(),
            pem_path,
            cert,
            key,
        }
    }

    /// A `localhost` leaf with a fresh key: (chain PEM, key PEM).
    pub fn issue_localhost(&self) -> (String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let params = CertificateParams::new(vec!["localhost".to_string()]).expect("leaf params");
        let leaf = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf cert");
        (format!("{}{}", leaf.pem(), self.pem), key.serialize_pem())
    }
}

/// Everything the cases share.
pub struct World {
    _state: tempfile::TempDir,
    _fake_dir: tempfile::TempDir,
    /// The verifier's state layout.
    pub paths: DevPaths,
    /// The verifier's TLS key (the pinned one).
    pub tls_key: PathBuf,
    /// The genuine store the verifier trusts.
    pub store: SandboxStore,
    /// The attacker's own "fake store" (its own keys and App Store CA with Apple's OIDs).
    pub fake_store: SandboxStore,
    /// The CA the device trusts.
    pub ca: TestCa,
    /// Where the verifier listens.
    pub addr: SocketAddr,
    /// The profile the app embeds.
    pub profile_json: String,
    /// The verifier's HPKE key configuration (from the profile).
    pub key_config: KeyConfig,
    /// The verifier's verdict signing key (to forge tokens the real key signed, e.g. expired).
    pub verdict_key: VerdictSigningKey,
    /// The application server's token check, built from the JWKS the verifier publishes.
    pub app_server: VerdictVerifier,
    /// A second connection to the ledger file, for assertions.
    pub ledger: SqliteLedger,
    /// An HTTPS client trusting the device CA (raw posts, `GET /v1/keys`).
    pub http: reqwest::Client,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

fn localhost_url(addr: SocketAddr) -> String {
    format!("https://localhost:{}", addr.port())
}

impl World {
    /// Prepare the state, start the verifier, fetch its JWKS.
    pub async fn start() -> Result<Arc<World>, String> {
        payseal_verifier::install_crypto_provider();
        let state = tempfile::tempdir().map_err(|e| e.to_string())?;
        let paths = payseal_verifier::dev::prepare(state.path(), "127.0.0.1:0".parse().unwrap())
            .map_err(|e| format!("dev prepare: {e}"))?;
        let store =
            SandboxStore::open_or_create(&paths.sandbox_store).map_err(|e| e.to_string())?;
        // A production-only app beside the dev app (case 11).
        let mut config = std::fs::read_to_string(&paths.config).map_err(|e| e.to_string())?;
        config.push_str(&format!(
            "\n[apps.\"{PROD_APP}\"]\nenvironments = [\"production\"]\n\n[apps.\"{PROD_APP}\".google_play]\npackage_name = \"{PROD_APP}\"\npublic_key = \"{}\"\n",
            store.google_play_public_key()
        ));
        std::fs::write(&paths.config, config).map_err(|e| e.to_string())?;
        // The verifier's certificate: issued by the device-trusted CA, key pinned in the profile.
        let ca = TestCa::new(state.path());
        let (chain, key) = ca.issue_localhost();
        let tls_key = paths.tls_cert.with_file_name("key.pem");
        std::fs::write(&paths.tls_cert, chain).map_err(|e| e.to_string())?;
        std::fs::write(&tls_key, key).map_err(|e| e.to_string())?;

        let mut settings = payseal_verifier::config::load_with_env(&paths.config, |name| {
            (name == payseal_verifier::config::ENV_PUBLIC_URL)
                .then(|| "https://localhost:8443".to_string())
        })
        .map_err(|e| format!("config: {e}"))?;
        settings.listen = "127.0.0.1:0".parse().unwrap();
        let verdict_key = settings
            .verdict_keys
            .first()
            .map(|k| VerdictSigningKey::from_seed(k.kid(), k.seed()))
            .ok_or("no verdict key")?;
        let profile = payseal_verifier::profile::build(&settings).map_err(|e| e.to_string())?;
        let server = Server::bind(settings)
            .map_err(|e| format!("bind: {e}"))?
            .with_connection_limits(ConnectionLimits {
                header_read_timeout: HEADER_TIMEOUT,
                ..ConnectionLimits::default()
            });
        let addr = server.local_addr();
        let profile = profile
            .with_verifier_url(&localhost_url(addr))
            .map_err(|e| e.to_string())?;
        let key_config = profile.key_config.clone();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));

        let fake_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let fake_store =
            SandboxStore::open_or_create(fake_dir.path()).map_err(|e| e.to_string())?;
        let ledger = SqliteLedger::open(&paths.ledger).map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(ca.pem.as_bytes()).map_err(|e| e.to_string())?,
            )
            .resolve("localhost", addr)
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| e.to_string())?;
        // The application server's view: only the published JWKS.
        let jwks: Jwks = http
            .get(format!("{}/v1/keys", localhost_url(addr)))
            .send()
            .await
            .map_err(|e| format!("GET /v1/keys: {e}"))?
            .json()
            .await
            .map_err(|e| format!("GET /v1/keys: {e}"))?;
        let app_server = VerdictVerifier::new(jwks.public_keys().map_err(|e| e.to_string())?);
        Ok(Arc::new(World {
            _state: state,
            _fake_dir: fake_dir,
            paths,
            tls_key,
            store,
            fake_store,
            ca,
            addr,
            profile_json: profile.to_json(),
            key_config,
            verdict_key,
            app_server,
            ledger,
            http,
            stop: Mutex::new(Some(tx)),
        }))
    }

    /// Stop the verifier.
    pub fn stop(&self) {
        if let Some(tx) = self.stop.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = tx.send(());
        }
    }

    /// `https://localhost:PORT/v1/verify` of the verifier.
    pub fn verify_url(&self) -> String {
        format!("{}/v1/verify", localhost_url(self.addr))
    }

    /// The profile with its URL pointed at `addr` (same pins and keys): the app's traffic
    /// diverted to whatever listens there.
    pub fn profile_to(&self, addr: SocketAddr) -> String {
        Profile::parse(&self.profile_json)
            .and_then(|p| p.with_verifier_url(&localhost_url(addr)))
            .expect("own profile")
            .to_json()
    }

    /// SDK options for `app`.
    pub fn options(&self, app: &str) -> Options {
        let mut o = Options::new(app);
        o.extra_roots_pem = vec![self.ca.pem.clone()];
        o.connect_timeout = Duration::from_secs(5);
        o.request_timeout = Duration::from_secs(10);
        o.deadline = Duration::from_secs(20);
        o.retry.base_backoff = Duration::from_millis(20);
        o
    }

    /// The real SDK for the dev app, talking to the verifier.
    pub fn sdk(&self) -> Client {
        Client::new(&self.profile_json, self.options(APP)).expect("SDK client")
    }

    /// The real SDK for `app`, talking to whatever listens at `addr`.
    pub fn sdk_via(&self, app: &str, addr: SocketAddr) -> Client {
        Client::new(&self.profile_to(addr), self.options(app)).expect("SDK client")
    }

    /// A genuine purchase of the dev app.
    pub fn genuine(&self, store: Store) -> Receipt {
        self.store
            .issue(&Order::new(store, APP, "coins_100"))
            .expect("issue")
    }

    /// Issue `order` from the genuine store.
    pub fn issue(&self, order: &Order) -> Receipt {
        self.store.issue(order).expect("issue")
    }

    /// Rows in the ledger.
    pub fn rows(&self) -> u64 {
        self.ledger.count().expect("ledger count")
    }

    /// The ledger's owner of `receipt`'s transaction for `app`, if recorded.
    pub fn owner(&self, app: &str, receipt: &Receipt) -> Option<String> {
        let key = transaction_key(receipt)?;
        self.ledger
            .lookup(receipt.store(), app, &key)
            .expect("ledger lookup")
            .map(|r| r.account_id)
    }

    /// Seal a verify request for `receipt` from `account` of `app`.
    pub fn seal(&self, app: &str, account: &str, receipt: &Receipt) -> (Vec<u8>, ClientContext) {
        let request = VerifyRequest {
            v: PROTOCOL_VERSION,
            nonce: URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes()),
            app_id: app.into(),
            account_id: account.into(),
            receipt: receipt.clone(),
            sdk: SdkInfo {
                name: "payseal-attacks".into(),
                version: "0".into(),
            },
            expected_product_id: None,
        };
        envelope::seal_request(
            &self.key_config,
            &serde_json::to_vec(&request).expect("json"),
        )
        .expect("seal")
    }

    /// POST `body` to `/v1/verify` with `content_type`: (status, content type, body).
    pub async fn post(
        &self,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(u16, String, Vec<u8>), String> {
        let r = self
            .http
            .post(self.verify_url())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = r.bytes().await.map_err(|e| e.to_string())?.to_vec();
        Ok((status, ct, body))
    }

    /// POST a sealed envelope.
    pub async fn post_sealed(&self, body: Vec<u8>) -> Result<(u16, String, Vec<u8>), String> {
        self.post(REQUEST_CONTENT_TYPE, body).await
    }
}

/// The store's transaction key the ledger records a receipt under.
pub fn transaction_key(receipt: &Receipt) -> Option<String> {
    let json: serde_json::Value = match receipt {
        Receipt::GooglePlay { purchase_data, .. }
        | Receipt::Huawei { purchase_data, .. }
        | Receipt::Sandbox { purchase_data, .. } => serde_json::from_str(purchase_data).ok()?,
        Receipt::AppStore { jws } => {
            let payload = jws.split('.').nth(1)?;
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?
        }
        // The request names the transaction; the rule keys it the same way as the JWS.
        Receipt::AppStoreReceipt { transaction_id, .. } => {
            serde_json::json!({ "transactionId": transaction_id })
        }
    };
    ["orderId", "transactionId", "order_id", "transaction_id"]
        .iter()
        .find_map(|k| json.get(*k).and_then(|v| v.as_str()).map(str::to_string))
}

/// The app-visible error kind (as Kotlin/Swift see it), e.g. `pin_mismatch`, `tampered`.
pub fn kind(e: ClientError) -> String {
    PaySealError::from(e).kind().as_str().to_string()
}

/// `paid first` / `not_paid bad_signature` ... of a verdict.
pub fn describe(v: &CheckedVerdict) -> String {
    let c = &v.claims;
    match (c.outcome, c.reason, c.redemption) {
        (payseal_protocol::Outcome::Paid, _, Some(r)) => {
            format!(
                "paid {}",
                serde_json::to_value(r)
                    .unwrap_or_default()
                    .as_str()
                    .unwrap_or("?")
            )
        }
        (payseal_protocol::Outcome::Paid, _, None) => "paid".into(),
        (_, Some(r), _) => format!("not_paid {}", r.as_str()),
        (_, None, _) => "not_paid".into(),
    }
}

/// Verify through `sdk` and describe the answer (`paid first`, `not_paid bad_signature`,
/// or `error <kind>`).
pub async fn outcome(sdk: &Client, receipt: &Receipt, account: &str) -> String {
    match sdk.verify(receipt, account).await {
        Ok(v) => describe(&v),
        Err(e) => format!("error {}", kind(e)),
    }
}

/// Random bytes, standard Base64.
pub fn random_b64(n: usize) -> String {
    let mut v = vec![0u8; n];
    for chunk in v.chunks_mut(16) {
        let r = uuid::Uuid::new_v4();
        chunk.copy_from_slice(&r.as_bytes()[..chunk.len()]);
    }
    STANDARD.encode(v)
}

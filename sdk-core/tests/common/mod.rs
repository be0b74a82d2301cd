//! Shared test harness: a test CA (rcgen) trusted through the SDK's extra roots, a REAL
//! verifier (payseal-verifier's in-process server, dev-style state, SQLite ledger) serving a
//! CA-issued certificate for `localhost`, sandbox-store purchases, and hostile servers
//! (an impostor with an unpinned key from the same CA, a relay that alters answers, a
//! server that never answers). Everything listens on 127.0.0.1 only.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use payseal_protocol::profile::Profile;
use payseal_protocol::{Receipt, Store};
use payseal_sandbox::{Order, SandboxStore};
use payseal_sdk_core::{default_options, PaySeal, PaySealOptions};
use payseal_verifier::dev::{DevPaths, DEV_APP_ID};
use payseal_verifier::settings::{Settings, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::AsyncReadExt as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The app the dev configuration sets up.
pub const APP: &str = DEV_APP_ID;

/// A test certificate authority, added to the SDK as an extra root.
pub struct TestCa {
    /// The CA certificate, PEM.
    pub pem: String,
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A leaf certificate chain and key issued by the test CA.
pub struct Leaf {
    /// Leaf then CA, PEM.
    pub chain_pem: String,
    /// The leaf's private key, PEM.
    pub key_pem: String,
}

impl TestCa {
    /// A fresh CA.
    pub fn new() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "PaySeal SDK test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            cert,
            key,
        }
    }

    /// A leaf for `names` with a fresh key.
    pub fn issue(&self, names: &[&str]) -> Leaf {
        self.issue_with_key(names, KeyPair::generate().unwrap())
    }

    /// A leaf for `names` with the given key (e.g. the verifier's own, pinned, key).
    pub fn issue_with_key(&self, names: &[&str], key: KeyPair) -> Leaf {
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let leaf = params.signed_by(&key, &self.cert, &self.key).unwrap();
        Leaf {
            chain_pem: format!("{}{}", leaf.pem(), self.pem),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Leaf {
    /// Write `cert.pem` and `key.pem` into `dir`.
    pub fn write_to(&self, dir: &Path) -> TlsFiles {
        std::fs::create_dir_all(dir).unwrap();
        let files = TlsFiles {
            cert_pem: dir.join("cert.pem"),
            key_pem: dir.join("key.pem"),
        };
        std::fs::write(&files.cert_pem, &self.chain_pem).unwrap();
        std::fs::write(&files.key_pem, &self.key_pem).unwrap();
        files
    }
}

/// Copy a folder tree.
fn copy_dir(from: &Path, to: &Path) {
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

/// One sandbox store per test binary (RSA key generation is slow in debug builds).
fn template_store() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        SandboxStore::open_or_create(dir.path()).unwrap();
        dir
    })
    .path()
}

/// A real verifier, in process, on 127.0.0.1, with a CA-issued certificate for `localhost`.
pub struct TestVerifier {
    /// The state directory (keys, config, ledger, TLS, sandbox store).
    pub state: tempfile::TempDir,
    /// Its layout.
    pub paths: DevPaths,
    /// The sandbox store the verifier trusts.
    pub store: SandboxStore,
    /// The CA that issued the verifier's certificate.
    pub ca: TestCa,
    /// The bound address (kept across restarts).
    pub addr: SocketAddr,
    /// The profile an app embeds for this verifier.
    pub profile_json: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestVerifier {
    /// Prepare a fresh state directory and start serving on an ephemeral port.
    pub async fn start() -> Self {
        Self::start_with_config("").await
    }

    /// [`TestVerifier::start`] with `extra` TOML appended to the configuration file (e.g. an
    /// app's `[apps."dev.payseal.demo".entitlements]`).
    pub async fn start_with_config(extra: &str) -> Self {
        let state = tempfile::tempdir().unwrap();
        copy_dir(
            template_store(),
            &state.path().join(payseal_sandbox::DEV_STORE_SUBDIR),
        );
        let paths =
            payseal_verifier::dev::prepare(state.path(), "127.0.0.1:0".parse().unwrap()).unwrap();
        // Replace dev mode's self-signed certificate by one the test CA issues.
        let ca = TestCa::new();
        ca.issue(&["localhost"])
            .write_to(paths.tls_cert.parent().unwrap());
        if !extra.is_empty() {
            let mut text = std::fs::read_to_string(&paths.config).unwrap();
            text.push('\n');
            text.push_str(extra);
            std::fs::write(&paths.config, text).unwrap();
        }
        let store = SandboxStore::open_or_create(&paths.sandbox_store).unwrap();
        let mut this = Self {
            state,
            paths,
            store,
            ca,
            addr: "127.0.0.1:0".parse().unwrap(),
            profile_json: String::new(),
            shutdown: None,
            task: None,
        };
        this.serve();
        this
    }

    fn settings(&self) -> Settings {
        // With port 0 the verifier wants an explicit public URL; the real one is set once bound.
        let url = format!("https://localhost:{}", self.addr.port().max(1));
        let mut settings = payseal_verifier::config::load_with_env(&self.paths.config, |name| {
            (name == payseal_verifier::config::ENV_PUBLIC_URL).then(|| url.clone())
        })
        .unwrap();
        settings.listen = self.addr;
        settings
    }

    fn serve(&mut self) {
        let settings = self.settings();
        let profile = payseal_verifier::profile::build(&settings).unwrap();
        let server = payseal_verifier::server::Server::bind(settings).unwrap();
        self.addr = server.local_addr();
        self.profile_json = profile
            .with_verifier_url(&format!("https://localhost:{}", self.addr.port()))
            .unwrap()
            .to_json();
        let (tx, rx) = oneshot::channel::<()>();
        self.shutdown = Some(tx);
        self.task = Some(tokio::spawn(async move {
            let _ = server
                .run(async move {
                    let _ = rx.await;
                })
                .await;
        }));
    }

    /// Stop serving (graceful) and wait until the port is closed.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serve again on the same state and the same address.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.serve();
    }

    /// A genuine purchase from the sandbox store the verifier trusts.
    pub fn issue(&self, store: Store) -> Receipt {
        self.store
            .issue(&Order::new(store, APP, "coins_100"))
            .unwrap()
    }

    /// The verifier's TLS files (its pinned key).
    pub fn tls_files(&self) -> TlsFiles {
        TlsFiles {
            cert_pem: self.paths.tls_cert.clone(),
            key_pem: self.paths.tls_cert.with_file_name("key.pem"),
        }
    }

    /// The verifier's profile with another URL (same pins and keys): what an app would see
    /// if its traffic were sent elsewhere.
    pub fn profile_pointing_to(&self, addr: SocketAddr) -> String {
        Profile::parse(&self.profile_json)
            .and_then(|p| p.with_verifier_url(&format!("https://localhost:{}", addr.port())))
            .unwrap()
            .to_json()
    }

    /// SDK options: the app id, the test CA as extra root, short timeouts, fast retries.
    pub fn options(&self, pending_dir: Option<&Path>) -> PaySealOptions {
        let mut o = default_options(APP.into());
        o.extra_roots_pem = vec![self.ca.pem.clone()];
        o.pending_dir = pending_dir.map(|p| p.to_string_lossy().into_owned());
        o.connect_timeout_ms = 2_000;
        o.request_timeout_ms = 5_000;
        o.deadline_ms = 10_000;
        o.base_backoff_ms = 20;
        o
    }

    /// The SDK for this verifier.
    pub fn sdk(&self, pending_dir: Option<&Path>) -> Arc<PaySeal> {
        PaySeal::new(self.profile_json.clone(), self.options(pending_dir)).unwrap()
    }

    /// The SDK for this verifier with its traffic sent to `addr` (a relay, an impostor).
    pub fn sdk_via(&self, addr: SocketAddr, pending_dir: Option<&Path>) -> Arc<PaySeal> {
        PaySeal::new(self.profile_pointing_to(addr), self.options(pending_dir)).unwrap()
    }
}

impl Drop for TestVerifier {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Files in a folder (all of them, temporaries included).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// A TLS server that is not the verifier: what it saw.
#[derive(Default)]
pub struct Observed {
    /// TCP connections accepted.
    pub connections: AtomicUsize,
    /// TLS handshakes completed.
    pub handshakes: AtomicUsize,
    /// Application bytes received after a handshake (a request body would be here).
    pub app_bytes: AtomicUsize,
}

/// Serve TLS with `files` on 127.0.0.1 and record what clients do; never answers HTTP.
pub async fn impostor(files: &TlsFiles) -> (SocketAddr, Arc<Observed>) {
    payseal_verifier::install_crypto_provider();
    observing_server(payseal_verifier::server_config(files).unwrap()).await
}

/// A TLS 1.2-only server with `files` (the verifier's own, pinned and trusted, certificate).
pub async fn tls12_only(files: &TlsFiles) -> (SocketAddr, Arc<Observed>) {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&files.cert_pem)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&files.key_pem).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    observing_server(config).await
}

/// Serve TLS with `config` on 127.0.0.1 and record what clients do; never answers HTTP.
pub async fn observing_server(config: rustls::ServerConfig) -> (SocketAddr, Arc<Observed>) {
    let config = Arc::new(config);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let observed = Arc::new(Observed::default());
    let seen = observed.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            seen.connections.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    seen.handshakes.fetch_add(1, Ordering::SeqCst);
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        seen.app_bytes.fetch_add(n, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    (addr, observed)
}

/// A TCP server that accepts and never answers; `closed` turns true when a client hangs up.
pub async fn silent_server() -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicBool::new(false));
    let (a, c) = (accepted.clone(), closed.clone());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => {
                            c.store(true, Ordering::SeqCst);
                            break;
                        }
                        Ok(_) => {} // the ClientHello; never answered
                    }
                }
            });
        }
    });
    (addr, accepted, closed)
}

/// What the relay does to the traffic it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayMode {
    /// Forward faithfully.
    Forward,
    /// Flip one bit in the sealed response.
    FlipBit,
    /// Answer every request with the first response it ever forwarded (an old verdict).
    ReplayFirst,
    /// Answer `503` with `Retry-After: 1` this many times, then forward.
    Unavailable(usize),
    /// Answer `400` with a problem document.
    Reject,
    /// Forward (the verifier records the redemption), then cut the answer short: the
    /// connection is lost after the request was sent.
    CutAnswer,
}

/// A relay holding the verifier's own certificate and key (so the pin matches), between the
/// SDK and the verifier: a compromised front end, or an attacker with the key.
pub struct Relay {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Requests it received.
    pub requests: Arc<AtomicUsize>,
    _handle: axum_server::Handle,
}

#[derive(Clone)]
struct RelayState {
    mode: RelayMode,
    upstream: String,
    client: reqwest::Client,
    requests: Arc<AtomicUsize>,
    first: Arc<Mutex<Option<Vec<u8>>>>,
}

async fn relay_verify(
    axum::extract::State(s): axum::extract::State<RelayState>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse as _;
    let n = s.requests.fetch_add(1, Ordering::SeqCst);
    match s.mode {
        RelayMode::Unavailable(times) if n < times => {
            return (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "1")], "busy")
                .into_response()
        }
        RelayMode::Reject => {
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "application/problem+json")],
                r#"{"type":"about:blank","title":"Bad Request","status":400,"detail":"request refused"}"#,
            )
                .into_response()
        }
        _ => {}
    }
    let upstream = s
        .client
        .post(format!("{}{}", s.upstream, uri.path()))
        .header(header::CONTENT_TYPE, "application/payseal-request")
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = upstream.status();
    let mut answer = upstream.bytes().await.unwrap().to_vec();
    let first = {
        let mut slot = s.first.lock().unwrap();
        slot.get_or_insert_with(|| answer.clone()).clone()
    };
    match s.mode {
        RelayMode::FlipBit => {
            let i = answer.len() / 2;
            answer[i] ^= 0x01;
        }
        RelayMode::ReplayFirst => answer = first,
        RelayMode::CutAnswer => {
            // Announce the whole answer, send half: the server closes the connection.
            let announced = answer.len().to_string();
            answer.truncate(answer.len() / 2);
            return (status, [(header::CONTENT_LENGTH, announced)], answer).into_response();
        }
        _ => {}
    }
    (status, answer).into_response()
}

impl Relay {
    /// Start a relay to `verifier` presenting the verifier's own certificate.
    pub async fn start(verifier: &TestVerifier, mode: RelayMode) -> Self {
        payseal_verifier::install_crypto_provider();
        let tls = payseal_verifier::server_config(&verifier.tls_files()).unwrap();
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(verifier.ca.pem.as_bytes()).unwrap(),
            )
            .build()
            .unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let state = RelayState {
            mode,
            upstream: format!("https://localhost:{}", verifier.addr.port()),
            client,
            requests: requests.clone(),
            first: Arc::new(Mutex::new(None)),
        };
        let router = axum::Router::new()
            .route("/v1/verify", axum::routing::post(relay_verify))
            .route(
                payseal_protocol::entitlements::ENTITLEMENTS_PATH,
                axum::routing::post(relay_verify),
            )
            .with_state(state);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = axum_server::Handle::new();
        let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls));
        let serving = axum_server::from_tcp_rustls(listener, config)
            .handle(handle.clone())
            .serve(router.into_make_service());
        tokio::spawn(async move {
            let _ = serving.await;
        });
        Self {
            addr,
            requests,
            _handle: handle,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self._handle.shutdown();
    }
}

/// Wait until `cond` holds (polling), at most `limit`.
pub async fn eventually(limit: Duration, cond: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

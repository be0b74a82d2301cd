//! A TLS-terminating man-in-the-middle relay between the SDK and the verifier.
//!
//! It presents a certificate and key it is given (the verifier's own, pinned, pair: what a
//! compromised load balancer holds), forwards every HTTP request to the upstream verifier
//! over TLS, and, depending on its [`Mode`], alters the sealed `POST /v1/verify` answers:
//! flips a bit, replays the first answer it saw, or hands each client the previous client's
//! answer. It counts the bytes it relayed in each direction and looks for plaintext receipt
//! content (JSON keys of store receipts and any `watch` strings) in everything it saw, so a
//! test can assert the relay only ever carried ciphertext.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderName, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use payseal_protocol::envelope::{open_request, seal_request, EnvelopeError, ServerKeyPair};
use payseal_protocol::verdict::{VerdictError, VerdictSigningKey, VerdictVerifier};
use payseal_protocol::{VerdictClaims, VerifyResponse};
use serde::Serialize;

/// Largest request body the relay accepts (it is a test tool, not a production proxy).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// At most this many relayed bytes are kept for [`Mitm::relayed_bytes`].
pub const MAX_KEPT_BYTES: usize = 8 * 1024 * 1024;

/// JSON keys that appear in plaintext PaySeal requests or store receipts: any of them in the
/// relayed bytes means the relay saw plaintext.
pub const PLAINTEXT_MARKERS: &[&str] = &[
    "\"orderId\"",
    "\"purchaseToken\"",
    "\"packageName\"",
    "\"purchase_data\"",
    "\"purchaseData\"",
    "\"transactionId\"",
    "\"bundleId\"",
    "\"signature\"",
    "\"receipt\"",
    "\"account_id\"",
    "\"nonce\"",
    "\"jws\"",
];

/// What the relay does to sealed `POST /v1/verify` answers (other routes always pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Forward everything faithfully.
    Pass,
    /// Flip one bit in the middle of every `200` answer.
    FlipResponse,
    /// Forward every request, but answer each with the first `200` answer ever relayed (an old
    /// verdict replayed as the answer to a new request).
    ReplayFirstResponse,
    /// Answer each request with the previous request's `200` answer (another client's); the
    /// first request gets its own.
    SwapResponses,
    /// Holding the verifier's own HPKE and verdict keys ([`Resign`]): open each request,
    /// forward it, open the verdict, change its claims as told and sign and seal it again
    /// with the verifier's keys. What the SDK gets is what a verifier saying those claims
    /// would send: the tool to drive the SDKs through claims no verifier path produces yet.
    Resign,
}

/// The keys and the claim changes of [`Mode::Resign`].
pub struct Resign {
    /// The verifier's HPKE key pair.
    pub hpke: ServerKeyPair,
    /// The verifier's verdict signing key.
    pub verdict_key: VerdictSigningKey,
    /// A JSON object merged into each verdict's claims (`null` removes a claim), e.g.
    /// `{"subscription_state":"on_hold","store_checked":false}`.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for Resign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resign")
            .field("kid", &self.verdict_key.kid())
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

/// How to run the relay.
#[derive(Debug, Clone)]
pub struct MitmConfig {
    /// Where to listen (a loopback address; port 0 picks one).
    pub listen: SocketAddr,
    /// The verifier's base URL, e.g. `https://localhost:8443`.
    pub upstream: String,
    /// Certificate chain the relay presents (PEM, leaf first).
    pub cert_pem: PathBuf,
    /// The private key of that certificate (PEM).
    pub key_pem: PathBuf,
    /// The CA (PEM) that issued the upstream verifier's certificate.
    pub upstream_ca_pem: PathBuf,
    /// What to do to answers.
    pub mode: Mode,
    /// Extra byte strings to look for in the relayed traffic (e.g. a receipt's signature).
    pub watch: Vec<String>,
    /// Write the [`Report`] here (JSON, replaced atomically after every exchange).
    pub report_path: Option<PathBuf>,
    /// The keys and claim changes of [`Mode::Resign`] (required by it, unused otherwise).
    pub resign: Option<Arc<Resign>>,
}

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum MitmError {
    /// The listen address is not a loopback address.
    #[error("refusing to listen on {0}: payseal-mitm listens on loopback addresses only")]
    NotLoopback(SocketAddr),
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The TLS configuration was refused.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// [`Mode::Resign`] without its keys, or keys given to another mode.
    #[error("--mode resign needs the verifier's keys and claims (--state-dir, --claims), and only it takes them")]
    Resign,
    /// The upstream URL is not an `https://` URL.
    #[error("upstream {0:?} is not an https:// URL")]
    Upstream(String),
    /// Binding the listener failed.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What the relay saw, as written to `--report`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The mode it ran in.
    pub mode: Option<Mode>,
    /// HTTP requests relayed.
    pub requests: u64,
    /// Request body bytes, client to upstream.
    pub client_to_upstream_bytes: u64,
    /// Response body bytes, upstream to client (as sent to the client).
    pub upstream_to_client_bytes: u64,
    /// Answers the relay changed (flipped, replayed or swapped).
    pub responses_altered: u64,
    /// Requests the upstream did not answer (the relay answered 502).
    pub upstream_errors: u64,
    /// Whether any plaintext marker or watch string appeared in the relayed bytes.
    pub plaintext_seen: bool,
    /// The [`PLAINTEXT_MARKERS`] seen.
    pub plaintext_markers: BTreeSet<String>,
    /// The watch strings seen.
    pub watch_hits: BTreeSet<String>,
}

struct Recorder {
    report: Report,
    kept: Vec<u8>,
    first: Option<Bytes>,
    previous: Option<Bytes>,
}

struct Shared {
    mode: Mode,
    resign: Option<Arc<Resign>>,
    upstream: String,
    client: reqwest::Client,
    watch: Vec<String>,
    report_path: Option<PathBuf>,
    recorder: Mutex<Recorder>,
}

/// A running relay.
pub struct Mitm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: axum_server::Handle,
}

impl std::fmt::Debug for Mitm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mitm")
            .field("addr", &self.addr)
            .field("mode", &self.shared.mode)
            .finish_non_exhaustive()
    }
}

fn pem_err(path: &Path, reason: impl std::fmt::Display) -> MitmError {
    MitmError::Pem {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, MitmError> {
    let pem = std::fs::read(path).map_err(|e| pem_err(path, e))?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no CERTIFICATE block"));
    }
    Ok(certs)
}

fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, MitmError> {
    let certs = read_certs(cert)?;
    let pem = std::fs::read(key).map_err(|e| pem_err(key, e))?;
    let key_der = rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| pem_err(key, e))?
        .ok_or_else(|| pem_err(key, "no private key block"))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| MitmError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .map_err(|e| MitmError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn upstream_client(ca: &Path) -> Result<reqwest::Client, MitmError> {
    // reqwest's "no provider" rustls build uses the process default: install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .no_proxy()
        .timeout(Duration::from_secs(30));
    for cert in read_certs(ca)? {
        let cert = reqwest::Certificate::from_der(&cert).map_err(|e| pem_err(ca, e))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| MitmError::Tls(e.to_string()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

impl Recorder {
    fn saw(&mut self, bytes: &[u8], watch: &[String]) {
        for marker in PLAINTEXT_MARKERS {
            if contains(bytes, marker.as_bytes()) {
                self.report.plaintext_markers.insert((*marker).to_string());
            }
        }
        for w in watch {
            if contains(bytes, w.as_bytes()) {
                self.report.watch_hits.insert(w.clone());
            }
        }
        self.report.plaintext_seen =
            !self.report.plaintext_markers.is_empty() || !self.report.watch_hits.is_empty();
        let room = MAX_KEPT_BYTES.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl Shared {
    fn write_report(&self, report: &Report) {
        let Some(path) = &self.report_path else {
            return;
        };
        let Ok(json) = serde_json::to_vec_pretty(report) else {
            return;
        };
        let tmp = path.with_extension("json.tmp");
        if std::fs::write(&tmp, json).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

const FORWARDED_REQUEST_HEADERS: [HeaderName; 2] = [header::CONTENT_TYPE, header::ACCEPT];
const FORWARDED_RESPONSE_HEADERS: [HeaderName; 3] = [
    header::CONTENT_TYPE,
    header::RETRY_AFTER,
    header::CACHE_CONTROL,
];

async fn relay(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    if let (Some(resign), true) = (
        &s.resign,
        method == Method::POST && uri.path() == "/v1/verify",
    ) {
        return resign_exchange(&s, resign, &path, &headers, body).await;
    }
    let mut request = s
        .client
        .request(method.clone(), format!("{}{}", s.upstream, path))
        .body(body.clone());
    for name in FORWARDED_REQUEST_HEADERS {
        if let Some(v) = headers.get(&name) {
            request = request.header(name, v);
        }
    }
    let upstream = match request.send().await {
        Ok(r) => r,
        Err(_) => {
            let report = {
                let mut r = lock(&s.recorder);
                r.report.requests += 1;
                r.report.upstream_errors += 1;
                r.saw(&body, &s.watch);
                r.report.client_to_upstream_bytes += body.len() as u64;
                r.report.clone()
            };
            s.write_report(&report);
            return (StatusCode::BAD_GATEWAY, "upstream unreachable\n").into_response();
        }
    };
    let status = upstream.status();
    let mut kept_headers = HeaderMap::new();
    for name in FORWARDED_RESPONSE_HEADERS {
        if let Some(v) = upstream.headers().get(&name) {
            kept_headers.insert(name, v.clone());
        }
    }
    let answer = upstream.bytes().await.unwrap_or_default();
    let sealed = method == Method::POST && uri.path() == "/v1/verify" && status == StatusCode::OK;
    let (sent, report) = {
        let mut r = lock(&s.recorder);
        r.report.mode = Some(s.mode);
        r.report.requests += 1;
        r.report.client_to_upstream_bytes += body.len() as u64;
        r.saw(&body, &s.watch);
        r.saw(&answer, &s.watch);
        let sent = if sealed {
            match s.mode {
                // Resign answers /v1/verify in `resign_exchange`; here only other routes.
                Mode::Pass | Mode::Resign => answer.clone(),
                Mode::FlipResponse => {
                    let mut v = answer.to_vec();
                    if let Some(b) = v.get_mut(answer.len() / 2) {
                        *b ^= 0x01;
                    }
                    Bytes::from(v)
                }
                Mode::ReplayFirstResponse => r.first.get_or_insert_with(|| answer.clone()).clone(),
                Mode::SwapResponses => r.previous.replace(answer.clone()).unwrap_or(answer.clone()),
            }
        } else {
            answer.clone()
        };
        if sent != answer {
            r.report.responses_altered += 1;
        }
        r.report.upstream_to_client_bytes += sent.len() as u64;
        (sent, r.report.clone())
    };
    s.write_report(&report);
    let mut response = (status, sent).into_response();
    response.headers_mut().extend(kept_headers);
    response
}

/// Why a [`Mode::Resign`] exchange could not be re-signed (answered `502`).
#[derive(Debug, thiserror::Error)]
enum ResignError {
    #[error("envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("upstream: {0}")]
    Upstream(#[from] reqwest::Error),
    #[error("upstream answered {0}")]
    Status(StatusCode),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("verdict: {0}")]
    Verdict(#[from] VerdictError),
    #[error("the verdict's claims are not a JSON object")]
    NotAnObject,
}

/// Open the request with the verifier's key, forward it sealed anew, open the answer, change
/// the verdict's claims and sign and seal it again for the client.
async fn resign_exchange(
    s: &Shared,
    resign: &Resign,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let (plain, reply) = open_request(std::slice::from_ref(&resign.hpke), &body)?;
        let (sealed, client) = seal_request(&resign.hpke.config(), &plain)?;
        let mut request = s
            .client
            .post(format!("{}{}", s.upstream, path))
            .body(sealed);
        for name in FORWARDED_REQUEST_HEADERS {
            if let Some(v) = headers.get(&name) {
                request = request.header(name, v);
            }
        }
        let upstream = request.send().await?;
        if upstream.status() != StatusCode::OK {
            return Err(ResignError::Status(upstream.status()));
        }
        let answer = client.open_response(&upstream.bytes().await?)?;
        let mut response: VerifyResponse = serde_json::from_slice(&answer)?;
        let claims = VerdictVerifier::new(vec![resign.verdict_key.public_key()])
            .with_skew(i64::MAX)
            .verify(&response.verdict, 0)?;
        let mut value = serde_json::to_value(claims)?;
        let object = value.as_object_mut().ok_or(ResignError::NotAnObject)?;
        for (k, v) in &resign.claims {
            if v.is_null() {
                object.remove(k);
            } else {
                object.insert(k.clone(), v.clone());
            }
        }
        let changed: VerdictClaims = serde_json::from_value(value)?;
        response.verdict = resign.verdict_key.sign(&changed)?;
        Ok::<_, ResignError>(reply.seal_response(&serde_json::to_vec(&response)?)?)
    }
    .await;
    let report = {
        let mut r = lock(&s.recorder);
        r.report.requests += 1;
        r.report.client_to_upstream_bytes += body.len() as u64;
        r.saw(&body, &s.watch);
        match &result {
            Ok(sent) => {
                r.report.responses_altered += 1;
                r.report.upstream_to_client_bytes += sent.len() as u64;
            }
            Err(_) => r.report.upstream_errors += 1,
        }
        r.report.clone()
    };
    s.write_report(&report);
    match result {
        Ok(sent) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/payseal-response"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            sent,
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("resign: {e}\n")).into_response(),
    }
}

fn lock(m: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    // A poisoned recorder still holds valid counts: keep using it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Mitm {
    /// Bind and start relaying on the current tokio runtime.
    pub async fn start(config: MitmConfig) -> Result<Mitm, MitmError> {
        if !config.listen.ip().is_loopback() {
            return Err(MitmError::NotLoopback(config.listen));
        }
        if (config.mode == Mode::Resign) != config.resign.is_some() {
            return Err(MitmError::Resign);
        }
        let upstream = config.upstream.trim_end_matches('/').to_string();
        if !upstream.starts_with("https://") {
            return Err(MitmError::Upstream(config.upstream));
        }
        let tls = server_config(&config.cert_pem, &config.key_pem)?;
        let client = upstream_client(&config.upstream_ca_pem)?;
        let listener =
            std::net::TcpListener::bind(config.listen).map_err(|source| MitmError::Bind {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| MitmError::Bind {
            addr: config.listen,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| MitmError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            mode: config.mode,
            resign: config.resign,
            upstream,
            client,
            watch: config.watch,
            report_path: config.report_path,
            recorder: Mutex::new(Recorder {
                report: Report {
                    mode: Some(config.mode),
                    ..Report::default()
                },
                kept: Vec::new(),
                first: None,
                previous: None,
            }),
        });
        shared.write_report(&lock(&shared.recorder).report.clone());
        let router = axum::Router::new()
            .fallback(relay)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Arc::clone(&shared));
        let handle = axum_server::Handle::new();
        let serving = axum_server::from_tcp_rustls(
            listener,
            axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls)),
        )
        .handle(handle.clone())
        .serve(router.into_make_service());
        tokio::spawn(async move {
            let _ = serving.await;
        });
        Ok(Mitm {
            addr,
            shared,
            handle,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it saw so far.
    pub fn report(&self) -> Report {
        lock(&self.shared.recorder).report.clone()
    }

    /// Every body it relayed so far, both directions, concatenated (at most
    /// [`MAX_KEPT_BYTES`]).
    pub fn relayed_bytes(&self) -> Vec<u8> {
        lock(&self.shared.recorder).kept.clone()
    }

    /// Stop accepting and close connections.
    pub fn shutdown(&self) {
        self.handle.shutdown();
    }
}

impl Drop for Mitm {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

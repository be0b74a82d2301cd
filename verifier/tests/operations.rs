//! What an operator runs the verifier with: JSON log lines and no colour codes when stderr is
//! not a terminal (the real binary, its stderr a file); `/metrics` on a separate listener and
//! then not on the public one; SIGHUP reloading the TLS certificate and key without dropping
//! connections, and keeping the old ones when the new files are bad (the real binary); out of
//! file descriptors, the server sheds idle connections instead of stopping (the real binary
//! under `ulimit -n 64`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::instance::Instance;
use common::sdk::ca_signed_tls;
use common::StateDir;
use payseal_verifier::server::Server;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// A TLS connection to 127.0.0.1:`port` trusting the CA certificates `roots`.
async fn connect(roots: &[String], port: u16) -> std::io::Result<Tls> {
    let config = common::tls_client_config(roots.concat().as_bytes(), b"http/1.1");
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    tokio_rustls::TlsConnector::from(config)
        .connect("localhost".try_into().unwrap(), tcp)
        .await
}

/// The DER of the certificate the server presented on `tls`.
fn served_cert(tls: &Tls) -> Vec<u8> {
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// `GET path` on a keep-alive HTTP/1.1 connection; the status line and the body.
async fn get<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    path: &str,
) -> (String, String) {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let (head_end, length) = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a response");
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..i]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            break (i + 4, length);
        }
    };
    while raw.len() < head_end + length {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed inside a response");
        raw.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text.lines().next().unwrap_or_default().to_string();
    (status, text[head_end..head_end + length].to_string())
}

fn pem_der(pem: &str) -> Vec<u8> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let state = StateDir::new();
    let ca_a = ca_signed_tls(&state);
    let cert_a = pem_der(&std::fs::read_to_string(&state.paths.tls_cert).unwrap());
    let mut server = Instance::spawn("reload", &state, None);
    server.wait_log("verifier listening", 1);
    let roots_a = [ca_a.clone()];

    let mut before = connect(&roots_a, server.port()).await.unwrap();
    assert_eq!(served_cert(&before), cert_a);
    assert_eq!(get(&mut before, "/healthz").await.0, "HTTP/1.1 200 OK");

    // A renewed certificate (and key) in the same files, then SIGHUP.
    let ca_b = ca_signed_tls(&state);
    let cert_b = pem_der(&std::fs::read_to_string(&state.paths.tls_cert).unwrap());
    assert_ne!(cert_a, cert_b);
    server.signal("HUP");
    server.wait_log("TLS certificate reloaded", 1);
    let both = [ca_a.clone(), ca_b.clone()];
    // The connection opened before the reload keeps working.
    assert_eq!(get(&mut before, "/healthz").await.0, "HTTP/1.1 200 OK");
    // A new one sees the new certificate.
    let mut after = connect(&both, server.port()).await.unwrap();
    assert_eq!(served_cert(&after), cert_b);
    assert_eq!(get(&mut after, "/healthz").await.0, "HTTP/1.1 200 OK");

    // A bad certificate file: the reload fails, is logged, and the new certificate stays.
    std::fs::write(&state.paths.tls_cert, "not a certificate\n").unwrap();
    server.signal("HUP");
    server.wait_log("TLS reload failed", 1);
    let mut third = connect(&both, server.port()).await.unwrap();
    assert_eq!(served_cert(&third), cert_b);
    assert_eq!(get(&mut third, "/healthz").await.0, "HTTP/1.1 200 OK");
    assert_eq!(get(&mut before, "/healthz").await.0, "HTTP/1.1 200 OK");
    assert_eq!(get(&mut after, "/healthz").await.0, "HTTP/1.1 200 OK");
    drop((before, after, third));
    server.stop();
    let log = server.log_text();
    assert!(
        !log.contains("PRIVATE KEY"),
        "key material in the log:\n{log}"
    );
}

/// Wait until `instance` logged that it listens, make one request, stop it; its log.
async fn run_and_log(instance: &mut Instance, roots: &[String]) -> String {
    instance.wait_log("verifier listening", 1);
    let mut tls = connect(roots, instance.port()).await.unwrap();
    assert_eq!(get(&mut tls, "/healthz").await.0, "HTTP/1.1 200 OK");
    drop(tls);
    instance.wait_log("request", 1);
    instance.stop();
    instance.log_text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_on_request_and_never_coloured_off_a_terminal() {
    let state = StateDir::new();
    let roots = [ca_signed_tls(&state)];

    let mut json = Instance::spawn_args("json", &state, None, &["--log-format", "json"]);
    let log = run_and_log(&mut json, &roots).await;
    assert!(!log.as_bytes().contains(&0x1b), "ANSI codes in:\n{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 3, "{log}");
    for line in &lines {
        assert!(line["timestamp"].is_string(), "{line}");
        assert!(line["level"].is_string(), "{line}");
        assert!(line["message"].is_string(), "{line}");
    }
    let request = lines
        .iter()
        .find(|l| l["message"] == "request")
        .expect("a request line");
    assert_eq!(request["route"], "/healthz");
    assert_eq!(request["status"], 200);

    // The default text format, written to a file: no colour either.
    let mut text = Instance::spawn("text", &state, None);
    let log = run_and_log(&mut text, &roots).await;
    assert!(!log.as_bytes().contains(&0x1b), "ANSI codes in:\n{log}");
    assert!(log.contains("INFO"), "{log}");
    assert!(
        serde_json::from_str::<serde_json::Value>(log.lines().next().unwrap()).is_err(),
        "text lines are not JSON: {log}"
    );
}

/// Serve `state` with `tweak` applied; the server task's stop switch and the server's
/// addresses (public, metrics).
fn start(
    state: &StateDir,
    tweak: impl FnOnce(&mut payseal_verifier::settings::Settings),
) -> (
    tokio::sync::oneshot::Sender<()>,
    SocketAddr,
    Option<SocketAddr>,
) {
    let mut settings = state.settings();
    tweak(&mut settings);
    let server = Server::bind(settings).unwrap();
    let addrs = (server.local_addr(), server.metrics_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (tx, addrs.0, addrs.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_on_a_separate_listener_are_not_public() {
    let state = StateDir::new();
    let roots = [ca_signed_tls(&state)];
    // "off": no metrics anywhere, and never on the public listener.
    let (_stop, public, metrics) = start(&state, |s| s.metrics_listen = None);
    assert_eq!(metrics, None);
    let mut tls = connect(&roots, public.port()).await.unwrap();
    let (status, body) = get(&mut tls, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found", "{body}");

    // metrics_listen: /metrics there (plain HTTP), 404 on the public listener.
    let (_stop, public, metrics) = start(&state, |s| {
        s.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    });
    let metrics = metrics.expect("a metrics listener");
    assert_ne!(metrics.port(), public.port());
    let mut tls = connect(&roots, public.port()).await.unwrap();
    let (status, body) = get(&mut tls, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found", "{body}");
    assert_eq!(get(&mut tls, "/healthz").await.0, "HTTP/1.1 200 OK");
    let mut plain = TcpStream::connect(metrics).await.unwrap();
    let (status, body) = get(&mut plain, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        body.contains("payseal_connections_accepted_total"),
        "{body}"
    );
    // The public 404 was counted, seen from the private listener.
    assert!(
        body.contains("route=\"other\",status=\"404\""),
        "the public /metrics 404 is not counted:\n{body}"
    );
    let (status, _) = get(&mut plain, "/v1/keys").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    // Nothing of the API on the metrics listener, and no TLS there.
    let tls_there = tokio::time::timeout(Duration::from_secs(5), connect(&roots, metrics.port()))
        .await
        .expect("the metrics listener answered a TLS hello");
    assert!(tls_there.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_server_sheds_idle_connections_and_keeps_serving() {
    let state = StateDir::new();
    let roots = [ca_signed_tls(&state)];
    // Long timeouts: only shedding can free descriptors here.
    let text = std::fs::read_to_string(&state.paths.config).unwrap();
    let text = text.replacen(
        "request_timeout_ms = 10000",
        "request_timeout_ms = 10000\nhandshake_timeout_ms = 600000\nidle_timeout_ms = 600000",
        1,
    );
    std::fs::write(&state.paths.config, text).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = state.dir.path().join("serve-fd.log");
    // 64 descriptors: the flood below exhausts them.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" serve --config \"$1\"")
        .arg(common::bin())
        .arg(&state.paths.config)
        .env("PAYSEAL_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !read_log().contains("verifier listening") {
        assert!(
            child.try_wait().unwrap().is_none(),
            "exited:\n{}",
            read_log()
        );
        assert!(
            std::time::Instant::now() < deadline,
            "not listening:\n{}",
            read_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut flood = Vec::new();
    for i in 0..100u8 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::from(([127, 0, 0, 2 + i % 2], 0)))
            .unwrap();
        flood.push(
            socket
                .connect(SocketAddr::from(([127, 0, 0, 1], port)))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut tls = tokio::time::timeout(Duration::from_secs(20), connect(&roots, port))
        .await
        .expect("no TLS connection while out of descriptors")
        .unwrap();
    assert_eq!(get(&mut tls, "/healthz").await.0, "HTTP/1.1 200 OK");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server exited:\n{}",
        read_log()
    );
    let log_text = read_log();
    assert!(
        log_text.contains("accept failed"),
        "descriptors never ran out:\n{log_text}"
    );
    drop(flood);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit {status}:\n{}", read_log());
}

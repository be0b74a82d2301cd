//! `payseal-verifier serve` as a real child process, and a client that seals requests to it:
//! for the tests that run several instances on one PostgreSQL database.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use payseal_protocol::envelope::{self, KeyConfig};
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{Outcome, Receipt, Redemption, VerdictClaims};
use payseal_verifier::server::REQUEST_CONTENT_TYPE;

use super::{bin, client_for, open_verdict, request, StateDir, APP};

/// One `payseal-verifier serve` process on a free loopback port, its stderr in a log file.
pub struct Instance {
    /// Shown in failure messages.
    pub name: &'static str,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Instance {
    /// Start `serve` on the state's config; `ledger_url` overrides the config's ledger
    /// (`PAYSEAL_LEDGER`), `None` keeps the config's own.
    pub fn spawn(name: &'static str, state: &StateDir, ledger_url: Option<&str>) -> Self {
        Self::spawn_args(name, state, ledger_url, &[])
    }

    /// [`Self::spawn`] with extra command-line arguments (e.g. `--log-format json`).
    pub fn spawn_args(
        name: &'static str,
        state: &StateDir,
        ledger_url: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = state.dir.path().join(format!("serve-{name}.log"));
        let mut command = Command::new(bin());
        command
            .args(["serve", "--config"])
            .arg(&state.paths.config)
            .args(extra)
            .env("PAYSEAL_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        match ledger_url {
            Some(url) => command.env("PAYSEAL_LEDGER", url),
            None => command.env_remove("PAYSEAL_LEDGER"),
        };
        Self {
            name,
            child: command.spawn().unwrap(),
            port,
            log,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Send `signal` (e.g. `HUP`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Wait until the log contains `needle` `count` times (10 s at most).
    pub fn wait_log(&self, needle: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.log_text().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "{}: {needle:?} not logged {count} time(s):\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// `http://ADDR/metrics` of its private metrics listener, read from its log (the dev
    /// configuration puts it on a free loopback port; 10 s at most).
    pub fn metrics_url(&self) -> String {
        self.wait_log("metrics listening", 1);
        let text = self.log_text();
        let line = text
            .lines()
            .find(|l| l.contains("metrics listening"))
            .unwrap();
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .unwrap_or_else(|| panic!("{}: no addr= in {line:?}", self.name))
            .trim_matches('"');
        format!("http://{addr}/metrics")
    }

    /// What the process has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until `/readyz` answers 200 (60 s at most); fails with the log if the process exits.
    pub async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}):\n{}", self.name, self.log_text());
            }
            if let Ok(r) = http.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready in 60 s:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait for a clean exit (30 s at most).
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exit {status}:\n{}",
                    self.name,
                    self.log_text()
                );
                return;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Seals requests to the instances' (shared) keys and checks their verdicts.
#[derive(Clone)]
pub struct SealingClient {
    /// Trusts the state's TLS certificate.
    pub http: reqwest::Client,
    key_config: KeyConfig,
    verdicts: Arc<VerdictVerifier>,
}

impl SealingClient {
    /// A client for the keys and certificate of `state`.
    pub fn new(state: &StateDir) -> Self {
        let settings = state.settings();
        Self {
            http: client_for(&state.paths.tls_cert),
            key_config: settings.hpke_keys[0].config(),
            verdicts: Arc::new(VerdictVerifier::new(
                settings
                    .verdict_keys
                    .iter()
                    .map(|k| k.public_key())
                    .collect(),
            )),
        }
    }

    /// Submit `receipt` for `account` to the instance at `base`; the verdict, checked (nonce, sub).
    pub async fn verify(&self, base: &str, account: &str, receipt: &Receipt) -> VerdictClaims {
        let req = request(APP, account, receipt);
        let (body, ctx) =
            envelope::seal_request(&self.key_config, &serde_json::to_vec(&req).unwrap()).unwrap();
        let response = self
            .http
            .post(format!("{base}/v1/verify"))
            .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{base}");
        let claims = open_verdict(&self.verdicts, ctx, &response.bytes().await.unwrap());
        assert_eq!(claims.nonce, req.nonce);
        assert_eq!(claims.sub, account);
        claims
    }

    /// `account`'s checked entitlements document from the instance at `base`
    /// ([`super::entitlements_at`]).
    pub async fn entitlements(
        &self,
        base: &str,
        account: &str,
    ) -> payseal_protocol::entitlements::EntitlementsClaims {
        super::entitlements_at(&self.http, base, &self.key_config, &self.verdicts, account).await
    }

    /// [`Self::verify`], asserting `paid / first`.
    pub async fn first(&self, base: &str, account: &str, receipt: &Receipt) -> VerdictClaims {
        let v = self.verify(base, account, receipt).await;
        assert_eq!(
            (v.outcome, v.redemption),
            (Outcome::Paid, Some(Redemption::First)),
            "{account} through {base}"
        );
        v
    }
}

//! The real `payseal-verifier` binary as a child process, for tests that kill it (SIGKILL) and
//! start it again on the same ledger.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{bin, client_for, StateDir};

/// A `payseal-verifier serve` child process, killed (SIGKILL) and reaped when dropped.
pub struct Serve(pub Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `payseal-verifier serve` on `state`'s config at 127.0.0.1:`port`, its stderr in
/// `log` in the state directory, and wait until `/readyz` answers 200.
pub async fn serve(state: &StateDir, port: u16, log: &str) -> Serve {
    let log = state.dir.path().join(log);
    let mut child = Serve(
        Command::new(bin())
            .args(["serve", "--config"])
            .arg(&state.paths.config)
            .env("PAYSEAL_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = client_for(&state.paths.tls_cert);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "verifier exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let ready = client
            .get(format!("https://127.0.0.1:{port}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if ready {
            return child;
        }
        assert!(Instant::now() < deadline, "verifier not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Verify `receipt` for `account` of [`super::APP`] at the verifier listening on
/// 127.0.0.1:`port` with `state`'s keys and certificate; the verdict's claims (`200` asserted).
pub async fn verify_at(
    state: &StateDir,
    port: u16,
    account: &str,
    receipt: &payseal_protocol::Receipt,
) -> payseal_protocol::VerdictClaims {
    let settings = state.settings();
    let verdicts = payseal_protocol::verdict::VerdictVerifier::new(
        settings
            .verdict_keys
            .iter()
            .map(|k| k.public_key())
            .collect(),
    );
    let req = super::request(super::APP, account, receipt);
    let (body, ctx) = payseal_protocol::envelope::seal_request(
        &settings.hpke_keys[0].config(),
        &serde_json::to_vec(&req).unwrap(),
    )
    .unwrap();
    let response = client_for(&state.paths.tls_cert)
        .post(format!("https://127.0.0.1:{port}/v1/verify"))
        .header(
            reqwest::header::CONTENT_TYPE,
            payseal_verifier::server::REQUEST_CONTENT_TYPE,
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    super::open_verdict(&verdicts, ctx, &response.bytes().await.unwrap())
}

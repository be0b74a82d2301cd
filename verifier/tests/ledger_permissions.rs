//! The SQLite ledger holds every buyer's account id: `dev` and `serve`, run as real processes
//! under the usual umask 022, create its folder 0700 and `ledger.db`, `-wal`, `-shm` 0600, and
//! refuse to start on ledger files other local users can open.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{bin, client_for, free_port, StateDir};

/// The verifier run by `sh` after `umask 022`, the common default that made these files 0644.
fn verifier_under_umask_022() -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"umask 022 && exec "$0" "$@""#)
        .arg(bin())
        .stdin(Stdio::null());
    command
}

/// The permission bits of `path`, as octal text (so a failure reads `755`, not `493`).
fn mode(path: &Path) -> String {
    let bits = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", bits & 0o777)
}

fn sibling(db: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", db.display()))
}

/// Kills the process if a test fails before stopping it.
struct Running(Child);

impl Running {
    /// Poll `https://127.0.0.1:PORT/readyz` (trusting `cert`) until 200, at most 60 s.
    async fn wait_ready(&mut self, port: u16, cert: &Path) {
        let http = client_for(cert);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                panic!("the verifier exited before it was ready: {status}");
            }
            if let Ok(r) = http
                .get(format!("https://127.0.0.1:{port}/readyz"))
                .send()
                .await
            {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "not ready within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM and wait for a clean exit.
    fn stop(mut self) {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                assert!(status.success(), "exit {status}");
                return;
            }
            assert!(Instant::now() < deadline, "did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The ledger and its two WAL files exist while the server runs, and are all 0600.
fn assert_private_ledger(db: &Path) {
    for file in [db.to_path_buf(), sibling(db, "-wal"), sibling(db, "-shm")] {
        assert_eq!(mode(&file), "600", "{}", file.display());
    }
}

/// Wait until the last connection to `db` has closed (its writer thread ends after the ledger
/// is dropped): SQLite then checkpoints and removes the `-wal` file.
fn wait_closed(db: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sibling(db, "-wal").exists() {
        assert!(Instant::now() < deadline, "{} stayed open", db.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run a command that must refuse to start; returns its output (60 s at most).
fn run_to_exit(mut command: Command) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("the verifier started instead of refusing");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_with_a_new_state_folder_makes_it_0700_and_the_ledger_files_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new/state");
    let mut child = verifier_under_umask_022()
        .args(["dev", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut running = Running(child);
    let mut port = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            port = url.trim().rsplit(':').next().and_then(|p| p.parse().ok());
            break;
        }
    }
    let port: u16 = port.expect("dev printed its URL");
    running.wait_ready(port, &dir.join("tls/cert.pem")).await;

    // The umask was in effect: an ordinary file dev writes is 0644.
    assert_eq!(mode(&dir.join("verifier.toml")), "644");
    assert_eq!(mode(&dir), "700", "the state folder");
    assert_eq!(mode(&tmp.path().join("new")), "700", "a parent dev created");
    assert_private_ledger(&dir.join("ledger.db"));
    running.stop();
    assert_eq!(mode(&dir.join("ledger.db")), "600");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_a_new_ledger_path_makes_its_folder_0700_and_files_0600() {
    let state = StateDir::new();
    let db = state.dir.path().join("var/lib/payseal/ledger.db");
    let port = free_port();
    let child = verifier_under_umask_022()
        .args(["serve", "--config"])
        .arg(&state.paths.config)
        .env("PAYSEAL_LISTEN", format!("127.0.0.1:{port}"))
        .env("PAYSEAL_LEDGER", format!("sqlite:{}", db.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    running.wait_ready(port, &state.paths.tls_cert).await;

    for folder in ["var", "var/lib", "var/lib/payseal"] {
        assert_eq!(mode(&state.dir.path().join(folder)), "700", "{folder}");
    }
    assert_private_ledger(&db);
    running.stop();
}

#[test]
fn serve_refuses_an_existing_world_readable_ledger_and_leaves_it_as_it_is() {
    let state = StateDir::new();
    drop(state.ledger());
    let db = &state.paths.ledger;
    wait_closed(db);
    std::fs::set_permissions(db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(db).unwrap();

    let mut command = verifier_under_umask_022();
    command
        .args(["serve", "--config"])
        .arg(&state.paths.config)
        .env("PAYSEAL_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env_remove("PAYSEAL_LEDGER");
    let output = run_to_exit(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&db.display().to_string()), "{stderr}");
    assert!(stderr.contains("mode 0644"), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");

    assert_eq!(mode(db), "644", "the file is not changed");
    assert!(
        std::fs::read(db).unwrap() == before,
        "the file is not changed"
    );
    assert!(!sibling(db, "-wal").exists(), "SQLite never opened it");
}

#[test]
fn dev_refuses_a_group_readable_wal_file_beside_a_private_ledger() {
    let state = StateDir::new();
    drop(state.ledger());
    wait_closed(&state.paths.ledger);
    let wal = sibling(&state.paths.ledger, "-wal");
    std::fs::write(&wal, b"").unwrap();
    std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o640)).unwrap();

    let mut command = verifier_under_umask_022();
    command
        .args(["dev", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(&state.paths.dir);
    let output = run_to_exit(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&wal.display().to_string()), "{stderr}");
    assert!(stderr.contains("mode 0640"), "{stderr}");
    assert_eq!(mode(&wal), "640");
    assert_eq!(mode(&state.paths.ledger), "600");
}

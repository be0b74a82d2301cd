//! What the newcomer tests share (`quickstart.rs`, `config_mistakes.rs`): the workspace's other
//! programs a user runs next to the verifier (`payseal-client`, `payseal-sandbox`), commands run
//! as a user runs them, a served verifier process, and a sandbox store. Needs `mod common;`
//! beside it in the test file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The verifier binary under test.
pub fn verifier_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_payseal-verifier"))
}

/// The folder cargo put the workspace's binaries in (the verifier's own).
fn bin_dir() -> PathBuf {
    verifier_bin()
        .parent()
        .expect("the binary has a folder")
        .to_path_buf()
}

/// Build `payseal-client` (feature `cli`) and `payseal-sandbox` into the verifier's folder, once
/// per test binary (cargo makes it a no-op when they are fresh), and return that folder.
pub fn companions() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = bin_dir();
        // target/<profile>/ → target/
        let target_dir = dir.parent().expect("target/<profile>/").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        for args in [
            &[
                "-p",
                "payseal-sdk-core",
                "--features",
                "cli",
                "--bin",
                "payseal-client",
            ][..],
            &["-p", "payseal-sandbox", "--bin", "payseal-sandbox"][..],
        ] {
            let out = Command::new(&cargo)
                .arg("build")
                .arg("--manifest-path")
                .arg(&manifest)
                .arg("--target-dir")
                .arg(&target_dir)
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("cannot run {cargo} build: {e}"));
            assert!(
                out.status.success(),
                "cargo build {args:?} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for name in ["payseal-client", "payseal-sandbox"] {
            assert!(dir.join(name).is_file(), "{name} was not built in {dir:?}");
        }
        dir
    })
}

/// `payseal-client`, built.
pub fn client_bin() -> PathBuf {
    companions().join("payseal-client")
}

/// Run `program args` and return (exit code, stdout, stderr).
pub fn run(program: &Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run `payseal-verifier args`.
pub fn verifier(args: &[&str]) -> (i32, String, String) {
    run(&verifier_bin(), args)
}

/// The value printed after `label` on a line of `stdout` (e.g. `backup pin:`).
pub fn printed(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(|rest| rest.trim().to_string())
        .unwrap_or_else(|| panic!("no {label:?} in:\n{stdout}"))
}

/// Replace the one occurrence of `from` in `text` (a documented edit: it must match once).
pub fn edit_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the text to edit must hold {from:?} exactly once"
    );
    text.replacen(from, to, 1)
}

pub use crate::common::free_port;

/// A copy of the test binary's shared sandbox store (made once: RSA key generation is slow in
/// debug builds) in `dir`.
pub fn sandbox_store_in(dir: &Path) -> payseal_sandbox::SandboxStore {
    crate::common::copy_dir(crate::common::template_store(), dir);
    payseal_sandbox::SandboxStore::open_or_create(dir).unwrap()
}

/// A `payseal-verifier` process serving (`serve` or `dev`); stopped with SIGTERM on drop.
pub struct Served {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    _logs: tempfile::TempDir,
}

impl Served {
    /// Start `payseal-verifier args` and wait until `https://127.0.0.1:port/healthz` answers
    /// (trusting `cert_pem`), or the process exits (then panic with its stderr).
    pub fn start(args: &[&str], port: u16, cert_pem: &Path) -> Self {
        let logs = tempfile::tempdir().unwrap();
        let stdout = logs.path().join("stdout.txt");
        let stderr = logs.path().join("stderr.txt");
        let child = Command::new(verifier_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let mut served = Self {
            child,
            stdout,
            stderr,
            _logs: logs,
        };
        served.wait_ready(port, cert_pem);
        served
    }

    fn wait_ready(&mut self, port: u16, cert_pem: &Path) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the verifier exited ({status}): {}", self.stderr_text());
            }
            if healthz(port, cert_pem) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the verifier did not answer within 60 s: {}",
            self.stderr_text()
        );
    }

    /// What it wrote on stdout so far.
    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// What it wrote on stderr so far.
    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then wait (at most 10 s) for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        if let Some(status) = self.child.try_wait().unwrap() {
            return status;
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Whether `GET https://127.0.0.1:port/healthz` (certificate `cert_pem`, name `localhost`)
/// answers 200.
fn healthz(port: u16, cert_pem: &Path) -> bool {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    });
    payseal_verifier::install_crypto_provider();
    let Ok(pem) = std::fs::read(cert_pem) else {
        return false; // `dev` has not written it yet
    };
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    rt.block_on(async {
        client
            .get(format!("https://localhost:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
}

/// The app id of the example configuration (a user puts their own; the test keeps it).
pub const EXAMPLE_APP: &str = "com.example.game";

/// The example configuration as shipped.
pub fn example_config() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml"))
        .unwrap()
}

/// A genuine production Play purchase of `EXAMPLE_APP`, signed by `store`'s Play key, written
/// where `payseal-client --receipt` reads it.
pub fn play_purchase(store: &payseal_sandbox::SandboxStore, path: &Path) {
    let order = payseal_sandbox::Order {
        environment: payseal_protocol::Environment::Production,
        ..payseal_sandbox::Order::new(payseal_protocol::Store::GooglePlay, EXAMPLE_APP, "gems_100")
    };
    let receipt = store.issue(&order).unwrap();
    std::fs::write(path, serde_json::to_string(&receipt).unwrap()).unwrap();
}

/// The docs' edit step, done on the example file as the docs tell a user: every `# EDIT` line
/// of `[server]` and `[ledger]`, the Apple root, and the app's store keys (here from a sandbox
/// store standing in for the Play Console, AppGallery Connect and Apple).
pub fn edited_example(
    etc: &Path,
    port: u16,
    backup_pin: &str,
    store: &payseal_sandbox::SandboxStore,
) -> String {
    let text = example_config();
    let text = edit_once(
        &text,
        "listen = \"0.0.0.0:8443\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let text = edit_once(
        &text,
        "public_url = \"https://verify.example.com:8443\"",
        &format!("public_url = \"https://localhost:{port}\""),
    );
    let text = edit_once(
        &text,
        "backup_pins = [\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]",
        &format!("backup_pins = [\"{backup_pin}\"]"),
    );
    // Tests run side by side: the metrics listener takes a free port rather than 9464.
    let text = edit_once(
        &text,
        "metrics_listen = \"127.0.0.1:9464\"",
        "metrics_listen = \"127.0.0.1:0\"",
    );
    let text = edit_once(
        &text,
        "url = \"sqlite:/var/lib/payseal/ledger.db\"",
        &format!("url = \"sqlite:{}\"", etc.join("data/ledger.db").display()),
    );
    // The App Store root: Apple's G3 in production, the sandbox store's test root here, saved
    // where the example names it, with its fingerprint.
    std::fs::copy(store.app_store_root_path(), etc.join("AppleRootCA-G3.pem")).unwrap();
    let text = edit_once(
        &text,
        "sha256 = \"63343abfb89a6a03ebb57e9b3f5fa7be7c4f5c756f3017b3a8c488c3653e9179\"",
        &format!("sha256 = \"{}\"", store.app_store_root_sha256()),
    );
    // The app receipt root likewise: Apple Inc. Root CA in production, the test root here.
    std::fs::copy(
        store.app_receipt_root_path(),
        etc.join("AppleIncRootCertificate.pem"),
    )
    .unwrap();
    let text = edit_once(
        &text,
        "sha256 = \"b0b1730ecbc7ff4505142c49f1295e6eda6bcaed7e2c68c5be91b5a11001f024\"",
        &format!("sha256 = \"{}\"", store.app_receipt_root_sha256()),
    );
    let text = edit_once(
        &text,
        "public_key = \"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA...REPLACE...\"",
        &format!("public_key = \"{}\"", store.google_play_public_key()),
    );
    edit_once(
        &text,
        "public_key = \"MIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEA...REPLACE...\"",
        &format!("public_key = \"{}\"", store.huawei_public_key()),
    )
}

//! `payseal-verifier tls`: the serving key (reused on renewal), a CSR a CA can sign, a
//! self-signed leaf, a backup key; the SDK accepts the resulting leaves when their issuer is
//! trusted, and a renewal with the reused key keeps a shipped profile working.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{bin, StateDir, APP};
use payseal_protocol::Store;
use payseal_sdk_core::{default_options, PaySeal};
use payseal_verifier::server::Server;
use payseal_verifier::settings::TlsFiles;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

fn tls_cmd(out: &Path, hosts: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("tls").arg("--out").arg(out);
    for h in hosts {
        cmd.args(["--host", h]);
    }
    let o = cmd.output().unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The value printed after `label:`.
fn printed(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|rest| rest.trim().to_string())
        .unwrap_or_else(|| panic!("no {label} in {stdout}"))
}

fn der_of(pem_path: &Path) -> Vec<u8> {
    let text = std::fs::read(pem_path).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text).unwrap();
    pem.contents
}

fn dns_names(ext: &ParsedExtension) -> Vec<String> {
    match ext {
        ParsedExtension::SubjectAlternativeName(san) => san
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => format!("ip:{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect(),
        _ => vec![],
    }
}

/// A private CA that signs a leaf for the key in `key_pem` naming `hosts`, as a CA would from
/// the CSR (same public key, the CSR's names).
struct TestCa {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl TestCa {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "PaySeal test CA");
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    fn issue(&self, key_pem: &Path, hosts: &[&str], out: &Path) -> PathBuf {
        let subject = rcgen::KeyPair::from_pem(&std::fs::read_to_string(key_pem).unwrap()).unwrap();
        let mut params =
            rcgen::CertificateParams::new(hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params.signed_by(&subject, &self.cert, &self.key).unwrap();
        std::fs::write(out, leaf.pem() + &self.cert.pem()).unwrap();
        out.to_path_buf()
    }
}

/// Serve `state`'s verifier with `tls` on a free port named `localhost`; returns the profile it
/// publishes and a stop handle.
async fn serve(
    state: &StateDir,
    tls: TlsFiles,
    backup_pin: &str,
    port: u16,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let mut settings = payseal_verifier::config::load_with_env(&state.paths.config, |name| {
        (name == payseal_verifier::config::ENV_PUBLIC_URL)
            .then(|| format!("https://localhost:{port}"))
    })
    .unwrap();
    settings.listen = format!("127.0.0.1:{port}").parse().unwrap();
    settings.tls = tls;
    settings.backup_pins = vec![backup_pin.to_string()];
    let profile = payseal_verifier::profile::build(&settings)
        .unwrap()
        .to_json();
    let ledger = payseal_verifier::ledger::connect(&settings.ledger_url, &settings.ledger)
        .await
        .unwrap();
    let server = Server::bind_with_ledger(settings, ledger).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (profile, tx, task)
}

fn sdk(profile: &str, root_pem: String) -> Arc<PaySeal> {
    let mut options = default_options(APP.into());
    options.extra_roots_pem = vec![root_pem];
    options.max_attempts = 1;
    PaySeal::new(profile.to_string(), options).unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn tls_writes_a_leaf_csr_and_keys_and_reuses_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tls");
    let (code, stdout, stderr) = tls_cmd(&out, &["verify.example.com", "127.0.0.1"]);
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert!(stdout.contains("(new)"), "{stdout}");
    let pin = printed(&stdout, "pin:");
    let backup_pin = printed(&stdout, "backup pin:");
    assert_ne!(pin, backup_pin);
    #[cfg(unix)]
    for key in ["privkey.pem", "backup-key.pem"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{key}");
    }

    // The CSR parses, its signature verifies, and it carries the key and the names.
    let csr_der = der_of(&out.join("request.csr.pem"));
    let (_, csr) =
        x509_parser::certification_request::X509CertificationRequest::from_der(&csr_der).unwrap();
    csr.verify_signature().unwrap();
    let info = &csr.certification_request_info;
    assert_eq!(
        payseal_protocol::pin::spki_pin(info.subject_pki.raw),
        pin,
        "the CSR asks for the serving key"
    );
    assert!(info.subject.to_string().contains("CN=verify.example.com"));
    let names: Vec<String> = csr
        .requested_extensions()
        .into_iter()
        .flatten()
        .flat_map(dns_names)
        .collect();
    assert!(
        names.contains(&"verify.example.com".to_string()),
        "{names:?}"
    );
    assert!(names.iter().any(|n| n.starts_with("ip:")), "{names:?}");

    // The self-signed certificate is a leaf: CA:FALSE, serverAuth, the same key.
    let leaf_der = der_of(&out.join("selfsigned.pem"));
    let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
    let bc = leaf
        .basic_constraints()
        .unwrap()
        .expect("basicConstraints present");
    assert!(!bc.value.ca, "CA:FALSE");
    assert!(
        leaf.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );
    assert_eq!(payseal_protocol::pin::spki_pin(leaf.public_key().raw), pin);

    // A second run (renewal) reuses both keys: same pins, a new CSR for the same key.
    let (code, stdout, _) = tls_cmd(&out, &["verify.example.com", "127.0.0.1"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("reused: pin unchanged"), "{stdout}");
    assert_eq!(printed(&stdout, "pin:"), pin);
    assert_eq!(printed(&stdout, "backup pin:"), backup_pin);

    // Usage errors: no host (clap), a host that is no name; a key file that is not a key.
    let (code, _, stderr) = tls_cmd(&dir.path().join("x"), &[]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = tls_cmd(&dir.path().join("y"), &["a/b"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        !dir.path().join("y").exists(),
        "nothing written on bad input"
    );
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("privkey.pem"), "not a key").unwrap();
    let (code, _, stderr) = tls_cmd(&bad, &["localhost"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not a usable private key"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_accepts_the_leaves_and_a_renewal_keeps_the_pin() {
    payseal_verifier::tls::install_crypto_provider();
    let state = StateDir::new();
    let out = state.dir.path().join("prod-tls");
    let (code, stdout, stderr) = tls_cmd(&out, &["localhost", "127.0.0.1"]);
    assert_eq!(code, 0, "{stderr}");
    let backup_pin = printed(&stdout, "backup pin:");
    let key = out.join("privkey.pem");
    let receipt = state.issue(Store::GooglePlay);

    // 1. A CA-signed leaf for the CSR's key; the SDK trusts the CA (as it trusts a public CA).
    let ca = TestCa::new();
    let chain = ca.issue(
        &key,
        &["localhost", "127.0.0.1"],
        &out.join("fullchain.pem"),
    );
    let port = free_port();
    let tls = TlsFiles {
        cert_pem: chain,
        key_pem: key.clone(),
    };
    let (profile, stop, task) = serve(&state, tls, &backup_pin, port).await;
    assert!(profile.contains(&printed(&stdout, "pin:")), "{profile}");
    let v = sdk(&profile, ca.cert.pem())
        .verify(receipt.clone(), "alice".into())
        .await
        .unwrap();
    assert!(v.paid, "{v:?}");
    let _ = stop.send(());
    task.await.unwrap();

    // 2. Renewal: `tls` again reuses the key, the CA signs a new certificate, the old profile
    //    (shipped in the app) still verifies.
    let (code, stdout2, _) = tls_cmd(&out, &["localhost", "127.0.0.1"]);
    assert_eq!(code, 0);
    assert!(stdout2.contains("reused"), "{stdout2}");
    let renewed = ca.issue(
        &key,
        &["localhost", "127.0.0.1"],
        &out.join("fullchain-2.pem"),
    );
    assert_ne!(
        std::fs::read(&renewed).unwrap(),
        std::fs::read(out.join("fullchain.pem")).unwrap()
    );
    let tls = TlsFiles {
        cert_pem: renewed,
        key_pem: key.clone(),
    };
    let (_, stop, task) = serve(&state, tls, &backup_pin, port).await;
    let v = sdk(&profile, ca.cert.pem())
        .verify(receipt.clone(), "alice".into())
        .await
        .unwrap();
    assert!(v.paid, "renewed certificate, same key, old profile: {v:?}");
    // The CA is what makes the chain trusted: without it the SDK refuses (network, kept pending).
    let mut untrusted = default_options(APP.into());
    untrusted.max_attempts = 1;
    let err = PaySeal::new(profile.clone(), untrusted)
        .unwrap()
        .verify(receipt.clone(), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind().as_str(), "network", "{err}");
    let _ = stop.send(());
    task.await.unwrap();

    // 3. The self-signed leaf, trusted as such (a private deployment): accepted too.
    let self_signed = out.join("selfsigned.pem");
    let tls = TlsFiles {
        cert_pem: self_signed.clone(),
        key_pem: key,
    };
    let (_, stop, task) = serve(&state, tls, &backup_pin, port).await;
    let v = sdk(&profile, std::fs::read_to_string(&self_signed).unwrap())
        .verify(receipt, "alice".into())
        .await
        .unwrap();
    assert!(v.paid, "{v:?}");
    let _ = stop.send(());
    task.await.unwrap();
}

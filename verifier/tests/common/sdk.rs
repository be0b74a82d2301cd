//! The real SDK (`payseal-sdk-core`) against a test verifier: a CA-signed `localhost`
//! certificate in the state's TLS files (the SDK checks the chain AND the pin), and a profile
//! for the settings.

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, KeyUsagePurpose};

use super::StateDir;

/// A CA the SDK is told to trust, and a `localhost` leaf from it written over the state's TLS
/// files (certificate chain and `key.pem`). Returns the CA certificate PEM.
pub fn ca_signed_tls(state: &StateDir) -> String {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    std::fs::write(&state.paths.tls_cert, format!("{}{}", leaf.pem(), ca.pem())).unwrap();
    std::fs::write(
        state.paths.tls_cert.with_file_name("key.pem"),
        leaf_key.serialize_pem(),
    )
    .unwrap();
    ca.pem()
}

/// The state's settings listening on a free loopback port with a `https://localhost:PORT`
/// public URL (what the SDK's profile names).
pub fn settings_on_free_port(state: &StateDir) -> payseal_verifier::settings::Settings {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut settings = payseal_verifier::config::load_with_env(&state.paths.config, |name| {
        (name == payseal_verifier::config::ENV_PUBLIC_URL)
            .then(|| format!("https://localhost:{port}"))
    })
    .unwrap();
    settings.listen = format!("127.0.0.1:{port}").parse().unwrap();
    settings
}

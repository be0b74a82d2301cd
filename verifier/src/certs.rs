//! Production TLS material (`payseal-verifier tls`): the serving key, a CSR for a CA, a
//! self-signed leaf, and a backup key, made so the SDK's pins survive renewals.
//!
//! The SDK pins the SPKI (the key), not the certificate: renewing with the same key keeps every
//! shipped profile valid. So the key file is made once and reused on every later run (a new CSR
//! for the same key); the backup key, whose pin the profile carries too, is what to move to when
//! the serving key must change. Every certificate made here is a leaf (`CA:FALSE`, serverAuth,
//! the hosts as subjectAltName), the kind rustls/webpki accepts as an end entity.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use zeroize::Zeroizing;

/// The serving key's file name in the output folder.
pub const KEY_FILE: &str = "privkey.pem";
/// The CSR's file name.
pub const CSR_FILE: &str = "request.csr.pem";
/// The self-signed leaf's file name.
pub const SELF_SIGNED_FILE: &str = "selfsigned.pem";
/// The backup key's file name.
pub const BACKUP_KEY_FILE: &str = "backup-key.pem";

/// Why the TLS material could not be made. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An existing key file is not a usable private key.
    #[error("{path}: not a usable private key (PKCS#8 PEM, ECDSA P-256/P-384, Ed25519 or RSA): {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// No host, or a host that cannot be a subjectAltName.
    #[error("host names: {0}")]
    Hosts(String),
    /// The certificate or CSR could not be made.
    #[error("cannot make the certificate: {0}")]
    Generate(String),
}

/// What `payseal-verifier tls` wrote.
#[derive(Debug)]
pub struct TlsOutput {
    /// The serving key (mode 0600).
    pub key: PathBuf,
    /// True when the key file existed and was reused (its pin is unchanged).
    pub key_reused: bool,
    /// The CSR to give a CA (certbot `--csr`, an ACME client, an internal CA).
    pub csr: PathBuf,
    /// A self-signed leaf for the same key (for a private deployment or until the CA answers).
    pub self_signed: PathBuf,
    /// The backup key (mode 0600; made once, never overwritten).
    pub backup_key: PathBuf,
    /// `sha256/<base64>` pin of the serving key.
    pub pin: String,
    /// `sha256/<base64>` pin of the backup key (put it in `server.backup_pins`).
    pub backup_pin: String,
}

/// The leaf's parameters: `CA:FALSE`, digitalSignature, serverAuth, the hosts as SAN, CN the
/// first host, valid from now for `days`.
pub fn leaf_params(hosts: &[String], days: u32) -> Result<CertificateParams, CertError> {
    let Some(first) = hosts.first() else {
        return Err(CertError::Hosts("give at least one --host".into()));
    };
    if let Some(bad) = hosts
        .iter()
        .find(|h| h.trim().is_empty() || h.contains('/'))
    {
        return Err(CertError::Hosts(format!("{bad:?} is not a host name")));
    }
    let mut params =
        CertificateParams::new(hosts.to_vec()).map_err(|e| CertError::Hosts(e.to_string()))?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, first.as_str());
    params.distinguished_name = name;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(i64::from(days.clamp(1, 3650)));
    Ok(params)
}

/// A CSR (PEM) for `key` naming `hosts`.
pub fn csr_pem(key: &KeyPair, hosts: &[String]) -> Result<String, CertError> {
    let leaf = leaf_params(hosts, 1)?;
    // What a CSR carries: the names, the subject and the usages; CA:FALSE and the validity
    // are the CA's to set (rcgen refuses them in a request).
    let mut params =
        CertificateParams::new(hosts.to_vec()).map_err(|e| CertError::Hosts(e.to_string()))?;
    params.distinguished_name = leaf.distinguished_name;
    params.key_usages = leaf.key_usages;
    params.extended_key_usages = leaf.extended_key_usages;
    params
        .serialize_request(key)
        .and_then(|csr| csr.pem())
        .map_err(|e| CertError::Generate(e.to_string()))
}

/// A self-signed leaf (PEM) for `key` naming `hosts`, valid `days`.
pub fn self_signed_pem(key: &KeyPair, hosts: &[String], days: u32) -> Result<String, CertError> {
    leaf_params(hosts, days)?
        .self_signed(key)
        .map(|c| c.pem())
        .map_err(|e| CertError::Generate(e.to_string()))
}

/// Write (or reuse) the serving key, then the CSR and self-signed leaf for `hosts`, and make the
/// backup key if missing, all in `dir`.
pub fn generate_into(dir: &Path, hosts: &[String], days: u32) -> Result<TlsOutput, CertError> {
    leaf_params(hosts, days)?; // bad hosts stop before anything is written
    fs::create_dir_all(dir).map_err(io(dir))?;
    let key_path = dir.join(KEY_FILE);
    let (key, key_reused) = load_or_create(&key_path)?;
    let backup_path = dir.join(BACKUP_KEY_FILE);
    let (backup, _) = load_or_create(&backup_path)?;
    let csr = dir.join(CSR_FILE);
    write_public(&csr, &csr_pem(&key, hosts)?)?;
    let self_signed = dir.join(SELF_SIGNED_FILE);
    write_public(&self_signed, &self_signed_pem(&key, hosts, days)?)?;
    Ok(TlsOutput {
        key: key_path,
        key_reused,
        csr,
        self_signed,
        backup_key: backup_path,
        pin: payseal_protocol::pin::spki_pin(&key.public_key_der()),
        backup_pin: payseal_protocol::pin::spki_pin(&backup.public_key_der()),
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The key at `path` if it exists, else a new ECDSA P-256 key written there with mode 0600.
fn load_or_create(path: &Path) -> Result<(KeyPair, bool), CertError> {
    match fs::read_to_string(path) {
        Ok(pem) => {
            let pem = Zeroizing::new(pem);
            let key = KeyPair::from_pem(&pem).map_err(|e| CertError::Key {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            Ok((key, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = KeyPair::generate().map_err(|e| CertError::Generate(e.to_string()))?;
            let pem = Zeroizing::new(key.serialize_pem());
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(io(path))?;
            file.write_all(pem.as_bytes()).map_err(io(path))?;
            file.sync_all().map_err(io(path))?;
            Ok((key, false))
        }
        Err(e) => Err(CertError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

fn write_public(path: &Path, text: &str) -> Result<(), CertError> {
    fs::write(path, text).map_err(io(path))
}

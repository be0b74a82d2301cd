//! TLS: the rustls server configuration from PEM files (ring provider), reloadable in place
//! (SIGHUP), SPKI pins of the served certificate, and self-signed material for development.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::settings::TlsFiles;

/// Why TLS material could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file cannot be read or holds no certificate.
    #[error("{path}: {reason}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The key file cannot be read, holds no private key, or does not match the certificate.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why (never key material).
        reason: String,
    },
    /// The private key is not the key of the certificate (another key's file, or the files of
    /// two different runs).
    #[error(
        "{key}: this private key does not match the certificate in {cert} (the certificate was \
         made for another key): use the key file the certificate was issued for, or make both \
         again (`payseal-verifier tls` writes privkey.pem and selfsigned.pem / request.csr.pem \
         for the same key)"
    )]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// The certificate does not name the host of the public URL, so the SDK would refuse it.
    #[error(
        "the certificate in {cert} does not name {host:?}, the host of {url} (it names: \
         {names}); the SDK checks the host, so every app would fail to connect: make the \
         certificate for this host (`payseal-verifier tls --host {host}`) or set the URL to a \
         host it names"
    )]
    NameMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The public URL.
        url: String,
        /// Its host.
        host: String,
        /// The names the certificate carries (subjectAltName), comma-separated.
        names: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Rustls(String),
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(String),
}

/// Install the ring crypto provider as the process default (idempotent).
pub fn install_crypto_provider() {
    // Err only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Read the certificate chain (leaf first) from a PEM file.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let cert_err = |reason: String| TlsError::Cert {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| cert_err(e.to_string()))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(cert_err("no CERTIFICATE in the file".into()));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let key_err = |reason: String| TlsError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let pem = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| key_err(e.to_string()))?);
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|_| key_err("not PEM".into()))?
        .ok_or_else(|| key_err("no PRIVATE KEY in the file".into()))
}

/// Build the rustls server configuration (TLS 1.3 and 1.2, ALPN h2 + http/1.1) from PEM files.
pub fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, TlsError> {
    let certs = read_certs(&files.cert_pem)?;
    let key = read_key(&files.key_pem)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                key: files.key_pem.clone(),
                cert: files.cert_pem.clone(),
            },
            e => TlsError::Key {
                path: files.key_pem.clone(),
                reason: format!("cannot serve it with the certificate: {e}"),
            },
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The served TLS configuration, replaceable while connections run: a reload affects new
/// handshakes only; established connections keep the session they have.
#[derive(Debug)]
pub struct ReloadableTls {
    files: TlsFiles,
    current: RwLock<Arc<rustls::ServerConfig>>,
}

impl ReloadableTls {
    /// Load `files` now.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = Arc::new(server_config(&files)?);
        Ok(Self {
            files,
            current: RwLock::new(config),
        })
    }

    /// An acceptor with the current configuration.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let config = self.current.read().unwrap_or_else(|e| e.into_inner());
        tokio_rustls::TlsAcceptor::from(Arc::clone(&config))
    }

    /// Read the certificate and key files again and serve them to new connections. On error
    /// the configuration in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(server_config(&self.files)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    }

    /// The files it loads.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

/// The `sha256/<base64>` pin of the leaf certificate in a PEM file.
pub fn leaf_pin(cert_pem: &Path) -> Result<String, TlsError> {
    let certs = read_certs(cert_pem)?;
    payseal_protocol::pin::certificate_pin(certs[0].as_ref()).map_err(|e| TlsError::Cert {
        path: cert_pem.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Check that the leaf certificate in `cert_pem` names the host of `url`, by the SDK's own name
/// check (webpki).
pub(crate) fn check_names_url(
    cert_pem: &Path,
    url: &payseal_protocol::url::VerifierUrl,
) -> Result<(), TlsError> {
    let cert_err = |reason: String| TlsError::Cert {
        path: cert_pem.to_path_buf(),
        reason,
    };
    let host = url.host().name();
    let certs = read_certs(cert_pem)?;
    let leaf = certs[0].as_ref();
    if payseal_protocol::pin::certificate_names_host(leaf, &host)
        .map_err(|e| cert_err(e.to_string()))?
    {
        return Ok(());
    }
    Err(TlsError::NameMismatch {
        cert: cert_pem.to_path_buf(),
        url: url.to_string(),
        host,
        names: certificate_names(leaf).join(", "),
    })
}

/// The DNS names and IP addresses in a certificate's subjectAltName (for messages).
fn certificate_names(der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return vec!["(unreadable)".into()];
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return vec!["no subjectAltName".into()];
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
            GeneralName::IPAddress(ip) => match ip.len() {
                4 => <[u8; 4]>::try_from(*ip)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*ip)
                    .ok()
                    .map(|a| std::net::IpAddr::from(a).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A self-signed certificate and its key, as PEM.
#[cfg(feature = "dev")] // development mode only (`dev.rs`)
pub(crate) struct SelfSigned {
    /// Certificate PEM.
    pub cert_pem: String,
    /// Private key PEM (PKCS#8). Secret: write it with mode 0600.
    pub key_pem: zeroize::Zeroizing<String>,
}

#[cfg(feature = "dev")]
impl std::fmt::Debug for SelfSigned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfSigned").finish_non_exhaustive()
    }
}

/// A self-signed ECDSA P-256 certificate for `names` (DNS names or IP addresses).
#[cfg(feature = "dev")] // development mode only (`dev.rs`)
pub(crate) fn self_signed(names: &[&str]) -> Result<SelfSigned, TlsError> {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok(SelfSigned {
        cert_pem: certified.cert.pem(),
        key_pem: zeroize::Zeroizing::new(certified.key_pair.serialize_pem()),
    })
}

/// A fresh backup key pair: its private key PEM and its `sha256/<base64>` SPKI pin.
#[cfg(feature = "dev")] // development mode only (`dev.rs`)
pub(crate) fn backup_key() -> Result<(zeroize::Zeroizing<String>, String), TlsError> {
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let pin = payseal_protocol::pin::spki_pin(&key.public_key_der());
    Ok((zeroize::Zeroizing::new(key.serialize_pem()), pin))
}

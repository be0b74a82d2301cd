//! `[trust]`: the App Store roots, read from their files and fingerprint-checked, into the
//! rules' trust anchors.

use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{ConfigError, Resolver};
use crate::rules::{TrustAnchorError, TrustAnchors};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrust {
    #[serde(default)]
    pub(super) apple_roots: Vec<RawRoot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoot {
    pub(super) path: PathBuf,
    pub(super) sha256: String,
}

impl Resolver {
    /// `[trust]`: the App Store roots, each fingerprint-checked.
    pub(super) fn anchors(&self, trust: &RawTrust) -> Result<TrustAnchors, ConfigError> {
        let mut apple_roots = Vec::with_capacity(trust.apple_roots.len());
        for (i, root) in trust.apple_roots.iter().enumerate() {
            let key = format!("trust.apple_roots[{i}]");
            apple_roots.push(self.load_root(&key, root)?);
        }
        TrustAnchors::new(apple_roots).map_err(|e| match e {
            TrustAnchorError::NotCertificate { index } => self.invalid(
                format!("trust.apple_roots[{index}].path"),
                format!(
                    "{}: not an X.509 certificate",
                    self.path(&trust.apple_roots[index].path).display()
                ),
            ),
        })
    }

    pub(super) fn load_root(&self, key: &str, root: &RawRoot) -> Result<Vec<u8>, ConfigError> {
        let path = self.path(&root.path);
        let pem = std::fs::read(&path)
            .map_err(|e| self.invalid(format!("{key}.path"), format!("{}: {e}", path.display())))?;
        let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
            .collect::<Result<_, _>>()
            .map_err(|e| {
                self.invalid(
                    format!("{key}.path"),
                    format!("{}: not PEM: {e}", path.display()),
                )
            })?;
        let [cert] = certs.as_slice() else {
            return Err(self.invalid(
                format!("{key}.path"),
                format!(
                    "{}: expected exactly one CERTIFICATE, found {}",
                    path.display(),
                    certs.len()
                ),
            ));
        };
        let want = root.sha256.replace(':', "").to_ascii_lowercase();
        if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(self.invalid(
                format!("{key}.sha256"),
                "must be the 64 hex digits of the root's SHA-256 fingerprint",
            ));
        }
        let got = hex::encode(Sha256::digest(cert.as_ref()));
        if got != want {
            return Err(self.invalid(
                format!("{key}.sha256"),
                format!(
                    "fingerprint mismatch: {} has SHA-256 {got}, the configuration says {want}",
                    path.display()
                ),
            ));
        }
        Ok(cert.as_ref().to_vec())
    }
}

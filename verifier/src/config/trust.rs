//! `[trust]`: the App Store roots (`apple_roots`: Apple Root CA - G3 for StoreKit 2;
//! `apple_receipt_roots`: Apple Inc. Root CA for the original StoreKit's app receipts), read
//! from their files and fingerprint-checked the same way, into the rules' trust anchors.

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
    #[serde(default)]
    pub(super) apple_receipt_roots: Vec<RawRoot>,
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
        let apple_roots = self.load_roots("trust.apple_roots", &trust.apple_roots)?;
        let receipt_roots =
            self.load_roots("trust.apple_receipt_roots", &trust.apple_receipt_roots)?;
        let not_certificate = |list: &str, roots: &[RawRoot], index: usize| {
            self.invalid(
                format!("{list}[{index}].path"),
                format!(
                    "{}: not an X.509 certificate",
                    self.path(&roots[index].path).display()
                ),
            )
        };
        TrustAnchors::new(apple_roots)
            .and_then(|a| a.with_receipt_roots(receipt_roots))
            .map_err(|e| match e {
                TrustAnchorError::NotCertificate { index } => {
                    not_certificate("trust.apple_roots", &trust.apple_roots, index)
                }
                TrustAnchorError::ReceiptRootNotCertificate { index } => not_certificate(
                    "trust.apple_receipt_roots",
                    &trust.apple_receipt_roots,
                    index,
                ),
            })
    }

    /// Every root of the list `key`, each read and fingerprint-checked by [`Self::load_root`].
    fn load_roots(&self, key: &str, roots: &[RawRoot]) -> Result<Vec<Vec<u8>>, ConfigError> {
        roots
            .iter()
            .enumerate()
            .map(|(i, root)| self.load_root(&format!("{key}[{i}]"), root))
            .collect()
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

//! Key and certificate files: secret files are created 0600 and never overwritten.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

use crate::SandboxError;

/// Wrap an I/O error with the path it happened on.
pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SandboxError + '_ {
    move |source| SandboxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A unique temporary path next to `path` (same directory, so a link or rename stays on one file system).
pub(crate) fn temp_sibling(path: &Path) -> PathBuf {
    let mut suffix = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut suffix);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", hex::encode(suffix)))
}

/// Create `path` with `contents`, readable by the owner only (0600 on Unix).
pub(crate) fn write_private(path: &Path, contents: &[u8]) -> Result<(), SandboxError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err(path))?;
    file.write_all(contents).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

/// Create `path` with `contents` (0600) unless it already exists; returns whether this call created it.
///
/// The file appears atomically (written aside, then hard-linked), so two processes opening the
/// same fresh directory end up with the same key: the loser reads the winner's file.
pub(crate) fn create_private_once(path: &Path, contents: &[u8]) -> Result<bool, SandboxError> {
    let tmp = temp_sibling(path);
    write_private(&tmp, contents)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Read a UTF-8 file.
pub(crate) fn read_text(path: &Path) -> Result<String, SandboxError> {
    fs::read_to_string(path).map_err(io_err(path))
}

/// The DER bytes of the first PEM block labelled `label` in `pem`.
pub(crate) fn pem_to_der(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let body: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

/// PEM-encode DER bytes with `label`, 64 characters a line.
pub(crate) fn der_to_pem(der: &[u8], label: &str) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let der: Vec<u8> = (0u8..=200).collect();
        let pem = der_to_pem(&der, "CERTIFICATE");
        assert_eq!(pem_to_der(&pem, "CERTIFICATE"), Some(der));
        assert_eq!(pem_to_der(&pem, "PRIVATE KEY"), None);
    }

    #[test]
    fn create_once_keeps_the_first_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        assert!(create_private_once(&path, b"first").unwrap());
        assert!(!create_private_once(&path, b"second").unwrap());
        assert_eq!(read_text(&path).unwrap(), "first");
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "temporary files are cleaned up");
    }
}

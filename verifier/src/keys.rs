//! Key files: the verifier's HPKE (X25519) secret and its Ed25519 verdict signing seeds.
//!
//! Format: a small TOML document, written with mode 0600 and never overwritten:
//!
//! ```toml
//! # PaySeal HPKE key (X25519 secret). Private: do not share or commit.
//! kind = "payseal-hpke-x25519"
//! key_id = 1
//! secret = "<base64url, 32 bytes>"
//! ```
//!
//! ```toml
//! # PaySeal verdict signing key (Ed25519 seed). Private: do not share or commit.
//! kind = "payseal-verdict-ed25519"
//! kid = "v1-3f2a9c1e"
//! seed = "<base64url, 32 bytes>"
//! ```
//!
//! Secrets are zeroized after use and never appear in errors, logs or `Debug` output.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use payseal_protocol::envelope::ServerKeyPair;
use payseal_protocol::verdict::VerdictSigningKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// `kind` of an HPKE key file.
pub(crate) const HPKE_KIND: &str = "payseal-hpke-x25519";
/// `kind` of a verdict key file.
pub(crate) const VERDICT_KIND: &str = "payseal-verdict-ed25519";
/// File name `keygen` gives the HPKE key.
pub(crate) const HPKE_FILE: &str = "hpke.key";
/// File name `keygen` gives the verdict key.
pub(crate) const VERDICT_FILE: &str = "verdict.key";

/// Why a key file could not be read or written. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file exists already (keys are never overwritten).
    #[error("{0}: exists already; refusing to overwrite a key")]
    Exists(PathBuf),
    /// The file is not a key file of the expected kind.
    #[error("{path}: not a valid key file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why (never key material).
        reason: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HpkeFile {
    kind: String,
    key_id: u8,
    secret: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictFile {
    kind: String,
    kid: String,
    seed: String,
}

fn read(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn invalid(path: &Path, reason: impl Into<String>) -> KeyError {
    KeyError::Invalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn decode_32(path: &Path, field: &str, value: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let bytes = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(value.trim())
            .map_err(|_| invalid(path, format!("`{field}` is not base64url")))?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(invalid(path, format!("`{field}` must be 32 bytes")));
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

#[derive(Deserialize)]
struct KindOnly {
    kind: Option<String>,
}

fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
    kind: &str,
) -> Result<T, KeyError> {
    // toml's messages quote the offending line, which may hold the secret: keep only the key name.
    let found: KindOnly = toml::from_str(text)
        .map_err(|_| invalid(path, "not a TOML key file of the expected shape"))?;
    if found.kind.as_deref() != Some(kind) {
        return Err(invalid(path, format!("`kind` must be \"{kind}\"")));
    }
    toml::from_str(text).map_err(|e| {
        let msg = e.message();
        let safe = if msg.starts_with("unknown field") || msg.starts_with("missing field") {
            msg.split(',').next().unwrap_or("syntax error").to_string()
        } else {
            "not a TOML key file of the expected shape".to_string()
        };
        invalid(path, safe)
    })
}

/// Read an HPKE key file.
pub fn read_hpke_key(path: &Path) -> Result<ServerKeyPair, KeyError> {
    let text = read(path)?;
    let mut file: HpkeFile = parse_toml(path, &text, HPKE_KIND)?;
    let result = (|| {
        if file.kind != HPKE_KIND {
            return Err(invalid(path, format!("`kind` must be \"{HPKE_KIND}\"")));
        }
        let secret = decode_32(path, "secret", &file.secret)?;
        ServerKeyPair::from_secret(file.key_id, *secret)
            .map_err(|e| invalid(path, format!("bad X25519 secret: {e}")))
    })();
    file.secret.zeroize();
    result
}

/// Read a verdict signing key file.
pub fn read_verdict_key(path: &Path) -> Result<VerdictSigningKey, KeyError> {
    let text = read(path)?;
    let mut file: VerdictFile = parse_toml(path, &text, VERDICT_KIND)?;
    let result = (|| {
        if file.kind != VERDICT_KIND {
            return Err(invalid(path, format!("`kind` must be \"{VERDICT_KIND}\"")));
        }
        if file.kid.is_empty() || !file.kid.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(path, "`kid` must be non-empty printable ASCII"));
        }
        let seed = decode_32(path, "seed", &file.seed)?;
        Ok(VerdictSigningKey::from_seed(file.kid.clone(), *seed))
    })();
    file.seed.zeroize();
    result
}

/// Write `contents` to a new file with mode 0600; refuses to overwrite.
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists(path.to_path_buf())
        } else {
            KeyError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Write an HPKE key file (mode 0600, never overwrites).
pub(crate) fn write_hpke_key(path: &Path, key: &ServerKeyPair) -> Result<(), KeyError> {
    let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(key.secret_bytes()));
    let text = Zeroizing::new(format!(
        "# PaySeal HPKE key (X25519 secret). Private: do not share or commit.\n\
         kind = \"{HPKE_KIND}\"\nkey_id = {}\nsecret = \"{}\"\n",
        key.key_id(),
        secret.as_str()
    ));
    write_private_file(path, text.as_bytes())
}

/// Write a verdict signing key file (mode 0600, never overwrites).
pub(crate) fn write_verdict_key(path: &Path, key: &VerdictSigningKey) -> Result<(), KeyError> {
    let seed = Zeroizing::new(key.seed());
    let seed_b64 = Zeroizing::new(URL_SAFE_NO_PAD.encode(*seed));
    let text = Zeroizing::new(format!(
        "# PaySeal verdict signing key (Ed25519 seed). Private: do not share or commit.\n\
         kind = \"{VERDICT_KIND}\"\nkid = \"{}\"\nseed = \"{}\"\n",
        key.kid(),
        seed_b64.as_str()
    ));
    write_private_file(path, text.as_bytes())
}

/// A key id for a new verdict key: `v1-` and the first 8 hex digits of the SHA-256 of its public key.
pub(crate) fn verdict_kid_for(public_key: &[u8; 32]) -> String {
    let digest = Sha256::digest(public_key);
    format!("v1-{}", hex::encode(&digest[..4]))
}

/// A fresh verdict signing key with a kid derived from its public key.
pub(crate) fn generate_verdict_key() -> VerdictSigningKey {
    let draft = VerdictSigningKey::generate("draft");
    let seed = Zeroizing::new(draft.seed());
    let kid = verdict_kid_for(&draft.public_key().x);
    VerdictSigningKey::from_seed(kid, *seed)
}

/// The paths `keygen` writes into `dir`.
#[derive(Debug, Clone)]
pub(crate) struct KeyPaths {
    /// The HPKE key file.
    pub hpke: PathBuf,
    /// The verdict key file.
    pub verdict: PathBuf,
}

/// `keygen`: create `dir` if needed and write a new HPKE key (id 1) and verdict key; refuses to overwrite.
pub(crate) fn generate_into(dir: &Path) -> Result<KeyPaths, KeyError> {
    fs::create_dir_all(dir).map_err(|source| KeyError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let paths = KeyPaths {
        hpke: dir.join(HPKE_FILE),
        verdict: dir.join(VERDICT_FILE),
    };
    for p in [&paths.hpke, &paths.verdict] {
        if p.exists() {
            return Err(KeyError::Exists(p.clone()));
        }
    }
    write_hpke_key(&paths.hpke, &ServerKeyPair::generate(1))?;
    write_verdict_key(&paths.verdict, &generate_verdict_key())?;
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_with_mode_0600_and_refuse_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let paths = generate_into(dir.path()).unwrap();
        let hpke = read_hpke_key(&paths.hpke).unwrap();
        assert_eq!(hpke.key_id(), 1);
        let verdict = read_verdict_key(&paths.verdict).unwrap();
        assert_eq!(verdict.kid(), verdict_kid_for(&verdict.public_key().x));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [&paths.hpke, &paths.verdict] {
                let mode = fs::metadata(p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
        let before = fs::read(&paths.hpke).unwrap();
        assert!(matches!(
            generate_into(dir.path()),
            Err(KeyError::Exists(_))
        ));
        assert_eq!(fs::read(&paths.hpke).unwrap(), before);
    }

    #[test]
    fn bad_key_files_are_refused_without_echoing_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        fs::write(
            &p,
            "kind = \"payseal-hpke-x25519\"\nkey_id = 1\nsecret = \"SECRETSECRET\"\n",
        )
        .unwrap();
        let err = read_hpke_key(&p).unwrap_err().to_string();
        assert!(
            err.contains("32 bytes") || err.contains("base64url"),
            "{err}"
        );
        assert!(!err.contains("SECRETSECRET"));
        fs::write(
            &p,
            "kind = \"payseal-hpke-x25519\"\nkey_id = 1\nsecret = \"AAAA\" junk\n",
        )
        .unwrap();
        let err = read_hpke_key(&p).unwrap_err().to_string();
        assert!(!err.contains("AAAA"), "{err}");
        let v = dir.path().join("v");
        fs::write(
            &v,
            "kind = \"payseal-hpke-x25519\"\nkey_id = 1\nsecret = \"x\"\n",
        )
        .unwrap();
        assert!(read_verdict_key(&v).is_err());
    }
}

//! `[apps."ID".app_server]`, resolved: the credential an application server presents on the
//! verifier's app-server API (delivery and consumption reports, entitlements).
//!
//! The secret is never kept: only its SHA-256, compared in constant time with the SHA-256 of
//! what a request presents (so neither the comparison nor the memory holds the key).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest accepted API key, in bytes (`openssl rand -hex 32` writes 64).
pub const MIN_API_KEY_BYTES: usize = 32;

/// One app's app-server API key, as its SHA-256 (`Debug` shows `***`).
#[derive(Clone)]
pub struct AppServerKey {
    digest: [u8; 32],
}

impl AppServerKey {
    /// The key whose secret is `secret` (hashed at once; the bytes are not kept).
    pub fn from_secret(secret: &[u8]) -> Self {
        Self {
            digest: Sha256::digest(secret).into(),
        }
    }

    /// Whether `presented` is the secret (SHA-256 of both sides compared in constant time).
    pub fn matches(&self, presented: &[u8]) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented).into();
        self.digest.ct_eq(&presented).into()
    }
}

impl std::fmt::Debug for AppServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppServerKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_secret() {
        let key = AppServerKey::from_secret(b"0123456789abcdef0123456789abcdef");
        assert!(key.matches(b"0123456789abcdef0123456789abcdef"));
        assert!(!key.matches(b"0123456789abcdef0123456789abcdeF"));
        assert!(!key.matches(b"0123456789abcdef0123456789abcde"));
        assert!(!key.matches(b""));
        assert_eq!(format!("{key:?}"), "AppServerKey(***)");
    }
}

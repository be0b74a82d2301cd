//! [`AppServerCredential`]: the key the application server presents on the verifier's
//! app-server API (delivery and consumption reports, entitlements): HTTP Basic, user = the app
//! id, password = the secret the verifier's `[apps."ID".app_server] api_key_file` holds.

use std::path::Path;

/// Why the credential could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The key file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key is not visible ASCII of at least 32 bytes, or the app id holds a `:`.
    #[error("{0}")]
    Invalid(&'static str),
}

/// An app's app-server API key (`Debug` shows `***`; the key is never logged).
#[derive(Clone)]
pub struct AppServerCredential {
    app_id: String,
    secret: String,
}

impl std::fmt::Debug for AppServerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppServerCredential")
            .field("app_id", &self.app_id)
            .field("secret", &"***")
            .finish()
    }
}

impl AppServerCredential {
    /// The credential of `app_id` with `secret` (a trailing newline is dropped).
    pub fn new(app_id: impl Into<String>, secret: &str) -> Result<Self, CredentialError> {
        let app_id = app_id.into();
        let secret = secret.trim_end_matches(['\n', '\r']);
        if app_id.is_empty() || app_id.contains(':') {
            return Err(CredentialError::Invalid(
                "the app id must be non-empty and without ':'",
            ));
        }
        if secret.len() < 32 || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(CredentialError::Invalid(
                "the key must be at least 32 bytes of visible ASCII (e.g. `openssl rand -hex 32`)",
            ));
        }
        Ok(Self {
            app_id,
            secret: secret.to_string(),
        })
    }

    /// The credential of `app_id` read from the same key file the verifier is configured with.
    pub fn from_file(app_id: impl Into<String>, path: &Path) -> Result<Self, CredentialError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::new(app_id, &text)
    }

    /// The app id it authenticates.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// `request` with the credential attached (`Authorization: Basic ...`).
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(&self.app_id, Some(&self.secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_and_colon_app_ids_are_refused_and_debug_hides_the_key() {
        assert!(AppServerCredential::new("a", "short").is_err());
        assert!(AppServerCredential::new("a:b", &"k".repeat(32)).is_err());
        assert!(AppServerCredential::new("a", &format!("{} x", "k".repeat(32))).is_err());
        let c = AppServerCredential::new("game", &format!("{}\n", "k".repeat(32))).unwrap();
        assert!(!format!("{c:?}").contains("kkkk"));
    }
}

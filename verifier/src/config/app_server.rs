//! `[apps."ID".app_server]`: the API key file of the app's application server (the credential
//! of the verifier's app-server API: delivery and consumption reports, entitlements).
//!
//! The file holds one random secret of visible ASCII (at least
//! [`crate::settings::MIN_API_KEY_BYTES`] bytes, e.g. `openssl rand -hex 32`; a trailing
//! newline is not part of it). On Unix it must not be readable by group or others (mode
//! `0600` or `0400`): a key anyone on the host can read is refused at start.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, Resolver};
use crate::settings::{AppServerKey, MIN_API_KEY_BYTES};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAppServer {
    pub(super) api_key_file: PathBuf,
}

impl Resolver {
    /// `[apps."ID".app_server]`: read, check and hash the key file.
    pub(super) fn app_server_key(
        &self,
        app_id: &str,
        raw: &RawAppServer,
    ) -> Result<AppServerKey, ConfigError> {
        let key = format!("apps.{app_id:?}.app_server.api_key_file");
        if app_id.contains(':') {
            return Err(self.invalid(
                key,
                "an app id with ':' cannot be an HTTP Basic user name; rename the app",
            ));
        }
        let path = self.path(&raw.api_key_file);
        let mut secret = self.secret_file(&key, &raw.api_key_file)?;
        while matches!(secret.last(), Some(b'\n' | b'\r')) {
            secret.pop();
        }
        if secret.len() < MIN_API_KEY_BYTES {
            return Err(self.invalid(
                &key,
                format!(
                    "{}: the key must be at least {MIN_API_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)",
                    path.display()
                ),
            ));
        }
        if !secret.iter().all(|b| b.is_ascii_graphic()) {
            return Err(self.invalid(
                &key,
                format!(
                    "{}: the key must be visible ASCII without spaces (e.g. `openssl rand -hex 32`)",
                    path.display()
                ),
            ));
        }
        Ok(AppServerKey::from_secret(&secret))
    }
}

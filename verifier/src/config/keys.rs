//! `[keys]` (the HPKE key pairs and the verdict signing keys) and `[verdict]` (their lifetime).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Resolver};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeys {
    pub(super) hpke: Vec<PathBuf>,
    pub(super) verdict: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerdict {
    pub(super) ttl_minutes: Option<u64>,
}

/// Default verdict lifetime in minutes.
pub const DEFAULT_TTL_MINUTES: u64 = 10;

impl Resolver {
    /// `[keys]`: the HPKE key pairs (current first) and the verdict signing keys.
    pub(super) fn keys(
        &self,
        keys: &RawKeys,
    ) -> Result<
        (
            Vec<payseal_protocol::envelope::ServerKeyPair>,
            Vec<payseal_protocol::verdict::VerdictSigningKey>,
        ),
        ConfigError,
    > {
        if keys.hpke.is_empty() {
            return Err(self.invalid("keys.hpke", "at least one HPKE key file is required"));
        }
        let mut hpke_keys = Vec::new();
        for (i, p) in keys.hpke.iter().enumerate() {
            let key = crate::keys::read_hpke_key(&self.path(p))
                .map_err(|e| self.invalid(format!("keys.hpke[{i}]"), e.to_string()))?;
            if hpke_keys
                .iter()
                .any(|k: &payseal_protocol::envelope::ServerKeyPair| k.key_id() == key.key_id())
            {
                return Err(self.invalid(
                    format!("keys.hpke[{i}]"),
                    format!("duplicate HPKE key id {}", key.key_id()),
                ));
            }
            hpke_keys.push(key);
        }
        if keys.verdict.is_empty() {
            return Err(self.invalid("keys.verdict", "at least one verdict key file is required"));
        }
        let mut verdict_keys = Vec::new();
        for (i, p) in keys.verdict.iter().enumerate() {
            let key = crate::keys::read_verdict_key(&self.path(p))
                .map_err(|e| self.invalid(format!("keys.verdict[{i}]"), e.to_string()))?;
            if verdict_keys
                .iter()
                .any(|k: &payseal_protocol::verdict::VerdictSigningKey| k.kid() == key.kid())
            {
                return Err(self.invalid(
                    format!("keys.verdict[{i}]"),
                    format!("duplicate verdict kid {:?}", key.kid()),
                ));
            }
            verdict_keys.push(key);
        }
        Ok((hpke_keys, verdict_keys))
    }

    /// `verdict.ttl_minutes`: the verdicts' lifetime.
    pub(super) fn verdict_ttl(&self, verdict: &RawVerdict) -> Result<Duration, ConfigError> {
        let ttl_minutes = verdict.ttl_minutes.unwrap_or(DEFAULT_TTL_MINUTES);
        if !(1..=24 * 60).contains(&ttl_minutes) {
            return Err(self.invalid(
                "verdict.ttl_minutes",
                format!("{ttl_minutes} is outside 1..=1440"),
            ));
        }
        Ok(Duration::from_secs(ttl_minutes * 60))
    }
}

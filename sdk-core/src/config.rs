//! Options and the parsed profile: everything a [`Client`](crate::Client) is built from,
//! validated once at construction (a bad profile or option never reaches the network).

use std::path::PathBuf;
use std::time::Duration;

use payseal_protocol::envelope::{KeyConfig, VERIFY_PATH};
use payseal_protocol::profile::{Profile, ProfileError};
use payseal_protocol::url::VerifierUrl;
use payseal_protocol::verdict::VerdictVerifier;

/// Retry policy for network failures and 5xx answers (never for pin mismatches or 4xx).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one, then jittered.
    pub base_backoff: Duration,
    /// Cap of one backoff, and of a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_backoff: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

/// What an app chooses besides the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The app id as configured on the verifier (Play package name, bundle id, ...).
    pub app_id: String,
    /// Time allowed to open a TCP + TLS connection.
    pub connect_timeout: Duration,
    /// Time allowed for one request, connection included.
    pub request_timeout: Duration,
    /// Time allowed for one `verify` call, all attempts and backoffs included.
    pub deadline: Duration,
    /// Retries of network failures and 5xx answers.
    pub retry: RetryPolicy,
    /// Where receipts that could not get a verdict are kept for `retry_pending` (none: not kept).
    pub pending_dir: Option<PathBuf>,
    /// Extra trust roots (PEM) for private deployments, added to the built-in roots.
    pub extra_roots_pem: Vec<String>,
    /// Where the last checked entitlements answer of each account is kept, for a game offline
    /// at start (none: not kept, and an offline `entitlements` call has no answer).
    pub entitlements_dir: Option<PathBuf>,
    /// Clock skew allowed when checking the verdict's `exp` and `iat`.
    pub clock_skew: Duration,
}

impl Options {
    /// Defaults for `app_id`: 5 s connect, 10 s request, 30 s deadline, 4 attempts from 200 ms.
    pub fn new(app_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            pending_dir: None,
            extra_roots_pem: Vec::new(),
            entitlements_dir: None,
            clock_skew: Duration::from_secs(60),
        }
    }
}

/// Why a profile or an option was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The profile does not parse or validate.
    #[error("invalid profile: {0}")]
    Profile(#[from] ProfileError),
    /// An option has a bad value.
    #[error("invalid option `{field}`: {reason}")]
    Option {
        /// The option.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

fn bad(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Option {
        field,
        reason: reason.into(),
    }
}

/// A profile and options, parsed and checked.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The options as given.
    pub options: Options,
    /// The verifier's `POST /v1/verify` URL, in canonical form ([`endpoint_url`]).
    pub endpoint: String,
    /// The verifier's HPKE key configuration.
    pub key_config: KeyConfig,
    /// Checks verdict tokens against the profile's keys.
    pub verdicts: VerdictVerifier,
    /// SPKI SHA-256 pins.
    pub pins: Vec<[u8; 32]>,
}

/// Upper bound of any duration option, to keep arithmetic and timers sane.
const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Upper bound of `max_attempts`.
const MAX_ATTEMPTS: u32 = 20;

impl Config {
    /// Parse the profile strictly and validate the options.
    pub(crate) fn new(profile_json: &str, options: Options) -> Result<Self, ConfigError> {
        // The profile arrives decoded and validated (at least one verdict key, at least two
        // pins, an https URL with a host): nothing to decode again here.
        let profile = Profile::parse(profile_json)?;
        let endpoint = endpoint_url(&profile.verifier_url);
        validate_options(&options)?;
        let skew = i64::try_from(options.clock_skew.as_secs()).unwrap_or(i64::MAX);
        Ok(Self {
            options,
            endpoint,
            key_config: profile.key_config,
            verdicts: VerdictVerifier::new(profile.verdict_keys).with_skew(skew),
            pins: profile.tls_pins,
        })
    }
}

/// The `POST /v1/verify` URL of a checked verifier URL, in the canonical form a WHATWG URL
/// parser gives it (ASCII host lower-cased, the default port 443 left out), so the request's
/// `Host` and the TLS server name do not depend on how the profile spelled them. The profile's
/// URL is already checked as `https://host[:port]` with an ASCII host (`payseal_protocol::url`):
/// nothing else needs parsing, and no URL library is linked into the SDK for it.
fn endpoint_url(url: &VerifierUrl) -> String {
    let base = url.as_str().to_ascii_lowercase();
    let base = match url.explicit_port() {
        Some(443) => base.strip_suffix(":443").unwrap_or(&base),
        _ => &base,
    };
    format!("{base}{VERIFY_PATH}")
}

fn validate_options(o: &Options) -> Result<(), ConfigError> {
    // The verifier's rule for app ids (1..=256 bytes, not blank).
    payseal_protocol::request::validate_app_id(&o.app_id).map_err(|e| bad("app_id", e.as_str()))?;
    for (field, d) in [
        ("connect_timeout", o.connect_timeout),
        ("request_timeout", o.request_timeout),
        ("deadline", o.deadline),
    ] {
        if d.is_zero() || d > MAX_DURATION {
            return Err(bad(field, "must be between 1 ms and 1 hour"));
        }
    }
    if o.clock_skew > MAX_DURATION {
        return Err(bad("clock_skew", "must be at most 1 hour"));
    }
    if o.retry.max_attempts == 0 || o.retry.max_attempts > MAX_ATTEMPTS {
        return Err(bad(
            "max_attempts",
            format!("must be between 1 and {MAX_ATTEMPTS}"),
        ));
    }
    if o.retry.base_backoff > MAX_DURATION || o.retry.max_delay > MAX_DURATION {
        return Err(bad("base_backoff", "must be at most 1 hour"));
    }
    if let Some(dir) = &o.pending_dir {
        if dir.as_os_str().is_empty() {
            return Err(bad("pending_dir", "must not be empty when given"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated() {
        let ok = Options::new("dev.payseal.demo");
        assert!(validate_options(&ok).is_ok());

        let mut o = ok.clone();
        o.app_id = " ".into();
        assert!(matches!(
            validate_options(&o),
            Err(ConfigError::Option {
                field: "app_id",
                ..
            })
        ));

        let mut o = ok.clone();
        o.deadline = Duration::ZERO;
        assert!(matches!(
            validate_options(&o),
            Err(ConfigError::Option {
                field: "deadline",
                ..
            })
        ));

        let mut o = ok.clone();
        o.retry.max_attempts = 0;
        assert!(matches!(
            validate_options(&o),
            Err(ConfigError::Option {
                field: "max_attempts",
                ..
            })
        ));

        let mut o = ok;
        o.pending_dir = Some(PathBuf::new());
        assert!(matches!(
            validate_options(&o),
            Err(ConfigError::Option {
                field: "pending_dir",
                ..
            })
        ));
    }

    #[test]
    fn endpoint_is_canonical() {
        for (given, want) in [
            (
                "https://verify.example.com",
                "https://verify.example.com/v1/verify",
            ),
            (
                "https://Verify.Example.COM/",
                "https://verify.example.com/v1/verify",
            ),
            (
                "https://verify.example.com:443",
                "https://verify.example.com/v1/verify",
            ),
            (
                "https://verify.example.com:8443/",
                "https://verify.example.com:8443/v1/verify",
            ),
            ("https://127.0.0.1:4430", "https://127.0.0.1:4430/v1/verify"),
            ("https://[::1]:443", "https://[::1]/v1/verify"),
        ] {
            let url = VerifierUrl::parse(given).unwrap();
            assert_eq!(endpoint_url(&url), want, "{given}");
        }
    }

    #[test]
    fn garbage_profile_is_refused() {
        assert!(matches!(
            Config::new("{not json", Options::new("a")),
            Err(ConfigError::Profile(_))
        ));
    }
}

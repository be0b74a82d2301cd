//! `[apps."ID".webhook]` and `[webhooks]`, resolved: each app's endpoint and secret, and the
//! delivery worker's timing (what `crate::webhook` delivers with).

use std::time::Duration;

/// An app's webhook secret: never printed (`Debug` shows `***`), wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(zeroize::Zeroizing<Vec<u8>>);

impl WebhookSecret {
    /// Wrap secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(zeroize::Zeroizing::new(bytes.into()))
    }

    /// The bytes (to key the MAC only).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

/// One app's webhook endpoint (`[apps."ID".webhook]`).
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// `https://…`, or `http://` to a loopback address (development and tests).
    pub url: String,
    /// The signing secret (the content of `secret_file`, without a trailing newline).
    pub secret: WebhookSecret,
    /// How long after its creation (or a manual retry) a delivery is given up.
    pub give_up_after: Duration,
}

/// The delivery worker's timing (`[webhooks]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// Pause between polls when nothing was due.
    pub poll_interval: Duration,
    /// Delay before the second attempt; doubled per attempt (with jitter).
    pub retry_base: Duration,
    /// Longest delay between attempts.
    pub retry_max: Duration,
    /// Timeout of one POST.
    pub request_timeout: Duration,
    /// Rows taken per poll.
    pub batch: u32,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(10),
            batch: 32,
        }
    }
}

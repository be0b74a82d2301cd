//! Resolved settings: what `config` produces from the TOML file and what `server` runs with.
//! Everything here is loaded and validated (keys parsed, roots fingerprint-checked).
//!
//! A leaf of the crate: it imports no other module of the verifier (only the rules and ledger
//! crates' types), so every module may read settings without a cycle. The settings of the
//! webhooks and of the stores' notifications are defined here too (`webhooks`, `stores`) and
//! re-exported by `crate::webhook` and `crate::notifications`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use payseal_protocol::envelope::ServerKeyPair;
use payseal_protocol::verdict::VerdictSigningKey;

use crate::rules::{AppRules, TrustAnchors};

mod app_server;
mod app_store_api;
mod google_api;
mod refunds;
mod stores;
mod webhooks;

pub use app_server::{AppServerKey, MIN_API_KEY_BYTES};
pub use app_store_api::{
    ApiRetry, AppStoreApiKey, AppStoreApiSettings, APP_STORE_PRODUCTION_URL, APP_STORE_SANDBOX_URL,
};
pub use google_api::{OnStoreUnavailable, PlayApiSettings, DEFAULT_API_BASE, DEFAULT_DAILY_BUDGET};

pub use refunds::{RefundHistoryPolicy, RefundLimit, RefundPolicy, RefundWorkerTiming};
pub use stores::{
    assertion, CallLimits, HuaweiNotifySettings, KeyFileError, RtdnSettings, ServiceAccountKey,
    VoidedSettings, ANDROIDPUBLISHER_SCOPE, DEFAULT_CONCURRENT, DEFAULT_DEDUPE_WINDOW,
    DEFAULT_PER_MINUTE,
};
pub use webhooks::{WebhookSecret, WebhookSettings, WorkerSettings};

/// Where `GET /metrics` is served when `[server] metrics_listen` is not set: loopback only, on
/// the Prometheus exporter port 9464 (a local agent scrapes it; the public listener never
/// answers `/metrics`).
pub const DEFAULT_METRICS_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    9464,
));

/// The `[server] metrics_listen` value that serves no metrics at all.
pub const METRICS_OFF: &str = "off";

/// The verifier's fully resolved settings.
#[derive(Debug)]
pub struct Settings {
    /// Socket address to listen on.
    pub listen: SocketAddr,
    /// Public `https://` URL (verdict `iss`, profile `verifier_url`).
    pub public_url: String,
    /// TLS certificate chain and key (PEM files).
    pub tls: TlsFiles,
    /// Extra SPKI pins published in the profile (backup keys), `sha256/<base64>`.
    pub backup_pins: Vec<String>,
    /// HPKE key pairs; the first is current, the others are still accepted (rotation).
    pub hpke_keys: Vec<ServerKeyPair>,
    /// Verdict signing keys; the first signs, all are published.
    pub verdict_keys: Vec<VerdictSigningKey>,
    /// Verdict lifetime.
    pub verdict_ttl: Duration,
    /// Ledger location, e.g. `sqlite:/var/lib/payseal/ledger.db` or
    /// `postgres://payseal@db.internal:5432/payseal`. Never holds a password (the loader moves
    /// it to [`Settings::ledger`]), so it can be shown.
    pub ledger_url: String,
    /// Connection settings of a networked ledger (pool size, timeouts, migrations, password).
    pub ledger: crate::ledger::LedgerOptions,
    /// Configured apps by app id.
    pub apps: HashMap<String, AppRules>,
    /// Trusted roots for chained store signatures.
    pub anchors: TrustAnchors,
    /// Request and connection limits.
    pub limits: Limits,
    /// Where `GET /metrics` is served (plain HTTP, a private address; never on the public
    /// listener). Default [`DEFAULT_METRICS_LISTEN`]; `None` (`"off"`): not served.
    pub metrics_listen: Option<SocketAddr>,
    /// Webhook endpoints by app id (`[apps."ID".webhook]`); apps without one get no webhook.
    pub webhooks: HashMap<String, WebhookSettings>,
    /// The delivery worker's timing (`[webhooks]`).
    pub webhook_worker: WorkerSettings,
    /// `[google_play.rtdn]`: the Pub/Sub push endpoint of Play's real-time developer
    /// notifications (`POST /v1/stores/google-play/rtdn`); `None`: not served.
    pub google_play_rtdn: Option<RtdnSettings>,
    /// `[apps."ID".google_play.voided_purchases]`: one Voided Purchases API poller per app.
    pub google_play_voided: Vec<VoidedSettings>,
    /// `[apps."ID".google_play.api]`: the Play Developer API client of each app that has one,
    /// by app id.
    pub google_play_api: HashMap<String, PlayApiSettings>,
    /// `[apps."ID".huawei.notifications]`: the apps whose Huawei IAP server notifications are
    /// handled at `POST /v1/stores/huawei/notifications` (not served when empty).
    pub huawei_notifications: Vec<HuaweiNotifySettings>,
    /// Per app: its entitlements and transfer policy (`[apps."ID".entitlements]`, `transfer`).
    pub entitlements: HashMap<String, crate::entitlements::EntitlementRules>,
    /// `[apps."ID".app_server] api_key_file`: the key each app's application server presents
    /// on the app-server API (HTTP Basic, user = app id); apps without one cannot use it.
    pub app_server_keys: HashMap<String, AppServerKey>,
    /// `[apps."ID".app_store.server_api]`: the apps whose App Store Server API key is
    /// configured, by app id.
    pub app_store_api: HashMap<String, AppStoreApiSettings>,
    /// `[apps."ID".refund_policy]`: the apps whose refund requests are answered, by app id.
    pub refund_policies: HashMap<String, RefundPolicy>,
    /// The refund-answer worker's timing (`[refund_answers]`; defaults when absent).
    pub refund_worker: RefundWorkerTiming,
    /// `[apps."ID".refund_history]`: the apps that put refund history in verdicts or refuse
    /// past a threshold, by app id (absent: neither).
    pub refund_history: HashMap<String, RefundHistoryPolicy>,
}

impl Settings {
    /// Whether the verifier answers `app_id`'s refund requests from `store` (a policy and the
    /// store's API are configured: App Store Server API key, Play Developer API).
    pub fn answers_refunds(&self, store: payseal_protocol::Store, app_id: &str) -> bool {
        use payseal_protocol::Store;
        self.refund_policies.contains_key(app_id)
            && match store {
                Store::AppStore => self.app_store_api.contains_key(app_id),
                Store::GooglePlay => self.google_play_api.contains_key(app_id),
                _ => false,
            }
    }

    /// The map `app_id`'s `entitlements.changed` webhooks are decided with: `Some` when the
    /// app names entitlements and has a webhook (only then is an account's set compared and
    /// announced).
    pub fn announced_entitlements(
        &self,
        app_id: &str,
    ) -> Option<crate::ledger::entitlements::SharedProductNames> {
        if !self.webhooks.contains_key(app_id) {
            return None;
        }
        self.entitlements
            .get(app_id)
            .filter(|rules| !rules.is_empty())
            .map(crate::entitlements::EntitlementRules::product_names)
    }
}

/// PEM files for TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert_pem: PathBuf,
    /// Private key (PKCS#8, SEC1 or PKCS#1).
    pub key_pem: PathBuf,
}

/// Request limits, and the per-connection ones ([`ConnectionLimits`]) the accept loop applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// How long in-flight requests may run after SIGTERM.
    pub shutdown_grace: Duration,
    /// Limits applied to every connection (timeouts, connection caps, HTTP/2).
    pub connection: ConnectionLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(20),
            connection: ConnectionLimits::default(),
        }
    }
}

/// Limits applied to every connection (`[server]`; the server's accept loop and connection
/// table enforce them, `crate::server::ConnectionLimits` names the same type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to complete the TLS handshake after the TCP accept.
    pub handshake_timeout: Duration,
    /// A connection with no request in progress for this long is closed: before its first
    /// request byte, and between requests (HTTP/1 keep-alive and HTTP/2 alike).
    pub idle_timeout: Duration,
    /// Time a client has to send a complete HTTP/1 request head once it started it
    /// (slow-loris protection).
    pub header_read_timeout: Duration,
    /// Connections open at once (handshaking included). At the cap an idle connection is shed
    /// for a new one (of the source holding the most, its longest idle); only when none is
    /// idle is the new one refused.
    pub max_connections: usize,
    /// Connections open at once from one source (an IPv4 address or an IPv6 /64); `0` means no
    /// per-source limit (behind a load balancer every connection comes from its addresses).
    pub max_connections_per_ip: usize,
    /// Whether loopback sources are exempt from [`Self::max_connections_per_ip`].
    pub per_ip_exempt_loopback: bool,
    /// HTTP/2 streams a client may have open at once on one connection.
    pub http2_max_concurrent_streams: u32,
    /// Largest HTTP/2 header list (decoded, RFC 9113 §6.5.2 accounting), bytes.
    pub http2_max_header_list_bytes: u32,
    /// Interval of HTTP/2 keep-alive pings; a ping not answered within the same time closes
    /// the connection (dead peers during long requests).
    pub http2_keepalive_interval: Duration,
}

impl Default for ConnectionLimits {
    /// The configuration defaults.
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(15),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_ip: 256,
            per_ip_exempt_loopback: false,
            http2_max_concurrent_streams: 32,
            http2_max_header_list_bytes: 16 * 1024,
            http2_keepalive_interval: Duration::from_secs(20),
        }
    }
}

/// What the offline `check` runs with: the apps and the trust anchors, nothing of the server
/// (`config::load_offline` reads only `[apps]` and `[trust]`).
#[derive(Debug)]
pub struct OfflineSettings {
    /// Configured apps by app id.
    pub apps: HashMap<String, AppRules>,
    /// Trusted roots for chained store signatures.
    pub anchors: TrustAnchors,
}

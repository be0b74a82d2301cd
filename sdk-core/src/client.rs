//! The Rust API: [`Client`] seals a receipt to the verifier over the pinned connection
//! (S130–S170), checks the verdict (S180), retries within the deadline, and keeps receipts
//! that got no verdict in the pending store.
//!
//! # What keeps a receipt pending
//! Every failure after which the verifier may have recorded the redemption, so that
//! [`Client::retry_pending`] gets the real verdict: no answer (network error, timeout, 5xx,
//! deadline; the request may or may not have arrived) and an answer that arrived but did not
//! check out (an envelope that does not open, a response that is not a verdict, a verdict
//! that fails the decision, an unexpected status). Not kept: what fails before anything is
//! sent (an invalid receipt, a pin mismatch, which fails the handshake) and a 4xx, with which
//! the verifier refuses a request it did not record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use payseal_protocol::envelope::{seal_request, EnvelopeError};
use payseal_protocol::{Receipt, SdkInfo, VerifyRequest, VerifyResponse, PROTOCOL_VERSION};
use rand_core::{OsRng, RngCore};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError, Options};
use crate::decision::{self, CheckedVerdict, DecisionError, Expected};
use crate::entitlements::{
    self as ents, CacheError, CheckedEntitlements, EntitlementsCache, ExpectedEntitlements,
};
use crate::error::PaySealErrorKind;
use crate::log::{emit, printable, short, LogLevel};
use crate::pending::{PendingError, PendingRequest, PendingStore};
use crate::tls::{self, TlsError};
use crate::transport::{backoff_delay, Transport, TransportError};
use payseal_protocol::entitlements::{
    EntitlementsRequest, EntitlementsResponse, MAX_RESTORE_RECEIPTS,
};

/// Bytes of randomness in a request nonce (the protocol asks for 16..=128).
pub(crate) const NONCE_BYTES: usize = 32;
const _: () = assert!(
    NONCE_BYTES >= payseal_protocol::request::MIN_NONCE_BYTES
        && NONCE_BYTES <= payseal_protocol::request::MAX_NONCE_BYTES
);
/// Largest receipt accepted (all fields together), far above any store's.
const MAX_RECEIPT_BYTES: usize = 64 * 1024;

/// Why no verdict could be obtained at all.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Unverified {
    /// The last attempt failed with a network error, a timeout or a 5xx.
    #[error(transparent)]
    Transport(TransportError),
    /// The overall deadline passed while an attempt was in flight.
    #[error("no verdict within the {}ms deadline", .0.as_millis())]
    Deadline(Duration),
}

/// Whether a receipt without a verdict was kept for [`Client::retry_pending`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// Saved in the pending directory.
    Saved,
    /// No pending directory is configured: the app must keep the receipt itself.
    NoPendingDir,
    /// Saving failed (disk full, ...): the app must keep the receipt itself.
    SaveFailed(String),
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kept::Saved => f.write_str("receipt kept pending for retry"),
            Kept::NoPendingDir => f.write_str("receipt not kept: no pending directory"),
            Kept::SaveFailed(e) => write!(f, "receipt could not be kept pending: {e}"),
        }
    }
}

/// Everything that can fail in the client, one variant per layer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Bad profile or option.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Bad extra trust root, or TLS setup refused.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The receipt or account id cannot be sent.
    #[error("invalid receipt: {0}")]
    InvalidReceipt(String),
    /// Pin mismatch, 4xx, or client setup failure (not retried).
    #[error(transparent)]
    Transport(TransportError),
    /// No verdict after the retries or within the deadline.
    #[error("{cause} ({kept})")]
    NoVerdict {
        /// The last failure.
        cause: Unverified,
        /// Whether the receipt was kept pending.
        kept: Kept,
    },
    /// The response envelope does not open: altered in transit or not from the verifier.
    #[error("response envelope refused: {0}")]
    Envelope(EnvelopeError),
    /// The opened response is not a verdict response.
    #[error("response is not a verdict: {0}")]
    Response(String),
    /// The verdict is not the answer to this request.
    #[error(transparent)]
    Decision(#[from] DecisionError),
    /// An answer arrived but did not check out ([`ClientError::may_be_recorded`]): the
    /// verifier may have recorded the redemption, so the receipt was kept pending.
    #[error("{cause} ({kept})")]
    AnswerRefused {
        /// What did not check out.
        cause: Box<ClientError>,
        /// Whether the receipt was kept pending.
        kept: Kept,
    },
    /// The pending store failed.
    #[error(transparent)]
    Pending(#[from] PendingError),
    /// [`Client::retry_pending`] did not send a pending file; it stays on disk untouched.
    #[error(transparent)]
    PendingRefused(#[from] Refusal),
    /// A bug or an environment failure (random generator, runtime).
    #[error("internal error: {0}")]
    Internal(String),
    /// No entitlements answer could be obtained and none is kept offline for the account.
    #[error("{cause} (no entitlements answer kept offline for this account)")]
    NoEntitlements {
        /// The last failure.
        cause: Unverified,
    },
    /// The verifier was unreachable and the answer kept offline could not be used (edited,
    /// another account's, unreadable).
    #[error(transparent)]
    CachedEntitlements(#[from] CacheError),
}

/// Why [`Client::retry_pending`] did not send a pending file (it is left on disk as it is).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Truncated, edited or not a pending file, or its name is not its receipt's hash.
    #[error("{0}; not sent")]
    Unreadable(PendingError),
    /// The file names another app than this client's: never sent, for either app.
    #[error(
        "pending file is for another app (`{file_app}`, this client is `{client_app}`); not sent"
    )]
    OtherApp {
        /// The file's app id (control characters removed, shortened).
        file_app: String,
        /// This client's app id.
        client_app: String,
    },
    /// The file's receipt or account id cannot be sent.
    #[error("pending file holds an invalid receipt ({0}); not sent")]
    Invalid(String),
}

impl ClientError {
    /// The one mapping of the SDK's errors to their kind.
    pub fn kind(&self) -> PaySealErrorKind {
        use PaySealErrorKind as K;
        match self {
            ClientError::Config(_) | ClientError::Tls(_) => K::InvalidProfile,
            ClientError::InvalidReceipt(_) | ClientError::PendingRefused(_) => K::InvalidReceipt,
            ClientError::Transport(t) => transport_kind(t),
            ClientError::NoVerdict { cause, .. } => cause.kind(),
            ClientError::Envelope(_) | ClientError::Response(_) | ClientError::Decision(_) => {
                K::Tampered
            }
            ClientError::AnswerRefused { cause, .. } => cause.kind(),
            ClientError::Pending(_) | ClientError::Internal(_) => K::Internal,
            ClientError::NoEntitlements { cause } => cause.kind(),
            ClientError::CachedEntitlements(CacheError::Refused(_)) => K::Tampered,
            ClientError::CachedEntitlements(CacheError::Io(_)) => K::Internal,
        }
    }

    /// Whether the verifier may have recorded the redemption before this failure: an answer
    /// arrived but did not check out. (A failure without an answer is [`ClientError::NoVerdict`],
    /// kept pending too.)
    pub fn may_be_recorded(&self) -> bool {
        matches!(
            self,
            ClientError::Envelope(_)
                | ClientError::Response(_)
                | ClientError::Decision(_)
                | ClientError::Transport(TransportError::Unexpected { .. })
                | ClientError::AnswerRefused { .. }
        )
    }
}

fn transport_kind(t: &TransportError) -> PaySealErrorKind {
    use PaySealErrorKind as K;
    match t {
        TransportError::PinMismatch => K::PinMismatch,
        TransportError::Network(_) => K::Network,
        TransportError::Timeout(_) => K::Timeout,
        TransportError::Unavailable { .. }
        | TransportError::Rejected { .. }
        | TransportError::Unexpected { .. } => K::ServerRejected,
        TransportError::Setup(_) => K::Internal,
    }
}

impl From<TransportError> for ClientError {
    fn from(e: TransportError) -> Self {
        ClientError::Transport(e)
    }
}

impl Unverified {
    /// The kind, as written in pending files (`last_error`) and logs.
    pub fn kind(&self) -> PaySealErrorKind {
        match self {
            Unverified::Transport(t) => transport_kind(t),
            Unverified::Deadline(_) => PaySealErrorKind::Timeout,
        }
    }

    /// Whether this says the verifier is unreachable (not merely failing).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self.kind(),
            PaySealErrorKind::Network | PaySealErrorKind::Timeout
        )
    }
}

/// One pending receipt after a [`Client::retry_pending`] pass.
#[derive(Debug)]
pub struct PendingReport {
    /// The receipt's hash (its pending file name).
    pub receipt_sha256: String,
    /// The account it was bought by (empty if the file could not be read).
    pub account_id: String,
    /// The app id the file names (empty if the file could not be read).
    pub app_id: String,
    /// The verdict (the file is removed); or why it is still pending, or
    /// [`ClientError::PendingRefused`] when it was not sent (either way the file is kept).
    pub result: Result<CheckedVerdict, ClientError>,
}

impl PendingReport {
    /// Whether the file was refused (unreadable, edited, another app's) and not sent.
    pub fn is_refused(&self) -> bool {
        matches!(self.result, Err(ClientError::PendingRefused(_)))
    }
}

/// A PaySeal client for one verifier profile.
#[derive(Debug)]
pub struct Client {
    config: Config,
    transport: Transport,
    pending: Option<PendingStore>,
    entitlements_cache: Option<EntitlementsCache>,
    retry_lock: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
}

/// What [`Client::restore`] got: one checked verdict per receipt, in order, and the account's
/// entitlements read after them.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The verdicts, in the order of the receipts given.
    pub verdicts: Vec<CheckedVerdict>,
    /// The entitlements after the restore.
    pub entitlements: CheckedEntitlements,
}

/// Longest app id quoted from a pending file in a report.
const MAX_QUOTED_APP_ID: usize = 128;

fn jitter() -> f64 {
    f64::from(OsRng.next_u32()) / (f64::from(u32::MAX) + 1.0)
}

fn fresh_nonce() -> Result<String, ClientError> {
    let mut bytes = [0u8; NONCE_BYTES];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| ClientError::Internal("the OS random generator failed".into()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Refuse what cannot be a store receipt before anything is sent or kept.
pub(crate) fn validate_receipt(receipt: &Receipt, account_id: &str) -> Result<(), ClientError> {
    let fields: Vec<(&str, &str)> = match receipt {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        }
        | Receipt::Sandbox {
            purchase_data,
            signature,
        }
        | Receipt::Huawei {
            purchase_data,
            signature,
            ..
        } => vec![("purchase_data", purchase_data), ("signature", signature)],
        Receipt::AppStore { jws } => vec![("jws", jws)],
        Receipt::AppStoreReceipt {
            app_receipt,
            transaction_id,
        } => vec![
            ("app_receipt", app_receipt),
            ("transaction_id", transaction_id),
        ],
    };
    let mut total = 0usize;
    for (name, value) in fields {
        if value.trim().is_empty() {
            return Err(ClientError::InvalidReceipt(format!("`{name}` is empty")));
        }
        total += value.len();
    }
    if total > MAX_RECEIPT_BYTES {
        return Err(ClientError::InvalidReceipt("receipt is too large".into()));
    }
    // The verifier's own rule (1..=256 bytes, not blank), so nothing it would refuse is sent.
    payseal_protocol::request::validate_account_id(account_id)
        .map_err(|e| ClientError::InvalidReceipt(e.to_string()))
}

/// [`validate_receipt`] plus the expected product id's wire rule, for a whole request.
fn validate_request(request: &PendingRequest<'_>) -> Result<(), ClientError> {
    validate_receipt(request.receipt, request.account_id)?;
    match request.expected_product_id {
        Some(product) => payseal_protocol::request::validate_product_id(product)
            .map_err(|e| ClientError::InvalidReceipt(e.to_string())),
        None => Ok(()),
    }
}

impl Client {
    /// Parse the profile strictly, validate the options, build the pinned TLS client and
    /// open the pending directory. Nothing is sent.
    pub fn new(profile_json: &str, options: Options) -> Result<Self, ClientError> {
        let config = Config::new(profile_json, options)?;
        let tls = tls::client_config(config.pins.clone(), &config.options.extra_roots_pem)?;
        let transport = Transport::new(
            tls,
            config.endpoint.as_str(),
            config.options.connect_timeout,
            config.options.request_timeout,
        )?;
        let pending = match &config.options.pending_dir {
            Some(dir) => Some(PendingStore::open(dir).map_err(|e| ConfigError::Option {
                field: "pending_dir",
                reason: e.to_string(),
            })?),
            None => None,
        };
        let entitlements_cache = match &config.options.entitlements_dir {
            Some(dir) => Some(
                EntitlementsCache::open(dir).map_err(|e| ConfigError::Option {
                    field: "entitlements_dir",
                    reason: e.to_string(),
                })?,
            ),
            None => None,
        };
        Ok(Self {
            config,
            transport,
            pending,
            entitlements_cache,
            retry_lock: tokio::sync::Mutex::new(()),
            clock: Arc::new(SystemClock),
        })
    }

    /// Use `clock` as the device clock (default: [`SystemClock`]). It decides nothing; it
    /// measures the verdict's skew and stamps pending files. Tests give an
    /// [`OffsetClock`](crate::OffsetClock) to simulate a device whose clock is wrong.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.config.options
    }

    /// Verify a purchase for `account_id` under the options' app id. `Ok` carries a checked
    /// verdict, paid or not; a failure to get one is an error, and (for network, timeout and
    /// 5xx) the receipt is kept pending before the error is returned.
    pub async fn verify(
        &self,
        receipt: &Receipt,
        account_id: &str,
    ) -> Result<CheckedVerdict, ClientError> {
        self.verify_product(receipt, account_id, None).await
    }

    /// [`Client::verify`] for the product the app sold: with `Some(product_id)`, a genuine
    /// receipt for another product is `not_paid / wrong_product` and is not consumed (the
    /// verifier refuses it before recording; the same receipt still pays for its own
    /// product), and a `paid` verdict for another product is never `paid` here either
    /// ([`decision`]). The product id is sent in the sealed request and kept in the pending
    /// file, so a retry asks for the same product. `None` is [`Client::verify`].
    pub async fn verify_product(
        &self,
        receipt: &Receipt,
        account_id: &str,
        expected_product_id: Option<&str>,
    ) -> Result<CheckedVerdict, ClientError> {
        let app_id = self.config.options.app_id.clone();
        let request = PendingRequest {
            receipt,
            account_id,
            app_id: &app_id,
            expected_product_id,
        };
        self.verify_for(&request).await
    }

    async fn verify_for(
        &self,
        request: &PendingRequest<'_>,
    ) -> Result<CheckedVerdict, ClientError> {
        validate_request(request)?;
        let hash = request.receipt.sha256_hex();
        let deadline = self.config.options.deadline;
        let mut attempts = 0u32;
        let started = Instant::now();
        let result = match tokio::time::timeout(
            deadline,
            self.attempts(request, &hash, started, &mut attempts),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(ClientError::NoVerdict {
                cause: Unverified::Deadline(deadline),
                kept: Kept::NoPendingDir,
            }),
        };
        match result {
            Ok(verdict) => {
                if verdict.product_overridden {
                    emit(LogLevel::Warn, || {
                        format!(
                            "verdict for receipt {} is paid for another product than the expected one: not paid (wrong_product); the verifier ignored the expected product",
                            short(&hash)
                        )
                    });
                }
                emit(LogLevel::Info, || {
                    format!(
                        "verdict for receipt {}: {} after {} attempt(s) in {} ms",
                        short(&hash),
                        match verdict.claims.reason {
                            None => "paid".to_string(),
                            Some(reason) => format!("not paid ({reason})"),
                        },
                        attempts,
                        started.elapsed().as_millis()
                    )
                });
                self.log_skew(&hash, verdict.device_clock_skew_secs);
                if let Some(store) = &self.pending {
                    match store.remove(&hash) {
                        Ok(true) => emit(LogLevel::Info, || {
                            format!("receipt {} removed from pending", short(&hash))
                        }),
                        Ok(false) => {}
                        Err(e) => emit(LogLevel::Error, || {
                            format!(
                                "receipt {} verified but not removed from pending: {e}",
                                short(&hash)
                            )
                        }),
                    }
                }
                Ok(verdict)
            }
            Err(ClientError::NoVerdict { cause, .. }) => {
                let kind = cause.kind();
                let kept = self.keep_pending(request, &hash, attempts, kind);
                let err = ClientError::NoVerdict { cause, kept };
                emit(LogLevel::Warn, || {
                    format!("no verdict for receipt {} ({kind}): {err}", short(&hash))
                });
                Err(err)
            }
            Err(e) if e.may_be_recorded() => {
                let kind = e.kind();
                let kept = self.keep_pending(request, &hash, attempts, kind);
                let err = ClientError::AnswerRefused {
                    cause: Box::new(e),
                    kept,
                };
                emit(LogLevel::Error, || {
                    format!(
                        "answer for receipt {} refused ({kind}): {err}",
                        short(&hash)
                    )
                });
                Err(err)
            }
            Err(e) => {
                emit(LogLevel::Error, || {
                    format!(
                        "verification of receipt {} failed ({}): {e}",
                        short(&hash),
                        e.kind()
                    )
                });
                Err(e)
            }
        }
    }

    /// The skew event: debug when within the options' `clock_skew`, a warning beyond it.
    /// Either way the verdict was accepted: it echoes this request's nonce.
    fn log_skew(&self, hash: &str, skew: i64) {
        let tolerated = i64::try_from(self.config.options.clock_skew.as_secs()).unwrap_or(i64::MAX);
        let level = if skew.unsigned_abs() > tolerated.unsigned_abs() {
            LogLevel::Warn
        } else {
            LogLevel::Debug
        };
        emit(level, || {
            format!(
                "device clock skew {skew:+} s against the verdict for receipt {} (device time minus verdict iat; the verdict is accepted, it echoes this request's nonce)",
                short(hash)
            )
        });
    }

    /// Synchronous on purpose: no `.await`, so a dropped future cannot interrupt it.
    fn keep_pending(
        &self,
        request: &PendingRequest<'_>,
        hash: &str,
        attempts: u32,
        kind: PaySealErrorKind,
    ) -> Kept {
        let Some(store) = &self.pending else {
            return Kept::NoPendingDir;
        };
        let now = self.clock.now_unix();
        match store.record(request, attempts, kind, now) {
            Ok(entry) => {
                emit(LogLevel::Info, || {
                    format!(
                        "receipt {} kept pending ({} attempt(s) so far)",
                        short(hash),
                        entry.attempts
                    )
                });
                Kept::Saved
            }
            Err(e) => {
                emit(LogLevel::Error, || {
                    format!("receipt {} could not be kept pending: {e}", short(hash))
                });
                Kept::SaveFailed(e.to_string())
            }
        }
    }

    async fn attempts(
        &self,
        request: &PendingRequest<'_>,
        hash: &str,
        started: Instant,
        attempts: &mut u32,
    ) -> Result<CheckedVerdict, ClientError> {
        let policy = &self.config.options.retry;
        let deadline = self.config.options.deadline;
        loop {
            *attempts += 1;
            let n = *attempts;
            emit(LogLevel::Debug, || {
                format!(
                    "attempt {n}/{} for receipt {}",
                    policy.max_attempts,
                    short(hash)
                )
            });
            let err = match self.attempt(request, hash).await {
                Ok(verdict) => return Ok(verdict),
                Err(ClientError::Transport(t)) if t.is_retryable() => t,
                Err(e) => return Err(e),
            };
            let no_verdict = |t: TransportError| ClientError::NoVerdict {
                cause: Unverified::Transport(t),
                kept: Kept::NoPendingDir,
            };
            if n >= policy.max_attempts {
                return Err(no_verdict(err));
            }
            let delay = backoff_delay(policy, n + 1, err.retry_after(), jitter());
            if started.elapsed() + delay >= deadline {
                return Err(no_verdict(err));
            }
            emit(LogLevel::Warn, || {
                format!(
                    "attempt {n} failed: {err}; retrying in {} ms",
                    delay.as_millis()
                )
            });
            tokio::time::sleep(delay).await;
        }
    }

    /// One sealed request with a fresh nonce, its response opened and checked.
    async fn attempt(
        &self,
        request: &PendingRequest<'_>,
        hash: &str,
    ) -> Result<CheckedVerdict, ClientError> {
        let nonce = fresh_nonce()?;
        let wire = VerifyRequest {
            v: PROTOCOL_VERSION,
            nonce: nonce.clone(),
            app_id: request.app_id.to_string(),
            account_id: request.account_id.to_string(),
            receipt: request.receipt.clone(),
            sdk: SdkInfo {
                name: "payseal-sdk-core".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            expected_product_id: request.expected_product_id.map(str::to_string),
        };
        let plaintext =
            serde_json::to_vec(&wire).map_err(|e| ClientError::Internal(e.to_string()))?;
        let (sealed, context) = seal_request(&self.config.key_config, &plaintext)
            .map_err(|e| ClientError::Internal(format!("sealing failed: {e}")))?;
        let body = self.transport.post(sealed).await?;
        let opened = context
            .open_response(&body)
            .map_err(ClientError::Envelope)?;
        let response: VerifyResponse =
            serde_json::from_slice(&opened).map_err(|e| ClientError::Response(e.to_string()))?;
        if response.v != PROTOCOL_VERSION {
            return Err(ClientError::Response(format!(
                "protocol version {} (expected {PROTOCOL_VERSION})",
                response.v
            )));
        }
        let expected = Expected {
            nonce: &nonce,
            receipt_sha256: hash,
            app_id: request.app_id,
            account_id: request.account_id,
            product_id: request.expected_product_id,
        };
        Ok(decision::check(
            &self.config.verdicts,
            &response.verdict,
            &expected,
            self.clock.now_unix(),
        )?)
    }

    /// What `account_id` owns now: a sealed request to the verifier, answered by its signed
    /// entitlements document, checked like a verdict (profile key, `typ`, this request's nonce,
    /// this app and account). A checked answer is kept in `entitlements_dir`. When the verifier
    /// cannot be reached (network, timeout, 5xx, deadline), the kept answer is returned instead,
    /// checked again, with `from_cache` set and its age; an edited kept answer is
    /// [`ClientError::CachedEntitlements`], and with none kept the call fails
    /// ([`ClientError::NoEntitlements`]): it never invents an answer.
    pub async fn entitlements(&self, account_id: &str) -> Result<CheckedEntitlements, ClientError> {
        payseal_protocol::request::validate_account_id(account_id)
            .map_err(|e| ClientError::InvalidReceipt(e.to_string()))?;
        match self.entitlements_exchange(account_id, &[]).await {
            Ok((answer, _)) => Ok(answer),
            Err(ClientError::NoVerdict { cause, .. }) => {
                let Some(cache) = &self.entitlements_cache else {
                    return Err(ClientError::NoEntitlements { cause });
                };
                let now_ms = self.clock.now_unix_ms();
                match cache.load(
                    &self.config.verdicts,
                    &self.config.options.app_id,
                    account_id,
                    now_ms,
                )? {
                    Some(kept) => {
                        emit(LogLevel::Warn, || {
                            format!(
                                "verifier unreachable ({}): entitlements answered from the offline copy, {} s old",
                                cause.kind(),
                                kept.age_ms / 1000
                            )
                        });
                        Ok(kept)
                    }
                    None => Err(ClientError::NoEntitlements { cause }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The kept (offline) entitlements answer of `account_id`, checked again, without asking
    /// the verifier (`None`: none kept or no `entitlements_dir`). An account id the verifier
    /// would refuse is [`ClientError::InvalidReceipt`], as in [`Client::entitlements`].
    pub fn cached_entitlements(
        &self,
        account_id: &str,
    ) -> Result<Option<CheckedEntitlements>, ClientError> {
        payseal_protocol::request::validate_account_id(account_id)
            .map_err(|e| ClientError::InvalidReceipt(e.to_string()))?;
        let Some(cache) = &self.entitlements_cache else {
            return Ok(None);
        };
        let now_ms = self.clock.now_unix_ms();
        Ok(cache.load(
            &self.config.verdicts,
            &self.config.options.app_id,
            account_id,
            now_ms,
        )?)
    }

    /// Restore in one call: every receipt the store handed the app (at most
    /// [`MAX_RESTORE_RECEIPTS`]) in one sealed request; each is judged by the verifier exactly as
    /// [`Client::verify`] would have it judged, and its verdict checked here as `verify` checks
    /// one (this request's nonce, that receipt's hash, app, account). Then the account's
    /// entitlements, checked and kept like [`Client::entitlements`]. A failed restore keeps
    /// nothing pending: the store still holds the receipts; call it again.
    pub async fn restore(
        &self,
        receipts: &[Receipt],
        account_id: &str,
    ) -> Result<Restored, ClientError> {
        if receipts.len() > MAX_RESTORE_RECEIPTS {
            return Err(ClientError::InvalidReceipt(format!(
                "a restore carries at most {MAX_RESTORE_RECEIPTS} receipts ({} given): restore in batches",
                receipts.len()
            )));
        }
        for receipt in receipts {
            validate_receipt(receipt, account_id)?;
        }
        let (entitlements, verdicts) = self.entitlements_exchange(account_id, receipts).await?;
        Ok(Restored {
            verdicts,
            entitlements,
        })
    }

    /// One entitlements request (with `restore` receipts) with retries and the deadline; the
    /// checked answer, kept in the cache.
    async fn entitlements_exchange(
        &self,
        account_id: &str,
        restore: &[Receipt],
    ) -> Result<(CheckedEntitlements, Vec<CheckedVerdict>), ClientError> {
        let deadline = self.config.options.deadline;
        let started = Instant::now();
        let policy = &self.config.options.retry;
        let run = async {
            let mut n = 0u32;
            loop {
                n += 1;
                let err = match self.entitlements_attempt(account_id, restore).await {
                    Ok(answer) => return Ok(answer),
                    Err(ClientError::Transport(t)) if t.is_retryable() => t,
                    Err(e) => return Err(e),
                };
                let no_answer = |t: TransportError| ClientError::NoVerdict {
                    cause: Unverified::Transport(t),
                    kept: Kept::NoPendingDir,
                };
                if n >= policy.max_attempts {
                    return Err(no_answer(err));
                }
                let delay = backoff_delay(policy, n + 1, err.retry_after(), jitter());
                if started.elapsed() + delay >= deadline {
                    return Err(no_answer(err));
                }
                tokio::time::sleep(delay).await;
            }
        };
        let (answer, verdicts) = match tokio::time::timeout(deadline, run).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ClientError::NoVerdict {
                    cause: Unverified::Deadline(deadline),
                    kept: Kept::NoPendingDir,
                })
            }
        };
        if let Some(cache) = &self.entitlements_cache {
            if let Err(e) = cache.save(&answer) {
                emit(LogLevel::Error, || {
                    format!("entitlements answer could not be kept offline: {e}")
                });
            }
        }
        emit(LogLevel::Info, || {
            format!(
                "entitlements: {} active, {} receipt(s) restored",
                answer.claims.entitlements.len(),
                verdicts.len()
            )
        });
        Ok((answer, verdicts))
    }

    /// One sealed entitlements request with a fresh nonce, its answer opened and checked.
    async fn entitlements_attempt(
        &self,
        account_id: &str,
        restore: &[Receipt],
    ) -> Result<(CheckedEntitlements, Vec<CheckedVerdict>), ClientError> {
        let nonce = fresh_nonce()?;
        let app_id = self.config.options.app_id.as_str();
        let wire = EntitlementsRequest {
            v: PROTOCOL_VERSION,
            nonce: nonce.clone(),
            app_id: app_id.to_string(),
            account_id: account_id.to_string(),
            sdk: SdkInfo {
                name: "payseal-sdk-core".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            restore: restore.to_vec(),
        };
        let plaintext =
            serde_json::to_vec(&wire).map_err(|e| ClientError::Internal(e.to_string()))?;
        let (sealed, context) = seal_request(&self.config.key_config, &plaintext)
            .map_err(|e| ClientError::Internal(format!("sealing failed: {e}")))?;
        let body = self.transport.post_entitlements(sealed).await?;
        let opened = context
            .open_response(&body)
            .map_err(ClientError::Envelope)?;
        let response: EntitlementsResponse =
            serde_json::from_slice(&opened).map_err(|e| ClientError::Response(e.to_string()))?;
        if response.v != PROTOCOL_VERSION {
            return Err(ClientError::Response(format!(
                "protocol version {} (expected {PROTOCOL_VERSION})",
                response.v
            )));
        }
        if response.verdicts.len() != restore.len() {
            return Err(ClientError::Response(format!(
                "{} verdicts for {} receipts",
                response.verdicts.len(),
                restore.len()
            )));
        }
        let now = self.clock.now_unix();
        let mut verdicts = Vec::with_capacity(restore.len());
        for (token, receipt) in response.verdicts.iter().zip(restore) {
            let hash = receipt.sha256_hex();
            let expected = Expected {
                nonce: &nonce,
                receipt_sha256: &hash,
                app_id,
                account_id,
                product_id: None,
            };
            verdicts.push(decision::check(
                &self.config.verdicts,
                token,
                &expected,
                now,
            )?);
        }
        let expected = ExpectedEntitlements {
            nonce: Some(&nonce),
            app_id,
            account_id,
        };
        let answer = ents::check(
            &self.config.verdicts,
            &response.entitlements,
            &expected,
            self.clock.now_unix_ms(),
        )?;
        Ok((answer, verdicts))
    }

    /// Verify every pending receipt again, for this client's app id. A receipt that gets a
    /// verdict (paid or not) is removed; one that does not stays. After the first network
    /// failure or timeout the remaining receipts are not tried (the verifier is unreachable)
    /// and stay pending.
    ///
    /// A file is never sent for another app than this client's: a file naming another app id,
    /// a file that does not parse (truncated, edited) or whose name is not its receipt's hash,
    /// and a file whose receipt or account id cannot be sent are reported as
    /// [`ClientError::PendingRefused`], logged, counted in the pass's summary event, and left
    /// on disk untouched. The account id is the file's: the one the player bought with (see
    /// [`PendingStore`](crate::PendingStore) for what the folder can and cannot protect against).
    pub async fn retry_pending(&self) -> Result<Vec<PendingReport>, ClientError> {
        let Some(store) = &self.pending else {
            return Ok(Vec::new());
        };
        let _one_pass_at_a_time = self.retry_lock.lock().await;
        let _ = store.sweep_temporaries();
        let own_app = self.config.options.app_id.clone();
        let mut reports = Vec::new();
        let mut unreachable: Option<Unverified> = None;
        for hash in store.hashes()? {
            let entry = match store.get(&hash) {
                Ok(Some(entry)) => entry,
                Ok(None) => continue, // verified meanwhile by a `verify` call
                Err(e) => {
                    let error = match e {
                        PendingError::Corrupt { .. } => Refusal::Unreadable(e).into(),
                        other => ClientError::Pending(other),
                    };
                    reports.push(self.unsent(hash, String::new(), String::new(), error));
                    continue;
                }
            };
            if entry.app_id != own_app {
                let refusal = Refusal::OtherApp {
                    file_app: printable(&entry.app_id, MAX_QUOTED_APP_ID),
                    client_app: own_app.clone(),
                };
                reports.push(self.unsent(hash, entry.account_id, entry.app_id, refusal.into()));
                continue;
            }
            let request = PendingRequest {
                receipt: &entry.receipt,
                account_id: &entry.account_id,
                app_id: &own_app,
                expected_product_id: entry.expected_product_id.as_deref(),
            };
            if let Err(e) = validate_request(&request) {
                let refusal = Refusal::Invalid(match e {
                    ClientError::InvalidReceipt(why) => why,
                    other => other.to_string(),
                });
                reports.push(self.unsent(hash, entry.account_id, entry.app_id, refusal.into()));
                continue;
            }
            let result = match &unreachable {
                Some(cause) => Err(ClientError::NoVerdict {
                    cause: cause.clone(),
                    kept: Kept::Saved,
                }),
                None => self.verify_for(&request).await,
            };
            if let Err(ClientError::NoVerdict { cause, .. }) = &result {
                if cause.is_unreachable() {
                    unreachable = Some(cause.clone());
                }
            }
            reports.push(PendingReport {
                receipt_sha256: hash,
                account_id: entry.account_id,
                app_id: entry.app_id,
                result,
            });
        }
        let verified = reports.iter().filter(|r| r.result.is_ok()).count();
        let refused = reports.iter().filter(|r| r.is_refused()).count();
        let still = reports.len() - verified - refused;
        emit(
            if refused > 0 {
                LogLevel::Warn
            } else {
                LogLevel::Info
            },
            || {
                format!(
                    "retry_pending: {verified} verified, {still} still pending, {refused} refused (not sent, left on disk)"
                )
            },
        );
        Ok(reports)
    }

    /// A report for a pending file that was not sent, and its log event.
    fn unsent(
        &self,
        receipt_sha256: String,
        account_id: String,
        app_id: String,
        error: ClientError,
    ) -> PendingReport {
        emit(LogLevel::Warn, || {
            format!(
                "pending receipt {} not sent ({}): {error}",
                short(&receipt_sha256),
                error.kind()
            )
        });
        PendingReport {
            receipt_sha256,
            account_id,
            app_id,
            result: Err(error),
        }
    }

    /// How many receipts are pending (0 without a pending directory).
    pub fn pending_count(&self) -> Result<usize, ClientError> {
        match &self.pending {
            Some(store) => Ok(store.count()?),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh_and_long_enough() {
        let a = fresh_nonce().unwrap();
        let b = fresh_nonce().unwrap();
        assert_ne!(a, b);
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&a)
            .unwrap();
        assert!(raw.len() >= payseal_protocol::request::MIN_NONCE_BYTES);
    }

    #[test]
    fn empty_or_oversized_receipts_are_invalid() {
        let good = Receipt::AppStore {
            jws: "a.b.c".into(),
        };
        assert!(validate_receipt(&good, "alice").is_ok());
        assert!(validate_receipt(&good, " ").is_err());
        let empty = Receipt::GooglePlay {
            purchase_data: "{}".into(),
            signature: "".into(),
        };
        assert!(matches!(
            validate_receipt(&empty, "alice"),
            Err(ClientError::InvalidReceipt(_))
        ));
        let huge = Receipt::AppStore {
            jws: "x".repeat(MAX_RECEIPT_BYTES + 1),
        };
        assert!(validate_receipt(&huge, "alice").is_err());
    }

    #[test]
    fn unverified_names_its_cause() {
        let network = Unverified::Transport(TransportError::Network("x".into()));
        assert_eq!(network.kind(), PaySealErrorKind::Network);
        assert!(network.is_unreachable());
        assert!(Unverified::Deadline(Duration::from_secs(1)).is_unreachable());
        let busy = Unverified::Transport(TransportError::Unavailable {
            status: 503,
            retry_after: None,
        });
        assert_eq!(busy.kind(), PaySealErrorKind::ServerRejected);
        assert!(!busy.is_unreachable());
    }

    #[test]
    fn only_answers_that_did_not_check_out_may_be_recorded() {
        let recorded = [
            ClientError::Response("x".into()),
            ClientError::Decision(DecisionError::Nonce),
            ClientError::Transport(TransportError::Unexpected {
                status: 200,
                detail: "response too large".into(),
            }),
        ];
        for e in &recorded {
            assert!(e.may_be_recorded(), "{e}");
        }
        let not_recorded = [
            ClientError::Transport(TransportError::PinMismatch),
            ClientError::Transport(TransportError::Rejected {
                status: 400,
                detail: "x".into(),
            }),
            ClientError::InvalidReceipt("x".into()),
            ClientError::Internal("x".into()),
        ];
        for e in &not_recorded {
            assert!(!e.may_be_recorded(), "{e}");
        }
        let kept = ClientError::AnswerRefused {
            cause: Box::new(ClientError::Decision(DecisionError::Receipt)),
            kept: Kept::Saved,
        };
        assert_eq!(kept.kind(), PaySealErrorKind::Tampered);
        assert!(kept.to_string().contains("kept pending"), "{kept}");
    }
}

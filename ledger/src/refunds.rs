//! The durable queue of refund-request answers: a store asked the developer about a refund
//! (App Store `CONSUMPTION_REQUEST`, Google Play `PendingRefundReviewNotification`), and the answer is owed before the store's deadline.
//!
//! A row is queued by the notification's own record ([`crate::notifications::Effect::AnswerRefund`]),
//! in the same transaction, once per `(store, notification_id)`: a duplicate notification
//! queues nothing. Workers on any number of instances claim due rows with a lease (PostgreSQL:
//! `FOR UPDATE SKIP LOCKED`), so each attempt is made by one of them; a result is written
//! only by the claim that made it (fenced by the attempt number). A crash between the record
//! and the answer leaves the row pending: the next claim after the lease answers it.

use payseal_protocol::Store;

use crate::{BoxFuture, LedgerError};

/// A refund request to answer (what the notification's record queues).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefundRequest {
    /// The app.
    pub app_id: String,
    /// The transaction the customer asked a refund of.
    pub transaction_key: String,
    /// `production` or `sandbox` (where to answer).
    pub environment: String,
    /// When the store stops accepting an answer, Unix milliseconds.
    pub deadline_ms: i64,
    /// What the store needs beside the transaction to take the answer (Google Play: the
    /// notification's `pendingRefundToken`; `None` for the App Store).
    pub answer_token: Option<String>,
}

/// A queued answer's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundState {
    /// To be answered.
    Pending,
    /// The store accepted the answer.
    Answered,
    /// Nothing to send (no policy answer, no consent, or the store refused the answer).
    Skipped,
    /// The deadline passed unanswered.
    Expired,
}

impl RefundState {
    /// Every state.
    pub const ALL: [RefundState; 4] = [
        RefundState::Pending,
        RefundState::Answered,
        RefundState::Skipped,
        RefundState::Expired,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Pending => "pending",
            RefundState::Answered => "answered",
            RefundState::Skipped => "skipped",
            RefundState::Expired => "expired",
        }
    }

    /// The state stored as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One queued answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequestRow {
    /// The store.
    pub store: Store,
    /// The notification that asked.
    pub notification_id: String,
    /// The app.
    pub app_id: String,
    /// The transaction.
    pub transaction_key: String,
    /// `production` or `sandbox`.
    pub environment: String,
    /// The store's deadline, Unix milliseconds.
    pub deadline_ms: i64,
    /// Its state.
    pub state: RefundState,
    /// Attempts claimed so far.
    pub attempts: i64,
    /// When it is due next (or its lease ends), Unix milliseconds.
    pub next_attempt_ms: i64,
    /// When it was queued.
    pub created_ms: i64,
    /// When it was finished.
    pub finished_ms: Option<i64>,
    /// What was sent, or why not / the last error.
    pub detail: Option<String>,
    /// What the store needs beside the transaction (Google Play's `pendingRefundToken`).
    pub answer_token: Option<String>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundAttempt {
    /// Finished in `state` (not pending) at `at_ms`, with `detail`.
    Done {
        /// Answered, skipped or expired.
        state: RefundState,
        /// When.
        at_ms: i64,
        /// What was sent or why not.
        detail: String,
    },
    /// Try again at `next_attempt_ms`.
    Retry {
        /// When.
        next_attempt_ms: i64,
        /// The error.
        error: String,
    },
}

/// The refund-answer queue (implemented once for every backend).
pub trait RefundRequests: Send + Sync {
    /// Lease up to `limit` pending rows due at `now_ms` until `lease_until_ms`, oldest deadline
    /// first, skipping rows another instance holds.
    fn claim_refund_requests(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RefundRequestRow>, LedgerError>>;
    /// Write `result` to the row if it is still pending under claim number `attempt`;
    /// whether it was written.
    fn finish_refund_request<'a>(
        &'a self,
        store: Store,
        notification_id: &'a str,
        attempt: i64,
        result: RefundAttempt,
    ) -> BoxFuture<'a, Result<bool, LedgerError>>;
    /// Rows (in `state`, or all), newest first, at most `limit`.
    fn list_refund_requests(
        &self,
        state: Option<RefundState>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<RefundRequestRow>, LedgerError>>;
}

/// The store whose stored name ([`Store::as_str`]) is `name`.
pub(crate) fn store_named(name: &str) -> Option<Store> {
    [
        Store::GooglePlay,
        Store::AppStore,
        Store::Huawei,
        Store::Sandbox,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
}

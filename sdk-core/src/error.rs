//! The SDK's one error-kind vocabulary: [`PaySealErrorKind`], and the app-facing
//! [`PaySealError`] with one variant per kind, both generated from the single list below.
//!
//! Every layer's error says its kind once ([`ClientError::kind`](crate::ClientError::kind));
//! the FFI error, the pending reports (`PendingOutcome`), the pending files' `last_error`, the
//! CLI's JSON and the log events all use these names, so there is no second list to keep in
//! step.

use serde::{Deserialize, Serialize};

/// Declares the kinds once: each becomes a [`PaySealErrorKind`] value (with its stable
/// snake_case name, also its serde name) and a [`PaySealError`] variant carrying a message.
macro_rules! error_kinds {
    ($( $(#[doc = $doc:literal])* $(#[serde($($serde:tt)*)])* $kind:ident = $name:literal, )*) => {
        /// The kind of a failure, as a value: in [`PaySealError`], pending results, pending
        /// files (`last_error`), the CLI's JSON and log events.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, uniffi::Enum)]
        pub enum PaySealErrorKind {
            $( $(#[doc = $doc])* #[serde(rename = $name)] $(#[serde($($serde)*)])* $kind, )*
        }

        impl PaySealErrorKind {
            /// Every kind.
            pub const ALL: &'static [PaySealErrorKind] = &[$(PaySealErrorKind::$kind),*];

            /// The stable snake_case name.
            pub fn as_str(self) -> &'static str {
                match self { $(PaySealErrorKind::$kind => $name,)* }
            }
        }

        /// The failures an app sees, one per [`PaySealErrorKind`], each with a human message.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
        #[uniffi(flat_error)]
        pub enum PaySealError {
            $( $(#[doc = $doc])* #[error("{message}")] $kind {
                /// What happened.
                message: String,
            }, )*
        }

        impl PaySealError {
            /// An error of `kind` saying `message`.
            pub fn new(kind: PaySealErrorKind, message: impl Into<String>) -> Self {
                let message = message.into();
                match kind { $(PaySealErrorKind::$kind => PaySealError::$kind { message },)* }
            }

            /// This error's kind.
            pub fn kind(&self) -> PaySealErrorKind {
                match self { $(PaySealError::$kind { .. } => PaySealErrorKind::$kind,)* }
            }

            /// The human message.
            pub fn message(&self) -> &str {
                match self { $(PaySealError::$kind { message } => message,)* }
            }
        }
    };
}

error_kinds! {
    /// The profile or an option is invalid (raised at construction).
    InvalidProfile = "invalid_profile",
    /// The receipt (or account id) is malformed or empty; or a pending file is unreadable,
    /// edited or for another app (not sent).
    InvalidReceipt = "invalid_receipt",
    /// The verifier could not be reached (offline, refused, reset, untrusted certificate).
    /// Kept pending.
    Network = "network",
    /// No verdict within the timeouts or the overall deadline. Kept pending.
    Timeout = "timeout",
    /// The server's certificate is not pinned by the profile: not the verifier. Not retried,
    /// not kept (nothing was sent).
    PinMismatch = "pin_mismatch",
    /// The answer is not a genuine verdict for this request (altered, replayed, relayed).
    /// Kept pending: the verifier may have recorded the redemption.
    Tampered = "tampered",
    /// The verifier refused the request (4xx), or kept failing (5xx; then kept pending).
    // Pending files written before the vocabulary was unified said `server_unavailable` (5xx)
    // or `transport`.
    #[serde(alias = "server_unavailable", alias = "transport")]
    ServerRejected = "server_rejected",
    /// A bug or an environment failure; the message says which.
    Internal = "internal",
}

impl PaySealError {
    /// An [`PaySealErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        PaySealError::new(PaySealErrorKind::Internal, message)
    }
}

impl std::fmt::Display for PaySealErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names_and_each_kind_has_its_error() {
        for &kind in PaySealErrorKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(
                serde_json::from_str::<PaySealErrorKind>(&json).unwrap(),
                kind
            );
            let e = PaySealError::new(kind, "m");
            assert_eq!((e.kind(), e.message()), (kind, "m"));
            assert_eq!(e.to_string(), "m");
        }
        assert_eq!(PaySealErrorKind::ALL.len(), 8);
    }

    #[test]
    fn old_pending_names_still_read() {
        for old in ["\"server_unavailable\"", "\"transport\""] {
            assert_eq!(
                serde_json::from_str::<PaySealErrorKind>(old).unwrap(),
                PaySealErrorKind::ServerRejected
            );
        }
        assert!(serde_json::from_str::<PaySealErrorKind>("\"no_such_kind\"").is_err());
    }
}

//! The errors of the C surface, mapped once to an error kind and a message at the boundary,
//! and the guard that keeps panics from crossing it.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use payseal_sdk_core::{PaySealError, PaySealErrorKind};

use crate::cstring;

/// Error kinds as returned by every call (0: success). The SDK's kinds, plus
/// `InvalidArgument` for misuse of the C surface itself.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Success.
    Ok = 0,
    /// The profile or an option is invalid.
    InvalidProfile = 1,
    /// The receipt or account id is malformed or empty.
    InvalidReceipt = 2,
    /// The verifier could not be reached; kept pending.
    Network = 3,
    /// No verdict in time; kept pending.
    Timeout = 4,
    /// The server is not the pinned verifier; not retried.
    PinMismatch = 5,
    /// The answer is not a genuine verdict for this request.
    Tampered = 6,
    /// The verifier refused the request or kept failing.
    ServerRejected = 7,
    /// A bug or an environment failure (a caught panic included).
    Internal = 8,
    /// The C surface was misused: a null pointer, text that is not UTF-8, a freed handle.
    InvalidArgument = 9,
}

impl From<PaySealErrorKind> for Kind {
    fn from(k: PaySealErrorKind) -> Self {
        match k {
            PaySealErrorKind::InvalidProfile => Kind::InvalidProfile,
            PaySealErrorKind::InvalidReceipt => Kind::InvalidReceipt,
            PaySealErrorKind::Network => Kind::Network,
            PaySealErrorKind::Timeout => Kind::Timeout,
            PaySealErrorKind::PinMismatch => Kind::PinMismatch,
            PaySealErrorKind::Tampered => Kind::Tampered,
            PaySealErrorKind::ServerRejected => Kind::ServerRejected,
            PaySealErrorKind::Internal => Kind::Internal,
        }
    }
}

/// A failure of one call.
#[derive(Debug, thiserror::Error)]
pub enum FfiError {
    /// The SDK's error.
    #[error("{}", .0.message())]
    Sdk(#[from] PaySealError),
    /// Misuse of the C surface.
    #[error("{0}")]
    InvalidArgument(String),
    /// A panic, caught.
    #[error("internal error: the PaySeal library panicked ({0})")]
    Panic(String),
}

impl FfiError {
    /// The kind the caller sees.
    pub fn kind(&self) -> Kind {
        match self {
            FfiError::Sdk(e) => e.kind().into(),
            FfiError::InvalidArgument(_) => Kind::InvalidArgument,
            FfiError::Panic(_) => Kind::Internal,
        }
    }

    /// A misuse error.
    pub fn invalid(message: impl Into<String>) -> Self {
        FfiError::InvalidArgument(message.into())
    }
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Run `f` and catch any panic, as an [`FfiError::Panic`].
pub fn catch<T>(f: impl FnOnce() -> Result<T, FfiError>) -> Result<T, FfiError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| Err(FfiError::Panic(panic_text(&*p))))
}

/// The boundary of every call: run `f` without letting a panic out, and turn its result into
/// the returned kind; on failure `*out_message` (when not null) gets the message, which the
/// caller frees with `payseal_string_free`.
///
/// # Safety
/// `out_message` is null or valid for one pointer write.
pub unsafe fn boundary(
    out_message: *mut *mut c_char,
    f: impl FnOnce() -> Result<(), FfiError>,
) -> i32 {
    if !out_message.is_null() {
        *out_message = std::ptr::null_mut();
    }
    match catch(f) {
        Ok(()) => Kind::Ok as i32,
        Err(e) => {
            if !out_message.is_null() {
                *out_message = cstring::owned(e.to_string());
            }
            e.kind() as i32
        }
    }
}

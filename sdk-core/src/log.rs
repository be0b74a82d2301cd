//! The log hook: apps route SDK events to their own logging by giving a [`PaySealLogger`]
//! (a foreign trait: Kotlin and Swift implement it) to [`set_logger`].
//!
//! Events are attempts, retries, outcomes and pending-store changes. They never contain
//! receipt content, nonces, verdict tokens, keys or decrypted payloads: only kinds, counts,
//! durations, HTTP statuses, and the receipt's SHA-256 prefix to correlate events.

use std::sync::{Arc, RwLock};

/// Severity of a log event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, uniffi::Enum)]
pub enum LogLevel {
    /// Something failed and the caller gets an error.
    Error,
    /// Something failed and is being retried or kept pending.
    Warn,
    /// Outcomes.
    Info,
    /// Attempts and timings.
    Debug,
}

/// Receives the SDK's log events; implemented by the app (Kotlin, Swift or Rust).
#[uniffi::export(with_foreign)]
pub trait PaySealLogger: Send + Sync {
    /// One event. Called from SDK threads; must not block for long.
    fn log(&self, level: LogLevel, message: String);
}

static LOGGER: RwLock<Option<Arc<dyn PaySealLogger>>> = RwLock::new(None);

/// Route the SDK's log events to `logger` (replacing any previous one).
#[uniffi::export]
pub fn set_logger(logger: Arc<dyn PaySealLogger>) {
    match LOGGER.write() {
        Ok(mut slot) => *slot = Some(logger),
        Err(poisoned) => *poisoned.into_inner() = Some(logger),
    }
}

/// Stop sending log events.
#[uniffi::export]
pub fn clear_logger() {
    match LOGGER.write() {
        Ok(mut slot) => *slot = None,
        Err(poisoned) => *poisoned.into_inner() = None,
    }
}

/// Send one event to the app's logger, if any. The message is built only when there is one.
/// A logger that panics (or a foreign one that throws) is ignored, never propagated.
pub(crate) fn emit(level: LogLevel, message: impl FnOnce() -> String) {
    let logger = match LOGGER.read() {
        Ok(slot) => slot.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    if let Some(logger) = logger {
        let message = message();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            logger.log(level, message);
        }));
    }
}

/// The first 12 hex digits of a receipt hash, enough to correlate events.
pub(crate) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// `text` without control characters, at most `max` characters: for values read from files
/// a rooted device may have edited, before they are quoted in a message.
pub(crate) fn printable(text: &str, max: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max).collect()
}

//! The device clock, behind a trait so tests (and the FFI's test constructor) can give the
//! client a clock that is wrong, as many devices' are.
//!
//! The SDK never trusts the device clock to decide anything: a verdict is the answer to
//! *this* request because it echoes this request's fresh nonce and receipt hash, not because
//! of its `iat`/`exp` (those are for the application server, which has a good clock). The
//! clock only measures the skew reported in the verdict and the logs, and stamps pending
//! files.

use std::fmt::Debug;

/// A source of the current time, in Unix seconds.
pub trait Clock: Send + Sync + Debug {
    /// Now, in Unix seconds.
    fn now_unix(&self) -> i64;
}

/// The device's clock (`payseal_protocol::time::now_s`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        system_now()
    }
}

/// The device's clock moved by a fixed number of seconds: a device whose clock is behind
/// (negative) or ahead (positive). For tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetClock {
    /// Seconds added to the system clock.
    pub offset_secs: i64,
}

impl Clock for OffsetClock {
    fn now_unix(&self) -> i64 {
        system_now().saturating_add(self.offset_secs)
    }
}

fn system_now() -> i64 {
    payseal_protocol::time::now_s()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_moves_the_system_clock() {
        let before = SystemClock.now_unix();
        let ahead = OffsetClock {
            offset_secs: 86_400,
        }
        .now_unix();
        let behind = OffsetClock { offset_secs: -120 }.now_unix();
        let after = SystemClock.now_unix();
        assert!(ahead >= before + 86_400 && ahead <= after + 86_400);
        assert!(behind >= before - 120 && behind <= after - 120);
        assert_eq!(
            OffsetClock {
                offset_secs: i64::MAX
            }
            .now_unix(),
            i64::MAX
        );
    }
}

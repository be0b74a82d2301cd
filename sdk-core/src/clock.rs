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

    /// Now, in Unix milliseconds (measures an entitlements answer's age); by default
    /// [`Clock::now_unix`] in milliseconds.
    fn now_unix_ms(&self) -> i64 {
        self.now_unix().saturating_mul(1000)
    }
}

/// The device's clock (`payseal_protocol::time::now_s`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        system_now()
    }

    fn now_unix_ms(&self) -> i64 {
        payseal_protocol::time::now_ms()
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

    fn now_unix_ms(&self) -> i64 {
        payseal_protocol::time::now_ms().saturating_add(self.offset_secs.saturating_mul(1000))
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

    #[test]
    fn milliseconds_are_not_whole_seconds() {
        let before = payseal_protocol::time::now_ms();
        let now = SystemClock.now_unix_ms();
        let behind = OffsetClock { offset_secs: -120 }.now_unix_ms();
        let after = payseal_protocol::time::now_ms();
        assert!(
            now >= before && now <= after,
            "{before} <= {now} <= {after}"
        );
        assert!(behind >= before - 120_000 && behind <= after - 120_000);
        // Within a few milliseconds of each other, not rounded down to the second.
        let mut seen_odd = false;
        for _ in 0..50 {
            seen_odd |= SystemClock.now_unix_ms() % 1000 != 0;
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
        assert!(seen_odd, "the system clock is read in whole seconds");
    }
}

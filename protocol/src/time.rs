//! The wall clock, read in one place: the current Unix time, in the units PaySeal's formats
//! carry (milliseconds in the ledger, receipts and store data; seconds in verdicts and
//! webhooks). Every crate of the workspace reads the time through these two functions, so a
//! clock before 1970 or past the `i64` range is decided once: 0 before the epoch, `i64::MAX`
//! past it. Code that decides with the time takes it as an argument (the store rules, the
//! verdict checks); only the outer layers call these.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, Unix milliseconds (0 if the system clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, Unix seconds (0 if the system clock is before 1970).
pub fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_and_seconds_name_the_same_instant() {
        let (s0, ms, s1) = (now_s(), now_ms(), now_s());
        // 2024-01-01T00:00:00Z: a clock read in seconds where milliseconds were meant (or the
        // reverse) fails one of these.
        assert!(s0 > 1_704_067_200 && s0 < 1_704_067_200_000, "{s0}");
        assert!(ms >= s0 * 1000 && ms < (s1 + 1) * 1000, "{s0} {ms} {s1}");
    }
}

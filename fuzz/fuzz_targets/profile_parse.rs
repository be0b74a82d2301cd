//! `Profile::parse`: an accepted profile is decoded in full and survives a round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use payseal_protocol::profile::{Profile, MIN_PINS};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(profile) = Profile::parse(text) {
        assert!(profile.tls_pins.len() >= MIN_PINS);
        assert!(!profile.verdict_keys.is_empty());
        let again = Profile::parse(&profile.to_json()).expect("a parsed profile re-parses");
        assert_eq!(again, profile);
        assert_eq!(again.to_json(), profile.to_json());
    }
});

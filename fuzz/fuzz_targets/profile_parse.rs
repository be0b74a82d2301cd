//! `Profile::parse`: an accepted profile is fully usable and survives a round trip.
#![no_main]
use libfuzzer_sys::fuzz_target;
use payseal_protocol::profile::Profile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(profile) = Profile::parse(text) {
        assert!(profile.key_config().is_ok());
        assert!(profile.verdict_public_keys().is_ok());
        assert!(profile.pin_digests().is_ok());
        let again = Profile::parse(&profile.to_json()).expect("a parsed profile re-parses");
        assert_eq!(again.to_json(), profile.to_json());
    }
});

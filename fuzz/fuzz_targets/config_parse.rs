//! Verifier configuration from TOML text, resolved against the fixture folder (its key, TLS
//! and root files), no environment overrides.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Paths into /dev, /proc or /sys (e.g. /dev/zero as a key file) only test the machine.
    if ["/dev", "/proc", "/sys"].iter().any(|p| text.contains(p)) {
        return;
    }
    let path = payseal_fuzz::config_path();
    if let Err(e) = payseal_verifier::config::load_from_str(text, &path, |_| None) {
        let _ = e.to_string();
    }
});

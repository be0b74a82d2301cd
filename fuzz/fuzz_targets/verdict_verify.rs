//! `VerdictVerifier::verify` with the fixture's verdict keys, at a fixed time.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let verifier = payseal_fuzz::fixtures().verdict_verifier();
    let _ = verifier.verify(token, payseal_fuzz::VERDICT_NOW);
    let _ = verifier.with_skew(i64::MAX).verify(token, i64::MIN + 1);
});

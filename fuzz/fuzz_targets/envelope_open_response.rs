//! `ClientContext::open_response` for a fixed request: only the verifier's own answer opens.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (_, client) = payseal_fuzz::fixtures().client_context();
    let _ = client.open_response(data);
});

//! `open_request` with the fixture's server keys; an opened request is parsed and answered.
#![no_main]
use libfuzzer_sys::fuzz_target;
use payseal_protocol::envelope::open_request;
use payseal_protocol::VerifyRequest;

fuzz_target!(|data: &[u8]| {
    let f = payseal_fuzz::fixtures();
    if let Ok((plain, reply)) = open_request(&f.settings.hpke_keys, data) {
        let _ = serde_json::from_slice::<VerifyRequest>(&plain);
        reply
            .seal_response(b"{}")
            .expect("sealing a response never fails");
    }
});

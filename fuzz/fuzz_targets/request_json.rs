//! The JSON inside the envelopes: `VerifyRequest` (verifier side) and `VerifyResponse` (SDK side).
#![no_main]
use libfuzzer_sys::fuzz_target;
use payseal_protocol::{VerifyRequest, VerifyResponse};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = serde_json::from_slice::<VerifyRequest>(data) {
        let _ = serde_json::to_vec(&request).expect("a request serializes");
        let _ = request.receipt.sha256_hex();
    }
    let _ = serde_json::from_slice::<VerifyResponse>(data);
});

//! Sandbox store rule (`purchase_data \0 signature`): paid only for bytes the sandbox key signed.
#![no_main]
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use payseal_protocol::Receipt;

fuzz_target!(|data: &[u8]| {
    let Some((purchase_data, signature)) = payseal_fuzz::two_parts(data) else {
        return;
    };
    let f = payseal_fuzz::fixtures();
    let receipt = Receipt::Sandbox {
        purchase_data: purchase_data.clone(),
        signature: signature.clone(),
    };
    if f.check(&receipt).is_ok() {
        // Ed25519 is deterministic (and strict decoding refuses malleated signatures).
        let genuine = STANDARD
            .decode(f.store.sign_sandbox(&purchase_data))
            .unwrap();
        assert_eq!(
            STANDARD.decode(signature.trim()).ok(),
            Some(genuine),
            "forged sandbox receipt paid"
        );
    }
});

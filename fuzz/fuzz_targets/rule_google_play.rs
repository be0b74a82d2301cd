//! Google Play rule (`purchase_data \0 signature`): paid only for bytes the Play key signed.
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
    let receipt = Receipt::GooglePlay {
        purchase_data: purchase_data.clone(),
        signature: signature.clone(),
    };
    if f.check(&receipt).is_ok() {
        // PKCS#1 v1.5 is deterministic: the only signature that may pay is the store's own.
        let genuine = STANDARD
            .decode(f.store.sign_google_play(&purchase_data))
            .unwrap();
        assert_eq!(
            STANDARD.decode(signature.trim()).ok(),
            Some(genuine),
            "forged Play receipt paid"
        );
    }
});

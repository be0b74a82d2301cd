//! Huawei rule (`algorithm byte, purchase_data \0 signature`; odd byte = RSA-PSS).
#![no_main]
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use payseal_protocol::{HuaweiAlgorithm, Receipt};

fuzz_target!(|data: &[u8]| {
    let Some((&alg, rest)) = data.split_first() else {
        return;
    };
    let Some((purchase_data, signature)) = payseal_fuzz::two_parts(rest) else {
        return;
    };
    let algorithm = if alg & 1 == 1 {
        HuaweiAlgorithm::Sha256WithRsaPss
    } else {
        HuaweiAlgorithm::Sha256WithRsa
    };
    let f = payseal_fuzz::fixtures();
    let receipt = Receipt::Huawei {
        purchase_data: purchase_data.clone(),
        signature: signature.clone(),
        algorithm,
    };
    if f.check(&receipt).is_ok() && algorithm == HuaweiAlgorithm::Sha256WithRsa {
        let genuine = STANDARD
            .decode(f.store.sign_huawei(&purchase_data, algorithm))
            .unwrap();
        assert_eq!(
            STANDARD.decode(signature.trim()).ok(),
            Some(genuine),
            "forged Huawei receipt paid"
        );
    }
});

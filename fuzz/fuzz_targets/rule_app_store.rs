//! App Store rule (the input is the compact JWS): paid only under the fixture's own chain.
#![no_main]
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use payseal_protocol::Receipt;

fuzz_target!(|data: &[u8]| {
    let Ok(jws) = std::str::from_utf8(data) else {
        return;
    };
    let f = payseal_fuzz::fixtures();
    if f.check(&Receipt::AppStore {
        jws: jws.to_string(),
    })
    .is_ok()
    {
        let header = URL_SAFE_NO_PAD
            .decode(jws.split('.').next().unwrap())
            .unwrap();
        let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
        let x5c: Vec<Vec<u8>> = header["x5c"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| STANDARD.decode(c.as_str().unwrap()).unwrap())
            .collect();
        let chain = f.store.app_store_chain();
        assert_eq!(x5c[0], chain.leaf, "paid under another leaf");
        assert_eq!(
            x5c[1], chain.intermediate,
            "paid under another intermediate"
        );
    }
});

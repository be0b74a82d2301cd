//! Raw DER into the App Store chain parsing. The first byte picks where the bytes go:
//! 0 the x5c leaf, 1 the x5c intermediate (the JWS re-signed with the fixture leaf key so the
//! rule reaches the chain checks), 2 the configured root, 3 x509-parser directly.
#![no_main]
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use payseal_protocol::{Receipt, Store};
use payseal_sandbox::Order;
use payseal_rules::{check_receipt, TrustAnchors};
use std::sync::OnceLock;
use x509_parser::prelude::*;

fn payload() -> &'static str {
    static P: OnceLock<String> = OnceLock::new();
    P.get_or_init(|| {
        let f = payseal_fuzz::fixtures();
        f.store
            .app_store_payload(
                &Order::new(Store::AppStore, payseal_fuzz::APP, "gems_100"),
                payseal_sandbox::now_ms() - 60_000,
            )
            .unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, der)) = data.split_first() else {
        return;
    };
    let f = payseal_fuzz::fixtures();
    let chain = f.store.app_store_chain();
    let now = payseal_sandbox::now_ms();
    let jws_with = |leaf: &[u8], inter: &[u8]| {
        let header = serde_json::json!({
            "alg": "ES256",
            "x5c": [STANDARD.encode(leaf), STANDARD.encode(inter)],
        })
        .to_string();
        f.store.sign_app_store_jws(&header, payload()).unwrap()
    };
    match mode % 4 {
        0 => {
            let jws = jws_with(der, &chain.intermediate);
            if f.check(&Receipt::AppStore { jws }).is_ok() {
                assert_eq!(der, chain.leaf.as_slice(), "paid under a modified leaf");
            }
        }
        1 => {
            let jws = jws_with(&chain.leaf, der);
            if f.check(&Receipt::AppStore { jws }).is_ok() {
                assert_eq!(
                    der,
                    chain.intermediate.as_slice(),
                    "paid under a modified intermediate"
                );
            }
        }
        2 => {
            let jws = jws_with(&chain.leaf, &chain.intermediate);
            // A root that does not parse is refused when the anchors are made.
            if let Ok(anchors) = TrustAnchors::new(vec![der.to_vec()]) {
                let _ = check_receipt(&Receipt::AppStore { jws }, f.app(), &anchors, now);
            }
        }
        _ => {
            if let Ok((_, cert)) = X509Certificate::from_der(der) {
                let _ = cert.verify_signature(None);
                let _ = cert.validity().is_valid();
                let _ = cert.is_ca();
                let _ = cert.extensions().len();
                let _ = cert.public_key().parsed();
                let _ = cert.subject().to_string();
            }
        }
    }
});

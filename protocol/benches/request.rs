//! Reading a `VerifyRequest` (a Google Play receipt inside, as the verifier parses every decrypted
//! body) and hashing its receipt (`receipt_sha256`), against the forms they replaced (issue 27):
//! the receipt as a derived internally tagged enum (serde buffers the whole object into its
//! `Content`, then reads it again) and the hash over a copy (`canonical_bytes`). Both old forms
//! live here only, as the baseline measured in the same run.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use payseal_protocol::{Receipt, SdkInfo, VerifyRequest};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The receipt as `payseal_protocol` read it before issue 27.
#[derive(Deserialize)]
#[serde(tag = "store", rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)]
enum DerivedReceipt {
    GooglePlay {
        purchase_data: String,
        signature: String,
    },
    AppStore {
        jws: String,
    },
    Sandbox {
        purchase_data: String,
        signature: String,
    },
}

/// [`VerifyRequest`] with [`DerivedReceipt`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct DerivedRequest {
    v: u32,
    nonce: String,
    app_id: String,
    account_id: String,
    receipt: DerivedReceipt,
    sdk: SdkInfo,
    #[serde(default)]
    expected_product_id: Option<String>,
}

/// A request shaped like the load's (`verifier/examples/load.rs`): Play purchase JSON (escaped
/// inside the request JSON) and a 2048-bit RSA signature in Base64.
fn play_request() -> Vec<u8> {
    let purchase_data = r#"{"orderId":"GPA.3312-5521-0042-77104","packageName":"dev.payseal.demo","productId":"coins_100","purchaseTime":1765000000000,"purchaseState":0,"purchaseToken":"opaque-token-up-to-150-characters-abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789","quantity":1,"obfuscatedExternalAccountId":"9f8e7d6c5b4a39281706f5e4d3c2b1a0","acknowledged":false}"#;
    let request = VerifyRequest {
        v: 2,
        nonce: "q3Zt7wKx9bLmN2pR4sT6uV8yA0cE1gH3".into(),
        app_id: "dev.payseal.demo".into(),
        account_id: "player-000123".into(),
        receipt: Receipt::GooglePlay {
            purchase_data: purchase_data.into(),
            signature: "A".repeat(344),
        },
        sdk: SdkInfo {
            name: "payseal-kotlin".into(),
            version: "1.4.0".into(),
        },
        expected_product_id: None,
    };
    serde_json::to_vec(&request).unwrap()
}

fn bench_request(c: &mut Criterion) {
    let json = play_request();
    let parsed: VerifyRequest = serde_json::from_slice(&json).unwrap();
    let mut group = c.benchmark_group("request");
    group.bench_function("parse_verify_request_one_pass", |b| {
        b.iter(|| serde_json::from_slice::<VerifyRequest>(black_box(&json)).unwrap())
    });
    group.bench_function("parse_verify_request_derived_tagged_receipt", |b| {
        b.iter(|| serde_json::from_slice::<DerivedRequest>(black_box(&json)).unwrap())
    });
    group.bench_function("receipt_sha256_streamed", |b| {
        b.iter(|| black_box(&parsed.receipt).sha256_hex())
    });
    group.bench_function("receipt_sha256_over_canonical_copy", |b| {
        b.iter(|| hex::encode(Sha256::digest(black_box(&parsed.receipt).canonical_bytes())))
    });
    group.finish();
}

criterion_group!(benches, bench_request);
criterion_main!(benches);

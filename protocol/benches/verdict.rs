//! Verdict benchmarks: signing and strict verification of a typical `paid` verdict.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use payseal_protocol::verdict::{VerdictSigningKey, VerdictVerifier};
use payseal_protocol::{Environment, Outcome, Redemption, Store, VerdictClaims};

fn claims() -> VerdictClaims {
    VerdictClaims {
        iss: "https://verify.example.com".into(),
        iat: 1_767_225_600,
        exp: 1_767_226_200,
        jti: "6f9c1d2e-8a47-4b1f-9c3e-2d5a7b8c9d0e".into(),
        nonce: "q83vEjRWeJCrze8SNFZ4kA".into(),
        app: "dev.payseal.demo".into(),
        sub: "account-42".into(),
        store: Store::GooglePlay,
        environment: Some(Environment::Production),
        product_id: Some("coins_100".into()),
        transaction_id: Some("GPA.3345-1234-5678-90123".into()),
        original_transaction_id: None,
        quantity: Some(1),
        purchased_at: Some(1_767_225_540_000),
        kind: None,
        expires_at: None,
        receipt_sha256: "ac413491e54e0388473774478395cb57f86b294c32573f004e16c8f6de3d07de".into(),
        outcome: Outcome::Paid,
        reason: None,
        redemption: Some(Redemption::First),
        subscription_state: None,
        store_checked: None,
        refund_history: None,
    }
}

fn bench_verdict(c: &mut Criterion) {
    let key = VerdictSigningKey::generate("v1");
    let claims = claims();
    let token = key.sign(&claims).unwrap();
    let verifier = VerdictVerifier::new(vec![key.public_key()]);

    let mut group = c.benchmark_group("verdict");
    group.bench_function("sign", |b| {
        b.iter(|| black_box(key.sign(black_box(&claims)).unwrap()))
    });
    group.bench_function("verify", |b| {
        b.iter(|| black_box(verifier.verify(black_box(&token), 1_767_225_700).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench_verdict);
criterion_main!(benches);

//! Criterion benchmarks of each store rule on a genuine receipt.

use criterion::{criterion_group, criterion_main, Criterion};

fn rules(_c: &mut Criterion) {}

criterion_group!(benches, rules);
criterion_main!(benches);

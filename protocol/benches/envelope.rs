//! Envelope benchmarks: the verifier's open + seal and the client's seal + open, ~1 KiB plaintext.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use payseal_protocol::envelope::{open_request, seal_request, ServerKeyPair};

/// About the size of a real sealed `VerifyRequest` (a Play or StoreKit receipt inside JSON).
const PLAINTEXT_LEN: usize = 1024;
/// About the size of a `VerifyResponse` with its verdict token.
const RESPONSE_LEN: usize = 700;

fn bench_envelope(c: &mut Criterion) {
    let keys = [ServerKeyPair::generate(1)];
    let config = keys[0].config();
    let request = vec![0x7bu8; PLAINTEXT_LEN];
    let response = vec![0x7du8; RESPONSE_LEN];

    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Elements(1));

    group.bench_function("server_open_request_and_seal_response_1KiB", |b| {
        // One sealed request per iteration, prepared outside the timing.
        b.iter_batched(
            || seal_request(&config, &request).unwrap().0,
            |sealed| {
                let (plain, reply) = open_request(&keys, black_box(&sealed)).unwrap();
                black_box(plain);
                black_box(reply.seal_response(&response).unwrap())
            },
            criterion::BatchSize::SmallInput,
        )
    });

    group.bench_function("client_seal_request_and_open_response_1KiB", |b| {
        b.iter_batched(
            || {
                // The server's answer to a request sealed by the timed client below cannot be
                // prepared in advance, so prepare a whole exchange and time the client's parts:
                // sealing a fresh request, then opening its response.
                let (sealed, client) = seal_request(&config, &request).unwrap();
                let (_, reply) = open_request(&keys, &sealed).unwrap();
                (client, reply.seal_response(&response).unwrap())
            },
            |(client, sealed_response)| {
                let fresh = seal_request(&config, black_box(&request)).unwrap();
                black_box(fresh);
                black_box(client.open_response(&sealed_response).unwrap())
            },
            criterion::BatchSize::SmallInput,
        )
    });

    group.bench_function("client_seal_request_1KiB", |b| {
        b.iter(|| black_box(seal_request(&config, black_box(&request)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench_envelope);
criterion_main!(benches);

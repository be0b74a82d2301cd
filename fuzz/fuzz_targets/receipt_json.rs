//! Receipt JSON (what the SDK takes and the request carries): parse, round-trip, hash, and
//! check through `rules::check_receipt` with the fixture app.
#![no_main]
use libfuzzer_sys::fuzz_target;
use payseal_protocol::Receipt;

fuzz_target!(|data: &[u8]| {
    let Ok(receipt) = serde_json::from_slice::<Receipt>(data) else {
        return;
    };
    let json = serde_json::to_vec(&receipt).expect("a receipt serializes");
    let again: Receipt = serde_json::from_slice(&json).expect("a serialized receipt parses");
    assert_eq!(again, receipt);
    assert_eq!(again.sha256_hex(), receipt.sha256_hex());
    let _ = receipt.canonical_bytes();
    let _ = payseal_fuzz::fixtures().check(&receipt);
});

//! App Store app receipt rule (input: `Base64 PKCS#7 \0 transaction id`, or raw DER and the
//! seed's transaction id when there is no NUL): never a panic; paid only when the receipt
//! carries the fixture store's own app receipt signer.
#![no_main]
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use payseal_protocol::Receipt;

fuzz_target!(|data: &[u8]| {
    let (app_receipt, transaction_id) = match payseal_fuzz::two_parts(data) {
        Some(parts) => parts,
        None => (STANDARD.encode(data), payseal_fuzz::APP_RECEIPT_TRANSACTION.to_string()),
    };
    let f = payseal_fuzz::fixtures();
    let receipt = Receipt::AppStoreReceipt {
        app_receipt: app_receipt.clone(),
        transaction_id: transaction_id.clone(),
    };
    if let Ok(p) = f.check(&receipt) {
        assert_eq!(p.transaction_id, transaction_id, "paid another transaction");
        let der: Vec<u8> = STANDARD
            .decode(app_receipt.split_ascii_whitespace().collect::<String>())
            .expect("a paid receipt is Base64");
        let leaf = f.store.app_receipt_chain().leaf;
        assert!(
            der.windows(leaf.len()).any(|w| w == leaf.as_slice()),
            "paid under another signer"
        );
    }
});

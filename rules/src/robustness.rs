//! Arbitrary input never panics a rule and is never paid.

use payseal_protocol::{HuaweiAlgorithm, Receipt};
use proptest::prelude::*;

use super::check_receipt;
use super::test_support::*;

fn refused(receipt: &Receipt) {
    let result = check_receipt(receipt, &app(), &anchors(), payseal_sandbox::now_ms());
    assert!(result.is_err(), "arbitrary input was paid: {result:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_two_part_receipts_are_refused(data in ".{0,300}", sig in "[A-Za-z0-9+/=]{0,400}") {
        refused(&Receipt::GooglePlay { purchase_data: data.clone(), signature: sig.clone() });
        refused(&Receipt::Huawei {
            purchase_data: data.clone(),
            signature: sig.clone(),
            algorithm: HuaweiAlgorithm::Sha256WithRsaPss,
        });
        refused(&Receipt::Sandbox { purchase_data: data, signature: sig });
    }

    #[test]
    fn arbitrary_jws_is_refused(h in "[A-Za-z0-9_-]{0,200}", p in "[A-Za-z0-9_-]{0,200}", s in "[A-Za-z0-9_.-]{0,120}") {
        refused(&Receipt::AppStore { jws: format!("{h}.{p}.{s}") });
    }

    #[test]
    fn genuine_chain_with_arbitrary_payload_bytes_is_refused(payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        // A real header and x5c, a payload of random bytes, the signature of another payload.
        let receipt = genuine().issue(&order(payseal_protocol::Store::AppStore)).unwrap();
        let Receipt::AppStore { jws } = receipt else { unreachable!() };
        let parts: Vec<&str> = jws.split('.').collect();
        use base64::Engine;
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
        refused(&Receipt::AppStore { jws: format!("{}.{p}.{}", parts[0], parts[2]) });
    }
}

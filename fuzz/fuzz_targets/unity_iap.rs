//! Unity IAP's unified receipt parser (`Receipt.FromUnityIap` in every binding): never a
//! panic; what it returns is what the JSON says, field for field.
#![no_main]
use libfuzzer_sys::fuzz_target;
use payseal_protocol::Receipt;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(receipt) = payseal_sdk_core::receipt_from_unity_iap(text) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_str(text).expect("a parsed receipt is JSON");
    match receipt {
        Receipt::GooglePlay {
            purchase_data,
            signature,
        } => {
            assert_eq!(v["Store"], "GooglePlay");
            let payload: serde_json::Value =
                serde_json::from_str(v["Payload"].as_str().unwrap()).unwrap();
            assert_eq!(payload["json"].as_str(), Some(purchase_data.as_str()));
            assert_eq!(payload["signature"].as_str(), Some(signature.as_str()));
        }
        Receipt::AppStoreReceipt {
            app_receipt,
            transaction_id,
        } => {
            assert!(v["Store"] == "AppleAppStore" || v["Store"] == "MacAppStore");
            assert_eq!(v["Payload"].as_str(), Some(app_receipt.as_str()));
            assert_eq!(v["TransactionID"].as_str(), Some(transaction_id.as_str()));
        }
        other => panic!("a Unity IAP receipt became {other:?}"),
    }
});

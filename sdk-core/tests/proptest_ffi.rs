//! Property tests: the FFI entry points answer arbitrary input with a typed error, never a panic.
//!
//! `receipt_from_json` (arbitrary text, mutated genuine receipt JSON), `PaySeal::new`
//! (arbitrary and mutated profiles, arbitrary options), `default_options`.

use payseal_protocol::envelope::ServerKeyPair;
use payseal_protocol::pin::spki_pin;
use payseal_protocol::profile::Profile;
use payseal_protocol::verdict::VerdictSigningKey;
use payseal_sdk_core::{
    default_options, receipt_from_json, receipt_sha256, receipt_to_json, PaySeal, PaySealErrorKind,
    PaySealOptions,
};
use proptest::prelude::*;

fn profile_json() -> String {
    let server = ServerKeyPair::from_secret(1, [0x5a; 32]).unwrap();
    let key = VerdictSigningKey::from_seed("v1-test", [1; 32]).public_key();
    Profile::new(
        "https://localhost:8443",
        [spki_pin(b"current"), spki_pin(b"backup")],
        &server.config(),
        &[key],
    )
    .unwrap()
    .to_json()
}

const RECEIPTS: &[&str] = &[
    r#"{"store":"google_play","purchase_data":"{\"orderId\":\"GPA.1\",\"packageName\":\"dev.payseal.demo\",\"productId\":\"gems_100\",\"purchaseTime\":1,\"purchaseState\":0,\"purchaseToken\":\"t\"}","signature":"AAAA"}"#,
    r#"{"store":"app_store","jws":"eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}"#,
    r#"{"store":"huawei","purchase_data":"{}","signature":"eA==","algorithm":"SHA256WithRSA/PSS"}"#,
    r#"{"store":"sandbox","purchase_data":"{}","signature":"eA=="}"#,
];

fn mutate(text: &str, index: prop::sample::Index, c: char, insert: bool) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let i = index.index(chars.len());
    if insert {
        chars.insert(i, c);
    } else {
        chars[i] = c;
    }
    chars.into_iter().collect()
}

fn check_receipt_json(json: String) -> Result<(), TestCaseError> {
    match receipt_from_json(json) {
        Ok(receipt) => {
            // Whatever parses round-trips and hashes.
            let again = receipt_from_json(receipt_to_json(receipt.clone())).unwrap();
            prop_assert_eq!(&again, &receipt);
            prop_assert_eq!(receipt_sha256(again).len(), 64);
        }
        Err(e) => {
            prop_assert_eq!(e.kind(), PaySealErrorKind::InvalidReceipt);
            prop_assert!(!e.message().is_empty());
        }
    }
    Ok(())
}

fn options_strategy() -> impl Strategy<Value = PaySealOptions> {
    (
        ".{0,40}",
        any::<i64>(),
        any::<i64>(),
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        prop::collection::vec(".{0,200}", 0..3),
    )
        .prop_map(
            |(app_id, connect, request, deadline, attempts, backoff, roots)| PaySealOptions {
                app_id,
                connect_timeout_ms: connect,
                request_timeout_ms: request,
                deadline_ms: deadline,
                max_attempts: attempts,
                base_backoff_ms: backoff,
                pending_dir: None,
                extra_roots_pem: roots,
                entitlements_dir: None,
            },
        )
}

/// `PaySeal::new` either builds or fails with `InvalidProfile` and a message.
fn check_new(profile: String, options: PaySealOptions) -> Result<(), TestCaseError> {
    match PaySeal::new(profile, options.clone()) {
        Ok(sdk) => prop_assert_eq!(sdk.app_id(), options.app_id),
        Err(e) => {
            prop_assert_eq!(e.kind(), PaySealErrorKind::InvalidProfile, "{}", e);
            prop_assert!(!e.message().is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn receipt_from_json_never_panics(text in any::<String>()) {
        check_receipt_json(text)?;
    }

    #[test]
    fn receipt_from_json_survives_mutations(
        which in 0..RECEIPTS.len(),
        index in any::<prop::sample::Index>(),
        c in any::<char>(),
        insert in any::<bool>(),
    ) {
        check_receipt_json(mutate(RECEIPTS[which], index, c, insert))?;
    }

    #[test]
    fn receipt_from_json_of_json_shaped_values(
        store in prop::sample::select(vec!["google_play", "app_store", "huawei", "sandbox", "amazon", ""]),
        keys in prop::collection::vec(
            prop::sample::select(vec!["purchase_data", "signature", "algorithm", "jws", "store", "x"]), 0..4),
        values in prop::collection::vec(".{0,30}", 0..4),
    ) {
        let mut obj = serde_json::Map::new();
        obj.insert("store".into(), store.into());
        for (k, v) in keys.iter().zip(values.iter()) {
            obj.insert((*k).into(), v.clone().into());
        }
        check_receipt_json(serde_json::Value::Object(obj).to_string())?;
    }

    #[test]
    fn default_options_never_panics(app_id in any::<String>()) {
        prop_assert_eq!(default_options(app_id.clone()).app_id, app_id);
    }
}

proptest! {
    // Each case builds a TLS configuration: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn new_with_arbitrary_profile_is_invalid_profile(profile in any::<String>(), options in options_strategy()) {
        check_new(profile, options)?;
    }

    #[test]
    fn new_with_mutated_profile_never_panics(
        index in any::<prop::sample::Index>(),
        c in any::<char>(),
        insert in any::<bool>(),
    ) {
        check_new(mutate(&profile_json(), index, c, insert), default_options("dev.payseal.demo".into()))?;
    }

    #[test]
    fn new_with_arbitrary_options_never_panics(options in options_strategy()) {
        check_new(profile_json(), options)?;
    }

    #[test]
    fn new_with_arbitrary_pending_dir_never_panics(name in "[^/\\x00]{0,40}") {
        let dir = tempfile::tempdir().unwrap();
        let mut options = default_options("dev.payseal.demo".into());
        options.pending_dir = Some(dir.path().join(name).to_string_lossy().into_owned());
        check_new(profile_json(), options)?;
    }
}

#[test]
fn a_valid_profile_and_default_options_build() {
    // The properties above are not vacuous: the unmutated inputs succeed.
    PaySeal::new(profile_json(), default_options("dev.payseal.demo".into())).unwrap();
    for r in RECEIPTS {
        receipt_from_json((*r).to_string()).unwrap();
    }
}

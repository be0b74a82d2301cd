//! Property tests: no parser panics on arbitrary input, and mutated inputs are refused.

use payseal_protocol::envelope::{
    open_request, seal_request, seal_request_deterministic, EnvelopeError, KeyConfig, ServerKeyPair,
};
use payseal_protocol::pin::spki_pin;
use payseal_protocol::profile::Profile;
use payseal_protocol::verdict::{VerdictSigningKey, VerdictVerifier};
use proptest::prelude::*;

fn server() -> ServerKeyPair {
    ServerKeyPair::from_secret(1, [0x5a; 32]).unwrap()
}

fn valid_profile_json() -> String {
    let key = VerdictSigningKey::from_seed("v1", [1; 32]).public_key();
    Profile::new(
        "https://verify.example.com",
        [spki_pin(b"a"), spki_pin(b"b")],
        &server().config(),
        &[key],
    )
    .unwrap()
    .to_json()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn open_request_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = open_request(&[server()], &bytes);
    }

    #[test]
    fn open_request_with_our_header_is_refused(tail in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = vec![1, 0x00, 0x20, 0x00, 0x01, 0x00, 0x03];
        bytes.extend_from_slice(&tail);
        let err = open_request(&[server()], &bytes).unwrap_err();
        prop_assert!(matches!(err, EnvelopeError::Malformed | EnvelopeError::Decrypt));
    }

    #[test]
    fn key_config_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = KeyConfig::decode(&bytes);
        let _ = KeyConfig::decode_list(&bytes);
    }

    #[test]
    fn key_config_decode_inverts_encode(key_id in any::<u8>(), pk in any::<[u8; 32]>()) {
        let config = KeyConfig { key_id, public_key: pk };
        prop_assert_eq!(KeyConfig::decode(&config.encode()).unwrap(), config);
    }

    #[test]
    fn open_response_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let (_, client) = seal_request(&server().config(), b"request").unwrap();
        prop_assert!(client.open_response(&bytes).is_err());
    }

    #[test]
    fn mutated_responses_are_refused(
        plaintext in proptest::collection::vec(any::<u8>(), 0..128),
        index in any::<prop::sample::Index>(),
        flip in 1u8..,
    ) {
        let key = server();
        let (sealed, _) = seal_request_deterministic(&key.config(), b"req", &[2; 32]).unwrap();
        let (_, reply) = open_request(std::slice::from_ref(&key), &sealed).unwrap();
        let mut response = reply.seal_response(&plaintext).unwrap();
        let i = index.index(response.len());
        response[i] ^= flip;
        let (_, client) = seal_request_deterministic(&key.config(), b"req", &[2; 32]).unwrap();
        prop_assert_eq!(client.open_response(&response), Err(EnvelopeError::Decrypt));
    }

    #[test]
    fn round_trip_any_plaintext(
        request in proptest::collection::vec(any::<u8>(), 0..512),
        response in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let key = server();
        let (sealed, client) = seal_request(&key.config(), &request).unwrap();
        let (plain, reply) = open_request(std::slice::from_ref(&key), &sealed).unwrap();
        prop_assert_eq!(&plain, &request);
        let sealed_response = reply.seal_response(&response).unwrap();
        prop_assert_eq!(client.open_response(&sealed_response).unwrap(), response);
    }

    #[test]
    fn profile_parse_never_panics(text in ".{0,256}") {
        let _ = Profile::parse(&text);
    }

    #[test]
    fn profile_parse_survives_mutations(index in any::<prop::sample::Index>(), c in any::<char>()) {
        let json = valid_profile_json();
        let mut chars: Vec<char> = json.chars().collect();
        let i = index.index(chars.len());
        chars[i] = c;
        let mutated: String = chars.into_iter().collect();
        if let Ok(profile) = Profile::parse(&mutated) {
            // Whatever is accepted is decoded in full and writes itself back unchanged.
            prop_assert!(profile.tls_pins.len() >= payseal_protocol::profile::MIN_PINS);
            prop_assert!(!profile.verdict_keys.is_empty());
            prop_assert_eq!(Profile::parse(&profile.to_json()), Ok(profile));
        }
    }

    #[test]
    fn verdict_verify_never_panics(text in "[A-Za-z0-9_.\\-]{0,300}", now in any::<i64>()) {
        let verifier = VerdictVerifier::new(vec![VerdictSigningKey::from_seed("v1", [1; 32]).public_key()]);
        prop_assert!(verifier.verify(&text, now).is_err());
    }

    #[test]
    fn verdict_verify_never_panics_on_any_string(text in any::<String>(), now in any::<i64>(), skew in any::<i64>()) {
        let verifier = VerdictVerifier::new(vec![VerdictSigningKey::from_seed("v1", [1; 32]).public_key()])
            .with_skew(skew);
        let _ = verifier.verify(&text, now);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mutated_verdicts_never_verify(index in any::<prop::sample::Index>(), c in any::<char>()) {
        use payseal_protocol::{Outcome, Store, VerdictClaims};
        let key = VerdictSigningKey::from_seed("v1", [1; 32]);
        let claims = VerdictClaims {
            iss: "https://verify.example.com".into(),
            iat: 1_000,
            exp: 2_000,
            jti: "j".into(),
            nonce: "n".into(),
            app: "a".into(),
            sub: "s".into(),
            store: Store::Sandbox,
            environment: None,
            product_id: None,
            transaction_id: None,
            original_transaction_id: None,
            quantity: None,
            purchased_at: None,
            kind: None,
            expires_at: None,
            receipt_sha256: "00".repeat(32),
            outcome: Outcome::Paid,
            reason: None,
            redemption: None,
            subscription_state: None,
            store_checked: None,
            refund_history: None,
        };
        let token = key.sign(&claims).unwrap();
        let mut chars: Vec<char> = token.chars().collect();
        let i = index.index(chars.len());
        prop_assume!(chars[i] != c);
        chars[i] = c;
        let mutated: String = chars.into_iter().collect();
        let verifier = VerdictVerifier::new(vec![key.public_key()]);
        prop_assert!(verifier.verify(&mutated, 1_500).is_err());
        prop_assert_eq!(verifier.verify(&token, 1_500).unwrap(), claims);
    }
}

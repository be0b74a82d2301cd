//! Checks the committed test vectors in `tests/vectors/` against this crate, and recomputes the
//! intermediate values independently with the `hpke`, `hkdf` and `chacha20poly1305` crates.
//!
//! `PAYSEAL_REGEN_VECTORS=1 cargo test -p payseal-protocol --test vectors` rewrites the files.

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit, Payload};
use hpke::{Deserializable, Kem as _, Serializable};
use payseal_protocol::envelope::{
    self, open_request, seal_request_deterministic, KeyConfig, ServerKeyPair,
};
use payseal_protocol::request::{SdkInfo, VerifyRequest, VerifyResponse, PROTOCOL_VERSION};
use payseal_protocol::verdict::{Jwk, VerdictSigningKey, VerdictVerifier};
use payseal_protocol::Receipt;
use payseal_protocol::{Environment, Outcome, Redemption, Store, VerdictClaims};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// `tests/vectors/envelope.json`; byte strings are lowercase hex.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeVector {
    description: String,
    kem_id: u16,
    kdf_id: u16,
    aead_id: u16,
    request_label: String,
    response_label: String,
    key_id: u8,
    server_secret: String,
    server_public: String,
    key_config: String,
    ikm_e: String,
    ephemeral_secret: String,
    enc: String,
    request_info: String,
    request_plaintext: String,
    sealed_request: String,
    exporter_secret: String,
    response_nonce: String,
    response_key: String,
    response_aead_nonce: String,
    response_plaintext: String,
    sealed_response: String,
}

/// `tests/vectors/verdict.json`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictVector {
    description: String,
    seed: String,
    kid: String,
    jwk: Jwk,
    header: String,
    claims: VerdictClaims,
    token: String,
    verify_at: i64,
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn regenerate() -> bool {
    std::env::var("PAYSEAL_REGEN_VECTORS").is_ok_and(|v| v == "1")
}

/// Writes (when regenerating) or reads the vector file `name`.
fn load_or_write<T: Serialize + for<'de> Deserialize<'de>>(
    name: &str,
    fresh: impl FnOnce() -> T,
) -> T {
    let path = vectors_dir().join(name);
    if regenerate() {
        let value = fresh();
        let mut json = serde_json::to_string_pretty(&value).unwrap();
        json.push('\n');
        std::fs::write(&path, json).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with PAYSEAL_REGEN_VECTORS=1)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn seeded(label: &str) -> [u8; 32] {
    Sha256::digest(format!("payseal test vector: {label}")).into()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn h32(s: &str) -> [u8; 32] {
    h(s).try_into().unwrap()
}

const VERIFY_AT: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn verdict_claims() -> VerdictClaims {
    let receipt = request_receipt();
    VerdictClaims {
        iss: "https://verify.example.com".into(),
        iat: VERIFY_AT,
        exp: VERIFY_AT + 600,
        jti: "6f9c1d2e-8a47-4b1f-9c3e-2d5a7b8c9d0e".into(),
        nonce: "q83vEjRWeJCrze8SNFZ4kA".into(),
        app: "dev.payseal.demo".into(),
        sub: "account-42".into(),
        store: Store::Sandbox,
        environment: Some(Environment::Sandbox),
        product_id: Some("coins_100".into()),
        transaction_id: Some("sbx-1000000001".into()),
        original_transaction_id: None,
        quantity: Some(1),
        purchased_at: Some(1_767_225_540_000),
        kind: None,
        expires_at: None,
        receipt_sha256: receipt.sha256_hex(),
        outcome: Outcome::Paid,
        reason: None,
        redemption: Some(Redemption::First),
        subscription_state: None,
        store_checked: None,
        refund_history: None,
    }
}

fn request_receipt() -> Receipt {
    Receipt::Sandbox {
        purchase_data: r#"{"app_id":"dev.payseal.demo","product_id":"coins_100","transaction_id":"sbx-1000000001","purchased_at":1767225540000,"state":"purchased","environment":"sandbox"}"#.into(),
        signature: "c2FuZGJveCBzaWduYXR1cmUgcGxhY2Vob2xkZXI=".into(),
    }
}

fn fresh_verdict() -> VerdictVector {
    let seed = seeded("verdict key");
    let key = VerdictSigningKey::from_seed("verdict-2026-01", seed);
    let token = key.sign(&verdict_claims()).unwrap();
    let header_b64 = token.split('.').next().unwrap();
    VerdictVector {
        description: "PaySeal verdict: compact JWS, EdDSA (Ed25519, RFC 8032/8037), typ payseal-verdict+jwt. Ed25519 signing is deterministic, so `token` is exactly reproducible from `seed` + `header` + `claims`.".into(),
        seed: hex::encode(seed),
        kid: key.kid().to_owned(),
        jwk: key.public_key().to_jwk(),
        header: String::from_utf8(URL_SAFE_NO_PAD.decode(header_b64).unwrap()).unwrap(),
        claims: verdict_claims(),
        token,
        verify_at: VERIFY_AT,
    }
}

fn fresh_envelope() -> EnvelopeVector {
    let verdict = fresh_verdict();
    let server = ServerKeyPair::from_secret(1, seeded("server hpke secret")).unwrap();
    let ikm_e = seeded("ikmE");
    let response_nonce = seeded("response nonce");
    let request = VerifyRequest {
        v: PROTOCOL_VERSION,
        nonce: verdict.claims.nonce.clone(),
        app_id: "dev.payseal.demo".into(),
        account_id: "account-42".into(),
        receipt: request_receipt(),
        sdk: SdkInfo {
            name: "payseal-test-vectors".into(),
            version: "1.0.0".into(),
        },
        expected_product_id: None,
    };
    let request_plaintext = serde_json::to_vec(&request).unwrap();
    let response_plaintext = serde_json::to_vec(&VerifyResponse {
        v: PROTOCOL_VERSION,
        verdict: verdict.token,
    })
    .unwrap();
    let (sealed_request, _client) =
        seal_request_deterministic(&server.config(), &request_plaintext, &ikm_e).unwrap();
    let (_, reply) = open_request(std::slice::from_ref(&server), &sealed_request).unwrap();
    let sealed_response = reply
        .seal_response_with_nonce(&response_plaintext, response_nonce)
        .unwrap();
    let (sk_e, pk_e) = Kem::derive_keypair(&ikm_e);
    let info = independent_info(1);
    let secret = independent_exporter_secret(&server, &pk_e.to_bytes(), &info);
    let (key, nonce) = independent_response_key(&secret, &pk_e.to_bytes(), &response_nonce);
    EnvelopeVector {
        description: "PaySeal envelope: RFC 9458 §4.3/§4.4 encapsulation, HPKE base mode DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, with PaySeal's labels. See README.md.".into(),
        kem_id: envelope::KEM_X25519_HKDF_SHA256,
        kdf_id: envelope::KDF_HKDF_SHA256,
        aead_id: envelope::AEAD_CHACHA20_POLY1305,
        request_label: String::from_utf8(envelope::REQUEST_LABEL.to_vec()).unwrap(),
        response_label: String::from_utf8(envelope::RESPONSE_LABEL.to_vec()).unwrap(),
        key_id: 1,
        server_secret: hex::encode(server.secret_bytes()),
        server_public: hex::encode(server.config().public_key),
        key_config: hex::encode(server.config().encode()),
        ikm_e: hex::encode(ikm_e),
        ephemeral_secret: hex::encode(sk_e.to_bytes()),
        enc: hex::encode(pk_e.to_bytes()),
        request_info: hex::encode(&info),
        request_plaintext: hex::encode(&request_plaintext),
        sealed_request: hex::encode(&sealed_request),
        exporter_secret: hex::encode(secret),
        response_nonce: hex::encode(response_nonce),
        response_key: hex::encode(key),
        response_aead_nonce: hex::encode(nonce),
        response_plaintext: hex::encode(&response_plaintext),
        sealed_response: hex::encode(&sealed_response),
    }
}

/// `"payseal request v1" || 0x00 || key_id || kem_id || kdf_id || aead_id`, built by hand.
fn independent_info(key_id: u8) -> Vec<u8> {
    let mut info = b"payseal request v1\0".to_vec();
    info.push(key_id);
    info.extend_from_slice(&[0x00, 0x20, 0x00, 0x01, 0x00, 0x03]);
    info
}

/// The HPKE exporter secret of the request, from the receiver side with `hpke` directly.
fn independent_exporter_secret(server: &ServerKeyPair, enc: &[u8], info: &[u8]) -> [u8; 32] {
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(server.secret_bytes()).unwrap();
    let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).unwrap();
    let ctx =
        hpke::setup_receiver::<HpkeAead, Kdf, Kem>(&hpke::OpModeR::Base, &sk, &encapped, info)
            .unwrap();
    let mut secret = [0u8; 32];
    ctx.export(b"payseal response v1", &mut secret).unwrap();
    secret
}

/// RFC 9458 §4.4 key schedule with `hkdf` directly.
fn independent_response_key(
    secret: &[u8],
    enc: &[u8],
    response_nonce: &[u8],
) -> ([u8; 32], [u8; 12]) {
    let salt = [enc, response_nonce].concat();
    let prk = hkdf::Hkdf::<Sha256>::new(Some(&salt), secret);
    let mut key = [0u8; 32];
    let mut nonce = [0u8; 12];
    prk.expand(b"key", &mut key).unwrap();
    prk.expand(b"nonce", &mut nonce).unwrap();
    (key, nonce)
}

#[test]
fn envelope_vector() {
    let v: EnvelopeVector = load_or_write("envelope.json", fresh_envelope);

    // Recomputing from the inputs gives exactly the committed file.
    assert_eq!(
        v,
        fresh_envelope(),
        "envelope.json is stale: regenerate with PAYSEAL_REGEN_VECTORS=1"
    );

    // Keys and configuration.
    let server = ServerKeyPair::from_secret(v.key_id, h32(&v.server_secret)).unwrap();
    assert_eq!(hex::encode(server.config().public_key), v.server_public);
    assert_eq!(
        KeyConfig::decode(&h(&v.key_config)).unwrap(),
        server.config()
    );
    let (sk_e, pk_e) = Kem::derive_keypair(&h(&v.ikm_e));
    assert_eq!(hex::encode(sk_e.to_bytes()), v.ephemeral_secret);
    assert_eq!(hex::encode(pk_e.to_bytes()), v.enc);
    assert_eq!(hex::encode(independent_info(v.key_id)), v.request_info);

    // Request layout: hdr | enc | ct, and the ciphertext opens with `hpke` directly.
    let sealed = h(&v.sealed_request);
    assert_eq!(&sealed[..7], &h(&v.request_info)[19..]);
    assert_eq!(hex::encode(&sealed[7..39]), v.enc);
    let sk_r = <Kem as hpke::Kem>::PrivateKey::from_bytes(&h(&v.server_secret)).unwrap();
    let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed[7..39]).unwrap();
    let mut ctx = hpke::setup_receiver::<HpkeAead, Kdf, Kem>(
        &hpke::OpModeR::Base,
        &sk_r,
        &encapped,
        &h(&v.request_info),
    )
    .unwrap();
    assert_eq!(
        hex::encode(ctx.open(&sealed[39..], b"").unwrap()),
        v.request_plaintext
    );
    let mut secret = [0u8; 32];
    ctx.export(v.response_label.as_bytes(), &mut secret)
        .unwrap();
    assert_eq!(hex::encode(secret), v.exporter_secret);

    // Response: key schedule and AEAD with `hkdf` and `chacha20poly1305` directly.
    let (key, nonce) = independent_response_key(&secret, &h(&v.enc), &h(&v.response_nonce));
    assert_eq!(hex::encode(key), v.response_key);
    assert_eq!(hex::encode(nonce), v.response_aead_nonce);
    let sealed_response = h(&v.sealed_response);
    assert_eq!(hex::encode(&sealed_response[..32]), v.response_nonce);
    let aead = chacha20poly1305::ChaCha20Poly1305::new((&key).into());
    let opened = aead
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: &sealed_response[32..],
                aad: b"",
            },
        )
        .unwrap();
    assert_eq!(hex::encode(opened), v.response_plaintext);

    // And through this crate, both ways.
    let (plain, _) = open_request(std::slice::from_ref(&server), &sealed).unwrap();
    assert_eq!(hex::encode(plain), v.request_plaintext);
    let (again, client) =
        seal_request_deterministic(&server.config(), &h(&v.request_plaintext), &h32(&v.ikm_e))
            .unwrap();
    assert_eq!(again, sealed);
    assert_eq!(
        hex::encode(client.open_response(&sealed_response).unwrap()),
        v.response_plaintext
    );

    // The plaintexts are the protocol's JSON.
    let request: VerifyRequest = serde_json::from_slice(&h(&v.request_plaintext)).unwrap();
    assert_eq!(request.v, PROTOCOL_VERSION);
    let response: VerifyResponse = serde_json::from_slice(&h(&v.response_plaintext)).unwrap();
    assert_eq!(response.verdict, fresh_verdict().token);
}

#[test]
fn verdict_vector() {
    let v: VerdictVector = load_or_write("verdict.json", fresh_verdict);
    assert_eq!(
        v,
        fresh_verdict(),
        "verdict.json is stale: regenerate with PAYSEAL_REGEN_VECTORS=1"
    );

    let key = VerdictSigningKey::from_seed(v.kid.clone(), h32(&v.seed));
    assert_eq!(key.public_key().to_jwk(), v.jwk);
    assert_eq!(key.sign(&v.claims).unwrap(), v.token);

    // The token is header.payload.signature over exactly these parts.
    let parts: Vec<&str> = v.token.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        URL_SAFE_NO_PAD.decode(parts[0]).unwrap(),
        v.header.as_bytes()
    );
    let payload: VerdictClaims =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(payload, v.claims);

    // The signature verifies with ed25519-dalek directly, from the JWK's `x`.
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&v.jwk.x)
        .unwrap()
        .try_into()
        .unwrap();
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let sig =
        ed25519_dalek::Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
    vk.verify_strict(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .unwrap();

    // And through this crate's strict verifier, at the vector's time.
    let verifier =
        VerdictVerifier::new(vec![payseal_protocol::verdict::VerdictPublicKey::from_jwk(
            &v.jwk,
        )
        .unwrap()]);
    assert_eq!(verifier.verify(&v.token, v.verify_at).unwrap(), v.claims);
    assert_eq!(v.claims.receipt_sha256, request_receipt().sha256_hex());
}

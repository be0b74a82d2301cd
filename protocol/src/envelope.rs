//! The envelope: RFC 9458 (Oblivious HTTP) message encapsulation with HPKE (RFC 9180) base mode,
//! X25519-HKDF-SHA256 / HKDF-SHA256 / ChaCha20-Poly1305, and a PaySeal label in the HPKE `info`.
//!
//! ```text
//! request  = key_id(1) | kem_id(2) | kdf_id(2) | aead_id(2) | enc(32) | ct
//! response = response_nonce(32) | ct      (key and nonce as RFC 9458 §4.4)
//! ```
//!
//! The construction is exactly RFC 9458 §4.3 (request) and §4.4 (response), with one deliberate
//! difference: the labels are PaySeal's own, for domain separation from real OHTTP traffic, so a
//! PaySeal envelope can never be confused with (or replayed as) a Binary HTTP message.
//!
//! | RFC 9458 label              | PaySeal label          | use                                   |
//! |-----------------------------|------------------------|---------------------------------------|
//! | `"message/bhttp request"`   | `"payseal request v1"` | HPKE `info` = label `\|\| 0x00 \|\| hdr`   |
//! | `"message/bhttp response"`  | `"payseal response v1"`| HPKE exporter context for the response |
//!
//! Request (client): `hdr = key_id | kem_id | kdf_id | aead_id`,
//! `info = "payseal request v1" || 0x00 || hdr`, `enc, ctx = SetupBaseS(pkR, info)`,
//! `ct = ctx.Seal("", plaintext)`, `request = hdr || enc || ct`.
//!
//! Response (server): `secret = ctx.Export("payseal response v1", 32)` (32 = max(Nn, Nk)),
//! `response_nonce = random(32)`, `salt = enc || response_nonce`,
//! `prk = HKDF-Extract(salt, secret)`, `key = HKDF-Expand(prk, "key", 32)`,
//! `nonce = HKDF-Expand(prk, "nonce", 12)`, `ct = ChaCha20-Poly1305(key, nonce, aad = "", plaintext)`,
//! `response = response_nonce || ct`.
//!
//! The key configuration ([`KeyConfig`]) is encoded as RFC 9458 §3.1; a list of them (as
//! `GET /v1/keys` serves) as `application/ohttp-keys` (§3.2, each prefixed by a 2-byte length).
//!
//! HPKE comes from the `hpke` crate, the response AEAD from `chacha20poly1305`, HKDF from `hkdf`.
//! Nothing here panics on malformed input: every failure is an [`EnvelopeError`].

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core_09::{CryptoRng, RngCore, TryRngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

type HpkeKem = hpke::kem::X25519HkdfSha256;
type HpkeKdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// HTTP `Content-Type` of a sealed request (the body of `POST /v1/verify`).
pub const REQUEST_CONTENT_TYPE: &str = "application/payseal-request";
/// HTTP `Content-Type` of a sealed response.
pub const RESPONSE_CONTENT_TYPE: &str = "application/payseal-response";
/// The path a sealed request is posted to.
pub const VERIFY_PATH: &str = "/v1/verify";

/// KEM id of DHKEM(X25519, HKDF-SHA256).
pub const KEM_X25519_HKDF_SHA256: u16 = 0x0020;
/// KDF id of HKDF-SHA256.
pub const KDF_HKDF_SHA256: u16 = 0x0001;
/// AEAD id of ChaCha20-Poly1305.
pub const AEAD_CHACHA20_POLY1305: u16 = 0x0003;

/// The label in the HPKE `info` of a request (RFC 9458 uses `"message/bhttp request"`).
pub const REQUEST_LABEL: &[u8] = b"payseal request v1";
/// The HPKE exporter context of a response (RFC 9458 uses `"message/bhttp response"`).
pub const RESPONSE_LABEL: &[u8] = b"payseal response v1";

/// Length of the request header: key_id(1) | kem_id(2) | kdf_id(2) | aead_id(2).
pub const REQUEST_HEADER_LEN: usize = 7;
/// Length of the encapsulated key `enc` (X25519 public key).
pub const ENC_LEN: usize = 32;
/// Length of the response nonce, max(Nn, Nk) for ChaCha20-Poly1305.
pub const RESPONSE_NONCE_LEN: usize = 32;
/// Length of the AEAD tag (Poly1305).
pub const TAG_LEN: usize = 16;
/// Length of an encoded [`KeyConfig`].
pub const KEY_CONFIG_LEN: usize = 1 + 2 + 32 + 2 + 4;

/// Secret length exported for the response: max(Nn, Nk) = 32.
const SECRET_LEN: usize = 32;
/// ChaCha20-Poly1305 key length (Nk).
const AEAD_KEY_LEN: usize = 32;
/// ChaCha20-Poly1305 nonce length (Nn).
const AEAD_NONCE_LEN: usize = 12;

/// Why an envelope could not be sealed or opened. Deliberately vague towards peers.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The bytes are not an envelope of this protocol (too short, wrong algorithm ids).
    #[error("malformed envelope")]
    Malformed,
    /// The key id names no key this side holds.
    #[error("unknown key id {0}")]
    UnknownKeyId(u8),
    /// Decryption or authentication failed.
    #[error("envelope authentication failed")]
    Decrypt,
    /// A key configuration or key could not be decoded.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
}

/// A verifier's public HPKE key configuration (RFC 9458 §3), as the profile carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyConfig {
    /// One-byte key id.
    pub key_id: u8,
    /// X25519 public key.
    pub public_key: [u8; 32],
}

impl KeyConfig {
    /// Encode as RFC 9458 §3: key_id, kem_id, public key, symmetric algorithms (one: HKDF-SHA256 + ChaCha20-Poly1305).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(KEY_CONFIG_LEN);
        out.push(self.key_id);
        out.extend_from_slice(&KEM_X25519_HKDF_SHA256.to_be_bytes());
        out.extend_from_slice(&self.public_key);
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&KDF_HKDF_SHA256.to_be_bytes());
        out.extend_from_slice(&AEAD_CHACHA20_POLY1305.to_be_bytes());
        out
    }

    /// Decode one key configuration; refuses any other KEM, or no supported symmetric suite.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let mut r = Reader::new(bytes);
        let config = Self::read(&mut r)?;
        if !r.is_empty() {
            return Err(EnvelopeError::InvalidKey(
                "trailing bytes after key configuration",
            ));
        }
        Ok(config)
    }

    /// Encode several configurations as `application/ohttp-keys` (RFC 9458 §3.2): each one
    /// prefixed by its 2-byte length.
    pub fn encode_list(configs: &[KeyConfig]) -> Vec<u8> {
        let mut out = Vec::with_capacity(configs.len() * (2 + KEY_CONFIG_LEN));
        for config in configs {
            let encoded = config.encode();
            // KEY_CONFIG_LEN is a small constant, far below u16::MAX.
            out.extend_from_slice(&(encoded.len() as u16).to_be_bytes());
            out.extend_from_slice(&encoded);
        }
        out
    }

    /// Decode `application/ohttp-keys` (RFC 9458 §3.2), keeping the configurations this crate
    /// supports and skipping the others (as §3.2 asks); refuses a list with none supported.
    pub fn decode_list(bytes: &[u8]) -> Result<Vec<Self>, EnvelopeError> {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        while !r.is_empty() {
            let len = r
                .u16()
                .ok_or(EnvelopeError::InvalidKey("truncated key list"))?;
            let item = r
                .take(usize::from(len))
                .ok_or(EnvelopeError::InvalidKey("truncated key list"))?;
            if let Ok(config) = Self::decode(item) {
                out.push(config);
            }
        }
        if out.is_empty() {
            return Err(EnvelopeError::InvalidKey("no supported key configuration"));
        }
        Ok(out)
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, EnvelopeError> {
        let truncated = EnvelopeError::InvalidKey("truncated key configuration");
        let key_id = r.u8().ok_or(truncated)?;
        let kem_id = r.u16().ok_or(truncated)?;
        if kem_id != KEM_X25519_HKDF_SHA256 {
            return Err(EnvelopeError::InvalidKey("unsupported KEM"));
        }
        let public_key: [u8; 32] = r
            .take(32)
            .and_then(|pk| pk.try_into().ok())
            .ok_or(truncated)?;
        let sym_len = usize::from(r.u16().ok_or(truncated)?);
        if sym_len < 4 || sym_len % 4 != 0 {
            return Err(EnvelopeError::InvalidKey("bad symmetric algorithms length"));
        }
        let sym = r.take(sym_len).ok_or(truncated)?;
        let supported = sym.chunks_exact(4).any(|pair| {
            u16::from_be_bytes([pair[0], pair[1]]) == KDF_HKDF_SHA256
                && u16::from_be_bytes([pair[2], pair[3]]) == AEAD_CHACHA20_POLY1305
        });
        if !supported {
            return Err(EnvelopeError::InvalidKey("no supported symmetric suite"));
        }
        Ok(Self { key_id, public_key })
    }

    fn hpke_public_key(&self) -> Result<<HpkeKem as hpke::Kem>::PublicKey, EnvelopeError> {
        <HpkeKem as hpke::Kem>::PublicKey::from_bytes(&self.public_key)
            .map_err(|_| EnvelopeError::InvalidKey("bad X25519 public key"))
    }
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }
    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

/// The verifier's HPKE key pair. The secret is zeroized on drop and never printed.
pub struct ServerKeyPair {
    key_id: u8,
    secret: zeroize::Zeroizing<[u8; 32]>,
    public: [u8; 32],
    /// The parsed HPKE secret (zeroized on drop by the `hpke` crate).
    sk: <HpkeKem as hpke::Kem>::PrivateKey,
}

impl std::fmt::Debug for ServerKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeyPair")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ServerKeyPair {
    /// A fresh random key pair (panics only if the operating system's RNG fails).
    pub fn generate(key_id: u8) -> Self {
        let (sk, pk) = HpkeKem::gen_keypair(&mut os_rng());
        let mut secret = Zeroizing::new([0u8; 32]);
        sk.write_exact(secret.as_mut());
        let mut public = [0u8; 32];
        pk.write_exact(&mut public);
        Self {
            key_id,
            secret,
            public,
            sk,
        }
    }

    /// From a stored 32-byte X25519 secret.
    pub fn from_secret(key_id: u8, secret: [u8; 32]) -> Result<Self, EnvelopeError> {
        let secret = Zeroizing::new(secret);
        let sk = <HpkeKem as hpke::Kem>::PrivateKey::from_bytes(secret.as_ref())
            .map_err(|_| EnvelopeError::InvalidKey("bad X25519 secret"))?;
        let mut public = [0u8; 32];
        HpkeKem::sk_to_pk(&sk).write_exact(&mut public);
        Ok(Self {
            key_id,
            secret,
            public,
            sk,
        })
    }

    /// The key id.
    pub fn key_id(&self) -> u8 {
        self.key_id
    }
    /// The secret bytes, for writing the key file.
    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
    /// The public configuration.
    pub fn config(&self) -> KeyConfig {
        KeyConfig {
            key_id: self.key_id,
            public_key: self.public,
        }
    }
}

/// The operating system's RNG as an infallible `rand_core` 0.9 RNG (panics if the OS RNG fails).
fn os_rng() -> rand_core_09::UnwrapErr<rand_core_09::OsRng> {
    rand_core_09::OsRng.unwrap_err()
}

/// The request header `key_id | kem_id | kdf_id | aead_id`.
fn request_header(key_id: u8) -> [u8; REQUEST_HEADER_LEN] {
    let mut hdr = [0u8; REQUEST_HEADER_LEN];
    hdr[0] = key_id;
    hdr[1..3].copy_from_slice(&KEM_X25519_HKDF_SHA256.to_be_bytes());
    hdr[3..5].copy_from_slice(&KDF_HKDF_SHA256.to_be_bytes());
    hdr[5..7].copy_from_slice(&AEAD_CHACHA20_POLY1305.to_be_bytes());
    hdr
}

/// The HPKE `info` of a request: `"payseal request v1" || 0x00 || hdr`.
fn request_info(hdr: &[u8; REQUEST_HEADER_LEN]) -> Vec<u8> {
    let mut info = Vec::with_capacity(REQUEST_LABEL.len() + 1 + REQUEST_HEADER_LEN);
    info.extend_from_slice(REQUEST_LABEL);
    info.push(0);
    info.extend_from_slice(hdr);
    info
}

/// The response AEAD from the exported secret, `enc` and the response nonce (RFC 9458 §4.4).
fn response_aead(
    secret: &[u8; SECRET_LEN],
    enc: &[u8; ENC_LEN],
    response_nonce: &[u8; RESPONSE_NONCE_LEN],
) -> Result<(ChaCha20Poly1305, [u8; AEAD_NONCE_LEN]), EnvelopeError> {
    let mut salt = [0u8; ENC_LEN + RESPONSE_NONCE_LEN];
    salt[..ENC_LEN].copy_from_slice(enc);
    salt[ENC_LEN..].copy_from_slice(response_nonce);
    let prk = Hkdf::<Sha256>::new(Some(&salt), secret);
    let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
    let mut nonce = [0u8; AEAD_NONCE_LEN];
    prk.expand(b"key", key.as_mut())
        .map_err(|_| EnvelopeError::InvalidKey("response key derivation"))?;
    prk.expand(b"nonce", &mut nonce)
        .map_err(|_| EnvelopeError::InvalidKey("response nonce derivation"))?;
    let aead = ChaCha20Poly1305::new_from_slice(key.as_ref())
        .map_err(|_| EnvelopeError::InvalidKey("response key length"))?;
    Ok((aead, nonce))
}

/// Client-side state kept to open the response to one sealed request.
pub struct ClientContext {
    enc: [u8; ENC_LEN],
    secret: Zeroizing<[u8; SECRET_LEN]>,
}

impl std::fmt::Debug for ClientContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientContext").finish_non_exhaustive()
    }
}

impl ClientContext {
    /// Open the verifier's sealed response.
    pub fn open_response(self, response: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        if response.len() < RESPONSE_NONCE_LEN + TAG_LEN {
            return Err(EnvelopeError::Malformed);
        }
        let (nonce_bytes, ct) = response.split_at(RESPONSE_NONCE_LEN);
        let response_nonce: [u8; RESPONSE_NONCE_LEN] = nonce_bytes
            .try_into()
            .map_err(|_| EnvelopeError::Malformed)?;
        let (aead, nonce) = response_aead(&self.secret, &self.enc, &response_nonce)?;
        aead.decrypt((&nonce).into(), Payload { msg: ct, aad: b"" })
            .map_err(|_| EnvelopeError::Decrypt)
    }
}

/// Server-side state kept to seal the response to one opened request.
pub struct ServerContext {
    enc: [u8; ENC_LEN],
    secret: Zeroizing<[u8; SECRET_LEN]>,
}

impl std::fmt::Debug for ServerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerContext").finish_non_exhaustive()
    }
}

impl ServerContext {
    /// Seal the response plaintext back to the client (panics only if the OS RNG fails).
    pub fn seal_response(self, plaintext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        // The thread's CSPRNG (`rand::thread_rng`: ChaCha12, seeded and reseeded from the OS),
        // not a `getrandom` system call per response: the verifier seals one per request.
        let mut response_nonce = [0u8; RESPONSE_NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut response_nonce);
        self.seal_response_with_nonce(plaintext, response_nonce)
    }

    /// Seal the response with a given response nonce. For test vectors only: a response nonce
    /// must be fresh and random, as [`ServerContext::seal_response`] makes it.
    #[doc(hidden)]
    pub fn seal_response_with_nonce(
        self,
        plaintext: &[u8],
        response_nonce: [u8; RESPONSE_NONCE_LEN],
    ) -> Result<Vec<u8>, EnvelopeError> {
        let (aead, nonce) = response_aead(&self.secret, &self.enc, &response_nonce)?;
        let ct = aead
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext,
                    aad: b"",
                },
            )
            .map_err(|_| EnvelopeError::Malformed)?;
        let mut out = Vec::with_capacity(RESPONSE_NONCE_LEN + ct.len());
        out.extend_from_slice(&response_nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }
}

/// Seal a request plaintext to the verifier's key configuration.
pub fn seal_request(
    config: &KeyConfig,
    plaintext: &[u8],
) -> Result<(Vec<u8>, ClientContext), EnvelopeError> {
    seal_request_with_rng(config, plaintext, &mut os_rng())
}

/// Seal a request with the ephemeral key derived (RFC 9180 `DeriveKeyPair`) from `ikm_e`.
/// For test vectors only: real requests use [`seal_request`], whose ephemeral key is random.
#[doc(hidden)]
pub fn seal_request_deterministic(
    config: &KeyConfig,
    plaintext: &[u8],
    ikm_e: &[u8; 32],
) -> Result<(Vec<u8>, ClientContext), EnvelopeError> {
    let mut rng = FixedIkm {
        ikm: *ikm_e,
        used: 0,
        overrun: false,
    };
    let sealed = seal_request_with_rng(config, plaintext, &mut rng)?;
    // HPKE must have drawn exactly the 32 bytes of ikmE, or the vector would not be RFC 9180's.
    if rng.used != ikm_e.len() || rng.overrun {
        return Err(EnvelopeError::InvalidKey(
            "unexpected use of the ephemeral key material",
        ));
    }
    Ok(sealed)
}

fn seal_request_with_rng<R: RngCore + CryptoRng>(
    config: &KeyConfig,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(Vec<u8>, ClientContext), EnvelopeError> {
    let pk = config.hpke_public_key()?;
    let hdr = request_header(config.key_id);
    let info = request_info(&hdr);
    let (encapped, mut ctx) =
        hpke::setup_sender::<HpkeAead, HpkeKdf, HpkeKem, _>(&OpModeS::Base, &pk, &info, rng)
            .map_err(|_| EnvelopeError::InvalidKey("key encapsulation failed"))?;
    let ct = ctx
        .seal(plaintext, b"")
        .map_err(|_| EnvelopeError::Malformed)?;
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    ctx.export(RESPONSE_LABEL, secret.as_mut())
        .map_err(|_| EnvelopeError::InvalidKey("secret export failed"))?;
    let mut enc = [0u8; ENC_LEN];
    encapped.write_exact(&mut enc);

    let mut out = Vec::with_capacity(REQUEST_HEADER_LEN + ENC_LEN + ct.len());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(&enc);
    out.extend_from_slice(&ct);
    Ok((out, ClientContext { enc, secret }))
}

/// Open a sealed request with whichever of `keys` its key id names.
pub fn open_request(
    keys: &[ServerKeyPair],
    request: &[u8],
) -> Result<(Vec<u8>, ServerContext), EnvelopeError> {
    if request.len() < REQUEST_HEADER_LEN + ENC_LEN + TAG_LEN {
        return Err(EnvelopeError::Malformed);
    }
    let (hdr_bytes, rest) = request.split_at(REQUEST_HEADER_LEN);
    let (enc_bytes, ct) = rest.split_at(ENC_LEN);
    let key_id = hdr_bytes[0];
    let hdr = request_header(key_id);
    if hdr_bytes != hdr {
        return Err(EnvelopeError::Malformed);
    }
    let key = keys
        .iter()
        .find(|k| k.key_id == key_id)
        .ok_or(EnvelopeError::UnknownKeyId(key_id))?;
    let encapped = <HpkeKem as hpke::Kem>::EncappedKey::from_bytes(enc_bytes)
        .map_err(|_| EnvelopeError::Malformed)?;
    let info = request_info(&hdr);
    let mut ctx = hpke::setup_receiver::<HpkeAead, HpkeKdf, HpkeKem>(
        &OpModeR::Base,
        &key.sk,
        &encapped,
        &info,
    )
    .map_err(|_| EnvelopeError::Decrypt)?;
    let plaintext = ctx.open(ct, b"").map_err(|_| EnvelopeError::Decrypt)?;
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    ctx.export(RESPONSE_LABEL, secret.as_mut())
        .map_err(|_| EnvelopeError::Decrypt)?;
    let enc: [u8; ENC_LEN] = enc_bytes.try_into().map_err(|_| EnvelopeError::Malformed)?;
    Ok((plaintext, ServerContext { enc, secret }))
}

/// A "random" source that hands out a fixed 32-byte ikmE, for deterministic test vectors.
struct FixedIkm {
    ikm: [u8; 32],
    used: usize,
    overrun: bool,
}

impl RngCore for FixedIkm {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for byte in dst.iter_mut() {
            match self.ikm.get(self.used) {
                Some(b) => {
                    *byte = *b;
                    self.used += 1;
                }
                None => {
                    *byte = 0;
                    self.overrun = true;
                }
            }
        }
    }
}

// Only used by `seal_request_deterministic`, whose caller checks every byte was used exactly once.
impl CryptoRng for FixedIkm {}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> ServerKeyPair {
        ServerKeyPair::from_secret(7, [0x42; 32]).unwrap()
    }

    const RECEIPT: &[u8] =
        b"{\"v\":1,\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA\",\"app_id\":\"dev.payseal.demo\"}";

    #[test]
    fn round_trip() {
        let keys = [ServerKeyPair::generate(1), server()];
        let (sealed, client) = seal_request(&keys[1].config(), RECEIPT).unwrap();
        assert_eq!(sealed[0], 7);
        assert_eq!(
            sealed.len(),
            REQUEST_HEADER_LEN + ENC_LEN + RECEIPT.len() + TAG_LEN
        );
        let (plain, reply) = open_request(&keys, &sealed).unwrap();
        assert_eq!(plain, RECEIPT);
        let response = reply.seal_response(b"verdict").unwrap();
        assert_eq!(response.len(), RESPONSE_NONCE_LEN + 7 + TAG_LEN);
        assert_eq!(client.open_response(&response).unwrap(), b"verdict");
    }

    #[test]
    fn empty_plaintexts_round_trip() {
        let key = server();
        let (sealed, client) = seal_request(&key.config(), b"").unwrap();
        let (plain, reply) = open_request(std::slice::from_ref(&key), &sealed).unwrap();
        assert!(plain.is_empty());
        let response = reply.seal_response(b"").unwrap();
        assert!(client.open_response(&response).unwrap().is_empty());
    }

    #[test]
    fn sealing_is_randomized() {
        let key = server();
        let (a, _) = seal_request(&key.config(), RECEIPT).unwrap();
        let (b, _) = seal_request(&key.config(), RECEIPT).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn secret_round_trips_and_public_matches() {
        let a = ServerKeyPair::generate(3);
        let b = ServerKeyPair::from_secret(3, *a.secret_bytes()).unwrap();
        assert_eq!(a.config(), b.config());
        assert_ne!(a.config().public_key, [0u8; 32]);
        assert_eq!(b.key_id(), 3);
    }

    #[test]
    fn debug_output_hides_secrets() {
        let key = server();
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(&hex::encode(key.secret_bytes())));
        assert!(!dbg.contains("66, 66"), "{dbg}");
        let (sealed, client) = seal_request(&key.config(), RECEIPT).unwrap();
        let (_, reply) = open_request(std::slice::from_ref(&key), &sealed).unwrap();
        assert_eq!(format!("{client:?}"), "ClientContext { .. }");
        assert_eq!(format!("{reply:?}"), "ServerContext { .. }");
    }

    #[test]
    fn every_flipped_bit_in_a_request_is_refused() {
        let key = server();
        let (sealed, _) = seal_request(&key.config(), RECEIPT).unwrap();
        for byte in 0..sealed.len() {
            for bit in 0..8 {
                let mut bad = sealed.clone();
                bad[byte] ^= 1 << bit;
                let err = open_request(std::slice::from_ref(&key), &bad).unwrap_err();
                match byte {
                    0 => assert_eq!(err, EnvelopeError::UnknownKeyId(7 ^ (1 << bit))),
                    1..=6 => assert_eq!(err, EnvelopeError::Malformed),
                    _ => assert_eq!(err, EnvelopeError::Decrypt, "byte {byte} bit {bit}"),
                }
            }
        }
    }

    #[test]
    fn every_flipped_bit_in_a_response_is_refused() {
        let key = server();
        // The deterministic path rebuilds the same client context for each attempt.
        let client = || seal_request_deterministic(&key.config(), RECEIPT, &[1; 32]).unwrap();
        let (sealed, _) = client();
        let (_, reply) = open_request(std::slice::from_ref(&key), &sealed).unwrap();
        let response = reply
            .seal_response_with_nonce(b"the verdict", [9; 32])
            .unwrap();
        for byte in 0..response.len() {
            for bit in 0..8 {
                let mut bad = response.clone();
                bad[byte] ^= 1 << bit;
                let (_, ctx) = client();
                assert_eq!(ctx.open_response(&bad), Err(EnvelopeError::Decrypt));
            }
        }
        let (_, ctx) = client();
        assert_eq!(ctx.open_response(&response).unwrap(), b"the verdict");
    }

    #[test]
    fn deterministic_sealing_is_reproducible_and_opens() {
        let key = server();
        let (a, _) = seal_request_deterministic(&key.config(), RECEIPT, &[5; 32]).unwrap();
        let (b, _) = seal_request_deterministic(&key.config(), RECEIPT, &[5; 32]).unwrap();
        let (c, _) = seal_request_deterministic(&key.config(), RECEIPT, &[6; 32]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            open_request(std::slice::from_ref(&key), &a).unwrap().0,
            RECEIPT
        );
    }

    #[test]
    fn a_response_for_another_request_is_refused() {
        let key = server();
        let (sealed_a, client_a) = seal_request(&key.config(), RECEIPT).unwrap();
        let (sealed_b, _) = seal_request(&key.config(), RECEIPT).unwrap();
        let (_, reply_b) = open_request(std::slice::from_ref(&key), &sealed_b).unwrap();
        let (_, _reply_a) = open_request(std::slice::from_ref(&key), &sealed_a).unwrap();
        let response_b = reply_b.seal_response(b"for b").unwrap();
        assert_eq!(
            client_a.open_response(&response_b),
            Err(EnvelopeError::Decrypt)
        );
    }

    #[test]
    fn unknown_key_id_and_wrong_key_are_refused() {
        let key = server();
        let other = ServerKeyPair::generate(7);
        let (sealed, _) = seal_request(&key.config(), RECEIPT).unwrap();
        let only_one = [ServerKeyPair::generate(8)];
        assert_eq!(
            open_request(&only_one, &sealed).unwrap_err(),
            EnvelopeError::UnknownKeyId(7)
        );
        assert_eq!(
            open_request(&[], &sealed).unwrap_err(),
            EnvelopeError::UnknownKeyId(7)
        );
        // Same key id, different key: authentication fails.
        assert_eq!(
            open_request(std::slice::from_ref(&other), &sealed).unwrap_err(),
            EnvelopeError::Decrypt
        );
    }

    #[test]
    fn truncated_envelopes_are_refused() {
        let key = server();
        let (sealed, client) = seal_request(&key.config(), RECEIPT).unwrap();
        for len in 0..sealed.len() {
            let err = open_request(std::slice::from_ref(&key), &sealed[..len]).unwrap_err();
            if len < REQUEST_HEADER_LEN + ENC_LEN + TAG_LEN {
                assert_eq!(err, EnvelopeError::Malformed, "len {len}");
            } else {
                assert_eq!(err, EnvelopeError::Decrypt, "len {len}");
            }
        }
        let (_, reply) = open_request(std::slice::from_ref(&key), &sealed).unwrap();
        let response = reply.seal_response(b"x").unwrap();
        assert_eq!(
            client.open_response(&response[..RESPONSE_NONCE_LEN + TAG_LEN - 1]),
            Err(EnvelopeError::Malformed)
        );
    }

    #[test]
    fn trailing_bytes_on_a_request_are_refused() {
        let key = server();
        let (mut sealed, _) = seal_request(&key.config(), RECEIPT).unwrap();
        sealed.push(0);
        assert_eq!(
            open_request(std::slice::from_ref(&key), &sealed).unwrap_err(),
            EnvelopeError::Decrypt
        );
    }

    #[test]
    fn low_order_enc_is_refused() {
        let key = server();
        let (mut sealed, _) = seal_request(&key.config(), RECEIPT).unwrap();
        // The all-zero point gives an all-zero shared secret, which HPKE must reject.
        sealed[REQUEST_HEADER_LEN..REQUEST_HEADER_LEN + ENC_LEN].fill(0);
        assert_eq!(
            open_request(std::slice::from_ref(&key), &sealed).unwrap_err(),
            EnvelopeError::Decrypt
        );
        let bad_config = KeyConfig {
            key_id: 1,
            public_key: [0; 32],
        };
        assert!(matches!(
            seal_request(&bad_config, RECEIPT),
            Err(EnvelopeError::InvalidKey(_))
        ));
    }

    #[test]
    fn key_config_round_trips_in_rfc_9458_layout() {
        let config = server().config();
        let bytes = config.encode();
        assert_eq!(bytes.len(), KEY_CONFIG_LEN);
        assert_eq!(bytes[0], 7);
        assert_eq!(&bytes[1..3], &[0x00, 0x20]);
        assert_eq!(&bytes[3..35], &config.public_key);
        assert_eq!(&bytes[35..], &[0x00, 0x04, 0x00, 0x01, 0x00, 0x03]);
        assert_eq!(KeyConfig::decode(&bytes).unwrap(), config);
    }

    #[test]
    fn key_config_accepts_a_list_with_our_suite_among_others() {
        let config = server().config();
        let mut bytes = config.encode()[..35].to_vec();
        // AES-128-GCM first, then ours.
        bytes.extend_from_slice(&[0x00, 0x08, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x03]);
        assert_eq!(KeyConfig::decode(&bytes).unwrap(), config);
    }

    #[test]
    fn key_config_refusals() {
        let good = server().config().encode();
        let invalid = |b: &[u8]| matches!(KeyConfig::decode(b), Err(EnvelopeError::InvalidKey(_)));
        // Truncated anywhere.
        for len in 0..good.len() {
            assert!(invalid(&good[..len]), "len {len}");
        }
        // Trailing bytes.
        let mut long = good.clone();
        long.push(0);
        assert!(invalid(&long));
        // Another KEM (P-256).
        let mut kem = good.clone();
        kem[1..3].copy_from_slice(&[0x00, 0x10]);
        assert!(invalid(&kem));
        // Only an unsupported suite (HKDF-SHA256 + AES-128-GCM).
        let mut suite = good.clone();
        suite[40] = 0x01;
        assert!(invalid(&suite));
        // Symmetric list length not a multiple of 4, or zero.
        let mut odd = good[..35].to_vec();
        odd.extend_from_slice(&[0x00, 0x03, 0x00, 0x01, 0x00]);
        assert!(invalid(&odd));
        let mut empty = good[..35].to_vec();
        empty.extend_from_slice(&[0x00, 0x00]);
        assert!(invalid(&empty));
    }

    #[test]
    fn key_config_list_round_trips_and_skips_unsupported() {
        let a = server().config();
        let b = ServerKeyPair::generate(9).config();
        let list = KeyConfig::encode_list(&[a.clone(), b.clone()]);
        assert_eq!(KeyConfig::decode_list(&list).unwrap(), vec![a.clone(), b]);
        let mut p256 = a.encode();
        p256[1..3].copy_from_slice(&[0x00, 0x10]);
        let mut mixed = (p256.len() as u16).to_be_bytes().to_vec();
        mixed.extend_from_slice(&p256);
        mixed.extend_from_slice(&KeyConfig::encode_list(std::slice::from_ref(&a)));
        assert_eq!(KeyConfig::decode_list(&mixed).unwrap(), vec![a]);
        assert!(KeyConfig::decode_list(&mixed[..mixed.len() - 1]).is_err());
        assert!(KeyConfig::decode_list(&[]).is_err());
    }
}

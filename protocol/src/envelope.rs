//! The envelope: RFC 9458 (Oblivious HTTP) message encapsulation with HPKE (RFC 9180) base mode,
//! X25519-HKDF-SHA256 / HKDF-SHA256 / ChaCha20-Poly1305, and a PaySeal label in the HPKE `info`.
//!
//! request  = key_id(1) | kem_id(2) | kdf_id(2) | aead_id(2) | enc(32) | ct
//! response = response_nonce(32) | ct      (key and nonce as RFC 9458 §4.4)
//!
//! STUB: signatures fixed by the lead; bodies to be implemented.

/// KEM id of DHKEM(X25519, HKDF-SHA256).
pub const KEM_X25519_HKDF_SHA256: u16 = 0x0020;
/// KDF id of HKDF-SHA256.
pub const KDF_HKDF_SHA256: u16 = 0x0001;
/// AEAD id of ChaCha20-Poly1305.
pub const AEAD_CHACHA20_POLY1305: u16 = 0x0003;

/// Why an envelope could not be sealed or opened. Deliberately vague towards peers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
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
        todo!()
    }
    /// Decode one key configuration; refuses any other KEM, or no supported symmetric suite.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let _ = bytes;
        todo!()
    }
}

/// The verifier's HPKE key pair. The secret is zeroized on drop and never printed.
pub struct ServerKeyPair {
    key_id: u8,
    secret: zeroize::Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl std::fmt::Debug for ServerKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerKeyPair")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ServerKeyPair {
    /// A fresh random key pair.
    pub fn generate(key_id: u8) -> Self {
        let _ = key_id;
        todo!()
    }
    /// From a stored 32-byte X25519 secret.
    pub fn from_secret(key_id: u8, secret: [u8; 32]) -> Result<Self, EnvelopeError> {
        let _ = (key_id, secret);
        todo!()
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

/// Client-side state kept to open the response to one sealed request.
pub struct ClientContext {
    _private: (),
}

impl ClientContext {
    /// Open the verifier's sealed response.
    pub fn open_response(self, response: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        let _ = response;
        todo!()
    }
}

/// Server-side state kept to seal the response to one opened request.
pub struct ServerContext {
    _private: (),
}

impl ServerContext {
    /// Seal the response plaintext back to the client.
    pub fn seal_response(self, plaintext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        let _ = plaintext;
        todo!()
    }
}

/// Seal a request plaintext to the verifier's key configuration.
pub fn seal_request(
    config: &KeyConfig,
    plaintext: &[u8],
) -> Result<(Vec<u8>, ClientContext), EnvelopeError> {
    let _ = (config, plaintext);
    todo!()
}

/// Open a sealed request with whichever of `keys` its key id names.
pub fn open_request(
    keys: &[ServerKeyPair],
    request: &[u8],
) -> Result<(Vec<u8>, ServerContext), EnvelopeError> {
    let _ = (keys, request);
    todo!()
}

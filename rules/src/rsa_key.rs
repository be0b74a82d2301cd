//! A store's RSA public key, decoded once at config load into the form `ring` verifies with.

use ring::signature::{RsaParameters, RsaPublicKeyComponents};
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;

/// Smallest RSA key accepted (the stores issue 2048-bit keys or larger; `ring` refuses less).
const MIN_BITS: usize = 2048;

/// Why a store public key was refused at config load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RsaKeyError {
    /// The bytes are not an X.509 SubjectPublicKeyInfo holding an RSA key.
    #[error("not a Base64 X.509 SubjectPublicKeyInfo RSA public key")]
    NotRsaSpki,
    /// The key is under 2048 bits.
    #[error("RSA key of {bits} bits is too small (at least 2048)")]
    TooSmall {
        /// The key's modulus size.
        bits: usize,
    },
}

/// An RSA public key (Play Console / AppGallery Connect), held as the big-endian modulus and
/// exponent `ring` takes, so a request does no key decoding.
#[derive(Clone)]
pub struct RsaPublicKey {
    components: RsaPublicKeyComponents<Vec<u8>>,
}

impl RsaPublicKey {
    /// Decode a DER X.509 SubjectPublicKeyInfo holding an RSA key of at least 2048 bits.
    pub fn from_spki_der(der: &[u8]) -> Result<RsaPublicKey, RsaKeyError> {
        let key =
            rsa::RsaPublicKey::from_public_key_der(der).map_err(|_| RsaKeyError::NotRsaSpki)?;
        let bits = key.size() * 8;
        if bits < MIN_BITS {
            return Err(RsaKeyError::TooSmall { bits });
        }
        Ok(RsaPublicKey {
            components: RsaPublicKeyComponents {
                n: key.n().to_bytes_be(),
                e: key.e().to_bytes_be(),
            },
        })
    }

    /// The modulus size in bits.
    pub fn bits(&self) -> usize {
        self.components.n.len() * 8
    }

    /// Whether `signature` over `data` verifies with this key under `params` (padding and hash,
    /// e.g. PKCS#1 v1.5 SHA-1 for Google Play).
    pub(crate) fn verifies(
        &self,
        params: &'static RsaParameters,
        data: &[u8],
        signature: &[u8],
    ) -> bool {
        self.components.verify(params, data, signature).is_ok()
    }
}

impl std::fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    #[test]
    fn store_keys_decode_and_other_bytes_are_refused() {
        let store = crate::test_support::genuine();
        let der = STANDARD.decode(store.google_play_public_key()).unwrap();
        let key = RsaPublicKey::from_spki_der(&der).unwrap();
        assert!(key.bits() >= 2048, "{key:?}");
        assert_eq!(
            RsaPublicKey::from_spki_der(&der[1..]).unwrap_err(),
            RsaKeyError::NotRsaSpki
        );
        assert_eq!(
            RsaPublicKey::from_spki_der(b"").unwrap_err(),
            RsaKeyError::NotRsaSpki
        );
    }

    #[test]
    fn a_1024_bit_key_is_too_small() {
        use rsa::pkcs8::EncodePublicKey;
        let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let der = small.to_public_key().to_public_key_der().unwrap();
        assert_eq!(
            RsaPublicKey::from_spki_der(der.as_bytes()).unwrap_err(),
            RsaKeyError::TooSmall { bits: 1024 }
        );
    }
}

//! TLS SPKI pins (the OkHttp `CertificatePinner` form): `sha256/<standard base64 of the
//! SHA-256 of a DER SubjectPublicKeyInfo>`, and the SPKI of a certificate they are computed
//! from. The profile carries them, the verifier's config names its backup pins in this form,
//! and the SDK compares the presented chain's digests with them.
//!
//! The certificate is parsed by `rustls-webpki`, the X.509 parser rustls validates chains
//! with, so the SDK and the verifier compute a certificate's pin the same way.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The prefix of an OkHttp-style SPKI pin.
pub const PIN_PREFIX: &str = "sha256/";

/// Why a pin or a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PinError {
    /// The pin does not start with [`PIN_PREFIX`].
    #[error("pin {0:?} does not start with \"sha256/\"")]
    Prefix(String),
    /// After the prefix, the pin is not standard base64 of 32 bytes.
    #[error("pin {0:?} is not standard base64 of a 32-byte SHA-256 digest")]
    Digest(String),
    /// The pin is a placeholder (every base64 digit the same, like the example configuration's
    /// `sha256/AAAA…=`), not the digest of a real key.
    #[error("pin {0:?} is a placeholder, not the pin of a real key (use the `backup pin:` line `payseal-verifier tls` prints)")]
    Placeholder(String),
    /// The bytes are not a DER X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    Certificate(String),
}

/// SHA-256 of a DER SubjectPublicKeyInfo (outer SEQUENCE included, as
/// `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256` computes it).
pub fn spki_sha256(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

/// The pin string `sha256/<base64>` of a 32-byte digest.
pub fn pin_string(digest: &[u8; 32]) -> String {
    format!("{PIN_PREFIX}{}", STANDARD.encode(digest))
}

/// The OkHttp-style pin string `sha256/<base64>` for a DER SubjectPublicKeyInfo.
pub fn spki_pin(spki_der: &[u8]) -> String {
    pin_string(&spki_sha256(spki_der))
}

/// Parse one `sha256/<standard base64 of 32 bytes>` pin into its digest. A placeholder (every
/// base64 digit the same character, e.g. `sha256/AAAA…A=`, the all-zero digest) is refused: no
/// key hashes to it, so it can only be a value copied from an example and never replaced.
pub fn parse_pin(pin: &str) -> Result<[u8; 32], PinError> {
    let b64 = pin
        .strip_prefix(PIN_PREFIX)
        .ok_or_else(|| PinError::Prefix(pin.to_owned()))?;
    let digest = STANDARD
        .decode(b64.as_bytes())
        .ok()
        .and_then(|d| <[u8; 32]>::try_from(d).ok())
        .ok_or_else(|| PinError::Digest(pin.to_owned()))?;
    if is_placeholder(b64) {
        return Err(PinError::Placeholder(pin.to_owned()));
    }
    Ok(digest)
}

/// Whether the base64 digits of a pin are all one character (`AAAA…A=`), the last one aside
/// (it only carries the digest's final bits: `////…8=` is 32 bytes of 0xff).
fn is_placeholder(b64: &str) -> bool {
    let digits = b64.trim_end_matches('=');
    let Some((head, _)) = digits
        .char_indices()
        .last()
        .map(|(i, _)| digits.split_at(i))
    else {
        return true;
    };
    let mut chars = head.chars();
    match chars.next() {
        Some(first) => chars.all(|c| c == first),
        None => true,
    }
}

/// Whether the DER X.509 certificate `cert_der` names `host` (a DNS name, or an IPv4 or IPv6
/// address without brackets) in its subjectAltName, by `rustls-webpki`'s rule: the check a TLS
/// client (the SDK) runs against the verifier URL's host.
pub fn certificate_names_host(cert_der: &[u8], host: &str) -> Result<bool, PinError> {
    let der = rustls_pki_types::CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| PinError::Certificate(format!("{e:?}")))?;
    let Ok(name) = rustls_pki_types::ServerName::try_from(host) else {
        return Ok(false);
    };
    Ok(cert.verify_is_valid_for_subject_name(&name).is_ok())
}

/// The DER SubjectPublicKeyInfo (outer SEQUENCE included) of a DER X.509 certificate.
pub fn certificate_spki(cert_der: &[u8]) -> Result<Vec<u8>, PinError> {
    let der = rustls_pki_types::CertificateDer::from(cert_der);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|e| PinError::Certificate(format!("{e:?}")))?;
    Ok(cert.subject_public_key_info().as_ref().to_vec())
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo: what a pin holds.
pub fn certificate_spki_sha256(cert_der: &[u8]) -> Result<[u8; 32], PinError> {
    certificate_spki(cert_der).map(|spki| spki_sha256(&spki))
}

/// The `sha256/<base64>` pin of a DER X.509 certificate's key.
pub fn certificate_pin(cert_der: &[u8]) -> Result<String, PinError> {
    certificate_spki_sha256(cert_der).map(|d| pin_string(&d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_pin_is_okhttp_style() {
        // SHA-256 of the empty string, in standard base64 with padding.
        assert_eq!(
            spki_pin(b""),
            "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert_eq!(
            parse_pin(&spki_pin(b"x")).unwrap(),
            <[u8; 32]>::from(Sha256::digest(b"x"))
        );
        assert_eq!(pin_string(&spki_sha256(b"x")), spki_pin(b"x"));
    }

    #[test]
    fn bad_pins_are_typed() {
        assert!(matches!(parse_pin("sha1/abcd"), Err(PinError::Prefix(_))));
        assert!(matches!(
            parse_pin(&format!("sha256/{}", STANDARD.encode([7u8; 20]))),
            Err(PinError::Digest(_))
        ));
        assert!(matches!(
            parse_pin("sha256/not base64"),
            Err(PinError::Digest(_))
        ));
    }

    #[test]
    fn placeholder_pins_are_refused() {
        // The example configuration's placeholder, and any other one-character digest.
        let e = format!("sha256/{}=", "E".repeat(43));
        for pin in [
            "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            &pin_string(&[0xff; 32]),
            &e,
        ] {
            let err = parse_pin(pin).unwrap_err();
            assert!(matches!(err, PinError::Placeholder(_)), "{pin}: {err:?}");
            assert!(err.to_string().contains("placeholder"), "{err}");
        }
        // A real digest with repeated bytes is not a placeholder.
        assert!(parse_pin(&pin_string(&[7; 32])).is_ok());
        assert!(parse_pin(&spki_pin(b"key")).is_ok());
    }

    #[test]
    fn certificate_names_its_hosts_only() {
        let names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let cert = rcgen::generate_simple_self_signed(names).unwrap().cert;
        for host in ["localhost", "127.0.0.1", "::1"] {
            assert_eq!(certificate_names_host(cert.der(), host), Ok(true), "{host}");
        }
        for host in ["verify.example.com", "10.0.0.1", "::2", "not a host"] {
            assert_eq!(
                certificate_names_host(cert.der(), host),
                Ok(false),
                "{host}"
            );
        }
        assert!(matches!(
            certificate_names_host(b"junk", "localhost"),
            Err(PinError::Certificate(_))
        ));
    }

    #[test]
    fn certificate_spki_is_the_key_not_the_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let a = rcgen::CertificateParams::new(vec!["a.example".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let b = rcgen::CertificateParams::new(vec!["b.example".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_ne!(a.der().as_ref(), b.der().as_ref());
        assert_eq!(certificate_spki(a.der()).unwrap(), key.public_key_der());
        assert_eq!(
            certificate_pin(b.der()).unwrap(),
            spki_pin(&key.public_key_der())
        );
        let other = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["a.example".to_owned()])
            .unwrap()
            .self_signed(&other)
            .unwrap();
        assert_ne!(
            certificate_spki_sha256(c.der()).unwrap(),
            certificate_spki_sha256(a.der()).unwrap()
        );
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        for bytes in [
            &b""[..],
            b"not a certificate",
            &[0x30, 0x03, 0x02, 0x01, 0x00],
        ] {
            assert!(matches!(
                certificate_spki(bytes),
                Err(PinError::Certificate(_))
            ));
        }
    }
}

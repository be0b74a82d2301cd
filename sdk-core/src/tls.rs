//! S130, the trusted connection: a rustls client configuration (TLS 1.3 only, ring) whose
//! certificate verifier first runs the normal WebPKI validation (chain to a trusted root,
//! validity, hostname) and then requires that the SPKI SHA-256 of the leaf or of an
//! intermediate in the presented chain equals one of the profile's pins (the OkHttp
//! `CertificatePinner` rule).
//!
//! # Trust roots, per platform
//! The roots are the Mozilla CA set compiled in by `webpki-roots`, plus the options' extra
//! PEM roots, on every platform (Android, iOS, JVM hosts, Linux): the same behaviour
//! everywhere, no JNI initialisation on Android (which `rustls-platform-verifier` would need
//! through a JNA-loaded library), and no reliance on a user-installed CA store. WebPKI
//! validation is the first gate only: the pin is what binds the connection to the verifier,
//! and validation is never switched off (tests add their own root through the options).
//!
//! A pin mismatch fails the handshake, so the request body is never sent; it surfaces as
//! [`PinMismatch`] inside the rustls error, which [`is_pin_mismatch`] finds through the
//! hyper / io error chain.

use std::error::Error as StdError;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// An extra root is not PEM or holds no certificate.
    #[error("extra trust root #{index} is not a PEM certificate: {reason}")]
    ExtraRoot {
        /// Position in the options' list.
        index: usize,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {0}")]
    Config(String),
}

/// The error the pinning verifier raises when no certificate of a valid chain is pinned.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
#[error("the verifier's certificate chain matches none of the profile's pins")]
pub(crate) struct PinMismatch;

/// SHA-256 of a certificate's DER SubjectPublicKeyInfo (outer SEQUENCE included, as
/// pins are computed by `openssl x509 -pubkey | openssl pkey -pubin -outform der | sha256`).
///
/// [`payseal_protocol::pin::certificate_spki_sha256`]: the certificate is parsed by
/// rustls's own X.509 parser (webpki), the one that has already validated the chain, so the
/// SDK carries no second ASN.1 library.
pub(crate) fn spki_sha256(cert_der: &[u8]) -> Option<[u8; 32]> {
    payseal_protocol::pin::certificate_spki_sha256(cert_der).ok()
}

/// The OkHttp rule: the leaf or any intermediate of the presented chain carries a pinned key.
pub(crate) fn chain_matches_pins(
    end_entity: &[u8],
    intermediates: &[&[u8]],
    pins: &[[u8; 32]],
) -> bool {
    std::iter::once(end_entity)
        .chain(intermediates.iter().copied())
        .filter_map(spki_sha256)
        .any(|digest| pins.contains(&digest))
}

/// WebPKI validation followed by the SPKI pin check.
#[derive(Debug)]
pub(crate) struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // First the normal validation: chain, validity, hostname. Only a valid chain is pinned.
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let intermediates: Vec<&[u8]> = intermediates.iter().map(|c| c.as_ref()).collect();
        if chain_matches_pins(end_entity.as_ref(), &intermediates, &self.pins) {
            Ok(verified)
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                rustls::OtherError(Arc::new(PinMismatch)),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The built-in roots (Mozilla's, from `webpki-roots`) plus the extra PEM roots.
fn root_store(extra_roots_pem: &[String]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (index, pem) in extra_roots_pem.iter().enumerate() {
        let mut found = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| TlsError::ExtraRoot {
                index,
                reason: e.to_string(),
            })?;
            roots.add(cert).map_err(|e| TlsError::ExtraRoot {
                index,
                reason: e.to_string(),
            })?;
            found += 1;
        }
        if found == 0 {
            return Err(TlsError::ExtraRoot {
                index,
                reason: "no CERTIFICATE block".into(),
            });
        }
    }
    Ok(roots)
}

/// The client configuration: TLS 1.3 only, ring, WebPKI + pins, HTTP/1.1 ALPN.
pub(crate) fn client_config(
    pins: Vec<[u8; 32]>,
    extra_roots_pem: &[String],
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(root_store(extra_roots_pem)?);
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let verifier = Arc::new(PinningVerifier { inner, pins });
    let mut config = rustls::ClientConfig::builder_with_provider(provider as Arc<CryptoProvider>)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous() // a custom verifier that adds to WebPKI, never one that skips it
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Whether an error (from hyper, io or rustls) was caused by [`PinMismatch`].
pub(crate) fn is_pin_mismatch(err: &(dyn StdError + 'static)) -> bool {
    any_in_chain(err, &|e| {
        e.downcast_ref::<PinMismatch>().is_some() || rustls_is_pin_mismatch(e)
    })
}

/// Whether an error (from hyper, io or rustls) says the verifier's certificate chains to no
/// trusted root (rustls' `UnknownIssuer`): typically a self-signed development certificate the
/// options do not list as an extra root.
pub(crate) fn is_unknown_issuer(err: &(dyn StdError + 'static)) -> bool {
    any_in_chain(err, &|e| {
        matches!(
            e.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            ))
        )
    })
}

/// What to do about [`is_unknown_issuer`], appended to the network error's message.
pub(crate) const UNKNOWN_ISSUER_HINT: &str = "the verifier's certificate is not issued by a \
     trusted root; for a self-signed development certificate (payseal-verifier dev: \
     STATE/tls/cert.pem) add it as an extra root: extraRootsPem (Kotlin, Swift), ExtraRootsPem \
     (Unity), --ca FILE (payseal-client)";

/// Whether `err` or anything it wraps satisfies `found`.
///
/// rustls errors have no `source()`, and `io::Error::source()` skips its payload, so the
/// chain is walked by hand, looking inside each `io::Error`.
fn any_in_chain(
    err: &(dyn StdError + 'static),
    found: &dyn Fn(&(dyn StdError + 'static)) -> bool,
) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = next {
        if found(e) {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            // The payload may itself be an io::Error (hyper-util wraps tokio-rustls' one).
            if let Some(payload) = io.get_ref() {
                if any_in_chain(payload, found) {
                    return true;
                }
            }
        }
        next = e.source();
    }
    false
}

fn rustls_is_pin_mismatch(err: &(dyn StdError + 'static)) -> bool {
    match err.downcast_ref::<rustls::Error>() {
        Some(rustls::Error::InvalidCertificate(CertificateError::Other(other)))
        | Some(rustls::Error::Other(other)) => other.0.downcast_ref::<PinMismatch>().is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> rcgen::CertifiedKey {
        rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap()
    }

    #[test]
    fn spki_digest_is_the_key_not_the_certificate() {
        let a = self_signed("localhost");
        let digest = spki_sha256(a.cert.der()).unwrap();
        let expected = payseal_protocol::pin::spki_sha256(&a.key_pair.public_key_der());
        assert_eq!(digest, expected);
        // A second certificate for the same key has the same pin.
        let params = rcgen::CertificateParams::new(vec!["other".to_string()]).unwrap();
        let again = params.self_signed(&a.key_pair).unwrap();
        assert_eq!(spki_sha256(again.der()).unwrap(), digest);
        assert!(spki_sha256(b"not a certificate").is_none());
    }

    #[test]
    fn leaf_or_intermediate_may_carry_the_pin() {
        let leaf = self_signed("leaf");
        let mid = self_signed("mid");
        let other = self_signed("other");
        let leaf_pin = spki_sha256(leaf.cert.der()).unwrap();
        let mid_pin = spki_sha256(mid.cert.der()).unwrap();
        let other_pin = spki_sha256(other.cert.der()).unwrap();
        let chain: [&[u8]; 1] = [mid.cert.der().as_ref()];
        assert!(chain_matches_pins(leaf.cert.der(), &chain, &[leaf_pin]));
        assert!(chain_matches_pins(
            leaf.cert.der(),
            &chain,
            &[other_pin, mid_pin]
        ));
        assert!(!chain_matches_pins(leaf.cert.der(), &chain, &[other_pin]));
        assert!(!chain_matches_pins(leaf.cert.der(), &[], &[mid_pin]));
    }

    #[test]
    fn pin_mismatch_is_found_through_io_and_rustls_wrappers() {
        let rustls_err = rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(PinMismatch)),
        ));
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_err);
        #[derive(Debug, thiserror::Error)]
        #[error("connect failed")]
        struct Outer(#[source] std::io::Error);
        assert!(is_pin_mismatch(&Outer(io)));

        // As hyper-util delivers it: io::Error(Other, io::Error(InvalidData, rustls)).
        let rustls_err = rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(PinMismatch)),
        ));
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_err);
        let outer = std::io::Error::other(inner);
        assert!(is_pin_mismatch(&Outer(outer)));

        let other = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, other);
        assert!(!is_pin_mismatch(&Outer(io)));
    }

    #[test]
    fn unknown_issuer_is_found_through_io_wrappers() {
        #[derive(Debug, thiserror::Error)]
        #[error("connect failed")]
        struct Outer(#[source] std::io::Error);
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, unknown);
        assert!(is_unknown_issuer(&Outer(std::io::Error::other(inner))));
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, expired);
        assert!(!is_unknown_issuer(&Outer(io)));
    }

    #[test]
    fn extra_roots_must_be_pem_certificates() {
        let ca = self_signed("ca");
        assert!(root_store(&[ca.cert.pem()]).is_ok());
        assert!(matches!(
            root_store(&["garbage".into()]),
            Err(TlsError::ExtraRoot { index: 0, .. })
        ));
        assert!(client_config(vec![[0; 32]], &[ca.cert.pem()]).is_ok());
    }
}

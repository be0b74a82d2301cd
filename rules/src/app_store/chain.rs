//! The App Store `x5c` chain: leaf → intermediate → a configured root, Apple's marker OIDs, and
//! the bounded cache of chains that passed, owned by the [`crate::TrustAnchors`] they passed under.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hashlink::LruCache;
use payseal_protocol::Reason;
use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::oid;
use x509_parser::certificate::Validity;
use x509_parser::prelude::*;

use crate::Rejection;

/// DER content of OID 1.2.840.113635.100.6.11.1 (Apple's receipt/StoreKit signing leaf marker).
const LEAF_MARKER: &[u8] = &oid!(raw 1.2.840.113635.100.6.11.1);
/// DER content of OID 1.2.840.113635.100.6.2.1 (Apple's WWDR intermediate marker).
const INTERMEDIATE_MARKER: &[u8] = &oid!(raw 1.2.840.113635.100.6.2.1);
/// id-ecPublicKey.
const EC_PUBLIC_KEY: &[u8] = &oid!(raw 1.2.840.10045.2.1);
/// prime256v1 (P-256).
const P256_CURVE: &[u8] = &oid!(raw 1.2.840.10045.3.1.7);

/// Chains remembered per set of trust anchors (Apple rotates leaves every year or two, and
/// keeps a handful of intermediates; the least recently used chain goes first).
pub(crate) const CHAIN_CACHE_CAPACITY: usize = 256;

/// `untrusted_chain` with `detail`.
pub(crate) fn untrusted(detail: impl Into<String>) -> Rejection {
    Rejection::new(Reason::UntrustedChain, detail)
}

/// What the time-independent checks established about one `x5c` (leaf, intermediate): the
/// leaf's key and the validity windows that are checked at each transaction's `signedDate`.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedChain {
    /// The leaf's P-256 key, uncompressed SEC1 (what `ring` verifies ES256 with).
    pub leaf_key: Vec<u8>,
    /// Validity of the leaf.
    pub leaf: Validity,
    /// Validity of the intermediate.
    pub intermediate: Validity,
    /// Validity of the configured root the intermediate is issued by.
    pub root: Validity,
}

/// Parse one `x5c` certificate (`untrusted_chain` unless it is exactly one DER certificate).
pub(crate) fn parse_cert<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, Rejection> {
    match X509Certificate::from_der(der) {
        Ok(([], c)) => Ok(c),
        _ => Err(untrusted(format!("{what} is not a DER certificate"))),
    }
}

/// The leaf's P-256 public key as uncompressed SEC1, or `untrusted_chain` when the leaf has
/// another kind of key or the point is not on the curve.
pub(super) fn leaf_key(leaf: &X509Certificate<'_>) -> Result<Vec<u8>, Rejection> {
    let spki = leaf.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok());
    if spki.algorithm.algorithm.as_bytes() != EC_PUBLIC_KEY
        || curve.as_ref().map(|c| c.as_bytes()) != Some(P256_CURVE)
    {
        return Err(untrusted("x5c[0] does not hold a P-256 key (wrong order?)"));
    }
    // p256 only decodes the point (compressed or not) and checks it is on the curve; the
    // signature itself is verified by ring.
    let key = p256::PublicKey::from_sec1_bytes(&spki.subject_public_key.data)
        .map_err(|_| untrusted("x5c[0] P-256 key does not decode"))?;
    Ok(
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, false)
            .as_bytes()
            .to_vec(),
    )
}

fn has_extension(cert: &X509Certificate<'_>, oid_der: &[u8]) -> bool {
    cert.extensions()
        .iter()
        .any(|e| e.oid.as_bytes() == oid_der)
}

/// Leaf issued by the intermediate, marker OIDs, intermediate a CA issued by a configured root.
pub(super) fn verify_chain(
    leaf: &X509Certificate<'_>,
    leaf_key: Vec<u8>,
    inter: &X509Certificate<'_>,
    apple_roots: &[Vec<u8>],
) -> Result<VerifiedChain, Rejection> {
    let root = verify_marked_chain(leaf, inter, apple_roots, "App Store root")?;
    Ok(VerifiedChain {
        leaf_key,
        leaf: leaf.validity().clone(),
        intermediate: inter.validity().clone(),
        root,
    })
}

/// Apple's chain rule, for StoreKit 2 JWS and app receipts alike: the leaf issued by the
/// intermediate and marked `1.2.840.113635.100.6.11.1`, the intermediate a CA marked
/// `1.2.840.113635.100.6.2.1` and issued by one of `roots` (`roots_name` in details). Returns
/// the root's validity (every validity is checked at the signing date by the caller).
pub(crate) fn verify_marked_chain(
    leaf: &X509Certificate<'_>,
    inter: &X509Certificate<'_>,
    roots: &[Vec<u8>],
    roots_name: &str,
) -> Result<Validity, Rejection> {
    if leaf.issuer() != inter.subject() || leaf.verify_signature(Some(inter.public_key())).is_err()
    {
        return Err(untrusted("leaf is not issued by the intermediate"));
    }
    if !has_extension(leaf, LEAF_MARKER) {
        return Err(untrusted(
            "leaf lacks Apple's marker OID 1.2.840.113635.100.6.11.1",
        ));
    }
    if !inter.is_ca() {
        return Err(untrusted("intermediate is not a CA"));
    }
    if !has_extension(inter, INTERMEDIATE_MARKER) {
        return Err(untrusted(
            "intermediate lacks Apple's marker OID 1.2.840.113635.100.6.2.1",
        ));
    }
    if roots.is_empty() {
        return Err(untrusted(format!("no {roots_name} is configured")));
    }
    let root = roots
        .iter()
        .filter_map(|der| X509Certificate::from_der(der).ok().map(|(_, root)| root))
        .find(|root| {
            inter.issuer() == root.subject()
                && inter.verify_signature(Some(root.public_key())).is_ok()
        })
        .ok_or_else(|| {
            untrusted(format!(
                "intermediate is not issued by a configured {roots_name}"
            ))
        })?;
    Ok(root.validity().clone())
}

/// `untrusted_chain` unless `validity` covers `at` (the transaction's `signedDate`, the app
/// receipt's creation date).
pub(crate) fn valid_at(validity: &Validity, at: ASN1Time, what: &str) -> Result<(), Rejection> {
    if validity.is_valid_at(at) {
        Ok(())
    } else {
        Err(untrusted(format!(
            "{what} certificate is not valid at the signing date ({} .. {})",
            validity.not_before, validity.not_after
        )))
    }
}

/// How the chain cache has been used, for tests and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainCacheStats {
    /// Lookups that found a chain verified earlier.
    pub hits: u64,
    /// Lookups that found none (the chain was then verified in full).
    pub misses: u64,
    /// Chains held now.
    pub len: usize,
}

/// The key of one chain: SHA-256 over the length-prefixed leaf and intermediate DER.
pub(crate) type ChainKey = [u8; 32];

/// Chains that passed [`verify_chain`] under one set of roots, by the exact DER of leaf and
/// intermediate. Only successes are remembered; the time-dependent checks run every time.
pub(crate) struct ChainCache {
    chains: Mutex<LruCache<ChainKey, Arc<VerifiedChain>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ChainCache {
    /// An empty cache holding at most `capacity` chains.
    pub(crate) fn new(capacity: usize) -> ChainCache {
        ChainCache {
            chains: Mutex::new(LruCache::new(capacity)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The key of (leaf, intermediate).
    pub(crate) fn key(leaf_der: &[u8], inter_der: &[u8]) -> ChainKey {
        let mut h = Sha256::new();
        for part in [leaf_der, inter_der] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    /// The chain under `key`, if it passed before.
    pub(crate) fn get(&self, key: &ChainKey) -> Option<Arc<VerifiedChain>> {
        let found = self
            .chains
            .lock()
            .ok()
            .and_then(|mut m| m.get(key).cloned());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remember a chain that passed.
    pub(crate) fn insert(&self, key: ChainKey, chain: Arc<VerifiedChain>) {
        if let Ok(mut m) = self.chains.lock() {
            m.insert(key, chain);
        }
    }

    /// Hits, misses and size so far.
    pub(crate) fn stats(&self) -> ChainCacheStats {
        ChainCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            len: self.chains.lock().map(|m| m.len()).unwrap_or(0),
        }
    }
}

impl std::fmt::Debug for ChainCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainCache")
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(tag: u8) -> Arc<VerifiedChain> {
        let t = ASN1Time::from_timestamp(0).unwrap();
        let v = Validity {
            not_before: t,
            not_after: t,
        };
        Arc::new(VerifiedChain {
            leaf_key: vec![tag],
            leaf: v.clone(),
            intermediate: v.clone(),
            root: v,
        })
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_least_recently_used_chain() {
        let cache = ChainCache::new(2);
        let (a, b, c) = (
            ChainCache::key(b"leaf a", b"inter"),
            ChainCache::key(b"leaf b", b"inter"),
            ChainCache::key(b"leaf c", b"inter"),
        );
        cache.insert(a, chain(1));
        cache.insert(b, chain(2));
        assert_eq!(cache.get(&a).unwrap().leaf_key, [1]); // a is now the most recent
        cache.insert(c, chain(3));
        assert!(cache.get(&b).is_none(), "b was the least recently used");
        assert_eq!(cache.get(&a).unwrap().leaf_key, [1]);
        assert_eq!(cache.get(&c).unwrap().leaf_key, [3]);
        assert_eq!(
            cache.stats(),
            ChainCacheStats {
                hits: 3,
                misses: 1,
                len: 2
            }
        );
    }

    #[test]
    fn the_key_separates_leaf_from_intermediate() {
        assert_ne!(
            ChainCache::key(b"ab", b"c"),
            ChainCache::key(b"a", b"bc"),
            "length prefixes keep the boundary"
        );
        assert_ne!(ChainCache::key(b"a", b"b"), ChainCache::key(b"b", b"a"));
    }
}

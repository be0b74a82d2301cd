//! The roots the verifier trusts for chained store signatures, and the cache of App Store
//! chains verified under exactly those roots (so a cached chain can never outlive its root).

use super::chain::{ChainCache, ChainCacheStats, CHAIN_CACHE_CAPACITY};

/// Why a set of trust anchors was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustAnchorError {
    /// `apple_roots[index]` does not parse as an X.509 certificate.
    #[error("App Store root {index} is not an X.509 certificate")]
    NotCertificate {
        /// Position in the list given to [`TrustAnchors::new`].
        index: usize,
    },
    /// `apple_receipt_roots[index]` does not parse as an X.509 certificate.
    #[error("App Store app receipt root {index} is not an X.509 certificate")]
    ReceiptRootNotCertificate {
        /// Position in the list given to [`TrustAnchors::with_receipt_roots`].
        index: usize,
    },
}

/// Roots the verifier trusts for chained store signatures, fixed at construction, with the
/// memo of App Store chains that verified under them.
#[derive(Debug)]
pub struct TrustAnchors {
    apple_roots: Vec<Vec<u8>>,
    apple_receipt_roots: Vec<Vec<u8>>,
    app_store_chains: ChainCache,
}

impl TrustAnchors {
    /// Trust `apple_roots` (DER; Apple Root CA - G3 in production, fingerprint-checked by the
    /// config loader). Each must parse as an X.509 certificate.
    pub fn new(apple_roots: Vec<Vec<u8>>) -> Result<TrustAnchors, TrustAnchorError> {
        for (index, der) in apple_roots.iter().enumerate() {
            if x509_parser::parse_x509_certificate(der).is_err() {
                return Err(TrustAnchorError::NotCertificate { index });
            }
        }
        Ok(TrustAnchors {
            apple_roots,
            apple_receipt_roots: Vec::new(),
            app_store_chains: ChainCache::new(CHAIN_CACHE_CAPACITY),
        })
    }

    /// Also trust `roots` (DER; Apple Inc. Root CA in production, fingerprint-checked by the
    /// config loader) for the original StoreKit's app receipts. Each must parse as an X.509
    /// certificate.
    pub fn with_receipt_roots(
        mut self,
        roots: Vec<Vec<u8>>,
    ) -> Result<TrustAnchors, TrustAnchorError> {
        for (index, der) in roots.iter().enumerate() {
            if x509_parser::parse_x509_certificate(der).is_err() {
                return Err(TrustAnchorError::ReceiptRootNotCertificate { index });
            }
        }
        self.apple_receipt_roots = roots;
        Ok(self)
    }

    /// The app receipt roots, DER.
    pub fn apple_receipt_roots(&self) -> &[Vec<u8>] {
        &self.apple_receipt_roots
    }

    /// The App Store roots, DER.
    pub fn apple_roots(&self) -> &[Vec<u8>] {
        &self.apple_roots
    }

    /// How the App Store chain cache has been used.
    pub fn app_store_chain_stats(&self) -> ChainCacheStats {
        self.app_store_chains.stats()
    }

    /// The App Store chain cache.
    pub(crate) fn app_store_chains(&self) -> &ChainCache {
        &self.app_store_chains
    }
}

impl Default for TrustAnchors {
    /// No roots: every App Store receipt is `untrusted_chain`.
    fn default() -> TrustAnchors {
        TrustAnchors {
            apple_roots: Vec::new(),
            apple_receipt_roots: Vec::new(),
            app_store_chains: ChainCache::new(CHAIN_CACHE_CAPACITY),
        }
    }
}

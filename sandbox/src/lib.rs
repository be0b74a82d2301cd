//! payseal-sandbox (placeholder)

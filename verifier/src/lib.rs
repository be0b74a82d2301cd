//! # payseal-verifier
//!
//! (lead writes the crate doc at the end)

pub mod rules;
pub mod settings;

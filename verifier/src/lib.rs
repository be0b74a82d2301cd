//! # payseal-verifier
//!
//! (lead writes the crate doc at the end)

pub mod cli;
pub mod config;
pub mod dev;
pub mod keys;
pub mod ledger;
pub mod profile;
pub mod rules;
pub mod server;
pub mod service;
pub mod settings;
pub mod tls;

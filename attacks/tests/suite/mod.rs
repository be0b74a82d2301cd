//! The attack suite's world, network helpers and cases.

pub mod cases;
pub mod net;
pub mod world;

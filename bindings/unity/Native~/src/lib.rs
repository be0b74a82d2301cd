//! # payseal-unity
//!
//! A stable `extern "C"` surface over `payseal-sdk-core` for Unity (and any C caller), with
//! no logic of its own: create a client from the profile JSON and options, verify a receipt
//! (asynchronously with a callback and a `user_data` value, or blocking), retry pending
//! receipts, count them, route log events, and free what the library returned.
//!
//! Rules of the surface (see [`exports`]):
//! - every call returns an error kind ([`error::Kind`]: 0 is success) and, on failure, a
//!   message the caller frees with `payseal_string_free`; no panic crosses the boundary
//!   (each entry runs under `catch_unwind`; a panic is reported as `Internal`);
//! - input strings are borrowed UTF-8 ([`abi::PsStr`]: pointer + length, null = absent);
//! - everything the library returns is freed only by the library's own free functions;
//!   what a callback receives is borrowed for the duration of the callback;
//! - clients are numbered handles ([`handles`]): a freed or unknown handle is an
//!   `InvalidArgument` error, never a dangling pointer;
//! - callbacks (results, logs) arrive on one thread of this library ([`dispatch`]), never
//!   the caller's nor the SDK's own threads, which a managed runtime would otherwise attach
//!   and wait for at exit; `payseal_shutdown` ends that thread (process exit, domain unload).
//!
//! The C# bindings (`../Runtime/Native/NativeMethods.g.cs`; this crate is `Native~/` in the
//! Unity package, a folder Unity ignores) are generated from [`abi`] and
//! [`exports`] by `csbindgen` in `build.rs`; the hand-written C# layer is in `../Runtime/`.

pub mod abi;
pub mod cstring;
pub mod dispatch;
pub mod error;
pub mod exports;
pub mod handles;

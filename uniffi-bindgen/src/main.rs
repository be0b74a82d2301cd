//! `uniffi-bindgen`: generates PaySeal's Kotlin and Swift bindings from the built library.
//!
//! ```text
//! cargo build -p payseal-sdk-core
//! cargo run -p uniffi-bindgen -- generate --library target/debug/libpayseal_sdk_core.so \
//!     --config uniffi.toml --language kotlin --out-dir bindings/kotlin/src/main/kotlin
//! ```

fn main() {
    uniffi::uniffi_bindgen_main()
}

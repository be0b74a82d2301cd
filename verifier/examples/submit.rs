//! A minimal PaySeal client for the demo and the load script, built on the protocol crate alone:
//! seals a receipt to the verifier named in a profile, posts it over HTTPS, opens the answer and
//! checks the verdict (signature, nonce, receipt hash, expiry).
//!
//! It trusts the verifier's certificate through `--ca` (the dev self-signed certificate) and does
//! not pin: the real client is the SDK (`payseal-sdk-core`), which pins.
//!
//! ```text
//! cargo run -p payseal-verifier --example submit -- \
//!     --profile STATE/profile.json --ca STATE/tls/cert.pem --receipt r.json --account alice \
//!     [--app APP] [--product EXPECTED_PRODUCT_ID]
//! ```

use base64::Engine as _;
use payseal_protocol::envelope::seal_request;
use payseal_protocol::profile::Profile;
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{Receipt, SdkInfo, VerifyRequest, VerifyResponse, PROTOCOL_VERSION};
use rand::RngCore;

mod common;
use common::arg;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("submit: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let profile_json =
        std::fs::read_to_string(arg(&args, "--profile")?).map_err(|e| e.to_string())?;
    let ca_pem = std::fs::read(arg(&args, "--ca")?).map_err(|e| e.to_string())?;
    let receipt_json =
        std::fs::read_to_string(arg(&args, "--receipt")?).map_err(|e| e.to_string())?;
    let account = arg(&args, "--account")?;
    let app = arg(&args, "--app").unwrap_or_else(|_| "dev.payseal.demo".to_string());

    let profile = Profile::parse(&profile_json).map_err(|e| e.to_string())?;
    let receipt: Receipt =
        serde_json::from_str(&receipt_json).map_err(|e| format!("receipt: {e}"))?;
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(nonce);
    let request = VerifyRequest {
        v: PROTOCOL_VERSION,
        nonce: nonce.clone(),
        app_id: app,
        account_id: account,
        receipt: receipt.clone(),
        sdk: SdkInfo {
            name: "payseal-demo-submit".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        expected_product_id: arg(&args, "--product").ok(),
    };
    let plaintext = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let (sealed, context) =
        seal_request(&profile.key_config, &plaintext).map_err(|e| e.to_string())?;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(&ca_pem).map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .map_err(|e| e.to_string())?;
    let url = profile.verifier_url.verify_url();
    let response = client
        .post(url)
        .header(
            "content-type",
            payseal_protocol::envelope::REQUEST_CONTENT_TYPE,
        )
        .body(sealed)
        .send()
        .await
        .map_err(|e| format!("network: {e}"))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "verifier answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let opened = context
        .open_response(&body)
        .map_err(|e| format!("tampered response: {e}"))?;
    let answer: VerifyResponse = serde_json::from_slice(&opened).map_err(|e| e.to_string())?;

    let keys = profile.verdict_keys;
    let now = payseal_protocol::time::now_s();
    let claims = VerdictVerifier::new(keys)
        .verify(&answer.verdict, now)
        .map_err(|e| e.to_string())?;
    if claims.nonce != nonce {
        return Err("verdict nonce does not match the request".into());
    }
    if claims.receipt_sha256 != receipt.sha256_hex() {
        return Err("verdict is for another receipt".into());
    }
    let out = serde_json::json!({ "claims": claims, "token": answer.verdict });
    println!(
        "{}",
        serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
    );
    Ok(())
}

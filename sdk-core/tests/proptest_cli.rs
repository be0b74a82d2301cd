//! Property test: `payseal-client verify` answers arbitrary receipt and profile files with
//! exit 2 and a message, never a panic or a signal. The profile names a closed local port,
//! so a receipt that does parse fails as a network error (also exit 2): nothing can pay.

use std::net::TcpListener;
use std::process::Command;

use payseal_protocol::envelope::ServerKeyPair;
use payseal_protocol::pin::spki_pin;
use payseal_protocol::profile::Profile;
use payseal_protocol::verdict::VerdictSigningKey;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const GENUINE_SHAPE: &str =
    r#"{"store":"sandbox","purchase_data":"{\"orderId\":\"1\"}","signature":"eA=="}"#;

fn closed_port_profile() -> String {
    // Bind and drop: the port is (very likely) closed afterwards.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = ServerKeyPair::from_secret(1, [0x5a; 32]).unwrap();
    let key = VerdictSigningKey::from_seed("v1-test", [1; 32]).public_key();
    Profile::new(
        format!("https://127.0.0.1:{port}"),
        [spki_pin(b"current"), spki_pin(b"backup")],
        &server.config(),
        &[key],
    )
    .unwrap()
    .to_json()
}

#[derive(Debug, Clone)]
enum Case {
    Receipt(Vec<u8>),
    MutatedReceipt(prop::sample::Index, char),
    Profile(Vec<u8>),
}

#[test]
fn verify_never_panics_on_arbitrary_files() {
    let dir = tempfile::tempdir().unwrap();
    let profile_path = dir.path().join("profile.json");
    let receipt_path = dir.path().join("receipt.json");
    let good_profile = closed_port_profile();
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Case::Receipt),
        any::<String>().prop_map(|s| Case::Receipt(s.into_bytes())),
        (any::<prop::sample::Index>(), any::<char>()).prop_map(|(i, c)| Case::MutatedReceipt(i, c)),
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Case::Profile),
    ];
    let mut runner = TestRunner::new(Config::with_cases(36));
    runner
        .run(&strategy, |case| {
            let (profile, receipt) = match case {
                Case::Receipt(r) => (good_profile.clone().into_bytes(), r),
                Case::MutatedReceipt(i, c) => {
                    let mut chars: Vec<char> = GENUINE_SHAPE.chars().collect();
                    let at = i.index(chars.len());
                    chars[at] = c;
                    (
                        good_profile.clone().into_bytes(),
                        chars.into_iter().collect::<String>().into_bytes(),
                    )
                }
                Case::Profile(p) => (p, GENUINE_SHAPE.as_bytes().to_vec()),
            };
            std::fs::write(&profile_path, profile).unwrap();
            std::fs::write(&receipt_path, receipt).unwrap();
            let out = Command::new(env!("CARGO_BIN_EXE_payseal-client"))
                .arg("verify")
                .arg("--profile")
                .arg(&profile_path)
                .arg("--receipt")
                .arg(&receipt_path)
                .args([
                    "--app",
                    "dev.payseal.demo",
                    "--account",
                    "alice",
                    "--deadline-ms",
                    "2000",
                    "--max-attempts",
                    "1",
                ])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            prop_assert!(!stderr.contains("panicked"), "panic: {}", stderr);
            prop_assert_eq!(
                out.status.code(),
                Some(2),
                "stdout {} stderr {}",
                stdout,
                stderr
            );
            prop_assert!(
                !stderr.trim().is_empty() || !stdout.trim().is_empty(),
                "exit 2 without a message"
            );
            Ok(())
        })
        .unwrap();
}

//! Property test: `payseal-verifier check` answers arbitrary receipt files with exit 1 (not
//! paid, JSON with a reason) or 2 (a message on stderr), never a panic, a signal or exit 0.

mod common;

use std::process::Command;

use common::{bin, StateDir, APP};
use payseal_protocol::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
enum Input {
    Bytes(Vec<u8>),
    /// A genuine receipt's JSON with one character replaced (may still pay: exit 0 allowed).
    Mutated(usize, prop::sample::Index, char),
}

#[test]
fn check_never_panics_on_arbitrary_receipt_files() {
    let state = StateDir::new();
    let genuine: Vec<String> = [
        Store::GooglePlay,
        Store::AppStore,
        Store::Huawei,
        Store::Sandbox,
    ]
    .into_iter()
    .map(|s| serde_json::to_string(&state.issue(s)).unwrap())
    .collect();
    let file = state.dir.path().join("receipt.json");
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512).prop_map(Input::Bytes),
        any::<String>().prop_map(|s| Input::Bytes(s.into_bytes())),
        (
            0..genuine.len(),
            any::<prop::sample::Index>(),
            any::<char>()
        )
            .prop_map(|(w, i, c)| Input::Mutated(w, i, c)),
    ];
    // Each case is a process start: a few dozen cases.
    let mut runner = TestRunner::new(Config::with_cases(40));
    let codes = std::cell::RefCell::new([0usize; 3]);
    runner
        .run(&strategy, |input| {
            let (bytes, may_pay) = match &input {
                Input::Bytes(b) => (b.clone(), false),
                Input::Mutated(w, i, c) => {
                    let mut chars: Vec<char> = genuine[*w].chars().collect();
                    let at = i.index(chars.len());
                    chars[at] = *c;
                    (chars.into_iter().collect::<String>().into_bytes(), true)
                }
            };
            std::fs::write(&file, &bytes).unwrap();
            let out = Command::new(bin())
                .args(["check", "--app", APP, "--config"])
                .arg(&state.paths.config)
                .arg(&file)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            prop_assert!(!stderr.contains("panicked"), "panic: {}", stderr);
            let code = out.status.code();
            prop_assert!(code.is_some(), "killed by a signal: {:?}", out.status);
            match code.unwrap() {
                0 => prop_assert!(may_pay, "arbitrary bytes were paid"),
                1 => {
                    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
                        .map_err(|e| TestCaseError::fail(format!("exit 1 without JSON: {e}")))?;
                    prop_assert_eq!(&doc["outcome"], "not_paid");
                    prop_assert!(doc["reason"].is_string(), "no reason: {}", doc);
                    prop_assert!(!doc["detail"].as_str().unwrap_or("").is_empty());
                }
                2 => prop_assert!(!stderr.trim().is_empty(), "exit 2 without a message"),
                other => prop_assert!(false, "exit code {}", other),
            }
            codes.borrow_mut()[code.unwrap() as usize] += 1;
            Ok(())
        })
        .unwrap();
    // Not vacuous: arbitrary input mostly reaches the rule (exit 1).
    let codes = codes.into_inner();
    assert!(codes[1] > 0, "exit codes {codes:?}");
}

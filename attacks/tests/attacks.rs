//! The PaySeal attack suite (issue 4, cases 1–15; issue 11, cases 16–17): each attack through the REAL SDK
//! (`payseal_sdk_core::Client`, pinned TLS, sealed envelopes) against a REAL verifier
//! (in-process `Server` on 127.0.0.1 over TLS, SQLite ledger in a temp dir), each asserting
//! the answer AND the ledger. Prints one line per case and `N passed, N failed`; exits
//! non-zero on any failure.
//!
//! Run: `cargo test -p payseal-attacks --test attacks` (a plain binary: `harness = false`).
//! `PAYSEAL_ATTACKS=3,7` runs only those cases.

mod suite;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use suite::cases::{self, CaseResult};
use suite::world::World;

type Case = fn(Arc<World>) -> Pin<Box<dyn Future<Output = CaseResult> + Send>>;

macro_rules! case {
    ($f:path) => {
        (|w| Box::pin($f(w))) as Case
    };
}

/// Each case: number, title (the attack and what must happen), the case.
fn cases() -> Vec<(u32, &'static str, Case)> {
    vec![
        (1, "random signature on a Play purchase → bad_signature", case!(cases::random_signature)),
        (2, "genuine Play signature over altered JSON → bad_signature", case!(cases::altered_json)),
        (3, "purchases signed by the attacker's own store → bad_signature", case!(cases::fake_store)),
        (4, "App Store JWS: self-made root, alg changed, x5c stripped/reordered, unmarked leaf", case!(cases::app_store_forgeries)),
        (5, "fake verifier, device-trusted CA, unpinned key → PinMismatch, no request sent", case!(cases::unpinned_fake_verifier)),
        (6, "compromised TLS proxy with the pinned key flips/swaps answers → Tampered, sees only ciphertext", case!(cases::compromised_proxy)),
        (7, "old paid verdict replayed as the answer to a new request → rejected", case!(cases::replayed_verdict)),
        (8, "receipt replayed from another account → already_redeemed; same account → repeat", case!(cases::account_replay)),
        (9, "receipt of another app → wrong_app", case!(cases::other_app)),
        (10, "pending/cancelled Play, revoked App Store → not_purchased / revoked", case!(cases::not_purchased)),
        (11, "sandbox receipt to a production-only app → untrusted_environment", case!(cases::sandbox_to_production)),
        (12, "flipped bit anywhere in the request envelope → 400, nothing recorded", case!(cases::flipped_request_bit)),
        (13, "plaintext JSON body; envelope for an unknown key id → 400, nothing recorded", case!(cases::plaintext_and_unknown_key)),
        (14, "unknown-key / alg-changed verdict tokens → refused by SDK and app server; expired → refused by app server", case!(cases::bad_tokens)),
        (15, "oversized bodies, slow-loris, 2,000 concurrent bad requests → server up, good requests answered", case!(cases::storm)),
        (16, "genuine cheap receipt answering an expensive purchase → wrong_product, not consumed", case!(cases::cheap_receipt_substitution)),
        (17, "receipt bound by the store to another account (obfuscatedAccountId / appAccountToken) → wrong_account", case!(cases::account_bound_receipt)),
        (18, "Freedom-style forged App Store app receipt (self-made Apple root) → untrusted_chain; one purchase as app receipt and JWS redeems once", case!(cases::app_receipt_forgeries)),
    ]
}

/// Longest a single case may run.
const CASE_LIMIT: Duration = Duration::from_secs(180);

fn main() -> ExitCode {
    let only: Option<Vec<u32>> = std::env::var("PAYSEAL_ATTACKS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (passed, failed) = runtime.block_on(async move {
        let world = match World::start().await {
            Ok(w) => w,
            Err(e) => {
                println!("FAIL 00 setup: {e}");
                return (0, 1);
            }
        };
        let (mut passed, mut failed) = (0u32, 0u32);
        for (n, title, case) in cases() {
            if only.as_ref().is_some_and(|o| !o.contains(&n)) {
                continue;
            }
            let start = Instant::now();
            // Each case in its own task: a panic is a failure of that case, not of the suite.
            let task = tokio::spawn(case(world.clone()));
            let result = match tokio::time::timeout(CASE_LIMIT, task).await {
                Ok(Ok(r)) => r,
                Ok(Err(join)) => Err(format!("panicked: {join}")),
                Err(_) => Err(format!("timed out after {CASE_LIMIT:?}")),
            };
            let secs = start.elapsed().as_secs_f64();
            match result {
                Ok(detail) => {
                    passed += 1;
                    println!("ok   {n:02} {title}: {detail} [{secs:.1}s]");
                }
                Err(why) => {
                    failed += 1;
                    println!("FAIL {n:02} {title}: {why} [{secs:.1}s]");
                }
            }
        }
        world.stop();
        (passed, failed)
    });
    println!("{passed} passed, {failed} failed");
    if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

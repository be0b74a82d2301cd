//! Crash safety of the SQLite ledger, with the real `payseal-verifier` binary.
//!
//! `payseal-verifier dev` serves a state directory; 16 client tasks send sealed requests for
//! pre-issued sandbox-store receipts, each receipt from 3 different accounts at nearly the same
//! moment (and once more from the first). After a number of answers the server process is killed with SIGKILL (no graceful
//! shutdown, requests in flight, group commits in progress), then started again on the same
//! state directory and SQLite file. The test then checks, against the file itself:
//!
//! - the database passes `PRAGMA integrity_check`;
//! - no receipt got two `paid / first` verdicts across the clients;
//! - every `paid / first` verdict a client received has its row, with that account, receipt hash
//!   and verdict id (`jti` = `first_verdict_id`); every `repeat` matches the row's owner and
//!   every `already_redeemed` names another account;
//! - sending every receipt again from its accounts after the restart gives `paid / repeat` to the
//!   owner and `not_paid / already_redeemed` to the others (and `first` to exactly one account
//!   for receipts the crash left unrecorded).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bin, client_for, copy_dir, open_verdict, request, template_store, APP};
use payseal_protocol::envelope::{self, KeyConfig};
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store, VerdictClaims};
use payseal_sandbox::{Order, SandboxStore};
use payseal_verifier::ledger::SqliteLedger;
use payseal_verifier::server::REQUEST_CONTENT_TYPE;

/// Concurrent client tasks.
const TASKS: usize = 16;
/// Receipts issued before the load.
const RECEIPTS: usize = 160;
/// Accounts presenting each receipt.
const SENDERS: usize = 3;
/// Answers received before the SIGKILL.
const KILL_AFTER: usize = 150;
/// Upper bound for each phase (start, load, re-send).
const PHASE_LIMIT: Duration = Duration::from_secs(120);

/// A `payseal-verifier dev` child process; SIGKILLed on drop.
struct Verifier {
    child: Child,
    port: u16,
    log: PathBuf,
    state_dir: PathBuf,
}

impl Verifier {
    /// Start `payseal-verifier dev` on `state_dir` (port chosen by the binary) and wait until
    /// `/readyz` answers 200.
    async fn start(state_dir: &Path, run: usize) -> Verifier {
        let log = state_dir.join(format!("verifier-{run}.log"));
        let mut child = Command::new(bin())
            .args(["dev", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start payseal-verifier dev");
        // The binary prints `listening on https://localhost:PORT` once it knows its port.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<u16>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("listening on ") {
                    let port = url.rsplit(':').next().and_then(|p| p.trim().parse().ok());
                    if let (Some(port), Some(tx)) = (port, tx.take()) {
                        let _ = tx.send(port);
                    }
                }
            }
        });
        let port = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await
            .unwrap()
            .unwrap_or_else(|_| panic!("no `listening on` line; log: {}", read(&log)));
        let mut verifier = Verifier {
            child,
            port,
            log,
            state_dir: state_dir.to_path_buf(),
        };
        verifier.wait_ready().await;
        verifier
    }

    async fn wait_ready(&mut self) {
        let client = client_for(&self.state_cert());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("verifier exited ({status}); log: {}", read(&self.log));
            }
            let ready = client
                .get(format!("https://127.0.0.1:{}/readyz", self.port))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .map(|r| r.status() == 200)
                .unwrap_or(false);
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "verifier not ready within 60 s; log: {}",
                read(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The dev TLS certificate (the clients' only root).
    fn state_cert(&self) -> PathBuf {
        self.state_dir.join("tls/cert.pem")
    }

    /// `https://127.0.0.1:PORT/v1/verify`.
    fn verify_url(&self) -> String {
        format!("https://127.0.0.1:{}/v1/verify", self.port)
    }

    /// The verdict issuer: the dev default public URL for this port.
    fn issuer(&self) -> String {
        format!("https://localhost:{}", self.port)
    }

    /// SIGKILL (std's `Child::kill` on Unix) and reap.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        assert!(
            !status.success(),
            "the verifier exited normally instead of being killed: {status}"
        );
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// What a client needs to talk to the verifier of a state directory.
struct Keys {
    key_config: KeyConfig,
    verdicts: VerdictVerifier,
}

impl Keys {
    fn load(state_dir: &Path) -> Keys {
        let settings =
            payseal_verifier::config::load_with_env(&state_dir.join("verifier.toml"), |_| None)
                .unwrap();
        Keys {
            key_config: settings.hpke_keys[0].config(),
            verdicts: VerdictVerifier::new(
                settings
                    .verdict_keys
                    .iter()
                    .map(|k| k.public_key())
                    .collect(),
            ),
        }
    }
}

/// One receipt and the accounts that present it.
struct Purchase {
    receipt: Receipt,
    transaction_id: String,
    accounts: Vec<String>,
}

fn purchases(store: &SandboxStore) -> Vec<Purchase> {
    (0..RECEIPTS)
        .map(|i| {
            let transaction_id = format!("crash-{i:04}");
            let receipt = store
                .issue(&Order {
                    transaction_id: Some(transaction_id.clone()),
                    ..Order::new(Store::Sandbox, APP, "coins_100")
                })
                .unwrap();
            // Overlapping account sets, so owners differ from receipt to receipt.
            let accounts = (0..SENDERS)
                .map(|k| format!("acct-{}", (i + k * 3) % 7))
                .collect();
            Purchase {
                receipt,
                transaction_id,
                accounts,
            }
        })
        .collect()
}

/// Seal one request, POST it, open and check the verdict (signature, nonce, receipt hash,
/// app, account, issuer). `Err` for any transport error or non-200 status.
async fn send(
    client: &reqwest::Client,
    verifier_url: &str,
    issuer: &str,
    keys: &Keys,
    account: &str,
    receipt: &Receipt,
) -> Result<VerdictClaims, String> {
    let req = request(APP, account, receipt);
    let (body, ctx) =
        envelope::seal_request(&keys.key_config, &serde_json::to_vec(&req).unwrap()).unwrap();
    let response = client
        .post(verifier_url)
        .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
        .timeout(Duration::from_secs(20))
        .body(body)
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = response.status();
    let sealed = response.bytes().await.map_err(|e| format!("body: {e}"))?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    let claims = open_verdict(&keys.verdicts, ctx, &sealed);
    assert_eq!(claims.nonce, req.nonce);
    assert_eq!(claims.receipt_sha256, receipt.sha256_hex());
    assert_eq!(claims.app, APP);
    assert_eq!(claims.sub, account);
    assert_eq!(claims.iss, issuer);
    Ok(claims)
}

/// A verdict one client received during the load.
struct Answer {
    purchase: usize,
    claims: VerdictClaims,
}

/// The outcome of the load phase.
struct Load {
    answers: Vec<Answer>,
    /// Requests that failed after the kill (connection reset, refused, ...).
    failed_after_kill: usize,
    /// Jobs never taken because the server was gone.
    jobs_left: usize,
}

/// Run the load on `TASKS` tasks and SIGKILL the server after `KILL_AFTER` answers.
async fn load_and_kill(verifier: &mut Verifier, keys: Arc<Keys>, all: Arc<Vec<Purchase>>) -> Load {
    // Jobs in receipt order, each receipt's senders adjacent (and the first sender once more):
    // neighbouring jobs go to different tasks, so the accounts of one receipt race each other.
    let jobs: Arc<Vec<(usize, usize)>> = Arc::new(
        (0..all.len())
            .flat_map(|p| (0..SENDERS).chain([0]).map(move |k| (p, k)))
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let kill_now = Arc::new(tokio::sync::Notify::new());
    let client = client_for(&verifier.state_cert());
    let url = Arc::new(verifier.verify_url());
    let issuer = Arc::new(verifier.issuer());

    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (jobs, next, answered, killed, kill_now) = (
            Arc::clone(&jobs),
            Arc::clone(&next),
            Arc::clone(&answered),
            Arc::clone(&killed),
            Arc::clone(&kill_now),
        );
        let (client, url, issuer, keys, all) = (
            client.clone(),
            Arc::clone(&url),
            Arc::clone(&issuer),
            Arc::clone(&keys),
            Arc::clone(&all),
        );
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut failed_after_kill = 0;
            loop {
                let j = next.fetch_add(1, Ordering::SeqCst);
                let Some(&(p, k)) = jobs.get(j) else { break };
                let purchase = &all[p];
                match send(
                    &client,
                    &url,
                    &issuer,
                    &keys,
                    &purchase.accounts[k],
                    &purchase.receipt,
                )
                .await
                {
                    Ok(claims) => {
                        answers.push(Answer {
                            purchase: p,
                            claims,
                        });
                        if answered.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                            kill_now.notify_one();
                        }
                    }
                    Err(e) => {
                        // The flag is set before the signal: an error seen with it unset is
                        // a real failure of the running server.
                        assert!(
                            killed.load(Ordering::SeqCst),
                            "request failed before the kill: {e}"
                        );
                        failed_after_kill += 1;
                        break;
                    }
                }
            }
            (answers, failed_after_kill)
        }));
    }

    kill_now.notified().await;
    killed.store(true, Ordering::SeqCst);
    verifier.kill();

    let mut load = Load {
        answers: Vec::new(),
        failed_after_kill: 0,
        jobs_left: 0,
    };
    for t in tasks {
        let (answers, failed) = t.await.unwrap();
        load.answers.extend(answers);
        load.failed_after_kill += failed;
    }
    load.jobs_left = jobs
        .len()
        .saturating_sub(next.load(Ordering::SeqCst).min(jobs.len()));
    load
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_load_leaves_every_first_verdict_recorded_and_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_path_buf();
    // The shared sandbox store (RSA key generation is slow in debug builds); `dev` makes the
    // rest (keys, TLS, config) on its first run.
    copy_dir(
        template_store(),
        &state.join(payseal_sandbox::DEV_STORE_SUBDIR),
    );
    let store =
        SandboxStore::open_or_create(&state.join(payseal_sandbox::DEV_STORE_SUBDIR)).unwrap();
    let all = Arc::new(purchases(&store));

    let mut first_run = tokio::time::timeout(PHASE_LIMIT, Verifier::start(&state, 1))
        .await
        .expect("verifier start");
    let keys = Arc::new(Keys::load(&state));

    // --- load, SIGKILL mid-way ---------------------------------------------------------------
    let load = tokio::time::timeout(
        PHASE_LIMIT,
        load_and_kill(&mut first_run, Arc::clone(&keys), Arc::clone(&all)),
    )
    .await
    .expect("load phase within its limit");
    drop(first_run);
    let total_jobs = RECEIPTS * (SENDERS + 1);
    assert!(
        load.answers.len() >= KILL_AFTER,
        "{} answers",
        load.answers.len()
    );
    assert!(
        load.answers.len() < total_jobs && load.jobs_left > 0,
        "the kill did not land mid-load: {} of {total_jobs} answered, {} jobs left",
        load.answers.len(),
        load.jobs_left
    );
    assert!(
        load.failed_after_kill > 0,
        "no client saw the server die: the kill did not interrupt the load"
    );

    // --- restart on the same state directory and SQLite file ---------------------------------
    let second_run = tokio::time::timeout(PHASE_LIMIT, Verifier::start(&state, 2))
        .await
        .expect("verifier restart");

    let db = state.join("ledger.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "SQLite integrity check after SIGKILL");
    }
    let ledger = SqliteLedger::open(&db).unwrap();

    // No receipt has two `first` verdicts across clients.
    let mut firsts: HashMap<usize, &VerdictClaims> = HashMap::new();
    let mut counts = [0usize; 3];
    for a in &load.answers {
        let c = &a.claims;
        let purchase = &all[a.purchase];
        assert_eq!(c.transaction_id.as_deref(), Some(&*purchase.transaction_id));
        match (c.outcome, c.redemption, c.reason) {
            (Outcome::Paid, Some(Redemption::First), None) => {
                counts[0] += 1;
                if let Some(other) = firsts.insert(a.purchase, c) {
                    panic!(
                        "{}: two `first` verdicts, for {} ({}) and {} ({})",
                        purchase.transaction_id, other.sub, other.jti, c.sub, c.jti
                    );
                }
            }
            (Outcome::Paid, Some(Redemption::Repeat), None) => counts[1] += 1,
            (Outcome::NotPaid, None, Some(Reason::AlreadyRedeemed)) => counts[2] += 1,
            other => panic!("{}: unexpected verdict {other:?}", purchase.transaction_id),
        }
    }
    assert!(counts[0] > 0, "no `first` verdict before the kill");

    // Every verdict a client received agrees with the row on disk.
    for a in &load.answers {
        let c = &a.claims;
        let purchase = &all[a.purchase];
        let row = ledger
            .lookup(Store::Sandbox, APP, &purchase.transaction_id)
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "{}: a client got {:?}/{:?} for {} but the ledger has no row",
                    purchase.transaction_id, c.outcome, c.redemption, c.sub
                )
            });
        match c.redemption {
            Some(Redemption::First) => {
                assert_eq!(row.account_id, c.sub, "{}", purchase.transaction_id);
                assert_eq!(row.first_verdict_id, c.jti, "{}", purchase.transaction_id);
                assert_eq!(row.receipt_sha256, c.receipt_sha256);
                assert_eq!(row.product_id, "coins_100");
            }
            Some(Redemption::Repeat) => assert_eq!(row.account_id, c.sub),
            None => assert_ne!(row.account_id, c.sub),
        }
    }
    let rows_after_crash = ledger.count().unwrap();
    assert!(
        rows_after_crash >= firsts.len() as u64 && rows_after_crash <= RECEIPTS as u64,
        "{rows_after_crash} rows for {} first verdicts and {RECEIPTS} receipts",
        firsts.len()
    );

    // --- every receipt again, from each of its accounts, against the restarted server --------
    let owners: Vec<Option<String>> = all
        .iter()
        .map(|p| {
            ledger
                .lookup(Store::Sandbox, APP, &p.transaction_id)
                .unwrap()
                .map(|row| row.account_id)
        })
        .collect();
    let client = client_for(&second_run.state_cert());
    let url = Arc::new(second_run.verify_url());
    let issuer = Arc::new(second_run.issuer());
    let next = Arc::new(AtomicUsize::new(0));
    let owners = Arc::new(owners);
    let resend = async {
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let (client, url, issuer, keys, all, next, owners) = (
                client.clone(),
                Arc::clone(&url),
                Arc::clone(&issuer),
                Arc::clone(&keys),
                Arc::clone(&all),
                Arc::clone(&next),
                Arc::clone(&owners),
            );
            tasks.push(tokio::spawn(async move {
                let mut new_firsts = Vec::new();
                loop {
                    let p = next.fetch_add(1, Ordering::SeqCst);
                    let Some(purchase) = all.get(p) else { break };
                    let tx = &purchase.transaction_id;
                    // Unrecorded by the crash: the first sender now becomes the owner.
                    let owner = owners[p]
                        .clone()
                        .unwrap_or_else(|| purchase.accounts[0].clone());
                    assert!(
                        purchase.accounts.contains(&owner),
                        "{tx}: owned by {owner}, who never sent it"
                    );
                    for account in &purchase.accounts {
                        let c = send(&client, &url, &issuer, &keys, account, &purchase.receipt)
                            .await
                            .unwrap_or_else(|e| panic!("{tx} from {account}: {e}"));
                        let got = (c.outcome, c.redemption, c.reason);
                        if *account != owner {
                            assert_eq!(
                                got,
                                (Outcome::NotPaid, None, Some(Reason::AlreadyRedeemed)),
                                "{tx} from {account} (owner {owner})"
                            );
                        } else if owners[p].is_none() && account == &purchase.accounts[0] {
                            assert_eq!(
                                got,
                                (Outcome::Paid, Some(Redemption::First), None),
                                "{tx}: unrecorded before, first sender {account}"
                            );
                            new_firsts.push((p, c.jti.clone()));
                        } else {
                            assert_eq!(
                                got,
                                (Outcome::Paid, Some(Redemption::Repeat), None),
                                "{tx} from its owner {account}"
                            );
                        }
                    }
                }
                new_firsts
            }));
        }
        let mut new_firsts = Vec::new();
        for t in tasks {
            new_firsts.extend(t.await.unwrap());
        }
        new_firsts
    };
    let new_firsts = tokio::time::timeout(PHASE_LIMIT, resend)
        .await
        .expect("re-send phase within its limit");

    // Now every receipt is recorded exactly once, the earlier rows unchanged.
    assert_eq!(ledger.count().unwrap(), RECEIPTS as u64);
    assert_eq!(
        rows_after_crash + new_firsts.len() as u64,
        RECEIPTS as u64,
        "re-sending created rows for receipts that already had one"
    );
    for (p, c) in &firsts {
        let row = ledger
            .lookup(Store::Sandbox, APP, &all[*p].transaction_id)
            .unwrap()
            .unwrap();
        assert_eq!(row.first_verdict_id, c.jti);
        assert_eq!(row.account_id, c.sub);
    }
    for (p, jti) in &new_firsts {
        let row = ledger
            .lookup(Store::Sandbox, APP, &all[*p].transaction_id)
            .unwrap()
            .unwrap();
        assert_eq!(&row.first_verdict_id, jti);
        assert_eq!(row.account_id, all[*p].accounts[0]);
    }
    eprintln!(
        "crash_recovery: {} answers before SIGKILL (first {}, repeat {}, already_redeemed {}), \
         {} requests cut by the kill, {rows_after_crash} rows after restart, {} receipts first \
         redeemed after restart",
        load.answers.len(),
        counts[0],
        counts[1],
        counts[2],
        load.failed_after_kill,
        new_firsts.len()
    );
    drop(second_run);
}

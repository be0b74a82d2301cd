//! Two verifier PROCESSES (`payseal-verifier serve`) on one real PostgreSQL database, started
//! together on an empty database (so both migrate at once), clients spread across both, the
//! same receipts submitted from different accounts through both at the same moment: exactly one
//! `first` per receipt, and every loser gets `already_redeemed`, from either instance.
//!
//! Needs the `postgres-tests` feature and `PAYSEAL_TEST_POSTGRES_URL` (scripts/postgres.sh).

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client_for, open_verdict, request, StateDir, APP};
use payseal_protocol::envelope::{self, KeyConfig};
use payseal_protocol::verdict::VerdictVerifier;
use payseal_protocol::{Outcome, Reason, Receipt, Redemption, Store, VerdictClaims};
use payseal_sandbox::Order;
use payseal_verifier::ledger::Ledger as _;
use payseal_verifier::server::REQUEST_CONTENT_TYPE;

/// One `payseal-verifier serve` process.
struct Instance {
    name: &'static str,
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Instance {
    fn spawn(name: &'static str, state: &StateDir, ledger_url: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = state.dir.path().join(format!("serve-{name}.log"));
        let child = Command::new(common::bin())
            .args(["serve", "--config"])
            .arg(&state.paths.config)
            .env("PAYSEAL_LEDGER", ledger_url)
            .env("PAYSEAL_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Self {
            name,
            child,
            port,
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "instance {} exited ({status}):\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if let Ok(r) = client.get(self.url("/readyz")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "instance {} not ready in 60 s:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exit {status}:\n{}",
                    self.name,
                    self.log_text()
                );
                return;
            }
            assert!(Instant::now() < deadline, "{} did not stop", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Seals requests to the instances' (shared) keys and checks their verdicts.
#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    key_config: KeyConfig,
    verdicts: Arc<VerdictVerifier>,
}

impl Client {
    async fn verify(&self, base: &str, account: &str, receipt: &Receipt) -> VerdictClaims {
        let req = request(APP, account, receipt);
        let (body, ctx) =
            envelope::seal_request(&self.key_config, &serde_json::to_vec(&req).unwrap()).unwrap();
        let response = self
            .http
            .post(format!("{base}/v1/verify"))
            .header(reqwest::header::CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{base}");
        let claims = open_verdict(&self.verdicts, ctx, &response.bytes().await.unwrap());
        assert_eq!(claims.nonce, req.nonce);
        assert_eq!(claims.sub, account);
        claims
    }
}

const RECEIPTS: usize = 12;
const ACCOUNTS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_one_postgres_one_first_per_receipt_losers_already_redeemed_from_either() {
    let db = common::pg::fresh_database().await;
    let state = StateDir::new();
    let settings = state.settings();
    let client = Client {
        http: client_for(&state.paths.tls_cert),
        key_config: settings.hpke_keys[0].config(),
        verdicts: Arc::new(VerdictVerifier::new(
            settings
                .verdict_keys
                .iter()
                .map(|k| k.public_key())
                .collect(),
        )),
    };

    // Both start at once on an empty database: both try to migrate.
    let mut a = Instance::spawn("a", &state, &db);
    let mut b = Instance::spawn("b", &state, &db);
    a.wait_ready(&client.http).await;
    b.wait_ready(&client.http).await;
    let bases = [a.url(""), b.url("")];

    let stores = [
        Store::GooglePlay,
        Store::AppStore,
        Store::Huawei,
        Store::Sandbox,
    ];
    let receipts: Vec<Receipt> = (0..RECEIPTS)
        .map(|i| {
            state
                .store
                .issue(&Order::new(stores[i % stores.len()], APP, "coins_100"))
                .unwrap()
        })
        .collect();

    // Every (receipt, account) pair at once, alternating instances, released together.
    let barrier = Arc::new(tokio::sync::Barrier::new(RECEIPTS * ACCOUNTS));
    let mut tasks = Vec::new();
    for (r, receipt) in receipts.iter().enumerate() {
        for acct in 0..ACCOUNTS {
            let (client, barrier, receipt) = (client.clone(), barrier.clone(), receipt.clone());
            let instance = (r + acct) % 2;
            let base = bases[instance].clone();
            tasks.push(tokio::spawn(async move {
                let account = format!("user-{r}-{acct}");
                barrier.wait().await;
                let claims = client.verify(&base, &account, &receipt).await;
                (r, account, instance, claims)
            }));
        }
    }
    let mut by_receipt: HashMap<usize, Vec<(String, usize, VerdictClaims)>> = HashMap::new();
    for t in tasks {
        let (r, account, instance, claims) = t.await.unwrap();
        by_receipt
            .entry(r)
            .or_default()
            .push((account, instance, claims));
    }

    let mut losers_per_instance = [0usize; 2];
    let mut owners = Vec::new();
    for (r, answers) in by_receipt.iter() {
        let firsts: Vec<_> = answers
            .iter()
            .filter(|(_, _, c)| c.outcome == Outcome::Paid)
            .collect();
        assert_eq!(firsts.len(), 1, "receipt {r}: {answers:#?}");
        assert_eq!(firsts[0].2.redemption, Some(Redemption::First));
        for (account, instance, claims) in answers {
            if claims.outcome == Outcome::NotPaid {
                assert_eq!(claims.reason, Some(Reason::AlreadyRedeemed), "{account}");
                losers_per_instance[*instance] += 1;
            }
        }
        owners.push((*r, firsts[0].0.clone(), firsts[0].1));
    }
    assert_eq!(by_receipt.len(), RECEIPTS);
    assert_eq!(
        losers_per_instance.iter().sum::<usize>(),
        RECEIPTS * (ACCOUNTS - 1)
    );
    assert!(
        losers_per_instance.iter().all(|&n| n > 0),
        "already_redeemed answered by both instances: {losers_per_instance:?}"
    );

    // Afterwards: the owner through the OTHER instance is a repeat; a newcomer through either
    // is refused.
    for (r, owner, won_on) in &owners {
        let other = &bases[1 - won_on];
        let v = client.verify(other, owner, &receipts[*r]).await;
        assert_eq!(
            (v.outcome, v.redemption),
            (Outcome::Paid, Some(Redemption::Repeat))
        );
        let v = client
            .verify(&bases[*won_on], "newcomer", &receipts[*r])
            .await;
        assert_eq!(v.reason, Some(Reason::AlreadyRedeemed));
    }

    // The shared table holds one row per receipt, owned by the winner.
    let ledger = payseal_verifier::ledger::postgres::PostgresLedger::connect(
        &db,
        &common::pg::test_options(),
    )
    .await
    .unwrap();
    assert_eq!(ledger.count_redemptions().await.unwrap(), RECEIPTS as u64);
    let pg = common::pg::client(&db).await;
    let migrations: i64 = pg
        .query_one("SELECT COUNT(*) FROM payseal_schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        migrations,
        payseal_verifier::ledger::postgres::MIGRATIONS.len() as i64,
        "two instances migrated once"
    );
    for (r, owner, _) in &owners {
        let rows = pg
            .query(
                "SELECT account_id FROM payseal_redemptions WHERE receipt_sha256 = $1",
                &[&receipts[*r].sha256_hex()],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<_, String>(0), *owner);
    }

    a.stop();
    b.stop();
    for instance in [&a, &b] {
        let log = instance.log_text();
        assert!(log.contains("PostgreSQL ledger ready"), "{log}");
    }
}

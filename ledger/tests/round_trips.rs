//! PostgreSQL round trips per redemption, counted on the wire: the ledger talks to the real
//! server through a loopback proxy that reads the frontend protocol and counts the messages
//! that make the client wait for the server (`Sync`, ending an extended-protocol exchange, and
//! `Query`, a simple query). Prepared statements are warmed first (`prepare_cached`: one extra
//! round trip per statement and connection, once).
//!
//! Every redemption is one statement (`REDEEM_SQL`: the insert with its outbox row, else the
//! repeat's guarded touch, else the row as read), so a first redemption, a repeat and another
//! account's attempt each cost one round trip. Before issue 27 a repeat cost three (insert,
//! primary-key `SELECT`, `UPDATE`) and another account's attempt two. A repeat within
//! `LAST_SEEN_RESOLUTION_MS` of the last one is the same statement writing nothing. A first
//! redemption with its store acknowledgement row (`redeem_and_acknowledge`) is the same statement
//! too: one round trip (was `BEGIN`, the redemption, the acknowledgement insert, `COMMIT`). Only
//! a redemption racing
//! the row's first insert costs more (the row committed after the statement's snapshot is read
//! again). Built with `postgres-tests` (a real server, see `tests/suite/pg.rs`).
#![cfg(feature = "postgres-tests")]

mod suite;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use payseal_ledger::acks::{AckAction, NewAck};
use payseal_ledger::outbox::{NewDelivery, OutboxFilter};
use payseal_ledger::{Ledger, LedgerOptions, PostgresLedger, RedeemOutcome, RedemptionRequest};
use payseal_protocol::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// SSLRequest's protocol code (a second untyped message follows it).
const SSL_REQUEST: u32 = 80_877_103;

/// Forward the frontend stream `from` → `to`, counting `Sync` and `Query` messages.
async fn frontend(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    waits: Arc<AtomicUsize>,
) {
    let mut untyped = true;
    loop {
        let mut kind = [0u8; 1];
        if !untyped && from.read_exact(&mut kind).await.is_err() {
            return;
        }
        let mut len = [0u8; 4];
        if from.read_exact(&mut len).await.is_err() {
            return;
        }
        let n = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; n.saturating_sub(4)];
        if from.read_exact(&mut body).await.is_err() {
            return;
        }
        if untyped {
            let code = body
                .get(..4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            // The startup message ends the untyped part; an SSLRequest is followed by one.
            untyped = code == Some(SSL_REQUEST);
        } else if kind[0] == b'S' || kind[0] == b'Q' {
            waits.fetch_add(1, Ordering::SeqCst);
        }
        let mut out = Vec::with_capacity(n + 1);
        if kind[0] != 0 {
            out.push(kind[0]);
        }
        out.extend_from_slice(&len);
        out.extend_from_slice(&body);
        if to.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// A counting proxy in front of the test server; its address and the counter.
async fn proxy(upstream: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let waits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&waits);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect(&upstream).await.unwrap();
            let (client_read, mut client_write) = client.into_split();
            let (mut server_read, server_write) = server.into_split();
            tokio::spawn(frontend(client_read, server_write, Arc::clone(&counter)));
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            });
        }
    });
    (addr, waits)
}

fn request(key: &str, account: &str) -> RedemptionRequest {
    suite::cases::redemption(account, key, 1_000)
}

fn paid(id: &str) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        app_id: "dev.payseal.demo".into(),
        event_type: "purchase.paid".into(),
        body: "{}".into(),
        created_ms: 1_000,
    }
}

/// A ledger on a fresh database, through a counting proxy: the ledger, the counter of round
/// trips, and the database's URL (not proxied). Two pooled connections: one its autocommit
/// statements share (pipelined), one for transactions.
async fn counted_ledger() -> (Arc<dyn Ledger>, Arc<AtomicUsize>, String) {
    let url = suite::pg::fresh_database().await;
    let upstream = {
        let config: tokio_postgres::Config = url.parse().unwrap();
        let host = match &config.get_hosts()[0] {
            tokio_postgres::config::Host::Tcp(h) => h.clone(),
            other => panic!("not a TCP host: {other:?}"),
        };
        format!("{host}:{}", config.get_ports()[0])
    };
    let (addr, waits) = proxy(upstream.clone()).await;
    let proxied = url.replacen(&upstream, &addr, 1);
    assert_ne!(proxied, url, "the URL names {upstream}");
    let options = LedgerOptions {
        max_connections: 2,
        ..suite::pg::test_options()
    };
    let postgres = PostgresLedger::connect(&proxied, &options).await.unwrap();
    (Arc::new(postgres), waits, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_redemption_a_repeat_and_another_accounts_attempt_cost_one_round_trip_each() {
    let (ledger, waits, _) = counted_ledger().await;
    let ledger = &ledger;

    // Warm the shared connection's prepared statements.
    ledger.redeem(request("WARM.1", "alice")).await.unwrap();
    ledger.redeem(request("WARM.1", "alice")).await.unwrap();
    ledger
        .redeem_and_notify(request("WARM.2", "alice"), Some(paid("warm")))
        .await
        .unwrap();

    let count = |outcome: RedeemOutcome, before: usize, label: &str| {
        let n = waits.load(Ordering::SeqCst) - before;
        eprintln!("{label}: {outcome:?}, {n} round trip(s)");
        n
    };
    let at = waits.load(Ordering::SeqCst);
    let o = ledger.redeem(request("K.1", "alice")).await.unwrap();
    assert_eq!((o, count(o, at, "first")), (RedeemOutcome::First, 1));

    let at = waits.load(Ordering::SeqCst);
    let o = ledger
        .redeem_and_notify(request("K.2", "alice"), Some(paid("ev-2")))
        .await
        .unwrap();
    assert_eq!(
        (o, count(o, at, "first with its outbox row")),
        (RedeemOutcome::First, 1)
    );

    let at = waits.load(Ordering::SeqCst);
    let o = ledger.redeem(request("K.1", "bob")).await.unwrap();
    assert_eq!(
        (o, count(o, at, "other account")),
        (RedeemOutcome::OtherAccount, 1)
    );

    let at = waits.load(Ordering::SeqCst);
    let mut repeat = suite::cases::redemption("alice", "K.1", 5_000);
    repeat.expires_at_ms = Some(9_000);
    let o = ledger.redeem(repeat).await.unwrap();
    assert_eq!((o, count(o, at, "repeat")), (RedeemOutcome::Repeat, 1));

    // A repeat within `LAST_SEEN_RESOLUTION_MS` of the last one, not moving the period end:
    // the same one statement, which writes nothing (the row below keeps 5 000).
    let at = waits.load(Ordering::SeqCst);
    let o = ledger
        .redeem(suite::cases::redemption("alice", "K.1", 6_000))
        .await
        .unwrap();
    assert_eq!(
        (o, count(o, at, "repeat that writes nothing")),
        (RedeemOutcome::Repeat, 1)
    );

    // A first redemption of an app with the Play Developer API: its outbox row and its store
    // acknowledgement row in the same statement (was `BEGIN`, three statements, `COMMIT`).
    let at = waits.load(Ordering::SeqCst);
    let o = ledger
        .redeem_and_acknowledge(request("K.3", "alice"), Some(paid("ev-3")), ack("ack-3"))
        .await
        .unwrap();
    assert_eq!(
        (
            o,
            count(o, at, "first with its outbox and acknowledgement rows")
        ),
        (RedeemOutcome::First, 1)
    );
    let at = waits.load(Ordering::SeqCst);
    let o = ledger
        .redeem_and_acknowledge(request("K.3", "alice"), Some(paid("ev-3b")), ack("ack-3b"))
        .await
        .unwrap();
    assert_eq!((o, count(o, at, "its repeat")), (RedeemOutcome::Repeat, 1));

    // What the one statements did: the repeat's touch, the outbox and acknowledgement rows with
    // their first redemptions only, nothing by the other account.
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", "K.1")
        .await
        .unwrap()
        .expect("K.1's row");
    assert_eq!(
        (
            row.account_id.as_str(),
            row.first_seen_ms,
            row.last_seen_ms,
            row.expires_at_ms
        ),
        ("alice", 1_000, 5_000, Some(9_000)),
        "touched by the repeat at 5 000 (its period end moved), not by the one at 6 000"
    );
    let mut outbox: Vec<String> = ledger
        .list_deliveries(OutboxFilter::All, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    outbox.sort();
    assert_eq!(outbox, ["ev-2", "ev-3", "warm"]);
    let acks: Vec<(String, String, String)> = ledger
        .list_acks(OutboxFilter::All, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.transaction_key, a.purchase_token))
        .collect();
    assert_eq!(
        acks,
        [(
            "ack-3".to_string(),
            "K.3".to_string(),
            "token-ack-3".to_string()
        )],
        "one acknowledgement row, with its first redemption only"
    );
}

fn ack(id: &str) -> NewAck {
    NewAck {
        id: id.into(),
        product_id: "coins_100".into(),
        purchase_token: format!("token-{id}"),
        action: AckAction::Acknowledge,
        purchased_ms: 900,
    }
}

/// The instance remembers which keys it redeemed and sends their repeats as the cheaper
/// statement without the insert; when that finds no row (here: deleted by hand), the full
/// statement runs and redeems it as a first redemption: the hint costs a round trip when it is
/// wrong, never a wrong answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_key_whose_row_is_gone_is_redeemed_as_a_first_redemption() {
    let (ledger, waits, url) = counted_ledger().await;
    let at = waits.load(Ordering::SeqCst);
    assert_eq!(
        ledger.redeem(request("K.9", "alice")).await.unwrap(),
        RedeemOutcome::First
    );
    let repeat = suite::cases::redemption("alice", "K.9", 2_000);
    assert_eq!(ledger.redeem(repeat).await.unwrap(), RedeemOutcome::Repeat);
    // Two statements prepared (one round trip each, once per connection), then one each.
    assert_eq!(waits.load(Ordering::SeqCst) - at, 4);

    let db = suite::pg::client(&url).await;
    let deleted = db
        .execute(
            "DELETE FROM payseal_redemptions WHERE transaction_key = 'K.9'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(deleted, 1);

    let at = waits.load(Ordering::SeqCst);
    let again = suite::cases::redemption("bob", "K.9", 3_000);
    assert_eq!(
        ledger.redeem(again).await.unwrap(),
        RedeemOutcome::First,
        "the repeat statement found no row, so the redemption ran in full"
    );
    assert_eq!(
        waits.load(Ordering::SeqCst) - at,
        2,
        "the repeat statement, then the full one"
    );
    let row = ledger
        .find(Store::GooglePlay, "dev.payseal.demo", "K.9")
        .await
        .unwrap()
        .expect("K.9's row");
    assert_eq!((row.account_id.as_str(), row.first_seen_ms), ("bob", 3_000));
}

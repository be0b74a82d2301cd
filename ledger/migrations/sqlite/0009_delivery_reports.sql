-- PaySeal ledger, SQLite migration 8: the application server's delivery and consumption
-- reports, and each account's consent to share consumption data (PostgreSQL: 0007). The
-- evidence the verifier answers a store's refund request with (payseal_ledger::consumption).
CREATE TABLE payseal_delivery_reports (
    store               TEXT    NOT NULL,
    app_id              TEXT    NOT NULL,
    transaction_key     TEXT    NOT NULL,
    account_id          TEXT    NOT NULL,
    delivered_at_ms     INTEGER,
    consumed_milliunits INTEGER,
    usage_events        INTEGER,
    updated_ms          INTEGER NOT NULL,
    PRIMARY KEY (store, app_id, transaction_key)
) WITHOUT ROWID;

CREATE TABLE payseal_account_consent (
    app_id     TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    consented  INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (app_id, account_id)
) WITHOUT ROWID;

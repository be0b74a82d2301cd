-- PaySeal ledger on SQLite, migration 1 (a file of `user_version` 1 had exactly this): one row
-- per (store, app_id, transaction_key); the first account to present a valid receipt owns it.
-- Never edit an applied file: add the next number.
CREATE TABLE IF NOT EXISTS redemptions (
    store            TEXT    NOT NULL,
    app_id           TEXT    NOT NULL,
    transaction_key  TEXT    NOT NULL,
    account_id       TEXT    NOT NULL,
    product_id       TEXT    NOT NULL,
    receipt_sha256   TEXT    NOT NULL,
    first_verdict_id TEXT    NOT NULL,
    first_seen_ms    INTEGER NOT NULL,
    last_seen_ms     INTEGER NOT NULL,
    PRIMARY KEY (store, app_id, transaction_key)
) WITHOUT ROWID;

-- PaySeal redemption ledger, schema version 1.
--
-- One row per (store, app_id, transaction_key). The first account to present a valid receipt
-- owns it: the primary key makes "first" a database decision (INSERT ... ON CONFLICT DO
-- NOTHING), whatever the number of verifier instances. Rows are never updated except
-- last_seen_ms, and never deleted by the verifier.
--
-- Plain SQL on purpose (TEXT, BIGINT, a composite primary key): it stays valid on
-- Postgres-wire distributed databases (CockroachDB, YugabyteDB). Applied in one transaction by
-- the verifier (or `payseal-verifier migrate`); never edit an applied file: add 0002_*.sql.
CREATE TABLE payseal_redemptions (
    store            TEXT   NOT NULL,
    app_id           TEXT   NOT NULL,
    transaction_key  TEXT   NOT NULL,
    account_id       TEXT   NOT NULL,
    product_id       TEXT   NOT NULL,
    receipt_sha256   TEXT   NOT NULL,
    first_verdict_id TEXT   NOT NULL,
    first_seen_ms    BIGINT NOT NULL,
    last_seen_ms     BIGINT NOT NULL,
    PRIMARY KEY (store, app_id, transaction_key)
);

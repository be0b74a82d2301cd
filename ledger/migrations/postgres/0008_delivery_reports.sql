-- PaySeal ledger, migration 7: the application server's delivery and consumption reports, and
-- each account's consent to share consumption data (SQLite: 0008). The evidence the verifier
-- answers a store's refund request with (payseal_ledger::consumption).
CREATE TABLE payseal_delivery_reports (
    store               TEXT    NOT NULL,
    app_id              TEXT    NOT NULL,
    transaction_key     TEXT    NOT NULL,
    account_id          TEXT    NOT NULL,
    delivered_at_ms     BIGINT,
    consumed_milliunits INTEGER,
    usage_events        INTEGER,
    updated_ms          BIGINT  NOT NULL,
    PRIMARY KEY (store, app_id, transaction_key)
);

CREATE TABLE payseal_account_consent (
    app_id     TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    consented  BOOLEAN NOT NULL,
    updated_ms BIGINT  NOT NULL,
    PRIMARY KEY (app_id, account_id)
);

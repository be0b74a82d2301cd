-- PaySeal ledger, SQLite migration 8: the store acknowledgement queue (PostgreSQL: 0007).
--
-- One row per purchase the verifier must acknowledge or consume at its store after the first
-- redemption (Google Play refunds a purchase not acknowledged within three days), inserted in
-- the same transaction as that redemption, then claimed, leased and finished by the
-- acknowledgement worker like a webhook outbox row (state pending / delivered / failed;
-- attempts is the claim number that fences a late result).
CREATE TABLE payseal_store_acks (
    id              TEXT    PRIMARY KEY,
    store           TEXT    NOT NULL,
    app_id          TEXT    NOT NULL,
    transaction_key TEXT    NOT NULL,
    product_id      TEXT    NOT NULL,
    purchase_token  TEXT    NOT NULL,
    action          TEXT    NOT NULL,
    purchased_ms    INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    last_error      TEXT,
    finished_ms     INTEGER
);
CREATE INDEX payseal_store_acks_due ON payseal_store_acks (state, next_attempt_ms);

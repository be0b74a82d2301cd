-- PaySeal ledger, migration 10: the durable queue of refund-request answers (SQLite: 0011), one
-- row per store notification asking for one, queued in the notification's own transaction
-- (payseal_ledger::refunds). Claimed with FOR UPDATE SKIP LOCKED by any instance.
CREATE TABLE payseal_refund_requests (
    store           TEXT   NOT NULL,
    notification_id TEXT   NOT NULL,
    app_id          TEXT   NOT NULL,
    transaction_key TEXT   NOT NULL,
    environment     TEXT   NOT NULL,
    deadline_ms     BIGINT NOT NULL,
    state           TEXT   NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    created_ms      BIGINT NOT NULL,
    finished_ms     BIGINT,
    detail          TEXT,
    PRIMARY KEY (store, notification_id)
);
CREATE INDEX payseal_refund_requests_due ON payseal_refund_requests (state, next_attempt_ms);

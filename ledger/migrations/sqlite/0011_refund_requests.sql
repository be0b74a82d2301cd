-- PaySeal ledger, SQLite migration 11: the durable queue of refund-request answers (PostgreSQL:
-- 0010), one row per store notification asking for one, queued in the notification's own
-- transaction (payseal_ledger::refunds).
CREATE TABLE payseal_refund_requests (
    store           TEXT    NOT NULL,
    notification_id TEXT    NOT NULL,
    app_id          TEXT    NOT NULL,
    transaction_key TEXT    NOT NULL,
    environment     TEXT    NOT NULL,
    deadline_ms     INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    finished_ms     INTEGER,
    detail          TEXT,
    PRIMARY KEY (store, notification_id)
) WITHOUT ROWID;
CREATE INDEX payseal_refund_requests_due ON payseal_refund_requests (state, next_attempt_ms);

-- PaySeal ledger on SQLite, migration 2 (`user_version` 2): revocation columns and the webhook
-- outbox (PostgreSQL: 0002_outbox_revocation.sql).
ALTER TABLE redemptions ADD COLUMN revoked_at_ms INTEGER;
ALTER TABLE redemptions ADD COLUMN revoke_reason TEXT;
CREATE TABLE outbox (
    id              TEXT    PRIMARY KEY,
    app_id          TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    created_ms      INTEGER NOT NULL,
    age_from_ms     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    state           TEXT    NOT NULL,
    last_error      TEXT,
    finished_ms     INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_ms);

-- PaySeal ledger, schema version 2: revocation and the webhook outbox.
--
-- A redemption may later be revoked (refund, chargeback, store revocation): revoked_at_ms is
-- set once and never cleared; a revoked transaction is never `paid` again.
--
-- payseal_outbox holds signed-webhook deliveries. A `paid / first` redemption inserts its row
-- in the same statement as the redemption (a data-modifying CTE), a revocation in the same
-- transaction as the UPDATE, so a delivery is never lost when a verifier crashes. Workers of
-- any instance claim due rows with FOR UPDATE SKIP LOCKED and lease them by moving
-- next_attempt_ms forward; a worker that dies leaves the row to be taken again when the lease
-- ends. Rows are kept after delivery for operators (`payseal-verifier webhooks list`).
ALTER TABLE payseal_redemptions ADD COLUMN revoked_at_ms BIGINT;
ALTER TABLE payseal_redemptions ADD COLUMN revoke_reason TEXT;

CREATE TABLE payseal_outbox (
    id              TEXT   PRIMARY KEY,
    app_id          TEXT   NOT NULL,
    event_type      TEXT   NOT NULL,
    body            TEXT   NOT NULL,
    created_ms      BIGINT NOT NULL,
    age_from_ms     BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    state           TEXT   NOT NULL,
    last_error      TEXT,
    finished_ms     BIGINT
);

CREATE INDEX payseal_outbox_due ON payseal_outbox (state, next_attempt_ms);

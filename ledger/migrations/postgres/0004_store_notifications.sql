-- PaySeal ledger, schema version 4: the record of store server notifications.
--
-- One row per (store, notification_id) (App Store notificationUUID, ...): the primary key
-- makes a notification idempotent across any number of verifier instances. A notification is
-- inserted and its effect applied in one transaction (a refund revokes the redemption and
-- enqueues its purchase.revoked outbox row; a refund of a transaction nobody redeemed inserts
-- a revoked payseal_redemptions row with an empty account_id, so its first presentation is
-- refused; a reversed refund reinstates), so an effect is never applied twice nor recorded
-- without its notification. result: recorded, revoked, already_revoked,
-- revoked_before_redemption, reinstated, not_reinstated.
--
-- Version 3 is the subscriptions migration; this one does not depend on it (a database that
-- has 1, 2 and 4 gets 3 when a verifier that knows it starts). Plain SQL (TEXT, BIGINT, a
-- composite primary key, partial index) for Postgres-wire distributed databases too.
CREATE TABLE payseal_store_notifications (
    store             TEXT   NOT NULL,
    notification_id   TEXT   NOT NULL,
    notification_type TEXT   NOT NULL,
    subtype           TEXT,
    environment       TEXT,
    app_id            TEXT,
    transaction_key   TEXT,
    signed_ms         BIGINT NOT NULL,
    received_ms       BIGINT NOT NULL,
    result            TEXT   NOT NULL,
    PRIMARY KEY (store, notification_id)
);

CREATE INDEX payseal_store_notifications_received ON payseal_store_notifications (received_ms);
CREATE INDEX payseal_store_notifications_transaction
    ON payseal_store_notifications (store, transaction_key);
CREATE INDEX payseal_redemptions_revoked ON payseal_redemptions (revoked_at_ms)
    WHERE revoked_at_ms IS NOT NULL;

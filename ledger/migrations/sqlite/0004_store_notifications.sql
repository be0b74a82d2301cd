-- PaySeal ledger on SQLite, migration 4 (`user_version` 4): the record of store notifications
-- (PostgreSQL: 0004_store_notifications.sql).
CREATE TABLE store_notifications (
    store             TEXT    NOT NULL,
    notification_id   TEXT    NOT NULL,
    notification_type TEXT    NOT NULL,
    subtype           TEXT,
    environment       TEXT,
    app_id            TEXT,
    transaction_key   TEXT,
    signed_ms         INTEGER NOT NULL,
    received_ms       INTEGER NOT NULL,
    result            TEXT    NOT NULL,
    PRIMARY KEY (store, notification_id)
) WITHOUT ROWID;
CREATE INDEX store_notifications_received ON store_notifications (received_ms);
CREATE INDEX store_notifications_transaction ON store_notifications (store, transaction_key);
CREATE INDEX redemptions_revoked ON redemptions (revoked_at_ms) WHERE revoked_at_ms IS NOT NULL;

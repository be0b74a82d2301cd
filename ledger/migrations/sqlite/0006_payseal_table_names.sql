-- PaySeal ledger on SQLite, migration 6: the tables and indexes take the names they have on
-- PostgreSQL (`payseal_` prefix), so both backends run the same table names. Rows stay as they
-- are (a rename); SQLite cannot rename an index, so each is created again under its new name.
ALTER TABLE redemptions RENAME TO payseal_redemptions;
ALTER TABLE outbox RENAME TO payseal_outbox;
ALTER TABLE store_notifications RENAME TO payseal_store_notifications;
ALTER TABLE google_voided_cursor RENAME TO payseal_google_voided_cursor;
DROP INDEX outbox_due;
CREATE INDEX payseal_outbox_due ON payseal_outbox (state, next_attempt_ms);
DROP INDEX store_notifications_received;
CREATE INDEX payseal_store_notifications_received ON payseal_store_notifications (received_ms);
DROP INDEX store_notifications_transaction;
CREATE INDEX payseal_store_notifications_transaction
    ON payseal_store_notifications (store, transaction_key);
DROP INDEX redemptions_revoked;
CREATE INDEX payseal_redemptions_revoked ON payseal_redemptions (revoked_at_ms)
    WHERE revoked_at_ms IS NOT NULL;

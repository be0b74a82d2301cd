-- PaySeal ledger, SQLite migration 7: why each revoked row is revoked (PostgreSQL: 0006).
--
-- One row per standing revocation of a payseal_redemptions row: who revoked it (revoker: the
-- store's name, or 'operator') and for which transaction (cause_transaction: a renewal's refund
-- revokes its chain's row and names the renewal), recorded by a store event (event_id: the
-- payseal_store_notifications id) in the same transaction as the revocation. A store's reversal
-- removes only its own cause for that one transaction; the row pays again when none is left
-- (payseal_ledger::event::decide_reversal).
--
-- Rows revoked before this table existed get one cause: their store when a notification of
-- that store recorded the revocation for that app and key, otherwise 'operator' (so a store
-- never undoes what it did not tell of).
CREATE TABLE payseal_revocation_causes (
    store             TEXT   NOT NULL,
    app_id            TEXT   NOT NULL,
    transaction_key   TEXT   NOT NULL,
    revoker           TEXT   NOT NULL,
    cause_transaction TEXT   NOT NULL,
    event_id          TEXT   NOT NULL,
    revoked_ms        INTEGER NOT NULL,
    PRIMARY KEY (store, app_id, transaction_key, revoker, cause_transaction)
) WITHOUT ROWID;

INSERT INTO payseal_revocation_causes
    (store, app_id, transaction_key, revoker, cause_transaction, event_id, revoked_ms)
SELECT r.store, r.app_id, r.transaction_key,
       CASE WHEN EXISTS (
                SELECT 1 FROM payseal_store_notifications n
                WHERE n.store = r.store AND n.app_id = r.app_id
                  AND n.transaction_key = r.transaction_key
                  AND n.result IN ('revoked', 'already_revoked', 'revoked_before_redemption'))
            THEN r.store ELSE 'operator' END,
       r.transaction_key, 'migration', r.revoked_at_ms
FROM payseal_redemptions r
WHERE r.revoked_at_ms IS NOT NULL;

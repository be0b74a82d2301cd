-- PaySeal ledger, PostgreSQL migration 9: entitlements (SQLite: 0010).
--
-- An account's entitlements are read from its redemption rows in one indexed query
-- (payseal_redemptions_account: app_id, account_id). kind ('consumable', 'non_consumable',
-- 'subscription') and environment ('production', 'sandbox') are what the store rule said when
-- the row was first redeemed; NULL for rows recorded before this migration (and kind NULL
-- where the store does not say, e.g. Google Play's purchase JSON).
ALTER TABLE payseal_redemptions ADD COLUMN kind TEXT;
ALTER TABLE payseal_redemptions ADD COLUMN environment TEXT;
CREATE INDEX payseal_redemptions_account ON payseal_redemptions (app_id, account_id);

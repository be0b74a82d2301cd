-- PaySeal ledger, SQLite migration 13: whether a subscription chain renews, as the store's
-- server last answered it (PostgreSQL: 0012).
--
-- will_renew is Google Play's `lineItems[].autoRenewingPlan.autoRenewEnabled` or the App Store's
-- `autoRenewStatus`, written with the chain's subscription state by the same store event
-- (only a newer answer, see state_checked_ms). NULL: the store has not said; 0/1 otherwise.
ALTER TABLE payseal_redemptions ADD COLUMN will_renew INTEGER;

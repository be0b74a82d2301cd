-- PaySeal ledger on SQLite, migration 3 (`user_version` 3): a subscription chain's newest
-- period end (PostgreSQL: 0003_subscriptions.sql).
ALTER TABLE redemptions ADD COLUMN expires_at_ms INTEGER;

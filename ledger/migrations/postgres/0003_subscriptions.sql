-- PaySeal ledger, schema version 3: subscriptions.
--
-- A subscription's row is keyed by its renewal chain (App Store originalTransactionId, Huawei
-- subscriptionId, Play purchaseToken): the first account owns the whole chain. expires_at_ms is
-- the newest period end the owner presented (Unix ms); a renewal by the owner moves it forward
-- with GREATEST (which ignores NULL), so an older transaction of the chain never shortens it.
ALTER TABLE payseal_redemptions ADD COLUMN expires_at_ms BIGINT;

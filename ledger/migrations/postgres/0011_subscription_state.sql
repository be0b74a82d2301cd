-- PaySeal ledger, PostgreSQL migration 11: a subscription chain's state as the store's server
-- last answered it (SQLite: 0012).
--
-- subscription_state is PaySeal's vocabulary (`active`, `in_grace_period`, `on_hold`, `paused`,
-- `canceled`, `expired`, `pending`); state_checked_ms is when the verifier got that answer
-- (Unix milliseconds): an answer is applied only when it is newer than the stored one, so a late
-- or replayed push never writes an older answer over a newer one. Both NULL until a store
-- event updated the chain.
ALTER TABLE payseal_redemptions ADD COLUMN subscription_state TEXT;
ALTER TABLE payseal_redemptions ADD COLUMN state_checked_ms BIGINT;

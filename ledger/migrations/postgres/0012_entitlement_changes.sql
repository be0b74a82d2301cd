-- PaySeal ledger, PostgreSQL migration 12: entitlement changes. Whether a subscription chain renews, as the store's
-- server last answered it (SQLite: 0013).
--
-- will_renew is Google Play's `lineItems[].autoRenewingPlan.autoRenewEnabled` or the App Store's
-- `autoRenewStatus`, written with the chain's subscription state by the same store event
-- (only a newer answer, see state_checked_ms). NULL: the store has not said.
ALTER TABLE payseal_redemptions ADD COLUMN will_renew BOOLEAN;

-- The entitlement names last announced to the app's webhook for an account (sorted,
-- space-separated; NULL: never announced, the empty set): an `entitlements.changed` row is
-- enqueued only when the names held now differ, in the transaction that writes the new set.
CREATE TABLE payseal_entitlement_sets (
    app_id     TEXT NOT NULL,
    account_id TEXT NOT NULL,
    names      TEXT,
    changed_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, account_id)
);

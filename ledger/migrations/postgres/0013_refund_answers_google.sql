-- PaySeal ledger, migration 14 (SQLite: 0015): Google Play refund-request answers in the same
-- queue as Apple's. `answer_token` is what the store needs to answer beside the transaction
-- (Google Play: the pendingRefundToken of the PendingRefundReviewNotification; NULL for
-- Apple). The partial index serves the per-account refund history (counts by store since a
-- time) from the index alone.
ALTER TABLE payseal_refund_requests ADD COLUMN answer_token TEXT;
CREATE INDEX payseal_redemptions_account_refunds
    ON payseal_redemptions (app_id, account_id, revoked_at_ms, store)
    WHERE revoked_at_ms IS NOT NULL;

-- PaySeal ledger, migration 5: the Google Play Voided Purchases poller's cursor.
--
-- One row per Play package name: the startTime (Unix milliseconds) of the next
-- purchases.voidedpurchases.list window. Every verifier instance polling that package reads
-- and advances the same row; it only moves forward (GREATEST on update), so an instance that
-- finished an older window never moves it back. Versions 3 and 4 are other features' files;
-- each migration here is independent of them.
CREATE TABLE payseal_google_voided_cursor (
    package_name  TEXT   PRIMARY KEY,
    start_time_ms BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);

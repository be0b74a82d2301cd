-- PaySeal ledger on SQLite, migration 5: the Google Play Voided Purchases poller's cursor
-- (PostgreSQL: 0005_google_voided.sql). Verifiers before numbered SQLite migrations created this
-- table at every open, outside `user_version`: a file that has it is recorded as having 5.
CREATE TABLE google_voided_cursor (
    package_name  TEXT    PRIMARY KEY,
    start_time_ms INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);

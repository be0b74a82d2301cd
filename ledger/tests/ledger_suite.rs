//! The generic ledger suite (`tests/suite/cases.rs`, and the store-notification cases of
//! `tests/suite/notifications.rs`) on every backend:
//! - `sqlite::*`: a temp file; always runs.
//! - `postgres::*`: a fresh database on a REAL PostgreSQL server; built with the
//!   `postgres-tests` feature, and then failing loudly without `PAYSEAL_TEST_POSTGRES_URL`
//!   (`eval "$(scripts/postgres.sh start)"` provides it).

mod suite;

mod sqlite {
    crate::ledger_suite!(crate::suite::sqlite_ledger);
    crate::notification_suite!(crate::suite::sqlite_ledger);
    crate::consumption_suite!(crate::suite::sqlite_ledger);
}

#[cfg(feature = "postgres-tests")]
mod postgres {
    crate::ledger_suite!(crate::suite::postgres_ledger);
    crate::notification_suite!(crate::suite::postgres_ledger);
    crate::consumption_suite!(crate::suite::postgres_ledger);
}

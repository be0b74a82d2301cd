//! Numbered, embedded, checksummed schema migrations, and the one runner both backends use.
//!
//! Each backend has its files, `migrations/sqlite/NNNN_NAME.sql` ([`SQLITE`]) and
//! `migrations/postgres/NNNN_NAME.sql` ([`POSTGRES`]), embedded with `include_str!`. Applied
//! migrations are recorded in `payseal_schema_migrations` (version, name, SHA-256 of the file).
//! [`run`] applies the pending ones in order, each with its version row first, and refuses a
//! database that has a migration this build does not know (a newer verifier migrated it) or
//! whose recorded checksum differs from the file (an applied migration was edited). A backend
//! provides only the SQL of those steps ([`SchemaStore`]) and its locking (PostgreSQL: an
//! advisory lock and a transaction per migration; SQLite: one `BEGIN IMMEDIATE` around all).

use std::future::Future;

use sha2::{Digest, Sha256};

use crate::LedgerError;

/// One embedded schema migration (`migrations/BACKEND/NNNN_NAME.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Version (the file's number); applied in increasing order.
    pub version: i64,
    /// Name (the file's name after the number).
    pub name: &'static str,
    /// The SQL, applied in one transaction.
    pub sql: &'static str,
}

impl Migration {
    /// `NNNN_NAME`, the file name without `.sql`.
    pub fn id(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }

    /// Hex SHA-256 of the SQL, recorded when applied and checked at every start.
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// Declares a migration list from `migrations/$dir/NNNN_NAME.sql` files.
macro_rules! migrations {
    ($dir:literal: $(($version:literal, $number:literal, $name:literal)),* $(,)?) => {
        &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/", $dir, "/", $number, "_", $name, ".sql")),
        }),*]
    };
}

/// Every PostgreSQL migration this build knows, in order.
pub const POSTGRES: &[Migration] = migrations!("postgres":
    (1, "0001", "redemptions"),
    (2, "0002", "outbox_revocation"),
    (3, "0003", "subscriptions"),
    (4, "0004", "store_notifications"),
    (5, "0005", "google_voided"),
    (6, "0006", "revocation_causes"),
    (7, "0007", "store_acknowledgements"),
    (8, "0008", "delivery_reports"),
    (9, "0009", "entitlements"),
    (10, "0010", "refund_requests"),
    (11, "0011", "subscription_state"),
    (12, "0012", "entitlement_changes"),
    (13, "0013", "refund_answers_google"),
);

/// Every SQLite migration this build knows, in order (1 to 4 are the `user_version` steps of
/// verifiers before numbered SQLite migrations, 5 the cursor table they created outside them).
pub const SQLITE: &[Migration] = migrations!("sqlite":
    (1, "0001", "redemptions"),
    (2, "0002", "outbox_revocation"),
    (3, "0003", "subscriptions"),
    (4, "0004", "store_notifications"),
    (5, "0005", "google_voided"),
    (6, "0006", "payseal_table_names"),
    (7, "0007", "revocation_causes"),
    (8, "0008", "store_acknowledgements"),
    (9, "0009", "delivery_reports"),
    (10, "0010", "entitlements"),
    (11, "0011", "refund_requests"),
    (12, "0012", "subscription_state"),
    (13, "0013", "entitlement_changes"),
    (14, "0014", "refund_answers_google"),
);

/// The table recording applied migrations (the same on both backends).
pub const MIGRATIONS_TABLE: &str = "payseal_schema_migrations";

/// Where the schema of a database stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Versions recorded as applied.
    pub applied: Vec<i64>,
    /// Known migrations not applied yet, in order.
    pub pending: Vec<Migration>,
}

/// One recorded row of `payseal_schema_migrations`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRow {
    /// Version.
    pub version: i64,
    /// Name.
    pub name: String,
    /// Hex SHA-256 recorded when applied.
    pub checksum: String,
}

/// What applying one migration came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied now.
    Now,
    /// Another instance's version row won (it applied it, or is applying it).
    LostRace,
}

/// The schema steps of one backend, as SQL (the runner decides).
pub trait SchemaStore: Send {
    /// Create `payseal_schema_migrations` if missing.
    fn create_table(&mut self) -> impl Future<Output = Result<(), LedgerError>> + Send;
    /// The recorded rows, by version (none when the table does not exist yet).
    fn applied_rows(&mut self)
        -> impl Future<Output = Result<Vec<AppliedRow>, LedgerError>> + Send;
    /// Record `m` (version row first) and run its SQL, atomically.
    fn apply(
        &mut self,
        m: &Migration,
        now_ms: i64,
    ) -> impl Future<Output = Result<Applied, LedgerError>> + Send;
}

/// The applied versions, checked against `known`: an unknown version or a changed checksum is
/// [`LedgerError::Schema`].
pub fn check(rows: &[AppliedRow], known: &[Migration]) -> Result<Vec<i64>, LedgerError> {
    rows.iter()
        .map(|row| {
            let Some(m) = known.iter().find(|m| m.version == row.version) else {
                return Err(LedgerError::Schema(format!(
                    "the database has migration {:04}_{}, which this verifier does not know (a \
                     newer verifier migrated it): run the newer verifier",
                    row.version, row.name
                )));
            };
            if m.checksum() != row.checksum {
                return Err(LedgerError::Schema(format!(
                    "migration {} was applied with SHA-256 {}, but this verifier's file has {}: \
                     applied migrations must never be edited",
                    m.id(),
                    row.checksum,
                    m.checksum()
                )));
            }
            Ok(row.version)
        })
        .collect()
}

/// Where the schema stands (no changes made).
pub async fn status<S: SchemaStore>(
    store: &mut S,
    known: &[Migration],
) -> Result<SchemaStatus, LedgerError> {
    let applied = check(&store.applied_rows().await?, known)?;
    let pending = known
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .copied()
        .collect();
    Ok(SchemaStatus { applied, pending })
}

/// Apply the pending migrations of `known` in order; the versions applied by this call.
pub async fn run<S: SchemaStore>(
    store: &mut S,
    known: &[Migration],
    now_ms: i64,
) -> Result<Vec<i64>, LedgerError> {
    store.create_table().await?;
    let mut done = Vec::new();
    for m in known {
        if check(&store.applied_rows().await?, known)?.contains(&m.version) {
            continue;
        }
        match store.apply(m, now_ms).await? {
            Applied::Now => done.push(m.version),
            // Another instance applied it meanwhile: its version row won; check it did.
            Applied::LostRace => {
                if !check(&store.applied_rows().await?, known)?.contains(&m.version) {
                    return Err(LedgerError::Schema(format!(
                        "migration {} was being applied by another instance, which did not \
                         finish it",
                        m.id()
                    )));
                }
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree(dir: &str, known: &[Migration]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = known.iter().map(|m| format!("{}.sql", m.id())).collect();
        assert_eq!(files, listed, "every file in {} is listed", dir.display());
        for (i, m) in known.iter().enumerate() {
            assert!(
                i == 0 && m.version == 1 || i > 0 && m.version > known[i - 1].version,
                "versions increase from 1"
            );
            let on_disk = std::fs::read_to_string(dir.join(format!("{}.sql", m.id()))).unwrap();
            assert_eq!(on_disk, m.sql);
        }
    }

    #[test]
    fn migration_files_and_the_embedded_lists_agree() {
        agree("postgres", POSTGRES);
        agree("sqlite", SQLITE);
    }

    #[test]
    fn postgres_checksums_are_those_databases_recorded_before_the_ledger_crate() {
        // Recorded by verifiers at 70e3fa7 in payseal_schema_migrations: an edit of these files
        // would stop every existing PostgreSQL ledger from starting.
        let recorded = [
            "ceaa63c5a0577999a977ae2c28ffd80a87264ff68bd5dac94b4131f6e324869f",
            "dc41602b7882b579704207b3898f7e49523afcf435fe11fec294da11291c95be",
            "7aedea2e3248069485272c6627f6dc3128b01e5ac485c1b74d24a34f7960d410",
            "2caa780c2383fef8ccec2c90bd769c3fb5a4b6427de1f97855d32a32eb0b3656",
            "62552d6e8d1f29dd6f27dd41c4655b9aa24e279a746a6a2b8a89247a4122fdf8",
        ];
        // Later migrations are new files; these five stay as they were.
        let ours: Vec<String> = POSTGRES
            .iter()
            .take(recorded.len())
            .map(Migration::checksum)
            .collect();
        assert_eq!(ours, recorded);
    }

    #[test]
    fn unknown_and_edited_migrations_are_refused() {
        let row = |version: i64, checksum: String| AppliedRow {
            version,
            name: "x".into(),
            checksum,
        };
        let ok = row(1, SQLITE[0].checksum());
        assert_eq!(check(std::slice::from_ref(&ok), SQLITE).unwrap(), vec![1]);
        let err = check(&[ok.clone(), row(99, "x".into())], SQLITE).unwrap_err();
        assert!(err.to_string().contains("0099_x"), "{err}");
        let err = check(&[row(1, "edited".into())], SQLITE).unwrap_err();
        assert!(err.to_string().contains("never be edited"), "{err}");
    }
}

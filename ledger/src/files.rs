//! Private storage for the SQLite ledger: it holds every buyer's account id, so its folder is
//! created `0700` and its database files `0600` whatever the umask, and files that other local
//! users can open are refused at start.
//!
//! SQLite creates the `-wal` and `-shm` files with the permission bits of the database file
//! (it `fchmod`s them to match, bypassing the umask), so creating the database file `0600`
//! before SQLite opens it makes all three `0600`.

use std::path::{Path, PathBuf};

use super::LedgerError;

/// Permission bits the ledger folder gets when this creates it.
pub const DIR_MODE: u32 = 0o700;
/// Permission bits the ledger database gets when this creates it.
pub const FILE_MODE: u32 = 0o600;
/// Bits that must be clear on an existing ledger file: any access for group or others.
pub const FORBIDDEN_BITS: u32 = 0o077;

/// Create `dir` and any missing parent with mode `0700` (existing folders are left as they are).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// The database file and the two files SQLite keeps beside it in WAL mode.
pub fn database_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Make `db` ready for SQLite to open: its folder created `0700` if missing, the file created
/// empty with mode `0600` if missing, and every existing one of the three database files
/// checked for group or other access ([`LedgerError::Permissions`]).
pub fn prepare(db: &Path) -> Result<(), LedgerError> {
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    create_private_file(db)?;
    for file in database_files(db) {
        check_private(&file)?;
    }
    Ok(())
}

/// Create `path` empty with mode `0600` unless it exists (another process creating it at the
/// same moment is fine: its file is checked like any existing one).
fn create_private_file(path: &Path) -> Result<(), LedgerError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Refuse an existing `path` that group or others may access (a missing one is fine).
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), LedgerError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = match std::fs::metadata(path) {
        Ok(meta) => meta.permissions().mode() & 0o7777,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if mode & FORBIDDEN_BITS != 0 {
        return Err(LedgerError::Permissions {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

/// No POSIX permission bits to check on this platform.
#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), LedgerError> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_sibling_files_are_named_like_sqlite_names_them() {
        let [db, wal, shm] = database_files(Path::new("/var/lib/payseal/ledger.db"));
        assert_eq!(db, Path::new("/var/lib/payseal/ledger.db"));
        assert_eq!(wal, Path::new("/var/lib/payseal/ledger.db-wal"));
        assert_eq!(shm, Path::new("/var/lib/payseal/ledger.db-shm"));
    }

    #[test]
    fn a_new_ledger_gets_a_private_folder_and_file() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("a/b/ledger.db");
        prepare(&db).unwrap();
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        assert_eq!(mode(&tmp.path().join("a/b")), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(std::fs::metadata(&db).unwrap().len(), 0);
        // Preparing again leaves it as it is.
        prepare(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
    }

    #[test]
    fn any_group_or_other_bit_on_any_of_the_three_files_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("ledger.db");
        prepare(&db).unwrap();
        for file in database_files(&db) {
            std::fs::write(&file, b"").unwrap();
            for bad in [0o640, 0o604, 0o620, 0o602, 0o644, 0o666] {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(bad)).unwrap();
                match prepare(&db) {
                    Err(LedgerError::Permissions { path, mode }) => {
                        assert_eq!(path, file.display().to_string());
                        assert_eq!(mode, bad);
                    }
                    other => panic!("{} at {bad:o}: {other:?}", file.display()),
                }
            }
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
            prepare(&db).unwrap();
        }
        // Owner-only modes narrower than 0600 are private too.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).unwrap();
        prepare(&db).unwrap();
    }
}

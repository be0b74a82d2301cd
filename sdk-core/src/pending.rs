//! The pending store: receipts that could not get a verdict (offline, verifier down, 5xx),
//! kept on disk until [`Client::retry_pending`](crate::Client::retry_pending) gets one.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use payseal_protocol::Receipt;
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::PaySealErrorKind;

/// Version of the pending file format.
pub(crate) const PENDING_FORMAT: u32 = 1;

/// Why the pending store failed.
#[derive(Debug, thiserror::Error)]
pub enum PendingError {
    /// A file system operation failed.
    #[error("pending store {op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A pending file does not parse, or its name does not match its receipt.
    #[error("pending file {file} is unreadable: {reason}")]
    Corrupt {
        /// The file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// The OS random generator failed (for a temporary file name).
    #[error("random generator failed")]
    Random,
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> PendingError {
    move |source| PendingError::Io { op, source }
}

/// Why a file does not parse, without quoting it (serde's messages can quote values, and a
/// pending file holds a receipt and an account id, which are never logged).
fn parse_failure(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "truncated",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "not a pending entry",
        serde_json::error::Category::Io => "unreadable",
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

/// One receipt waiting for a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingEntry {
    /// Version of the file format (1).
    pub format: u32,
    /// The store receipt, in its stable JSON form.
    pub receipt: Receipt,
    /// The account that bought it.
    pub account_id: String,
    /// The app id to verify it for.
    pub app_id: String,
    /// First failed attempt (Unix seconds).
    pub first_attempt_at: i64,
    /// Last failed attempt (Unix seconds).
    pub last_attempt_at: i64,
    /// Attempts made so far (requests sent or tried), across calls.
    pub attempts: u32,
    /// The kind of the last failure (`network`, `timeout`, `server_rejected`, `tampered`, ...).
    pub last_error: PaySealErrorKind,
    /// The product the app sold, when it named one: a retry sends it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_product_id: Option<String>,
}

/// What a pending file keeps of a request: the receipt, who bought it, for which app and, when
/// the app named it, which product.
#[derive(Debug, Clone, Copy)]
pub struct PendingRequest<'a> {
    /// The store receipt.
    pub receipt: &'a Receipt,
    /// The account that bought it.
    pub account_id: &'a str,
    /// The app id.
    pub app_id: &'a str,
    /// The product the app sold, if it named one.
    pub expected_product_id: Option<&'a str>,
}

impl PendingEntry {
    /// The receipt's hash, which names the file.
    pub fn receipt_sha256(&self) -> String {
        self.receipt.sha256_hex()
    }
}

/// A directory of pending receipts.
///
/// # What a pending file contains
/// One JSON file per receipt, `<receipt_sha256>.json` (so the same receipt is never kept
/// twice), mode 0600 on Unix:
///
/// ```json
/// { "format": 1, "receipt": { "store": "google_play", "purchase_data": "...", "signature": "..." },
///   "account_id": "alice", "app_id": "dev.payseal.demo",
///   "first_attempt_at": 1760000000, "last_attempt_at": 1760000060, "attempts": 3,
///   "last_error": "network" }
/// ```
///
/// When the app named the product it sold (`verify` with an expected product id), the file
/// also holds `"expected_product_id": "gems_1000"`, so that a retry asks for the same product.
/// Without one the key is absent: files written before the field existed read as before, and
/// the format number stays 1.
///
/// That is the store-signed purchase data the app already holds (and the store's own
/// library also keeps until the purchase is acknowledged), the app's opaque account id, the
/// app id and timestamps. It holds **no key material, no nonce, no verdict token and no
/// HPKE state**: a retry seals a fresh request with a fresh nonce.
///
/// # What the pending folder can and cannot protect against
/// The folder is in the app's private storage; on a device that is not rooted only the app
/// reads or writes it. On a rooted device its owner can read and edit these files, and the SDK
/// holds no key to authenticate them (any key it had would be on that same device). So:
/// - **The app id is the client's, never the file's.**
///   [`Client::retry_pending`](crate::Client::retry_pending) refuses a
///   file naming another app id (reported as `PendingRefused`, logged, left on disk, never
///   sent), and sends the others for its own app id. An edited file cannot make this app
///   verify, or be told `paid` for, another app's purchase.
/// - **The receipt is the store's.** A file's receipt is verified by the store's signature
///   like any other: an edited receipt is `bad_signature`, and the file name must be the
///   receipt's hash, so a file edited without renaming is refused as unreadable. Truncated or
///   garbled files are refused the same way, with a report, never a panic.
/// - **The account id is the file's**: the one the player bought with, kept so that the
///   purchase goes to the buyer even if another account is signed in when `retry_pending`
///   runs. An edited account id can only re-target *its own* receipt, a purchase already on
///   that device, which its owner could send for any account by calling `verify` directly;
///   the verifier's ledger still gives each receipt to the first account that redeems it
///   (`already_redeemed` for everyone else), and the verdict names the account, so the
///   application server delivers to that account only.
/// - It cannot stop the device's owner from deleting pending files (the store keeps an
///   unacknowledged purchase and offers it again) or from skipping PaySeal altogether; that is
///   why the item is granted by the application server from the verdict token.
///
/// # Atomicity
/// A file is written to a unique temporary name in the same directory, flushed (`fsync`),
/// then renamed over `<receipt_sha256>.json`, and the directory is flushed: a reader sees
/// the old file or the new one, never half of one. The write is synchronous, with no
/// `.await` inside, so dropping a `verify` future cannot interrupt it.
#[derive(Debug, Clone)]
pub struct PendingStore {
    dir: PathBuf,
}

/// Write `bytes` to `dir/name` atomically and durably, mode 0600: a unique temporary file in
/// `dir`, flushed, renamed over `name`, then the directory flushed (a reader sees the old file
/// or the new one). Synchronous, so a dropped future cannot interrupt it.
pub(crate) fn write_file_atomically(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), PendingError> {
    let mut suffix = [0u8; 8];
    OsRng
        .try_fill_bytes(&mut suffix)
        .map_err(|_| PendingError::Random)?;
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io("create temporary file"))?;
        file.write_all(bytes).map_err(io("write"))?;
        file.sync_all().map_err(io("fsync"))?;
        drop(file);
        fs::rename(&tmp, dir.join(name)).map_err(io("rename"))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Whether `name` is `<64 lowercase hex>.json`; returns the hash.
fn entry_hash(name: &str) -> Option<&str> {
    let hash = name.strip_suffix(".json")?;
    (hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then_some(hash)
}

impl PendingStore {
    /// Open (and create if needed) the directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, PendingError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io("create directory"))?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_for(&self, receipt_sha256: &str) -> PathBuf {
        self.dir.join(format!("{receipt_sha256}.json"))
    }

    /// Read one entry.
    pub fn get(&self, receipt_sha256: &str) -> Result<Option<PendingEntry>, PendingError> {
        let path = self.path_for(receipt_sha256);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read")(e)),
        };
        let file = format!("{receipt_sha256}.json");
        let entry: PendingEntry =
            serde_json::from_slice(&bytes).map_err(|e| PendingError::Corrupt {
                file: file.clone(),
                reason: parse_failure(&e),
            })?;
        if entry.receipt_sha256() != receipt_sha256 {
            return Err(PendingError::Corrupt {
                file,
                reason: "receipt does not match the file name".into(),
            });
        }
        Ok(Some(entry))
    }

    /// Record a failed verification of a request without an expected product
    /// ([`PendingStore::record`]).
    pub fn record_failure(
        &self,
        receipt: &Receipt,
        account_id: &str,
        app_id: &str,
        attempts: u32,
        error_kind: PaySealErrorKind,
        now: i64,
    ) -> Result<PendingEntry, PendingError> {
        let request = PendingRequest {
            receipt,
            account_id,
            app_id,
            expected_product_id: None,
        };
        self.record(&request, attempts, error_kind, now)
    }

    /// Record a failed verification: creates the entry, or updates it (same receipt: the
    /// first attempt time is kept, attempts add up, account, app and expected product are the
    /// latest call's).
    pub fn record(
        &self,
        request: &PendingRequest<'_>,
        attempts: u32,
        error_kind: PaySealErrorKind,
        now: i64,
    ) -> Result<PendingEntry, PendingError> {
        let hash = request.receipt.sha256_hex();
        let previous = self.get(&hash).ok().flatten();
        let entry = PendingEntry {
            format: PENDING_FORMAT,
            receipt: request.receipt.clone(),
            account_id: request.account_id.to_string(),
            app_id: request.app_id.to_string(),
            expected_product_id: request.expected_product_id.map(str::to_string),
            first_attempt_at: previous.as_ref().map_or(now, |p| p.first_attempt_at),
            last_attempt_at: now,
            attempts: previous
                .as_ref()
                .map_or(0, |p| p.attempts)
                .saturating_add(attempts),
            last_error: error_kind,
        };
        self.write_atomically(&hash, &entry)?;
        Ok(entry)
    }

    fn write_atomically(&self, hash: &str, entry: &PendingEntry) -> Result<(), PendingError> {
        let json = serde_json::to_vec_pretty(entry).map_err(|e| PendingError::Corrupt {
            file: format!("{hash}.json"),
            reason: e.to_string(),
        })?;
        write_file_atomically(&self.dir, &format!("{hash}.json"), &json)
    }

    /// Remove an entry (once a verdict was obtained); `false` if there was none.
    pub fn remove(&self, receipt_sha256: &str) -> Result<bool, PendingError> {
        match fs::remove_file(self.path_for(receipt_sha256)) {
            Ok(()) => {
                sync_dir(&self.dir)?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io("remove")(e)),
        }
    }

    /// The hashes of all entries, sorted (temporary files are not entries).
    pub fn hashes(&self) -> Result<Vec<String>, PendingError> {
        let mut out = Vec::new();
        for item in fs::read_dir(&self.dir).map_err(io("list"))? {
            let item = item.map_err(io("list"))?;
            if let Some(hash) = item.file_name().to_str().and_then(entry_hash) {
                out.push(hash.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    /// How many receipts are pending.
    pub fn count(&self) -> Result<usize, PendingError> {
        Ok(self.hashes()?.len())
    }

    /// Remove temporary files left by a process that died mid-write (never a live entry).
    pub fn sweep_temporaries(&self) -> Result<usize, PendingError> {
        let mut removed = 0;
        for item in fs::read_dir(&self.dir).map_err(io("list"))? {
            let item = item.map_err(io("list"))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') && name.ends_with(".tmp") {
                let old_enough = item
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age.as_secs() >= 60);
                if old_enough && fs::remove_file(item.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), PendingError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory"))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), PendingError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(n: u8) -> Receipt {
        Receipt::GooglePlay {
            purchase_data: format!("{{\"orderId\":\"GPA.{n}\"}}"),
            signature: "c2ln".into(),
        }
    }

    #[test]
    fn failures_are_deduplicated_per_receipt_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = PendingStore::open(dir.path().join("pending")).unwrap();
        let r = receipt(1);
        store
            .record_failure(&r, "alice", "app", 3, PaySealErrorKind::Network, 100)
            .unwrap();
        let e = store
            .record_failure(&r, "alice", "app", 2, PaySealErrorKind::Timeout, 200)
            .unwrap();
        assert_eq!(store.count().unwrap(), 1);
        assert_eq!(e.first_attempt_at, 100);
        assert_eq!(e.last_attempt_at, 200);
        assert_eq!(e.attempts, 5);
        assert_eq!(e.last_error, PaySealErrorKind::Timeout);
        assert_eq!(store.get(&r.sha256_hex()).unwrap(), Some(e));

        store
            .record_failure(&receipt(2), "bob", "app", 1, PaySealErrorKind::Network, 300)
            .unwrap();
        assert_eq!(store.count().unwrap(), 2);
        assert!(store.remove(&r.sha256_hex()).unwrap());
        assert!(!store.remove(&r.sha256_hex()).unwrap());
        assert_eq!(store.hashes().unwrap(), vec![receipt(2).sha256_hex()]);
    }

    #[test]
    fn the_expected_product_is_kept_and_old_files_read_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = PendingStore::open(dir.path()).unwrap();
        let r = receipt(4);
        let request = PendingRequest {
            receipt: &r,
            account_id: "alice",
            app_id: "app",
            expected_product_id: Some("gems_1000"),
        };
        let e = store
            .record(&request, 1, PaySealErrorKind::Network, 10)
            .unwrap();
        assert_eq!(e.expected_product_id.as_deref(), Some("gems_1000"));
        assert_eq!(store.get(&r.sha256_hex()).unwrap(), Some(e));
        let text = fs::read_to_string(dir.path().join(format!("{}.json", r.sha256_hex()))).unwrap();
        assert!(
            text.contains("\"expected_product_id\": \"gems_1000\""),
            "{text}"
        );

        // A file written before the field existed (format 1, no key) reads as before, and a
        // file for a request without a product does not grow the key.
        let old = receipt(5);
        let json = serde_json::json!({
            "format": 1, "receipt": old, "account_id": "bob", "app_id": "app",
            "first_attempt_at": 1, "last_attempt_at": 2, "attempts": 1, "last_error": "network"
        });
        fs::write(
            dir.path().join(format!("{}.json", old.sha256_hex())),
            json.to_string(),
        )
        .unwrap();
        let read = store.get(&old.sha256_hex()).unwrap().unwrap();
        assert_eq!(read.expected_product_id, None);
        assert_eq!(read.account_id, "bob");
        let e = store
            .record_failure(&old, "bob", "app", 1, PaySealErrorKind::Timeout, 3)
            .unwrap();
        assert_eq!((e.attempts, e.expected_product_id), (2, None));
        let text =
            fs::read_to_string(dir.path().join(format!("{}.json", old.sha256_hex()))).unwrap();
        assert!(!text.contains("expected_product_id"), "{text}");
    }

    #[test]
    fn files_hold_no_secret_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let store = PendingStore::open(dir.path()).unwrap();
        let r = receipt(3);
        store
            .record_failure(&r, "alice", "app", 1, PaySealErrorKind::Network, 1)
            .unwrap();
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![format!("{}.json", r.sha256_hex())]);
        let text = fs::read_to_string(dir.path().join(&names[0])).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "account_id",
                "app_id",
                "attempts",
                "first_attempt_at",
                "format",
                "last_attempt_at",
                "last_error",
                "receipt"
            ]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join(&names[0]))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn concurrent_writers_of_one_receipt_leave_one_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = PendingStore::open(dir.path()).unwrap();
        let r = receipt(5);
        std::thread::scope(|scope| {
            for t in 0..8 {
                let (store, r) = (&store, &r);
                scope.spawn(move || {
                    for i in 0..20 {
                        store
                            .record_failure(
                                r,
                                "alice",
                                "app",
                                1,
                                PaySealErrorKind::Network,
                                t * 100 + i,
                            )
                            .unwrap();
                    }
                });
            }
        });
        assert_eq!(store.count().unwrap(), 1);
        let entry = store.get(&r.sha256_hex()).unwrap().unwrap();
        assert!(entry.attempts >= 20 && entry.attempts <= 160);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn corrupt_and_misnamed_files_are_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let store = PendingStore::open(dir.path()).unwrap();
        let r = receipt(4);
        let e = store
            .record_failure(&r, "alice", "app", 1, PaySealErrorKind::Network, 1)
            .unwrap();
        let wrong = "0".repeat(64);
        fs::write(
            dir.path().join(format!("{wrong}.json")),
            serde_json::to_vec(&e).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            store.get(&wrong),
            Err(PendingError::Corrupt { .. })
        ));
        fs::write(dir.path().join(format!("{}.json", "1".repeat(64))), b"{").unwrap();
        assert!(matches!(
            store.get(&"1".repeat(64)),
            Err(PendingError::Corrupt { .. })
        ));
        // A value of the wrong type is reported without being quoted.
        let mut edited = serde_json::to_value(&e).unwrap();
        edited["attempts"] = serde_json::json!("secret-looking-value");
        fs::write(
            dir.path().join(format!("{}.json", r.sha256_hex())),
            serde_json::to_vec(&edited).unwrap(),
        )
        .unwrap();
        let err = store.get(&r.sha256_hex()).unwrap_err().to_string();
        assert!(err.contains("not a pending entry"), "{err}");
        assert!(!err.contains("secret-looking-value"), "{err}");
        // Temporary files and other names are not entries.
        fs::write(dir.path().join(".x.tmp"), b"half").unwrap();
        fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        assert_eq!(store.count().unwrap(), 3);
    }
}

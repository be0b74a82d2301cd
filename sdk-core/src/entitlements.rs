//! The entitlements answer on the device: its check (pure, like the verdict's, [`check`]) and
//! the offline cache ([`EntitlementsCache`]) that keeps the last checked answer per account.
//!
//! The check: the token is the verifier's (a profile key, `EdDSA`, `typ:
//! payseal-entitlements+jwt`, strict signature and claims), for this app and account, and (for a
//! fresh answer) echoes the nonce sent. As for verdicts, the device clock refuses nothing: the
//! answer's age is measured ([`CheckedEntitlements::age_ms`]) and reported.
//!
//! The cache is tamper-evident, not secret: it holds the signed token only, and a token read
//! back is checked again exactly as above but for the nonce (it answered an earlier request):
//! an edited file, another app's or another account's answer is refused
//! ([`DecisionError`]), never trusted. It never invents an answer: with no file, there is none.

use std::path::{Path, PathBuf};

use payseal_protocol::entitlements::{self, EntitlementsClaims};
use payseal_protocol::verdict::VerdictVerifier;
use sha2::{Digest as _, Sha256};

use crate::decision::DecisionError;
use crate::pending::{write_file_atomically, PendingError};

/// An entitlements answer that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedEntitlements {
    /// The verified claims.
    pub claims: EntitlementsClaims,
    /// The compact JWS, to forward to the app's server as is.
    pub token: String,
    /// The device clock minus the answer's `as_of` (when the verifier read the ledger), in
    /// milliseconds: how old the answer is (includes the device clock's error).
    pub age_ms: i64,
    /// Whether it was read from the offline cache (the verifier could not be reached).
    pub from_cache: bool,
}

impl CheckedEntitlements {
    /// Whether the entitlement `name` is active in this answer.
    pub fn has(&self, name: &str) -> bool {
        self.claims.has(name)
    }
}

/// What the answer must echo.
#[derive(Debug, Clone, Copy)]
pub struct ExpectedEntitlements<'a> {
    /// The request's nonce; `None` for a cached answer (it answered an earlier request).
    pub nonce: Option<&'a str>,
    /// The app id sent.
    pub app_id: &'a str,
    /// The account id sent.
    pub account_id: &'a str,
}

/// Check an entitlements `token` against the profile's keys and `expected`; `device_now_ms`
/// only measures the age.
pub fn check(
    verifier: &VerdictVerifier,
    token: &str,
    expected: &ExpectedEntitlements<'_>,
    device_now_ms: i64,
) -> Result<CheckedEntitlements, DecisionError> {
    // Header, kid and signature as the verifier checks them, with no clock (as for verdicts).
    let claims = entitlements::verify(&verifier.clone().with_skew(i64::MAX), token, 0)?;
    if let Some(nonce) = expected.nonce {
        if claims.nonce != nonce {
            return Err(DecisionError::Nonce);
        }
    }
    if claims.app != expected.app_id {
        return Err(DecisionError::App);
    }
    if claims.sub != expected.account_id {
        return Err(DecisionError::Account);
    }
    let age_ms = device_now_ms.saturating_sub(claims.as_of);
    Ok(CheckedEntitlements {
        claims,
        token: token.to_string(),
        age_ms,
        from_cache: false,
    })
}

/// Why a cached answer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] PendingError),
    /// The file is not a genuine answer for this app and account (edited, swapped, truncated).
    #[error("cached entitlements refused: {0}")]
    Refused(DecisionError),
}

/// The last checked entitlements answer per (app, account), one file each
/// (`entitlements-<sha256(app, account)>.jwt`, mode 0600, written atomically).
#[derive(Debug, Clone)]
pub struct EntitlementsCache {
    dir: PathBuf,
}

impl EntitlementsCache {
    /// Open (and create if needed) the directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, PendingError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|source| PendingError::Io {
            op: "create directory",
            source,
        })?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file name of an account's answer (the ids hashed: no account id in a file name).
    pub fn file_name(app_id: &str, account_id: &str) -> String {
        let mut h = Sha256::new();
        h.update((app_id.len() as u64).to_be_bytes());
        h.update(app_id.as_bytes());
        h.update(account_id.as_bytes());
        format!("entitlements-{}.jwt", hex::encode(h.finalize()))
    }

    /// Keep `answer` (a checked, fresh answer) as the account's last one.
    pub fn save(&self, answer: &CheckedEntitlements) -> Result<(), PendingError> {
        let name = Self::file_name(&answer.claims.app, &answer.claims.sub);
        write_file_atomically(&self.dir, &name, answer.token.as_bytes())
    }

    /// The account's last answer, checked again with the profile's keys (`Ok(None)`: none
    /// kept; an edited or foreign file is [`CacheError::Refused`]).
    pub fn load(
        &self,
        verifier: &VerdictVerifier,
        app_id: &str,
        account_id: &str,
        device_now_ms: i64,
    ) -> Result<Option<CheckedEntitlements>, CacheError> {
        let path = self.dir.join(Self::file_name(app_id, account_id));
        let token = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CacheError::Io(PendingError::Io { op: "read", source })),
        };
        let token = String::from_utf8(token).map_err(|_| {
            CacheError::Refused(DecisionError::Token(
                payseal_protocol::verdict::VerdictError::Malformed("not UTF-8".into()),
            ))
        })?;
        let expected = ExpectedEntitlements {
            nonce: None,
            app_id,
            account_id,
        };
        let mut answer = check(verifier, token.trim_end(), &expected, device_now_ms)
            .map_err(CacheError::Refused)?;
        answer.from_cache = true;
        Ok(Some(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payseal_protocol::entitlements::Entitlement;
    use payseal_protocol::verdict::VerdictSigningKey;
    use payseal_protocol::Store;

    const NOW: i64 = 1_760_000_000;

    fn claims(sub: &str) -> EntitlementsClaims {
        EntitlementsClaims {
            iss: "https://localhost:8443".into(),
            iat: NOW,
            exp: NOW + 300,
            jti: "e-1".into(),
            nonce: "bm9uY2Utbm9uY2Utbm9uY2U".into(),
            app: "dev.payseal.demo".into(),
            sub: sub.into(),
            as_of: NOW * 1000,
            entitlements: vec![Entitlement {
                name: "premium".into(),
                product_id: "lifetime_pro".into(),
                store: Store::Sandbox,
                environment: None,
                transaction_key: "t".into(),
                kind: None,
                since: 1,
                expires_at: None,
                will_renew: None,
            }],
        }
    }

    fn key() -> VerdictSigningKey {
        VerdictSigningKey::from_seed("k1", [7u8; 32])
    }

    fn verifier() -> VerdictVerifier {
        VerdictVerifier::new(vec![key().public_key()])
    }

    fn expected<'a>(nonce: Option<&'a str>, account: &'a str) -> ExpectedEntitlements<'a> {
        ExpectedEntitlements {
            nonce,
            app_id: "dev.payseal.demo",
            account_id: account,
        }
    }

    #[test]
    fn fresh_answers_echo_nonce_app_and_account_whatever_the_device_clock() {
        let c = claims("alice");
        let token = entitlements::sign(&key(), &c).unwrap();
        let ok = check(
            &verifier(),
            &token,
            &expected(Some(&c.nonce), "alice"),
            NOW * 1000 + 1500,
        )
        .unwrap();
        assert!(ok.has("premium") && !ok.has("no_ads"));
        assert_eq!(ok.age_ms, 1500);
        // A device clock years off refuses nothing.
        assert!(check(&verifier(), &token, &expected(Some(&c.nonce), "alice"), 0).is_ok());
        assert_eq!(
            check(
                &verifier(),
                &token,
                &expected(Some("b3RoZXItbm9uY2Utb3RoZXI"), "alice"),
                NOW
            ),
            Err(DecisionError::Nonce)
        );
        assert_eq!(
            check(&verifier(), &token, &expected(Some(&c.nonce), "bob"), NOW),
            Err(DecisionError::Account)
        );
        let forged = entitlements::sign(&VerdictSigningKey::from_seed("k1", [8; 32]), &c).unwrap();
        assert!(matches!(
            check(
                &verifier(),
                &forged,
                &expected(Some(&c.nonce), "alice"),
                NOW
            ),
            Err(DecisionError::Token(_))
        ));
        // A verdict token is not an entitlements answer.
        let other_app = EntitlementsClaims {
            app: "other".into(),
            ..c.clone()
        };
        let t = entitlements::sign(&key(), &other_app).unwrap();
        assert_eq!(
            check(&verifier(), &t, &expected(Some(&c.nonce), "alice"), NOW),
            Err(DecisionError::App)
        );
    }

    #[test]
    fn the_cache_keeps_checked_answers_and_refuses_edited_or_swapped_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EntitlementsCache::open(dir.path()).unwrap();
        let v = verifier();
        assert!(cache
            .load(&v, "dev.payseal.demo", "alice", NOW)
            .unwrap()
            .is_none());
        let c = claims("alice");
        let token = entitlements::sign(&key(), &c).unwrap();
        let fresh = check(&v, &token, &expected(Some(&c.nonce), "alice"), NOW * 1000).unwrap();
        cache.save(&fresh).unwrap();
        let back = cache
            .load(&v, "dev.payseal.demo", "alice", NOW * 1000 + 60_000)
            .unwrap()
            .unwrap();
        assert!(back.from_cache);
        assert_eq!(back.age_ms, 60_000);
        assert_eq!(back.claims, c);
        let path = dir
            .path()
            .join(EntitlementsCache::file_name("dev.payseal.demo", "alice"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Edited: one payload character changed.
        let mut edited = token.clone().into_bytes();
        let at = token.find('.').unwrap() + 5;
        edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
        std::fs::write(&path, &edited).unwrap();
        assert!(matches!(
            cache.load(&v, "dev.payseal.demo", "alice", NOW),
            Err(CacheError::Refused(_))
        ));
        // Bob's genuine answer copied over alice's file.
        let bobs = entitlements::sign(&key(), &claims("bob")).unwrap();
        std::fs::write(&path, bobs).unwrap();
        assert!(matches!(
            cache.load(&v, "dev.payseal.demo", "alice", NOW),
            Err(CacheError::Refused(DecisionError::Account))
        ));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            cache.load(&v, "dev.payseal.demo", "alice", NOW),
            Err(CacheError::Refused(_))
        ));
    }
}

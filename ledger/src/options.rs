//! How a ledger is reached: its URL (backend, password redaction) and connection options.

use std::time::Duration;

/// A password that never prints (`Debug` shows `***`) and is wiped from memory on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(zeroize::Zeroizing<String>);

impl Password {
    /// Wrap a password.
    pub fn new(password: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(password.into()))
    }

    /// The password itself (to hand to the database driver only).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Connection settings of a networked ledger (ignored by SQLite). See `[ledger]` in
/// `config.example.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerOptions {
    /// Apply pending migrations at start (under a lock, so instances starting together are
    /// safe). When false, start fails unless the schema is already current
    /// (`payseal-verifier migrate` applies it).
    pub auto_migrate: bool,
    /// Most connections one verifier instance keeps open.
    pub max_connections: usize,
    /// Longest wait to open one connection.
    pub connect_timeout: Duration,
    /// Longest wait for one ledger operation (waiting for a pooled connection included).
    /// Past it the request gets `503` + `Retry-After`.
    pub query_timeout: Duration,
    /// The password, when it is not in the URL (`password_file`), or taken out of the URL by
    /// the configuration loader so the URL itself can be shown.
    pub password: Option<Password>,
}

/// Default [`LedgerOptions::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
/// Default [`LedgerOptions::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`LedgerOptions::query_timeout`].
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            auto_migrate: true,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            query_timeout: DEFAULT_QUERY_TIMEOUT,
            password: None,
        }
    }
}

/// Which backend a ledger URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:PATH`.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

/// The backend a URL names, if any (the URL is not otherwise checked).
pub fn backend_of(url: &str) -> Option<Backend> {
    let url = url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else if url.strip_prefix("sqlite:").is_some_and(|p| !p.is_empty()) {
        Some(Backend::Sqlite)
    } else {
        None
    }
}

/// `url` with any password replaced by `***`: in the user-info part
/// (`postgres://user:secret@host` → `postgres://user:***@host`) and in a `password=` query
/// parameter. Safe to log.
pub fn redact_url(url: &str) -> String {
    let (without, had_password) = strip_password(url);
    if !had_password {
        return without;
    }
    // Re-insert a visible marker where the password was.
    let (userinfo_pw, query_pw) = password_spans(url);
    let mut out = String::with_capacity(url.len());
    let mut last = 0;
    for (start, end) in [userinfo_pw, query_pw].into_iter().flatten() {
        out.push_str(&url[last..start]);
        out.push_str("***");
        last = end;
    }
    out.push_str(&url[last..]);
    out
}

/// `url` without its password (user-info and `password=` parameter removed), and whether it
/// had one.
pub fn strip_password(url: &str) -> (String, bool) {
    let (userinfo_pw, query_pw) = password_spans(url);
    if userinfo_pw.is_none() && query_pw.is_none() {
        return (url.to_string(), false);
    }
    let mut out = String::with_capacity(url.len());
    let mut last = 0;
    if let Some((start, end)) = userinfo_pw {
        // Drop the ':' before the password too.
        out.push_str(&url[last..start - 1]);
        last = end;
    }
    if let Some((start, end)) = query_pw {
        // Drop the whole `password=...` parameter and one separator.
        let param_start = start - "password=".len();
        let mut cut_start = param_start;
        let mut cut_end = end;
        if url[cut_end..].starts_with('&') {
            cut_end += 1;
        } else if cut_start > 0
            && (url.as_bytes()[cut_start - 1] == b'&'
                || (url.as_bytes()[cut_start - 1] == b'?' && cut_end == url.len()))
        {
            cut_start -= 1;
        }
        out.push_str(&url[last..cut_start]);
        last = cut_end;
    }
    out.push_str(&url[last..]);
    (out, true)
}

/// A byte range `start..end` of a URL.
type Span = (usize, usize);

/// Byte spans of the password in the user-info part and in a `password=` query parameter.
fn password_spans(url: &str) -> (Option<Span>, Option<Span>) {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return (None, None);
    };
    let rest = &url[scheme_end..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let userinfo_pw = authority.rfind('@').and_then(|at| {
        let userinfo = &authority[..at];
        userinfo
            .find(':')
            .map(|colon| (scheme_end + colon + 1, scheme_end + at))
    });
    let query_pw = url.find('?').and_then(|q| {
        let query = &url[q + 1..];
        let mut offset = q + 1;
        for param in query.split('&') {
            if let Some(value) = param.strip_prefix("password=") {
                let start = offset + "password=".len();
                return Some((start, start + value.len()));
            }
            offset += param.len() + 1;
        }
        None
    });
    (userinfo_pw, query_pw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_named_by_scheme() {
        assert_eq!(backend_of("sqlite:/a/b.db"), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgres://h/d"), Some(Backend::Postgres));
        assert_eq!(backend_of("postgresql://h/d"), Some(Backend::Postgres));
        assert_eq!(backend_of("postgres:/h"), None);
        assert_eq!(backend_of("sqlite:"), None);
    }

    #[test]
    fn passwords_are_redacted_and_stripped() {
        let cases = [
            (
                "postgres://payseal:s3cr%40t@db.internal:5432/ledger",
                "postgres://payseal:***@db.internal:5432/ledger",
                "postgres://payseal@db.internal:5432/ledger",
            ),
            (
                "postgres://payseal@db/ledger?password=pw&sslmode=disable",
                "postgres://payseal@db/ledger?password=***&sslmode=disable",
                "postgres://payseal@db/ledger?sslmode=disable",
            ),
            (
                "postgres://db/ledger?sslmode=disable&password=pw",
                "postgres://db/ledger?sslmode=disable&password=***",
                "postgres://db/ledger?sslmode=disable",
            ),
            (
                "postgres://u:a:b@db/l?password=pw",
                "postgres://u:***@db/l?password=***",
                "postgres://u@db/l",
            ),
            (
                "postgres://payseal@127.0.0.1:5432/ledger",
                "postgres://payseal@127.0.0.1:5432/ledger",
                "postgres://payseal@127.0.0.1:5432/ledger",
            ),
            (
                "sqlite:/var/lib/l.db",
                "sqlite:/var/lib/l.db",
                "sqlite:/var/lib/l.db",
            ),
        ];
        for (url, redacted, stripped) in cases {
            assert_eq!(redact_url(url), redacted, "{url}");
            assert_eq!(strip_password(url).0, stripped, "{url}");
            assert_eq!(strip_password(url).1, url != stripped, "{url}");
        }
        assert_eq!(format!("{:?}", Password::new("hunter2")), "Password(***)");
    }
}

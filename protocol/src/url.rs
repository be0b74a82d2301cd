//! The verifier's URL: `https://host[:port]` with an optional trailing `/`, nothing else (no
//! user info, path, query or fragment). The host is a DNS name, an IPv4 address or a
//! bracketed IPv6 address. The profile's `verifier_url` and the verifier's
//! `server.public_url` follow this one rule.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::envelope::VERIFY_PATH;

/// The verifier's host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Host {
    /// A DNS name (as written, without a trailing dot).
    Dns(String),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    Ipv6(Ipv6Addr),
}

impl Host {
    /// The host as a TLS client matches it against a certificate: the DNS name, or the
    /// address without brackets.
    pub fn name(&self) -> String {
        match self {
            Host::Dns(name) => name.clone(),
            Host::Ipv4(addr) => addr.to_string(),
            Host::Ipv6(addr) => addr.to_string(),
        }
    }
}

/// Why a verifier URL was refused (the reason, in words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(String);

fn bad(reason: impl Into<String>) -> UrlError {
    UrlError(reason.into())
}

/// A checked verifier URL and its pieces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifierUrl {
    /// `https://host[:port]`, without the trailing `/`.
    url: String,
    host: Host,
    port: Option<u16>,
}

impl VerifierUrl {
    /// Check `url` and split it into host and port.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| bad("must start with https://"))?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(bad("has no host"));
        }
        if let Some(c) = authority.chars().find(|c| {
            matches!(c, '/' | '?' | '#' | '@' | '\\') || c.is_whitespace() || c.is_control()
        }) {
            return Err(bad(format!(
                "may only hold a scheme, host and port (found {c:?})"
            )));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("has an unclosed IPv6 bracket"))?;
            let addr = addr
                .parse::<Ipv6Addr>()
                .map_err(|_| bad(format!("{addr:?} is not an IPv6 address")))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| bad("has junk after the IPv6 address"))?,
                ),
            };
            (Host::Ipv6(addr), port)
        } else {
            let (h, p) = match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            };
            (parse_host(h)?, p)
        };
        let port = port.map(parse_port).transpose()?;
        Ok(Self {
            url: format!("https://{authority}"),
            host,
            port,
        })
    }

    /// `https://host[:port]` (no trailing `/`).
    pub fn as_str(&self) -> &str {
        &self.url
    }
    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }
    /// The port as written, if any.
    pub fn explicit_port(&self) -> Option<u16> {
        self.port
    }
    /// The port connected to (443 unless written).
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(443)
    }
    /// The URL a sealed request is posted to (`…/v1/verify`).
    pub fn verify_url(&self) -> String {
        format!("{}{VERIFY_PATH}", self.url)
    }
}

impl std::fmt::Display for VerifierUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

fn parse_port(port: &str) -> Result<u16, UrlError> {
    let ok = !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    match port.parse::<u16>() {
        Ok(p) if ok && p != 0 => Ok(p),
        _ => Err(bad(format!("has an invalid port {port:?} (1..=65535)"))),
    }
}

fn parse_host(host: &str) -> Result<Host, UrlError> {
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ipv4(v4));
    }
    if host.len() > 253 {
        return Err(bad("host name is longer than 253 characters"));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(bad(format!(
                "host {host:?} is not a valid DNS name or IPv4 address"
            )));
        }
    }
    Ok(Host::Dns(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_and_canonical_form() {
        let u = VerifierUrl::parse("https://verify.example.com:8443/").unwrap();
        assert_eq!(u.as_str(), "https://verify.example.com:8443");
        assert_eq!(u.host(), &Host::Dns("verify.example.com".into()));
        assert_eq!((u.port(), u.explicit_port()), (8443, Some(8443)));
        assert_eq!(u.verify_url(), "https://verify.example.com:8443/v1/verify");
        let u = VerifierUrl::parse("https://127.0.0.1").unwrap();
        assert_eq!(u.host(), &Host::Ipv4(Ipv4Addr::LOCALHOST));
        assert_eq!((u.port(), u.explicit_port()), (443, None));
        let u = VerifierUrl::parse("https://[::1]:8443").unwrap();
        assert_eq!(u.host(), &Host::Ipv6(Ipv6Addr::LOCALHOST));
        assert_eq!(u.to_string(), "https://[::1]:8443");
        assert_eq!(u.host().name(), "::1");
    }

    #[test]
    fn refusals_say_why() {
        for (url, why) in [
            ("http://x.example", "https://"),
            ("https://x.example:0", "invalid port"),
            ("https://x.example:x", "invalid port"),
            ("https://x.example/path", "scheme, host and port"),
            ("https://under_score.example", "DNS name"),
            ("https://[::1", "bracket"),
        ] {
            let err = VerifierUrl::parse(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
    }
}

//! Per-connection protection settings and how they configure hyper: TLS handshake timeout,
//! idle timeout (before the first request byte and between requests, HTTP/1 and HTTP/2),
//! HTTP/1 header-read timeout, global and per-source-IP connection caps, and the HTTP/2 limits
//! (concurrent streams, header list size, keep-alive pings, reset-flood protection).
//!
//! The connection table that enforces the caps is [`super::table`]; the accept loop that
//! applies the timeouts is [`super::listener`].

use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;

/// Client-opened HTTP/2 streams reset before the server accepted them, after which the
/// connection gets GOAWAY (the "rapid reset" flood, CVE-2023-44487; h2's default).
pub(crate) const HTTP2_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
/// Streams the server itself reset for protocol errors, after which the connection gets GOAWAY
/// (RUSTSEC-2024-0003).
pub(crate) const HTTP2_MAX_LOCAL_ERROR_RESET_STREAMS: usize = 256;
/// Largest HTTP/1 read buffer (request head), bytes.
pub(crate) const HTTP1_MAX_BUF_BYTES: usize = 64 * 1024;

/// Limits applied to every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to complete the TLS handshake after the TCP accept.
    pub handshake_timeout: Duration,
    /// A connection with no request in progress for this long is closed: before its first
    /// request byte, and between requests (HTTP/1 keep-alive and HTTP/2 alike).
    pub idle_timeout: Duration,
    /// Time a client has to send a complete HTTP/1 request head once it started it.
    pub header_read_timeout: Duration,
    /// Connections open at once (handshaking included). At the cap an idle connection is shed
    /// for a new one (of the source holding the most, its longest idle); only when none is
    /// idle is the new one refused.
    pub max_connections: usize,
    /// Connections open at once from one source (an IPv4 address or an IPv6 /64); `0` means no
    /// per-source limit (behind a load balancer every connection comes from its addresses).
    pub max_connections_per_ip: usize,
    /// Whether loopback sources are exempt from [`Self::max_connections_per_ip`].
    pub per_ip_exempt_loopback: bool,
    /// HTTP/2 streams a client may have open at once on one connection.
    pub http2_max_concurrent_streams: u32,
    /// Largest HTTP/2 header list (decoded, RFC 9113 §6.5.2 accounting), bytes.
    pub http2_max_header_list_bytes: u32,
    /// Interval of HTTP/2 keep-alive pings; a ping not answered within the same time closes
    /// the connection (dead peers during long requests).
    pub http2_keepalive_interval: Duration,
}

impl Default for ConnectionLimits {
    /// The configuration defaults ([`crate::settings::Limits`]).
    fn default() -> Self {
        Self::from(&crate::settings::Limits::default())
    }
}

impl From<&crate::settings::Limits> for ConnectionLimits {
    fn from(limits: &crate::settings::Limits) -> Self {
        Self {
            handshake_timeout: limits.handshake_timeout,
            idle_timeout: limits.idle_timeout,
            header_read_timeout: limits.header_read_timeout,
            max_connections: limits.max_connections,
            max_connections_per_ip: limits.max_connections_per_ip,
            per_ip_exempt_loopback: limits.per_ip_exempt_loopback,
            http2_max_concurrent_streams: limits.http2_max_concurrent_streams,
            http2_max_header_list_bytes: limits.http2_max_header_list_bytes,
            http2_keepalive_interval: limits.http2_keepalive_interval,
        }
    }
}

/// The hyper connection builder (HTTP/1.1 and HTTP/2 by ALPN or preface) with these limits.
pub(crate) fn http_builder(limits: &ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(HTTP1_MAX_BUF_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_header_list_size(limits.http2_max_header_list_bytes)
        .max_pending_accept_reset_streams(HTTP2_MAX_PENDING_ACCEPT_RESET_STREAMS)
        .max_local_error_reset_streams(HTTP2_MAX_LOCAL_ERROR_RESET_STREAMS)
        .keep_alive_interval(limits.http2_keepalive_interval)
        .keep_alive_timeout(limits.http2_keepalive_interval);
    builder
}

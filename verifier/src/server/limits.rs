//! Per-connection protection settings and how they configure hyper: TLS handshake timeout,
//! idle timeout (before the first request byte and between requests, HTTP/1 and HTTP/2),
//! HTTP/1 header-read timeout, global and per-source-IP connection caps, and the HTTP/2 limits
//! (concurrent streams, header list size, keep-alive pings, reset-flood protection).
//!
//! The connection table that enforces the caps is [`super::table`]; the accept loop that
//! applies the timeouts is [`super::listener`].

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;

use crate::settings::ConnectionLimits;

/// Client-opened HTTP/2 streams reset before the server accepted them, after which the
/// connection gets GOAWAY (the "rapid reset" flood, CVE-2023-44487; h2's default).
pub(crate) const HTTP2_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
/// Streams the server itself reset for protocol errors, after which the connection gets GOAWAY
/// (RUSTSEC-2024-0003).
pub(crate) const HTTP2_MAX_LOCAL_ERROR_RESET_STREAMS: usize = 256;
/// Largest HTTP/1 read buffer (request head), bytes.
pub(crate) const HTTP1_MAX_BUF_BYTES: usize = 64 * 1024;

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

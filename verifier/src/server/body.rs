//! Reading a request body under the size limit, and what happens to a body the server answers
//! before reading it all (too large, wrong content type): the rest is read and discarded in the
//! background, within [`DRAIN_MAX_BYTES`] and the request timeout, so the client gets the answer
//! it was given. On HTTP/2 the stream then ends cleanly (both sides' END_STREAM) instead of with
//! a reset while the client still sends: RFC 9113 allows the reset (NO_ERROR), but clients such
//! as curl then drop the answer ("stream was not closed cleanly: PROTOCOL_ERROR"). On HTTP/1.1,
//! closing the connection with unread bytes in the socket makes the kernel send a reset, and a
//! client still writing its body loses the answer the same way (`Broken pipe`).

use std::pin::Pin;
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody as _};

/// At most this much of an answered request body is read and discarded on HTTP/2; past it the
/// stream is reset (NO_ERROR).
pub(crate) const DRAIN_MAX_BYTES: u64 = 256 * 1024 * 1024;

/// Why a body was not read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the limit (by its Content-Length or by what arrived); the unread rest.
    TooLarge(Body),
    /// The client or the connection broke off.
    Broken,
}

/// The next data chunk of `body` (trailers skipped); `None` at its end.
async fn next_data(body: &mut Body) -> Option<Result<Bytes, axum::Error>> {
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await?;
        match frame.map(|f| f.into_data()) {
            Ok(Ok(data)) => return Some(Ok(data)),
            Ok(Err(_trailers)) => continue,
            Err(e) => return Some(Err(e)),
        }
    }
}

/// The whole of `body` if it is at most `max` bytes.
pub(crate) async fn read(mut body: Body, max: usize) -> Result<Bytes, BodyError> {
    if body.size_hint().lower() > max as u64 {
        return Err(BodyError::TooLarge(body));
    }
    let mut buf = Vec::new();
    while let Some(chunk) = next_data(&mut body).await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if buf.len() + chunk.len() > max {
            return Err(BodyError::TooLarge(body));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// The request was answered before `body` was read: read and discard the rest in the
/// background for at most `within` and [`DRAIN_MAX_BYTES`], then drop it (HTTP/2: the stream
/// is reset; HTTP/1.1: the connection is closed).
pub(crate) fn discard_rest(mut body: Body, within: Duration) {
    tokio::spawn(async move {
        let drained = async {
            let mut seen = 0u64;
            while let Some(Ok(chunk)) = next_data(&mut body).await {
                seen += chunk.len() as u64;
                if seen > DRAIN_MAX_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(within, drained).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_up_to_the_limit_and_refuses_past_it() {
        assert_eq!(read(Body::from(vec![1u8; 10]), 10).await.unwrap().len(), 10);
        assert!(matches!(
            read(Body::from(vec![1u8; 11]), 10).await,
            Err(BodyError::TooLarge(_))
        ));
        assert!(read(Body::empty(), 0).await.unwrap().is_empty());
    }
}

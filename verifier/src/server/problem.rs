//! RFC 9457 problem documents for errors that cannot be sealed.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// `Content-Type` of problem documents.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Problem {
    /// Problem type URI; `about:blank` means "see the status code".
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Short summary.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// Human detail (never anything that helps an attacker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
    /// Label for metrics and logs; not sent.
    #[serde(skip)]
    pub class: &'static str,
    /// Seconds for `Retry-After`, when the client should retry.
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

impl Problem {
    /// A problem with `about:blank` type.
    pub(crate) fn new(status: StatusCode, title: &'static str, class: &'static str) -> Self {
        Self {
            type_: "about:blank",
            title,
            status: status.as_u16(),
            detail: None,
            class,
            retry_after: None,
        }
    }

    /// With a detail line.
    pub(crate) fn detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// With `Retry-After`.
    pub(crate) fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

/// What a response carries for the metrics/logging layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tag {
    /// `paid`, `not_paid` or `none`.
    pub outcome: &'static str,
    /// Verdict reason, error class or `none`.
    pub reason: &'static str,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(s) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        response.extensions_mut().insert(Tag {
            outcome: "none",
            reason: self.class,
        });
        response
    }
}

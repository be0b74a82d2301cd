//! What `serve`'s background work shares: the one task handle (`Task`: the webhook delivery
//! worker, the Google Play voided-purchases pollers) and the one outbound HTTP client
//! (`outbound_client`: webhooks, Google's OIDC keys and APIs, Huawei's Order service).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running background task; [`Task::stop`] ends it.
#[derive(Debug)]
pub(crate) struct Task {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Task {
    /// Spawn `run` on the current runtime with the token it must watch to stop.
    pub(crate) fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(cancel.clone()));
        Self { cancel, task }
    }

    /// Ask the task to stop and wait for it, at most `grace`; then it is aborted (work in
    /// flight is abandoned: each task's docs say what that leaves).
    pub(crate) async fn stop(self, grace: Duration) {
        self.cancel.cancel();
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Why the outbound client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TLS configuration was refused.
    #[error("outbound HTTP client TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The client could not be built.
    #[error("outbound HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// The verifier's one outbound HTTPS client: Mozilla roots (`webpki-roots`), no redirects, a
/// PaySeal user agent. Each request sets its own timeout (`RequestBuilder::timeout`), so one
/// client (one connection pool) serves every caller.
pub fn outbound_client() -> Result<reqwest::Client, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("payseal-verifier/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_stops_when_asked_and_is_aborted_after_its_grace() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let polite = Task::spawn(|cancel| async move {
            cancel.cancelled().await;
            let _ = tx.send("stopped");
        });
        polite.stop(Duration::from_secs(5)).await;
        assert_eq!(rx.await, Ok("stopped"));

        let started = std::time::Instant::now();
        let stubborn = Task::spawn(|_| async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        stubborn.stop(Duration::from_millis(50)).await;
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_outbound_client_builds() {
        outbound_client().unwrap();
    }
}

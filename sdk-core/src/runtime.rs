//! The one tokio runtime the SDK's FFI calls run on, created on first use: [`shared`].
//!
//! Kotlin coroutines and Swift tasks poll UniFFI futures on their own executors; the work
//! itself (sockets, timers, TLS) runs here, and is aborted when the caller drops the
//! future. Another binding layer over this crate (the Unity C surface) spawns its calls on
//! [`shared`] too, so one process never runs two SDK runtimes.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use tokio::runtime::Runtime;
use tokio::task::{JoinError, JoinHandle};

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Name of the shared runtime's threads.
const THREAD_NAME: &str = "payseal";

/// The shared runtime (2 worker threads named `payseal`), or why it could not start.
pub fn shared() -> Result<&'static Runtime, String> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(THREAD_NAME)
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| format!("cannot start the SDK runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A spawned task that is aborted when this handle is dropped before it finished.
pub(crate) struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Wrap a join handle.
    pub(crate) fn new(handle: JoinHandle<T>) -> Self {
        Self(handle)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Spawn `fut` on the shared runtime; the result is awaitable from any executor.
pub(crate) fn spawn<F>(fut: F) -> Result<AbortOnDrop<F::Output>, String>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(AbortOnDrop::new(shared()?.spawn(fut)))
}

/// Run `fut` on the shared runtime and wait for its result on the calling thread.
///
/// Any thread may call this (a Java thread, a Unity thread, a `spawn_blocking` thread)
/// except the SDK's own threads (e.g. from inside a logger callback), which is refused
/// rather than risking a deadlock. A panic in `fut` is reported as an error. Public for the
/// other binding layers over this crate (the Unity C surface's blocking calls).
pub fn block_on<F>(fut: F) -> Result<F::Output, String>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if std::thread::current().name() == Some(THREAD_NAME) {
        return Err("a blocking PaySeal call was made on an SDK thread; use the async call".into());
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    shared()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| "the SDK task ended without a result (panic)".to_string())
}

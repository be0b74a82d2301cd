//! The one thread that runs the caller's callbacks (results and log events).
//!
//! The SDK's tokio threads never call foreign code: a managed runtime (Mono, IL2CPP, .NET)
//! attaches every native thread that calls into it, and keeps waiting for it at exit. The
//! SDK's threads live as long as the process, so a runtime that attached them never exits
//! (Mono waits for each attached thread when it shuts down). Here a callback is queued to a
//! thread of this library instead, which [`shutdown`] ends, and which the runtime then
//! forgets: the C# layer calls `payseal_shutdown` when its process exits or its AppDomain
//! unloads (a Unity Editor domain reload).
//!
//! Every queued callback carries the [`Epoch`] of the call that asked for it. [`shutdown`]
//! starts a new epoch: callbacks of an older one are dropped, never called, because their
//! function pointers may belong to an unloaded domain. The next call opens the thread again.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::catch;

/// Name of the callback thread.
pub const THREAD_NAME: &str = "payseal-callbacks";

/// Log events waiting beyond this are dropped (a logger that blocks must not grow memory
/// without bound); results are never dropped.
pub const MAX_QUEUED_LOGS: usize = 4096;

/// How long [`shutdown`] waits for a callback that is running to return.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// The generation of the callback thread a call was made under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch(u64);

type Job = Box<dyn FnOnce() + Send>;

struct Worker {
    sender: Sender<(Epoch, Job)>,
    thread: JoinHandle<()>,
    done: Receiver<()>,
}

struct State {
    epoch: u64,
    worker: Option<Worker>,
}

static STATE: Mutex<State> = Mutex::new(State {
    epoch: 0,
    worker: None,
});

static QUEUED_LOGS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ON_CALLBACK_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// The current epoch, with the callback thread running. Take it when a call that will
/// call back is made.
pub fn open() -> Result<Epoch, String> {
    let mut s = state();
    if s.worker.is_none() {
        let (sender, jobs) = mpsc::channel::<(Epoch, Job)>();
        let (done_tx, done) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                ON_CALLBACK_THREAD.with(|c| c.set(true));
                for (epoch, job) in jobs {
                    if epoch.0 == state().epoch {
                        let _ = catch(|| {
                            job();
                            Ok(())
                        });
                    }
                }
                let _ = done_tx.send(());
            })
            .map_err(|e| format!("cannot start the PaySeal callback thread: {e}"))?;
        s.worker = Some(Worker {
            sender,
            thread,
            done,
        });
    }
    Ok(Epoch(s.epoch))
}

/// Queue `job` to run on the callback thread, unless its epoch has ended.
pub fn send(epoch: Epoch, job: impl FnOnce() + Send + 'static) {
    let s = state();
    if s.epoch != epoch.0 {
        return;
    }
    if let Some(w) = &s.worker {
        let _ = w.sender.send((epoch, Box::new(job)));
    }
}

/// Queue a log event, or drop it when [`MAX_QUEUED_LOGS`] are already waiting.
pub fn send_log(epoch: Epoch, job: impl FnOnce() + Send + 'static) {
    if QUEUED_LOGS.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED_LOGS {
        QUEUED_LOGS.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    send(epoch, move || {
        QUEUED_LOGS.fetch_sub(1, Ordering::Relaxed);
        job();
    });
}

/// True on the callback thread (inside a callback).
pub fn on_callback_thread() -> bool {
    ON_CALLBACK_THREAD.with(Cell::get)
}

/// End the epoch: queued callbacks are dropped, later results of calls made before are
/// dropped, and the callback thread ends (waited for up to 5 s when a callback is running;
/// not waited for when called from a callback). The next call opens a new one.
pub fn shutdown() {
    let worker = {
        let mut s = state();
        s.epoch += 1;
        s.worker.take()
    };
    if let Some(Worker {
        sender,
        thread,
        done,
    }) = worker
    {
        drop(sender);
        if on_callback_thread() {
            return;
        }
        if done.recv_timeout(SHUTDOWN_WAIT).is_ok() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    // One test: the state is process-wide.
    #[test]
    fn callbacks_run_on_one_thread_and_an_ended_epoch_drops_them() {
        let (tx, rx) = channel();
        let epoch = open().unwrap();
        let t = tx.clone();
        send(epoch, move || {
            let _ = t.send((
                std::thread::current().name().map(String::from),
                on_callback_thread(),
            ));
        });
        let (name, flag) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(name.as_deref(), Some(THREAD_NAME));
        assert!(flag);
        assert!(!on_callback_thread());

        // A panicking callback does not end the thread.
        send(epoch, || panic!("app bug"));
        let t = tx.clone();
        send(epoch, move || t.send((None, true)).unwrap());
        assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok());

        shutdown();
        let t = tx.clone();
        send(epoch, move || t.send((None, false)).unwrap());
        let next = open().unwrap();
        assert_ne!(next, epoch);
        let t = tx.clone();
        send(epoch, move || t.send((None, false)).unwrap());
        send(next, move || tx.send((Some("next".into()), true)).unwrap());
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            (Some("next".into()), true),
            "callbacks of the ended epoch were dropped"
        );
        shutdown();
    }
}

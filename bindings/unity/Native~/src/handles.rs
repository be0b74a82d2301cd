//! Clients as numbered handles: a freed or never-issued handle is an error, never a
//! dangling pointer. A call in flight keeps its client alive after it is freed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use payseal_sdk_core::Client;

use crate::error::FfiError;

static NEXT: AtomicU64 = AtomicU64::new(1);

fn table() -> MutexGuard<'static, HashMap<u64, Arc<Client>>> {
    static TABLE: OnceLock<Mutex<HashMap<u64, Arc<Client>>>> = OnceLock::new();
    let m = TABLE.get_or_init(Default::default);
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Register a client; its handle (never 0).
pub fn insert(client: Arc<Client>) -> u64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    table().insert(id, client);
    id
}

/// The client behind `handle`.
pub fn get(handle: u64) -> Result<Arc<Client>, FfiError> {
    table().get(&handle).cloned().ok_or_else(|| {
        FfiError::invalid(format!(
            "client handle {handle} is not open (freed, or never created)"
        ))
    })
}

/// Forget `handle`; an error if it was not open.
pub fn remove(handle: u64) -> Result<(), FfiError> {
    table().remove(&handle).map(drop).ok_or_else(|| {
        FfiError::invalid(format!("client handle {handle} is not open (freed twice?)"))
    })
}

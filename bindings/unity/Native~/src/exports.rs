//! The `extern "C"` entry points. Each returns an error kind (0: success); on failure
//! `*out_message` gets a message to free with [`payseal_string_free`]. Each runs under
//! `catch_unwind` ([`boundary`]); a callback is called under `catch_unwind` too.
//!
//! Asynchronous calls ([`payseal_verify`], [`payseal_retry_pending`]) return at once; when
//! they return 0 their callback is called exactly once, later, on the library's callback
//! thread ([`dispatch`]; never the caller's), with `user_data` and a result borrowed for the
//! duration of the callback; unless [`payseal_shutdown`] is called first, which drops it.

use std::ffi::{c_char, CString};
use std::sync::Arc;

use payseal_sdk_core::ffi::Receipt;
use payseal_sdk_core::{runtime, LogLevel, PaySeal, PaySealError, PaySealLogger};

use crate::abi::{self, PsOptions, PsPendingList, PsReceipt, PsReceiptOut, PsStr, PsVerdict};
use crate::dispatch::{self, Epoch};
use crate::error::{boundary, catch, FfiError, Kind};
use crate::handles;

fn internal(message: impl Into<String>) -> FfiError {
    FfiError::Sdk(PaySealError::Internal {
        message: message.into(),
    })
}

/// Blocking calls are refused inside a callback: they would hold up every other callback.
fn refuse_on_callback_thread() -> Result<(), FfiError> {
    if dispatch::on_callback_thread() {
        return Err(internal(
            "a blocking PaySeal call was made on an SDK thread (inside a PaySeal callback); use the async call",
        ));
    }
    Ok(())
}

unsafe fn write<T>(out: *mut T, value: T, what: &str) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(FfiError::invalid(format!("{what} is null")));
    }
    out.write(value);
    Ok(())
}

unsafe fn receipt(receipt: *const PsReceipt) -> Result<Receipt, FfiError> {
    receipt
        .as_ref()
        .ok_or_else(|| FfiError::invalid("receipt is null"))?
        .to_receipt()
}

/// The error of a finished SDK call, as the callback's kind and message.
fn failure(e: FfiError) -> (i32, CString) {
    let text = e.to_string().replace('\0', "\u{fffd}");
    (e.kind() as i32, CString::new(text).unwrap_or_default())
}

/// Run `work` on the SDK's runtime and hand its result to `deliver` on the callback thread,
/// never letting a panic of either out. `deliver` gets `Ok` or the kind and message.
fn spawn_then<T, W, Fut, D>(work: W, deliver: D) -> Result<(), FfiError>
where
    T: Send + 'static,
    W: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, PaySealError>> + Send + 'static,
    D: FnOnce(Result<T, (i32, CString)>) + Send + 'static,
{
    let rt = runtime::shared().map_err(internal)?;
    let epoch = dispatch::open().map_err(internal)?;
    let fut = work();
    rt.spawn(async move {
        let result = match tokio_task(fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(failure(FfiError::Sdk(e))),
            Err(e) => Err(failure(e)),
        };
        dispatch::send(epoch, move || deliver(result));
    });
    Ok(())
}

/// Hand a finished call's result to its C callback: kind 0 and the converted value (borrowed
/// for the call), or the error kind and message with a null value.
fn call_back<T, R>(
    callback: extern "C" fn(u64, i32, *const c_char, *const R),
    user_data: u64,
    result: Result<T, (i32, CString)>,
    convert: impl FnOnce(T) -> R,
) {
    match result {
        Ok(v) => {
            let value = convert(v);
            callback(user_data, Kind::Ok as i32, std::ptr::null(), &value);
        }
        Err((kind, message)) => callback(user_data, kind, message.as_ptr(), std::ptr::null()),
    }
}

/// Await `fut`, turning a panic inside it into an error.
async fn tokio_task<T, Fut>(fut: Fut) -> Result<Result<T, PaySealError>, FfiError>
where
    Fut: std::future::Future<Output = Result<T, PaySealError>>,
{
    use std::panic::AssertUnwindSafe;
    std::future::poll_fn({
        let mut fut = Box::pin(fut);
        move |cx| match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(_) => std::task::Poll::Ready(Err(FfiError::Panic("in an SDK task".into()))),
        }
    })
    .await
}

/// Create a client from the verifier profile JSON and options; `*out_client` gets its
/// handle (never 0). `InvalidProfile` if either is bad. Nothing is sent.
///
/// # Safety
/// Strings as [`PsStr::read`] says; `options` null or valid; outputs null or writable.
#[no_mangle]
pub unsafe extern "C" fn payseal_client_new(
    profile_json: PsStr,
    options: *const PsOptions,
    out_client: *mut u64,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        if !out_client.is_null() {
            out_client.write(0);
        }
        let profile = profile_json.required("profile_json")?;
        let options = options
            .as_ref()
            .ok_or_else(|| FfiError::invalid("options is null"))?
            .to_options()?;
        let client = PaySeal::new(profile, options)?;
        write(out_client, handles::insert(client), "out_client")
    })
}

/// Free a client. Calls in flight finish; any later use of the handle is `InvalidArgument`.
///
/// # Safety
/// `out_message` null or writable.
#[no_mangle]
pub unsafe extern "C" fn payseal_client_free(client: u64, out_message: *mut *mut c_char) -> i32 {
    boundary(out_message, || handles::remove(client))
}

/// Start verifying `receipt` for `account_id`. On 0, `callback(user_data, kind, message,
/// verdict)` is called once on the callback thread: kind 0 with the verdict, else the error kind
/// and message (verdict null). Both pointers are valid only during the callback. On any
/// other return the callback is never called.
///
/// # Safety
/// As [`payseal_client_new`]; `receipt` null or valid.
#[no_mangle]
pub unsafe extern "C" fn payseal_verify(
    client: u64,
    receipt: *const PsReceipt,
    account_id: PsStr,
    callback: Option<
        extern "C" fn(user_data: u64, kind: i32, message: *const c_char, verdict: *const PsVerdict),
    >,
    user_data: u64,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        let callback = callback.ok_or_else(|| FfiError::invalid("callback is null"))?;
        let sdk = handles::get(client)?;
        let receipt = self::receipt(receipt)?;
        let account = account_id.required("account_id")?;
        spawn_then(
            move || async move { sdk.verify(receipt, account).await },
            move |result| call_back(callback, user_data, result, PsVerdict::from),
        )
    })
}

/// Verify `receipt` for `account_id`, blocking the calling thread; `*out_verdict` gets the
/// verdict, freed with [`payseal_verdict_free`]. Refused (`Internal`) inside a callback.
///
/// # Safety
/// As [`payseal_verify`].
#[no_mangle]
pub unsafe extern "C" fn payseal_verify_blocking(
    client: u64,
    receipt: *const PsReceipt,
    account_id: PsStr,
    out_verdict: *mut *mut PsVerdict,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        if !out_verdict.is_null() {
            out_verdict.write(std::ptr::null_mut());
        }
        let sdk = handles::get(client)?;
        let receipt = self::receipt(receipt)?;
        let account = account_id.required("account_id")?;
        refuse_on_callback_thread()?;
        if out_verdict.is_null() {
            return Err(FfiError::invalid("out_verdict is null"));
        }
        let verdict = sdk.verify_blocking(receipt, account)?;
        write(
            out_verdict,
            Box::into_raw(Box::new(PsVerdict::from(verdict))),
            "out_verdict",
        )
    })
}

/// Start verifying the pending receipts again (verified ones are removed). On 0,
/// `callback(user_data, kind, message, results)` is called once on the callback thread, as in
/// [`payseal_verify`].
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_retry_pending(
    client: u64,
    callback: Option<
        extern "C" fn(
            user_data: u64,
            kind: i32,
            message: *const c_char,
            results: *const PsPendingList,
        ),
    >,
    user_data: u64,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        let callback = callback.ok_or_else(|| FfiError::invalid("callback is null"))?;
        let sdk = handles::get(client)?;
        spawn_then(
            move || async move { sdk.retry_pending().await },
            move |result| call_back(callback, user_data, result, PsPendingList::from),
        )
    })
}

/// [`payseal_retry_pending`], blocking; `*out_results` is freed with
/// [`payseal_pending_list_free`]. Refused (`Internal`) inside a callback.
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_retry_pending_blocking(
    client: u64,
    out_results: *mut *mut PsPendingList,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        if out_results.is_null() {
            return Err(FfiError::invalid("out_results is null"));
        }
        out_results.write(std::ptr::null_mut());
        refuse_on_callback_thread()?;
        let list = PsPendingList::from(handles::get(client)?.retry_pending_blocking()?);
        write(out_results, Box::into_raw(Box::new(list)), "out_results")
    })
}

/// How many receipts are pending.
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_pending_count(
    client: u64,
    out_count: *mut i64,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        let n = handles::get(client)?.pending_count()?;
        write(out_count, n, "out_count")
    })
}

struct CLogger {
    callback: extern "C" fn(level: i32, message: *const c_char),
    epoch: Epoch,
}

impl PaySealLogger for CLogger {
    fn log(&self, level: LogLevel, message: String) {
        let level = match level {
            LogLevel::Error => 1,
            LogLevel::Warn => 2,
            LogLevel::Info => 3,
            LogLevel::Debug => 4,
        };
        if let Ok(text) = CString::new(message.replace('\0', "\u{fffd}")) {
            let callback = self.callback;
            dispatch::send_log(self.epoch, move || callback(level, text.as_ptr()));
        }
    }
}

/// Route the SDK's log events to `callback(level, message)` (1 error, 2 warn, 3 info,
/// 4 debug), on the callback thread, in order with the results; the message is borrowed for
/// the call. Events never hold receipt content, tokens, nonces or keys; events beyond
/// 4096 waiting are dropped. A null callback stops the events.
///
/// # Safety
/// `out_message` null or writable.
#[no_mangle]
pub unsafe extern "C" fn payseal_set_logger(
    callback: Option<extern "C" fn(level: i32, message: *const c_char)>,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        match callback {
            Some(callback) => {
                let epoch = dispatch::open().map_err(internal)?;
                payseal_sdk_core::set_logger(Arc::new(CLogger { callback, epoch }))
            }
            None => payseal_sdk_core::clear_logger(),
        }
        Ok(())
    })
}

/// Stop calling back into the caller: the log callback is cleared, callbacks not yet made
/// are dropped (those of calls still in flight too), and the callback thread ends (a
/// callback running is waited for up to 5 s). Clients stay usable; the next call that calls
/// back starts a new callback thread. Call it before the code the callbacks point to goes
/// away: when the process exits (a managed runtime waits for every thread that called into
/// it) or the AppDomain unloads (a Unity Editor domain reload).
///
/// # Safety
/// `out_message` null or writable.
#[no_mangle]
pub unsafe extern "C" fn payseal_shutdown(out_message: *mut *mut c_char) -> i32 {
    boundary(out_message, || {
        payseal_sdk_core::clear_logger();
        dispatch::shutdown();
        Ok(())
    })
}

/// Parse the stable receipt JSON form (what `payseal-sandbox` prints, what pending files
/// hold); `*out_receipt` is freed with [`payseal_receipt_free`].
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_receipt_from_json(
    json: PsStr,
    out_receipt: *mut *mut PsReceiptOut,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        if out_receipt.is_null() {
            return Err(FfiError::invalid("out_receipt is null"));
        }
        out_receipt.write(std::ptr::null_mut());
        let r = payseal_sdk_core::receipt_from_json(json.required("json")?)?;
        write(
            out_receipt,
            Box::into_raw(Box::new(PsReceiptOut::from(r))),
            "out_receipt",
        )
    })
}

/// The receipt's `receipt_sha256` (hex), as verdicts and pending files name it; freed with
/// [`payseal_string_free`].
///
/// # Safety
/// As [`payseal_verify`].
#[no_mangle]
pub unsafe extern "C" fn payseal_receipt_sha256(
    receipt: *const PsReceipt,
    out_hash: *mut *mut c_char,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        let hash = payseal_sdk_core::receipt_sha256(self::receipt(receipt)?);
        write(out_hash, abi::owned(hash), "out_hash")
    })
}

/// The SDK's version, freed with [`payseal_string_free`].
#[no_mangle]
pub extern "C" fn payseal_sdk_version() -> *mut c_char {
    abi::owned(env!("CARGO_PKG_VERSION").to_string())
}

/// Free a string the library returned (null is ignored).
///
/// # Safety
/// `s` is null or a string from this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn payseal_string_free(s: *mut c_char) {
    let _ = catch(|| {
        abi::free_owned(s);
        Ok(())
    });
}

/// Free a verdict from [`payseal_verify_blocking`] (null is ignored).
///
/// # Safety
/// `v` is null or from this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn payseal_verdict_free(v: *mut PsVerdict) {
    free_box(v);
}

/// Free results from [`payseal_retry_pending_blocking`] (null is ignored).
///
/// # Safety
/// `list` is null or from this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn payseal_pending_list_free(list: *mut PsPendingList) {
    free_box(list);
}

/// Free a receipt from [`payseal_receipt_from_json`] (null is ignored).
///
/// # Safety
/// `r` is null or from this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn payseal_receipt_free(r: *mut PsReceiptOut) {
    free_box(r);
}

unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        let _ = catch(|| {
            drop(Box::from_raw(p));
            Ok(())
        });
    }
}

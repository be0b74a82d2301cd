//! The `extern "C"` entry points. Each returns an error kind (0: success); on failure
//! `*out_message` gets a message to free with [`payseal_string_free`]. Each runs under
//! `catch_unwind` ([`boundary`]); a callback is called under `catch_unwind` too.
//!
//! Asynchronous calls ([`payseal_verify`], [`payseal_retry_pending`], [`payseal_entitlements`],
//! [`payseal_restore`]) return at once; when they return 0 their callback is called exactly
//! once, later, on the library's callback thread ([`dispatch`]; never the caller's), with
//! `user_data` and a result borrowed for the duration of the callback; unless
//! [`payseal_shutdown`] is called first, which drops it.
//!
//! A client handle is a `payseal_sdk_core::Client` (the SDK's Rust client, which the UniFFI
//! `PaySeal` object wraps too); its errors become `PaySealError` through the SDK's one mapping
//! (`From<ClientError>`), its verdicts `Verdict` through the SDK's `From<CheckedVerdict>`.

use std::ffi::{c_char, CString};
use std::sync::Arc;

use payseal_sdk_core::ffi::Receipt;
use payseal_sdk_core::{runtime, Client, LogLevel, PaySealError, PaySealLogger};

use crate::abi::{
    self, PsEntitlements, PsOptions, PsPendingList, PsReceipt, PsReceiptOut, PsRestored, PsStr,
    PsVerdict,
};
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

/// Write the string `make` returns to `*out` (freed with [`payseal_string_free`]); `*out` is
/// null on failure, and `make` is not called when `out` is null.
unsafe fn write_string(
    out: *mut *mut c_char,
    what: &str,
    make: impl FnOnce() -> Result<String, FfiError>,
) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(FfiError::invalid(format!("{what} is null")));
    }
    out.write(std::ptr::null_mut());
    out.write(abi::owned(make()?));
    Ok(())
}

unsafe fn receipt(receipt: *const PsReceipt) -> Result<Receipt, FfiError> {
    receipt
        .as_ref()
        .ok_or_else(|| FfiError::invalid("receipt is null"))?
        .to_receipt()
}

/// The `len` receipts at `receipts` (null with length 0: none).
unsafe fn receipts(receipts: *const PsReceipt, len: usize) -> Result<Vec<Receipt>, FfiError> {
    if receipts.is_null() {
        return if len == 0 {
            Ok(Vec::new())
        } else {
            Err(FfiError::invalid(format!(
                "receipts: null pointer with length {len}"
            )))
        };
    }
    std::slice::from_raw_parts(receipts, len)
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.to_receipt().map_err(|e| match e {
                FfiError::InvalidArgument(m) => FfiError::invalid(format!("receipts[{i}]: {m}")),
                other => other,
            })
        })
        .collect()
}

/// Run `fut` (an SDK call on the client) to its end on the SDK's runtime, blocking the calling
/// thread; refused inside a callback.
fn block_on<T, Fut>(fut: Fut) -> Result<T, FfiError>
where
    T: Send + 'static,
    Fut: std::future::Future<Output = Result<T, payseal_sdk_core::ClientError>> + Send + 'static,
{
    refuse_on_callback_thread()?;
    Ok(runtime::block_on(fut)
        .map_err(internal)?
        .map_err(PaySealError::from)?)
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
    Fut: std::future::Future<Output = Result<T, payseal_sdk_core::ClientError>> + Send + 'static,
    D: FnOnce(Result<T, (i32, CString)>) + Send + 'static,
{
    let rt = runtime::shared().map_err(internal)?;
    let epoch = dispatch::open().map_err(internal)?;
    let fut = work();
    rt.spawn(async move {
        let result = match tokio_task(fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(failure(FfiError::Sdk(e.into()))),
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
async fn tokio_task<T, E, Fut>(fut: Fut) -> Result<Result<T, E>, FfiError>
where
    Fut: std::future::Future<Output = Result<T, E>>,
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
        // The transport is built inside the SDK's runtime, as `PaySeal::new` builds it.
        let rt = runtime::shared().map_err(internal)?;
        let _context = rt.enter();
        let client = Client::new(&profile, options).map_err(PaySealError::from)?;
        write(out_client, handles::insert(Arc::new(client)), "out_client")
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
/// other return the callback is never called. [`payseal_verify_product`] with no product.
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
    payseal_verify_product(
        client,
        receipt,
        account_id,
        PsStr::ABSENT,
        callback,
        user_data,
        out_message,
    )
}

/// [`payseal_verify`] for the product the app sold: with `expected_product_id` present, a
/// genuine receipt for another product is not paid (`wrong_product`, reason 10) and is not
/// consumed (it still pays for its own product). Absent (null pointer, length 0): no product
/// check, as [`payseal_verify`]. Present but empty, blank or longer than the protocol allows
/// (256 bytes): `InvalidReceipt`, nothing sent.
///
/// # Safety
/// As [`payseal_verify`].
#[no_mangle]
pub unsafe extern "C" fn payseal_verify_product(
    client: u64,
    receipt: *const PsReceipt,
    account_id: PsStr,
    expected_product_id: PsStr,
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
        let product = expected_product_id.read("expected_product_id")?;
        spawn_then(
            move || async move {
                sdk.verify_product(&receipt, &account, product.as_deref())
                    .await
            },
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
    payseal_verify_product_blocking(
        client,
        receipt,
        account_id,
        PsStr::ABSENT,
        out_verdict,
        out_message,
    )
}

/// [`payseal_verify_blocking`] for the product the app sold, as [`payseal_verify_product`].
///
/// # Safety
/// As [`payseal_verify`].
#[no_mangle]
pub unsafe extern "C" fn payseal_verify_product_blocking(
    client: u64,
    receipt: *const PsReceipt,
    account_id: PsStr,
    expected_product_id: PsStr,
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
        let product = expected_product_id.read("expected_product_id")?;
        if out_verdict.is_null() {
            return Err(FfiError::invalid("out_verdict is null"));
        }
        let verdict = block_on(async move {
            sdk.verify_product(&receipt, &account, product.as_deref())
                .await
        })?;
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
        write(out_results, std::ptr::null_mut(), "out_results")?;
        let sdk = handles::get(client)?;
        let reports = block_on(async move { sdk.retry_pending().await })?;
        let list = PsPendingList::from(reports);
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
        let n = handles::get(client)?
            .pending_count()
            .map_err(PaySealError::from)?;
        write(out_count, i64::try_from(n).unwrap_or(i64::MAX), "out_count")
    })
}

/// Start asking what `account_id` owns now. On 0, `callback(user_data, kind, message,
/// entitlements)` is called once on the callback thread: kind 0 with the checked answer, else
/// the error kind and message (entitlements null); both pointers are valid only during the
/// callback. A fresh answer is kept in `options.entitlements_dir`; when the verifier cannot be
/// reached the kept answer is given instead (`from_cache` 1, with its age), an edited one is
/// `Tampered`, and with none kept the call fails (`Network` / `Timeout`): never an invented
/// answer. A blank or too long account id is `InvalidReceipt`, nothing sent.
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_entitlements(
    client: u64,
    account_id: PsStr,
    callback: Option<
        extern "C" fn(
            user_data: u64,
            kind: i32,
            message: *const c_char,
            entitlements: *const PsEntitlements,
        ),
    >,
    user_data: u64,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        let callback = callback.ok_or_else(|| FfiError::invalid("callback is null"))?;
        let sdk = handles::get(client)?;
        let account = account_id.required("account_id")?;
        spawn_then(
            move || async move { sdk.entitlements(&account).await },
            move |result| call_back(callback, user_data, result, PsEntitlements::from),
        )
    })
}

/// [`payseal_entitlements`], blocking; `*out_entitlements` is freed with
/// [`payseal_entitlements_free`]. Refused (`Internal`) inside a callback.
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_entitlements_blocking(
    client: u64,
    account_id: PsStr,
    out_entitlements: *mut *mut PsEntitlements,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        write(out_entitlements, std::ptr::null_mut(), "out_entitlements")?;
        let sdk = handles::get(client)?;
        let account = account_id.required("account_id")?;
        let answer = block_on(async move { sdk.entitlements(&account).await })?;
        write(
            out_entitlements,
            Box::into_raw(Box::new(PsEntitlements::from(answer))),
            "out_entitlements",
        )
    })
}

/// The kept (offline) entitlements answer of `account_id`, checked again with the profile's
/// keys, without asking the verifier: `*out_entitlements` gets it (`from_cache` 1, with its
/// age; freed with [`payseal_entitlements_free`]), or null when none is kept (or no
/// `entitlements_dir`). An edited or foreign file is `Tampered`; a blank account id
/// `InvalidReceipt`.
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_cached_entitlements(
    client: u64,
    account_id: PsStr,
    out_entitlements: *mut *mut PsEntitlements,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        write(out_entitlements, std::ptr::null_mut(), "out_entitlements")?;
        let sdk = handles::get(client)?;
        let account = account_id.required("account_id")?;
        let kept = sdk
            .cached_entitlements(&account)
            .map_err(PaySealError::from)?;
        match kept {
            Some(answer) => write(
                out_entitlements,
                Box::into_raw(Box::new(PsEntitlements::from(answer))),
                "out_entitlements",
            ),
            None => Ok(()),
        }
    })
}

/// Start a restore: the `receipts_len` receipts at `receipts` (everything the store handed the
/// app; at most 50, else `InvalidReceipt`; null with length 0: none) for `account_id`, in one
/// sealed request. Each is judged exactly as [`payseal_verify`] judges it; then the account's
/// entitlements, checked and kept as [`payseal_entitlements`] keeps them. The receipts are
/// copied before this returns. On 0, `callback(user_data, kind, message, restored)` is called
/// once on the callback thread, as in [`payseal_verify`]. A failed restore keeps nothing
/// pending (the store still holds the receipts: call it again).
///
/// # Safety
/// As [`payseal_client_new`]; `receipts` null or valid for `receipts_len` items.
#[no_mangle]
pub unsafe extern "C" fn payseal_restore(
    client: u64,
    receipts: *const PsReceipt,
    receipts_len: usize,
    account_id: PsStr,
    callback: Option<
        extern "C" fn(
            user_data: u64,
            kind: i32,
            message: *const c_char,
            restored: *const PsRestored,
        ),
    >,
    user_data: u64,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        let callback = callback.ok_or_else(|| FfiError::invalid("callback is null"))?;
        let sdk = handles::get(client)?;
        let receipts = self::receipts(receipts, receipts_len)?;
        let account = account_id.required("account_id")?;
        spawn_then(
            move || async move { sdk.restore(&receipts, &account).await },
            move |result| call_back(callback, user_data, result, PsRestored::from),
        )
    })
}

/// [`payseal_restore`], blocking; `*out_restored` is freed with [`payseal_restored_free`].
/// Refused (`Internal`) inside a callback.
///
/// # Safety
/// As [`payseal_restore`].
#[no_mangle]
pub unsafe extern "C" fn payseal_restore_blocking(
    client: u64,
    receipts: *const PsReceipt,
    receipts_len: usize,
    account_id: PsStr,
    out_restored: *mut *mut PsRestored,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        write(out_restored, std::ptr::null_mut(), "out_restored")?;
        let sdk = handles::get(client)?;
        let receipts = self::receipts(receipts, receipts_len)?;
        let account = account_id.required("account_id")?;
        let restored = block_on(async move { sdk.restore(&receipts, &account).await })?;
        write(
            out_restored,
            Box::into_raw(Box::new(PsRestored::from(restored))),
            "out_restored",
        )
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
        write(out_receipt, std::ptr::null_mut(), "out_receipt")?;
        let r = payseal_sdk_core::receipt_from_json(json.required("json")?)?;
        write(
            out_receipt,
            Box::into_raw(Box::new(PsReceiptOut::from(r))),
            "out_receipt",
        )
    })
}

/// The receipt inside Unity IAP's unified receipt (`Product.receipt`): Google Play's
/// `Payload.json` / `Payload.signature`, or for `AppleAppStore` / `MacAppStore` the App Store
/// app receipt with its `TransactionID` (store code 5); `*out_receipt` is freed with
/// [`payseal_receipt_free`]. Malformed input: `InvalidReceipt` naming what is wrong.
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_receipt_from_unity_iap(
    unified: PsStr,
    out_receipt: *mut *mut PsReceiptOut,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        write(out_receipt, std::ptr::null_mut(), "out_receipt")?;
        let r =
            payseal_sdk_core::ffi::receipt_from_unity_iap(unified.required("Unity IAP receipt")?)?;
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

/// The account token to give the store at purchase time for `account_id` (App Store
/// `appAccountToken`, Play `obfuscatedAccountId`): the UUIDv5 of the account id in
/// `namespace` (the verifier's `account_binding` scheme `uuid_v5`), lowercase hyphenated;
/// `*out_token` is freed with [`payseal_string_free`]. `InvalidProfile` when `namespace` is
/// not a UUID, `InvalidArgument` when either is absent.
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_account_token_uuid_v5(
    namespace: PsStr,
    account_id: PsStr,
    out_token: *mut *mut c_char,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        write_string(out_token, "out_token", || {
            let namespace = namespace.required("namespace")?;
            let account = account_id.required("account_id")?;
            Ok(payseal_sdk_core::ffi::account_token_uuid_v5(
                namespace, account,
            )?)
        })
    })
}

/// The `sha256_hex` account token for `account_id` (Play `obfuscatedAccountId` only):
/// lowercase hex SHA-256 of its UTF-8; `*out_token` is freed with [`payseal_string_free`].
///
/// # Safety
/// As [`payseal_client_new`].
#[no_mangle]
pub unsafe extern "C" fn payseal_account_token_sha256_hex(
    account_id: PsStr,
    out_token: *mut *mut c_char,
    out_message: *mut *mut c_char,
) -> i32 {
    boundary(out_message, || {
        write_string(out_token, "out_token", || {
            let account = account_id.required("account_id")?;
            Ok(payseal_sdk_core::ffi::account_token_sha256_hex(account))
        })
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

/// Free entitlements from [`payseal_entitlements_blocking`] or
/// [`payseal_cached_entitlements`] (null is ignored).
///
/// # Safety
/// `e` is null or from this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn payseal_entitlements_free(e: *mut PsEntitlements) {
    free_box(e);
}

/// Free a restore result from [`payseal_restore_blocking`] (null is ignored).
///
/// # Safety
/// `r` is null or from this library, not freed yet.
#[no_mangle]
pub unsafe extern "C" fn payseal_restored_free(r: *mut PsRestored) {
    free_box(r);
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn s(text: &str) -> PsStr {
        PsStr {
            ptr: text.as_ptr(),
            len: text.len(),
        }
    }

    unsafe fn take(p: *mut c_char) -> String {
        let text = CStr::from_ptr(p).to_str().unwrap().to_owned();
        payseal_string_free(p);
        text
    }

    use payseal_protocol::entitlements::{self as ents, Entitlement, EntitlementsClaims};
    use payseal_protocol::envelope::ServerKeyPair;
    use payseal_protocol::pin::spki_pin;
    use payseal_protocol::profile::Profile;
    use payseal_protocol::verdict::{Environment, PurchaseKind, VerdictSigningKey};
    use payseal_protocol::Store as ProtoStore;
    use payseal_sdk_core::EntitlementsCache;

    const APP: &str = "dev.payseal.demo";

    fn signing_key() -> VerdictSigningKey {
        VerdictSigningKey::from_seed("v1-test", [1; 32])
    }

    /// A profile for a verifier at `https://localhost:{port}`, whose verdict key is [`signing_key`].
    fn profile_json(port: u16) -> String {
        let server = ServerKeyPair::from_secret(1, [0x5a; 32]).unwrap();
        Profile::new(
            format!("https://localhost:{port}"),
            [spki_pin(b"current"), spki_pin(b"backup")],
            &server.config(),
            &[signing_key().public_key()],
        )
        .unwrap()
        .to_json()
    }

    /// A port nothing listens on (bound, then released).
    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    fn now_ms() -> i64 {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        i64::try_from(d.as_millis()).unwrap()
    }

    fn answer(account: &str, as_of: i64) -> String {
        let entitlement = |name: &str, product: &str| Entitlement {
            name: name.into(),
            product_id: product.into(),
            store: ProtoStore::AppStore,
            environment: Some(Environment::Sandbox),
            transaction_key: format!("tx-{product}"),
            kind: Some(PurchaseKind::NonConsumable),
            since: as_of - 1000,
            expires_at: None,
            will_renew: None,
        };
        let claims = EntitlementsClaims {
            iss: "https://localhost".into(),
            iat: as_of / 1000,
            exp: as_of / 1000 + 600,
            jti: format!("e-{account}"),
            nonce: "bm9uY2Utbm9uY2Utbm9uY2U".into(),
            app: APP.into(),
            sub: account.into(),
            as_of,
            entitlements: vec![
                entitlement("no_ads", "remove_ads"),
                Entitlement {
                    store: ProtoStore::GooglePlay,
                    environment: None,
                    kind: Some(PurchaseKind::Subscription),
                    expires_at: Some(as_of + 86_400_000),
                    will_renew: Some(false),
                    ..entitlement("premium", "pro_monthly")
                },
            ],
        };
        ents::sign(&signing_key(), &claims).unwrap()
    }

    unsafe fn text(p: *mut c_char) -> String {
        CStr::from_ptr(p).to_str().unwrap().to_owned()
    }

    /// `(kind, message)` of a failed call, the message freed.
    unsafe fn failed(kind: i32, message: *mut c_char) -> (i32, String) {
        assert_ne!(kind, 0, "the call succeeded");
        (kind, take(message))
    }

    /// Entitlements through the C surface on a real client (real files, real TLS attempts to
    /// a closed port): the offline copy read back and typed, the verifier unreachable answered
    /// from it, none invented, an edited copy refused, bad arguments typed.
    #[test]
    fn entitlements_and_restore_cross_the_c_surface_typed() {
        let dir = tempfile::tempdir().unwrap();
        let profile = profile_json(closed_port());
        let ents_dir = dir.path().join("entitlements");
        let ents_dir_text = ents_dir.to_str().unwrap().to_owned();
        let options = PsOptions {
            connect_timeout_ms: 2000,
            request_timeout_ms: 2000,
            deadline_ms: 5000,
            base_backoff_ms: 10,
            max_attempts: 1,
            app_id: s(APP),
            pending_dir: PsStr::ABSENT,
            extra_roots_pem: PsStr::ABSENT,
            entitlements_dir: s(&ents_dir_text),
        };
        let mut h = 0u64;
        let mut m = std::ptr::null_mut();
        let mut out: *mut PsEntitlements = std::ptr::null_mut();
        unsafe {
            assert_eq!(payseal_client_new(s(&profile), &options, &mut h, &mut m), 0);
            assert!(ents_dir.is_dir(), "the folder is made at construction");

            // Nothing kept: no answer, none invented.
            assert_eq!(
                payseal_cached_entitlements(h, s("alice"), &mut out, &mut m),
                0
            );
            assert!(out.is_null());
            let (kind, message) = failed(
                payseal_entitlements_blocking(h, s("alice"), &mut out, &mut m),
                m,
            );
            assert_eq!(kind, Kind::Network as i32, "{message}");
            assert!(
                message.contains("no entitlements answer kept offline"),
                "{message}"
            );
            assert!(out.is_null());

            // A genuine answer kept earlier: read back, checked, typed.
            let as_of = now_ms() - 60_000;
            let token = answer("alice", as_of);
            let file = ents_dir.join(EntitlementsCache::file_name(APP, "alice"));
            std::fs::write(&file, &token).unwrap();
            assert_eq!(
                payseal_cached_entitlements(h, s("alice"), &mut out, &mut m),
                0
            );
            assert!(!out.is_null());
            {
                let e = &*out;
                assert_eq!((e.from_cache, e.as_of, e.len), (1, as_of, 2));
                // The device clock is read in whole seconds.
                assert!((59_000..120_000).contains(&e.age_ms), "age {}", e.age_ms);
                assert_eq!(e.issued_at, as_of / 1000);
                assert_eq!(e.token_expires_at, as_of / 1000 + 600);
                assert_eq!(text(e.token), token);
                assert_eq!(text(e.account_id), "alice");
                assert_eq!(text(e.app_id), APP);
                assert_eq!(text(e.answer_id), "e-alice");
                let items = std::slice::from_raw_parts(e.items, e.len);
                let a = &items[0];
                assert_eq!(
                    (text(a.name), text(a.product_id), text(a.transaction_key)),
                    ("no_ads".into(), "remove_ads".into(), "tx-remove_ads".into())
                );
                assert_eq!(
                    (
                        a.store,
                        a.environment,
                        a.kind,
                        a.will_renew,
                        a.has_expires_at
                    ),
                    (abi::STORE_APP_STORE, 2, 2, 0, 0)
                );
                assert_eq!(a.since, as_of - 1000);
                let b = &items[1];
                assert_eq!(text(b.name), "premium");
                assert_eq!(
                    (
                        b.store,
                        b.environment,
                        b.kind,
                        b.will_renew,
                        b.has_expires_at
                    ),
                    (abi::STORE_GOOGLE_PLAY, 0, 3, 2, 1)
                );
                assert_eq!(b.expires_at, as_of + 86_400_000);
            }
            payseal_entitlements_free(out);

            // The verifier unreachable: the kept answer, marked as such.
            assert_eq!(
                payseal_entitlements_blocking(h, s("alice"), &mut out, &mut m),
                0,
                "{}",
                if m.is_null() { String::new() } else { text(m) }
            );
            assert_eq!(((*out).from_cache, text((*out).token)), (1, token.clone()));
            payseal_entitlements_free(out);

            // Another account's genuine answer copied over alice's file, then one byte edited:
            // refused as Tampered, by both calls.
            std::fs::write(&file, answer("bob", as_of)).unwrap();
            let (kind, _) = failed(
                payseal_cached_entitlements(h, s("alice"), &mut out, &mut m),
                m,
            );
            assert_eq!(kind, Kind::Tampered as i32);
            assert!(out.is_null());
            let mut edited = token.into_bytes();
            let at = edited.iter().position(|&b| b == b'.').unwrap() + 10;
            edited[at] = if edited[at] == b'A' { b'B' } else { b'A' };
            std::fs::write(&file, edited).unwrap();
            let (kind, _) = failed(
                payseal_entitlements_blocking(h, s("alice"), &mut out, &mut m),
                m,
            );
            assert_eq!(kind, Kind::Tampered as i32);

            // Bad arguments: typed, nothing sent.
            for bad in ["", " ", &"a".repeat(257)] {
                let (kind, _) = failed(payseal_cached_entitlements(h, s(bad), &mut out, &mut m), m);
                assert_eq!(kind, Kind::InvalidReceipt as i32, "account {bad:?}");
                let (kind, _) = failed(
                    payseal_entitlements_blocking(h, s(bad), &mut out, &mut m),
                    m,
                );
                assert_eq!(kind, Kind::InvalidReceipt as i32, "account {bad:?}");
            }
            let (kind, _) = failed(
                payseal_cached_entitlements(h, PsStr::ABSENT, &mut out, &mut m),
                m,
            );
            assert_eq!(kind, Kind::InvalidArgument as i32);
            let (kind, _) = failed(payseal_entitlements(h, s("alice"), None, 1, &mut m), m);
            assert_eq!(kind, Kind::InvalidArgument as i32);

            let mut restored: *mut PsRestored = std::ptr::null_mut();
            let (kind, message) = failed(
                payseal_restore_blocking(h, std::ptr::null(), 2, s("alice"), &mut restored, &mut m),
                m,
            );
            assert_eq!(kind, Kind::InvalidArgument as i32, "{message}");
            let data = "{}";
            let sig = "eA==";
            let good = PsReceipt {
                store: abi::STORE_SANDBOX,
                algorithm: 0,
                data: s(data),
                signature: s(sig),
            };
            let unknown = PsReceipt { store: 99, ..good };
            let (kind, message) = failed(
                payseal_restore_blocking(
                    h,
                    [good, unknown].as_ptr(),
                    2,
                    s("alice"),
                    &mut restored,
                    &mut m,
                ),
                m,
            );
            assert_eq!(kind, Kind::InvalidArgument as i32);
            assert!(
                message.starts_with("receipts[1]: unknown store code 99"),
                "{message}"
            );
            let empty_sig = PsReceipt {
                signature: s(""),
                ..good
            };
            let (kind, message) = failed(
                payseal_restore_blocking(
                    h,
                    [good, empty_sig].as_ptr(),
                    2,
                    s("alice"),
                    &mut restored,
                    &mut m,
                ),
                m,
            );
            assert_eq!(kind, Kind::InvalidReceipt as i32, "{message}");
            let many = vec![good; 51];
            let (kind, message) = failed(
                payseal_restore_blocking(
                    h,
                    many.as_ptr(),
                    many.len(),
                    s("alice"),
                    &mut restored,
                    &mut m,
                ),
                m,
            );
            assert_eq!(kind, Kind::InvalidReceipt as i32, "{message}");
            assert!(message.contains("at most 50"), "{message}");
            assert!(restored.is_null());

            // A freed handle is refused by every new call.
            assert_eq!(payseal_client_free(h, &mut m), 0);
            let refused = [
                failed(
                    payseal_cached_entitlements(h, s("alice"), &mut out, &mut m),
                    m,
                ),
                failed(
                    payseal_entitlements_blocking(h, s("alice"), &mut out, &mut m),
                    m,
                ),
                failed(
                    payseal_restore_blocking(
                        h,
                        std::ptr::null(),
                        0,
                        s("alice"),
                        &mut restored,
                        &mut m,
                    ),
                    m,
                ),
            ];
            for (kind, message) in refused {
                assert_eq!(kind, Kind::InvalidArgument as i32);
                assert!(message.contains("not open"), "{message}");
            }
        }
    }

    // The constants the C# suite asserts too (Tests/BindingTests.cs).
    #[test]
    fn account_tokens_are_sdk_cores() {
        let ns = "5d0e6c1a-8f3b-4e27-9a64-2c71b0f4d9e8";
        let cases = [
            (
                "alice",
                "c6599123-c29e-5453-9143-183b1164dcd1",
                "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90",
            ),
            (
                "Jürgen-東京-🎮",
                "6440fb73-89ce-5c82-b713-a30a18729556",
                "779bf6c9f4019b66ae10b95e05c91dab88957ca40ae7449c6f0b5ee04d54442e",
            ),
        ];
        for (account, uuid, hex) in cases {
            let mut token = std::ptr::null_mut();
            let mut message = std::ptr::null_mut();
            unsafe {
                assert_eq!(
                    payseal_account_token_uuid_v5(s(ns), s(account), &mut token, &mut message),
                    0
                );
                assert_eq!(take(token), uuid);
                assert_eq!(
                    uuid,
                    payseal_sdk_core::ffi::account_token_uuid_v5(ns.into(), account.into())
                        .unwrap()
                );
                assert_eq!(
                    payseal_account_token_sha256_hex(s(account), &mut token, &mut message),
                    0
                );
                assert_eq!(take(token), hex);
                assert_eq!(
                    hex,
                    payseal_sdk_core::ffi::account_token_sha256_hex(account.into())
                );
            }
        }
        let mut token = std::ptr::null_mut();
        let mut message = std::ptr::null_mut();
        unsafe {
            let kind =
                payseal_account_token_uuid_v5(s("nope"), s("alice"), &mut token, &mut message);
            assert_eq!(kind, Kind::InvalidProfile as i32);
            assert!(token.is_null());
            assert!(!take(message).is_empty());
            let kind =
                payseal_account_token_sha256_hex(PsStr::ABSENT, std::ptr::null_mut(), &mut message);
            assert_eq!(kind, Kind::InvalidArgument as i32);
            payseal_string_free(message);
        }
    }
}

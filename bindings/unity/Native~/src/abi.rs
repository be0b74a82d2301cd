//! The C types of the surface and their conversions: borrowed UTF-8 strings, receipts and
//! options in; verdicts, pending results, entitlements, restore results and parsed receipts
//! out (owned by the library until its free function is called).

use std::ffi::c_char;
use std::path::PathBuf;
use std::ptr;

use payseal_sdk_core::ffi::{
    HuaweiAlgorithm, NotPaidReason, PurchaseKind, Receipt, Redemption, Store, StoreEnvironment,
    SubscriptionState,
};
use payseal_sdk_core::{
    CheckedEntitlements, CheckedVerdict, Options, PendingOutcome, PendingReport, PendingResult,
    Restored, Verdict,
};

pub use crate::cstring::{free_owned, owned, owned_opt};

use crate::error::{FfiError, Kind};

/// A borrowed UTF-8 string: `len` bytes at `ptr`, no terminator needed. A null `ptr` with
/// `len` 0 means "absent" (a C# `null`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PsStr {
    /// The first byte, or null.
    pub ptr: *const u8,
    /// The length in bytes.
    pub len: usize,
}

impl PsStr {
    /// Absent: a null pointer with length 0.
    pub const ABSENT: PsStr = PsStr {
        ptr: ptr::null(),
        len: 0,
    };

    /// The text, or `None` when absent.
    ///
    /// # Safety
    /// `ptr` is null or valid for reads of `len` bytes.
    pub unsafe fn read(&self, what: &str) -> Result<Option<String>, FfiError> {
        if self.ptr.is_null() {
            return if self.len == 0 {
                Ok(None)
            } else {
                Err(FfiError::invalid(format!(
                    "{what}: null pointer with length {}",
                    self.len
                )))
            };
        }
        if self.len > isize::MAX as usize {
            return Err(FfiError::invalid(format!(
                "{what}: length {} is too large",
                self.len
            )));
        }
        let bytes = std::slice::from_raw_parts(self.ptr, self.len);
        std::str::from_utf8(bytes)
            .map(|s| Some(s.to_owned()))
            .map_err(|e| FfiError::invalid(format!("{what} is not UTF-8: {e}")))
    }

    /// The text; absent is an error.
    ///
    /// # Safety
    /// As [`PsStr::read`].
    pub unsafe fn required(&self, what: &str) -> Result<String, FfiError> {
        self.read(what)?
            .ok_or_else(|| FfiError::invalid(format!("{what} is null")))
    }
}

/// Store codes of [`PsReceipt::store`] and [`PsVerdict::store`].
pub const STORE_GOOGLE_PLAY: i32 = 1;
/// App Store.
pub const STORE_APP_STORE: i32 = 2;
/// Huawei AppGallery.
pub const STORE_HUAWEI: i32 = 3;
/// PaySeal sandbox store.
pub const STORE_SANDBOX: i32 = 4;
/// App Store app receipt (the original StoreKit; Unity IAP's `AppleAppStore` payload): `data`
/// is the Base64 receipt, `signature` the transaction id to redeem.
pub const STORE_APP_STORE_RECEIPT: i32 = 5;

/// A receipt, as the store gave it to the app.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PsReceipt {
    /// 1 Google Play, 2 App Store, 3 Huawei, 4 sandbox, 5 App Store app receipt.
    pub store: i32,
    /// Huawei only: 0 `SHA256WithRSA`, 1 `SHA256WithRSA/PSS`.
    pub algorithm: i32,
    /// The purchase data exactly as the store returned it (App Store: the JWS; app receipt:
    /// the Base64 receipt).
    pub data: PsStr,
    /// The Base64 signature (absent for the App Store; app receipt: the transaction id).
    pub signature: PsStr,
}

impl PsReceipt {
    /// The SDK's receipt.
    ///
    /// # Safety
    /// The strings are valid as [`PsStr::read`] says.
    pub unsafe fn to_receipt(&self) -> Result<Receipt, FfiError> {
        let data = self.data.required("receipt data")?;
        let signature = || self.signature.required("receipt signature");
        Ok(match self.store {
            STORE_GOOGLE_PLAY => Receipt::GooglePlay {
                purchase_data: data,
                signature: signature()?,
            },
            STORE_APP_STORE => Receipt::AppStore { jws: data },
            STORE_APP_STORE_RECEIPT => Receipt::AppStoreReceipt {
                app_receipt: data,
                transaction_id: self.signature.required("receipt transaction id")?,
            },
            STORE_HUAWEI => Receipt::Huawei {
                purchase_data: data,
                signature: signature()?,
                algorithm: match self.algorithm {
                    0 => HuaweiAlgorithm::Sha256WithRsa,
                    1 => HuaweiAlgorithm::Sha256WithRsaPss,
                    n => {
                        return Err(FfiError::invalid(format!(
                            "unknown Huawei algorithm code {n}"
                        )))
                    }
                },
            },
            STORE_SANDBOX => Receipt::Sandbox {
                purchase_data: data,
                signature: signature()?,
            },
            n => return Err(FfiError::invalid(format!("unknown store code {n}"))),
        })
    }
}

/// Options besides the profile. A zero number means the SDK's default.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PsOptions {
    /// Time allowed to connect, ms.
    pub connect_timeout_ms: i64,
    /// Time allowed for one request, ms.
    pub request_timeout_ms: i64,
    /// Time allowed for one verify, retries included, ms.
    pub deadline_ms: i64,
    /// Backoff before the first retry, ms.
    pub base_backoff_ms: i64,
    /// Attempts per verify, the first included.
    pub max_attempts: i32,
    /// The app id as configured on the verifier (required).
    pub app_id: PsStr,
    /// Folder for receipts that got no verdict (absent: not kept).
    pub pending_dir: PsStr,
    /// Extra trust roots, PEM (one or more certificates; absent or empty: none).
    pub extra_roots_pem: PsStr,
    // Fields added after the first release go below (the C# layer, shipped with this library,
    // is the one caller that builds this struct).
    /// Folder where the last checked entitlements answer of each account is kept, for a game
    /// offline at start (absent: not kept, and an offline entitlements call has no answer).
    pub entitlements_dir: PsStr,
}

impl PsOptions {
    /// The SDK's options: its defaults, overridden by every non-zero field; checked as
    /// `PaySeal::new` checks them (`InvalidProfile` naming the option).
    ///
    /// # Safety
    /// The strings are valid as [`PsStr::read`] says.
    pub unsafe fn to_options(&self) -> Result<Options, FfiError> {
        let mut o = payseal_sdk_core::default_options(self.app_id.required("options.app_id")?);
        let set = |field: &mut i64, value: i64| {
            if value != 0 {
                *field = value;
            }
        };
        set(&mut o.connect_timeout_ms, self.connect_timeout_ms);
        set(&mut o.request_timeout_ms, self.request_timeout_ms);
        set(&mut o.deadline_ms, self.deadline_ms);
        set(&mut o.base_backoff_ms, self.base_backoff_ms);
        if self.max_attempts != 0 {
            o.max_attempts = self.max_attempts;
        }
        o.pending_dir = self.pending_dir.read("options.pending_dir")?;
        o.extra_roots_pem = self
            .extra_roots_pem
            .read("options.extra_roots_pem")?
            .filter(|pem| !pem.trim().is_empty())
            .into_iter()
            .collect();
        let mut options = Options::try_from(o)?;
        options.entitlements_dir = self
            .entitlements_dir
            .read("options.entitlements_dir")?
            .map(PathBuf::from);
        Ok(options)
    }
}

/// A checked verdict (signed by a profile key, for this request, not expired). Enum fields
/// are codes, 0 meaning absent; string fields are NUL-terminated UTF-8, null meaning absent.
#[repr(C)]
#[derive(Debug)]
pub struct PsVerdict {
    /// Quantity (when `has_quantity`).
    pub quantity: i64,
    /// Purchase time, Unix ms (when `has_purchased_at`).
    pub purchased_at: i64,
    /// Issue time, Unix seconds.
    pub issued_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Device clock minus `issued_at`, seconds, measured when the verdict was checked.
    pub device_clock_skew_secs: i64,
    /// 1 paid, 0 not paid.
    pub paid: i32,
    /// Why not paid: 1 bad_signature, 2 untrusted_chain, 3 wrong_app, 4 unknown_app,
    /// 5 not_purchased, 6 revoked, 7 already_redeemed, 8 untrusted_environment, 9 malformed,
    /// 10 wrong_product, 11 wrong_account, 12 expired, 13 on_hold, 14 paused, 15 refund_limit.
    /// New codes may be added: a caller keeps an unknown code as it is.
    pub reason: i32,
    /// The store code (as [`PsReceipt::store`]).
    pub store: i32,
    /// 1 production, 2 sandbox.
    pub environment: i32,
    /// 1 first, 2 repeat.
    pub redemption: i32,
    /// 1 when `quantity` is set.
    pub has_quantity: i32,
    /// 1 when `purchased_at` is set.
    pub has_purchased_at: i32,
    /// Product id.
    pub product_id: *mut c_char,
    /// Store transaction id.
    pub transaction_id: *mut c_char,
    /// Store original transaction id.
    pub original_transaction_id: *mut c_char,
    /// Verdict id (`jti`).
    pub verdict_id: *mut c_char,
    /// The receipt's `receipt_sha256`.
    pub receipt_sha256: *mut c_char,
    /// The account id.
    pub account_id: *mut c_char,
    /// The app id.
    pub app_id: *mut c_char,
    /// The compact JWS to forward to the application server.
    pub token: *mut c_char,
    // Fields added after the first release go below, so the layout above stays as it was.
    /// Subscriptions: end of the paid period, Unix **milliseconds** (when
    /// `has_subscription_expires_at`). Not `expires_at`, the verdict token's expiry.
    pub subscription_expires_at: i64,
    /// 1 when `subscription_expires_at` is set.
    pub has_subscription_expires_at: i32,
    /// The purchase kind: 0 absent (the store did not say), 1 consumable, 2 non-consumable,
    /// 3 subscription. New codes may be added: a caller keeps an unknown code as it is.
    pub kind: i32,
    /// Protocol v2. The subscription's state as the store's server last gave it: 0 absent,
    /// 1 active, 2 in_grace_period, 3 on_hold, 4 paused, 5 canceled, 6 expired, 7 pending.
    /// New codes may be added: a caller keeps an unknown code as it is.
    pub subscription_state: i32,
    /// Protocol v2. Whether the store's server confirmed the purchase live: 0 absent (no live
    /// check configured), 1 confirmed (`true`), 2 paid on the store's signature alone because
    /// the store's API could not be reached (`false`).
    pub store_checked: i32,
}

fn reason_code(r: NotPaidReason) -> i32 {
    match r {
        NotPaidReason::BadSignature => 1,
        NotPaidReason::UntrustedChain => 2,
        NotPaidReason::WrongApp => 3,
        NotPaidReason::UnknownApp => 4,
        NotPaidReason::NotPurchased => 5,
        NotPaidReason::Revoked => 6,
        NotPaidReason::AlreadyRedeemed => 7,
        NotPaidReason::UntrustedEnvironment => 8,
        NotPaidReason::Malformed => 9,
        NotPaidReason::WrongProduct => 10,
        NotPaidReason::WrongAccount => 11,
        NotPaidReason::Expired => 12,
        NotPaidReason::OnHold => 13,
        NotPaidReason::Paused => 14,
        NotPaidReason::RefundLimit => 15,
    }
}

fn kind_code(k: PurchaseKind) -> i32 {
    match k {
        PurchaseKind::Consumable => 1,
        PurchaseKind::NonConsumable => 2,
        PurchaseKind::Subscription => 3,
    }
}

fn subscription_state_code(s: SubscriptionState) -> i32 {
    match s {
        SubscriptionState::Active => 1,
        SubscriptionState::InGracePeriod => 2,
        SubscriptionState::OnHold => 3,
        SubscriptionState::Paused => 4,
        SubscriptionState::Canceled => 5,
        SubscriptionState::Expired => 6,
        SubscriptionState::Pending => 7,
    }
}

fn store_code(s: Store) -> i32 {
    match s {
        Store::GooglePlay => STORE_GOOGLE_PLAY,
        Store::AppStore => STORE_APP_STORE,
        Store::Huawei => STORE_HUAWEI,
        Store::Sandbox => STORE_SANDBOX,
    }
}

impl From<Verdict> for PsVerdict {
    fn from(v: Verdict) -> Self {
        PsVerdict {
            quantity: v.quantity.unwrap_or(0),
            purchased_at: v.purchased_at.unwrap_or(0),
            issued_at: v.issued_at,
            expires_at: v.expires_at,
            device_clock_skew_secs: v.device_clock_skew_secs,
            paid: i32::from(v.paid),
            reason: v.reason.map_or(0, reason_code),
            store: store_code(v.store),
            environment: v.environment.map_or(0, environment_code),
            redemption: v.redemption.map_or(0, |r| match r {
                Redemption::First => 1,
                Redemption::Repeat => 2,
            }),
            has_quantity: i32::from(v.quantity.is_some()),
            has_purchased_at: i32::from(v.purchased_at.is_some()),
            product_id: owned_opt(v.product_id),
            transaction_id: owned_opt(v.transaction_id),
            original_transaction_id: owned_opt(v.original_transaction_id),
            verdict_id: owned(v.verdict_id),
            receipt_sha256: owned(v.receipt_sha256),
            account_id: owned(v.account_id),
            app_id: owned(v.app_id),
            token: owned(v.token),
            subscription_expires_at: v.subscription_expires_at.unwrap_or(0),
            has_subscription_expires_at: i32::from(v.subscription_expires_at.is_some()),
            kind: v.kind.map_or(0, kind_code),
            subscription_state: v.subscription_state.map_or(0, subscription_state_code),
            store_checked: optional_bool_code(v.store_checked),
        }
    }
}

impl From<CheckedVerdict> for PsVerdict {
    fn from(v: CheckedVerdict) -> Self {
        PsVerdict::from(Verdict::from(v))
    }
}

impl Drop for PsVerdict {
    fn drop(&mut self) {
        for p in [
            self.product_id,
            self.transaction_id,
            self.original_transaction_id,
            self.verdict_id,
            self.receipt_sha256,
            self.account_id,
            self.app_id,
            self.token,
        ] {
            // SAFETY: every field was made by `owned`/`owned_opt` and is freed only here.
            unsafe { free_owned(p) };
        }
    }
}

/// One pending receipt after a retry.
#[repr(C)]
#[derive(Debug)]
pub struct PsPending {
    /// The verdict, or null when the receipt is still pending or refused.
    pub verdict: *mut PsVerdict,
    /// 1 when the pending file was refused (unreadable, another app's, a receipt that cannot
    /// be sent): not sent, left on disk for the app to look at; 0 otherwise.
    pub refused: i32,
    /// When still pending or refused: why (an error kind).
    pub error_kind: i32,
    /// When still pending or refused: the message.
    pub error_message: *mut c_char,
    /// The receipt's hash.
    pub receipt_sha256: *mut c_char,
    /// The account that bought it.
    pub account_id: *mut c_char,
    /// The app id.
    pub app_id: *mut c_char,
}

impl From<PendingResult> for PsPending {
    fn from(r: PendingResult) -> Self {
        let (verdict, refused, error_kind, error_message) = match r.outcome {
            PendingOutcome::Verified { verdict } => (
                Box::into_raw(Box::new(PsVerdict::from(verdict))),
                0,
                Kind::Ok as i32,
                ptr::null_mut(),
            ),
            PendingOutcome::StillPending { kind, message } => {
                (ptr::null_mut(), 0, Kind::from(kind) as i32, owned(message))
            }
            PendingOutcome::Refused { kind, message } => {
                (ptr::null_mut(), 1, Kind::from(kind) as i32, owned(message))
            }
        };
        PsPending {
            verdict,
            refused,
            error_kind,
            error_message,
            receipt_sha256: owned(r.receipt_sha256),
            account_id: owned(r.account_id),
            app_id: owned(r.app_id),
        }
    }
}

impl Drop for PsPending {
    fn drop(&mut self) {
        if !self.verdict.is_null() {
            // SAFETY: made by Box::into_raw in `from`, freed only here.
            drop(unsafe { Box::from_raw(self.verdict) });
        }
        for p in [
            self.error_message,
            self.receipt_sha256,
            self.account_id,
            self.app_id,
        ] {
            // SAFETY: made by `owned`, freed only here.
            unsafe { free_owned(p) };
        }
    }
}

/// The results of a retry: `len` items at `items`.
#[repr(C)]
#[derive(Debug)]
pub struct PsPendingList {
    /// The first item (null when `len` is 0).
    pub items: *mut PsPending,
    /// How many.
    pub len: usize,
}

/// `items` as a C array the library owns: its first item (null when empty) and its length,
/// freed only by [`free_array`].
fn into_array<T>(items: Vec<T>) -> (*mut T, usize) {
    let items = items.into_boxed_slice();
    let len = items.len();
    if len == 0 {
        (ptr::null_mut(), 0)
    } else {
        (Box::into_raw(items).cast::<T>(), len)
    }
}

/// Free (dropping each item) an array made by [`into_array`].
///
/// # Safety
/// `(items, len)` came from [`into_array`] and was not freed yet.
unsafe fn free_array<T>(items: *mut T, len: usize) {
    if !items.is_null() {
        drop(Box::from_raw(ptr::slice_from_raw_parts_mut(items, len)));
    }
}

impl From<Vec<PendingReport>> for PsPendingList {
    fn from(reports: Vec<PendingReport>) -> Self {
        let items = reports
            .into_iter()
            .map(|r| PsPending::from(PendingResult::from(r)))
            .collect();
        let (items, len) = into_array(items);
        PsPendingList { items, len }
    }
}

impl Drop for PsPendingList {
    fn drop(&mut self) {
        // SAFETY: made by `into_array` in `from`, freed only here.
        unsafe { free_array(self.items, self.len) };
    }
}

/// One active entitlement and the purchase that grants it. Enum fields are codes as in
/// [`PsVerdict`], 0 meaning absent; strings NUL-terminated UTF-8.
#[repr(C)]
#[derive(Debug)]
pub struct PsEntitlement {
    /// First presentation of the granting purchase to PaySeal, Unix ms.
    pub since: i64,
    /// A subscription's paid period end, Unix ms (when `has_expires_at`; absent: lifetime).
    pub expires_at: i64,
    /// 1 when `expires_at` is set.
    pub has_expires_at: i32,
    /// The store code (as [`PsReceipt::store`]).
    pub store: i32,
    /// 0 absent, 1 production, 2 sandbox.
    pub environment: i32,
    /// The purchase kind: 0 absent, 2 non-consumable, 3 subscription (as [`PsVerdict::kind`]).
    pub kind: i32,
    /// Whether the subscription renews: 0 the store did not say, 1 renews, 2 does not.
    pub will_renew: i32,
    /// The entitlement's name in the app's config (`premium`).
    pub name: *mut c_char,
    /// The product that grants it.
    pub product_id: *mut c_char,
    /// The granting purchase's ledger key: its transaction id, or for a subscription its
    /// renewal chain's id (App Store `originalTransactionId`, Play purchase token, ...).
    pub transaction_key: *mut c_char,
}

/// An account's entitlements: a checked answer (signed by a profile key, `typ:
/// payseal-entitlements+jwt`, this app and account, and this request's nonce unless it came
/// from the offline copy). Strings as in [`PsVerdict`].
#[repr(C)]
#[derive(Debug)]
pub struct PsEntitlements {
    /// The active entitlements: `len` items (null when none).
    pub items: *mut PsEntitlement,
    /// How many.
    pub len: usize,
    /// When the verifier read the ledger, Unix ms.
    pub as_of: i64,
    /// The device clock minus `as_of`, ms: the answer's age (device clock error included).
    pub age_ms: i64,
    /// The document's issue time, Unix seconds.
    pub issued_at: i64,
    /// The token's expiry (`exp`), Unix seconds; not an entitlement's end.
    pub token_expires_at: i64,
    /// 1 when read from the offline copy (the verifier could not be reached), 0 when fresh.
    pub from_cache: i32,
    /// The answer's id (`jti`).
    pub answer_id: *mut c_char,
    /// The account id.
    pub account_id: *mut c_char,
    /// The app id.
    pub app_id: *mut c_char,
    /// The compact JWS, to forward to the application server as is.
    pub token: *mut c_char,
}

/// An optional flag as a code: 0 absent, 1 true, 2 false.
fn optional_bool_code(flag: Option<bool>) -> i32 {
    match flag {
        None => 0,
        Some(true) => 1,
        Some(false) => 2,
    }
}

fn environment_code(e: StoreEnvironment) -> i32 {
    match e {
        StoreEnvironment::Production => 1,
        StoreEnvironment::Sandbox => 2,
    }
}

impl From<CheckedEntitlements> for PsEntitlements {
    fn from(e: CheckedEntitlements) -> Self {
        let c = e.claims;
        let items = c
            .entitlements
            .into_iter()
            .map(|g| PsEntitlement {
                since: g.since,
                expires_at: g.expires_at.unwrap_or(0),
                has_expires_at: i32::from(g.expires_at.is_some()),
                store: store_code(g.store),
                environment: g.environment.map_or(0, environment_code),
                kind: g.kind.map_or(0, kind_code),
                will_renew: optional_bool_code(g.will_renew),
                name: owned(g.name),
                product_id: owned(g.product_id),
                transaction_key: owned(g.transaction_key),
            })
            .collect();
        let (items, len) = into_array(items);
        PsEntitlements {
            items,
            len,
            as_of: c.as_of,
            age_ms: e.age_ms,
            issued_at: c.iat,
            token_expires_at: c.exp,
            from_cache: i32::from(e.from_cache),
            answer_id: owned(c.jti),
            account_id: owned(c.sub),
            app_id: owned(c.app),
            token: owned(e.token),
        }
    }
}

impl Drop for PsEntitlement {
    fn drop(&mut self) {
        for p in [self.name, self.product_id, self.transaction_key] {
            // SAFETY: made by `owned`, freed only here.
            unsafe { free_owned(p) };
        }
    }
}

impl Drop for PsEntitlements {
    fn drop(&mut self) {
        // SAFETY: the array was made by `into_array` and the strings by `owned`, in `from`;
        // freed only here.
        unsafe {
            free_array(self.items, self.len);
            for p in [self.answer_id, self.account_id, self.app_id, self.token] {
                free_owned(p);
            }
        }
    }
}

/// What a restore got: one verdict per receipt, in the order given, and the account's
/// entitlements read after them.
#[repr(C)]
#[derive(Debug)]
pub struct PsRestored {
    /// The verdicts: `verdicts_len` items (null when none).
    pub verdicts: *mut PsVerdict,
    /// How many (the number of receipts sent).
    pub verdicts_len: usize,
    /// The entitlements after the restore (never null).
    pub entitlements: *mut PsEntitlements,
}

impl From<Restored> for PsRestored {
    fn from(r: Restored) -> Self {
        let verdicts = r.verdicts.into_iter().map(PsVerdict::from).collect();
        let (verdicts, verdicts_len) = into_array(verdicts);
        PsRestored {
            verdicts,
            verdicts_len,
            entitlements: Box::into_raw(Box::new(PsEntitlements::from(r.entitlements))),
        }
    }
}

impl Drop for PsRestored {
    fn drop(&mut self) {
        // SAFETY: made by `into_array` and `Box::into_raw` in `from`, freed only here.
        unsafe {
            free_array(self.verdicts, self.verdicts_len);
            if !self.entitlements.is_null() {
                drop(Box::from_raw(self.entitlements));
            }
        }
    }
}

/// A receipt parsed from its JSON form. Strings as in [`PsVerdict`].
#[repr(C)]
#[derive(Debug)]
pub struct PsReceiptOut {
    /// The store code.
    pub store: i32,
    /// Huawei's algorithm code (0 otherwise).
    pub algorithm: i32,
    /// The purchase data (App Store: the JWS).
    pub data: *mut c_char,
    /// The signature (null for the App Store).
    pub signature: *mut c_char,
}

impl From<Receipt> for PsReceiptOut {
    fn from(r: Receipt) -> Self {
        let (store, algorithm, data, signature) = match r {
            Receipt::GooglePlay {
                purchase_data,
                signature,
            } => (STORE_GOOGLE_PLAY, 0, purchase_data, Some(signature)),
            Receipt::AppStore { jws } => (STORE_APP_STORE, 0, jws, None),
            Receipt::AppStoreReceipt {
                app_receipt,
                transaction_id,
            } => (
                STORE_APP_STORE_RECEIPT,
                0,
                app_receipt,
                Some(transaction_id),
            ),
            Receipt::Huawei {
                purchase_data,
                signature,
                algorithm,
            } => (
                STORE_HUAWEI,
                match algorithm {
                    HuaweiAlgorithm::Sha256WithRsa => 0,
                    HuaweiAlgorithm::Sha256WithRsaPss => 1,
                },
                purchase_data,
                Some(signature),
            ),
            Receipt::Sandbox {
                purchase_data,
                signature,
            } => (STORE_SANDBOX, 0, purchase_data, Some(signature)),
        };
        PsReceiptOut {
            store,
            algorithm,
            data: owned(data),
            signature: owned_opt(signature),
        }
    }
}

impl Drop for PsReceiptOut {
    fn drop(&mut self) {
        // SAFETY: made by `owned`/`owned_opt`, freed only here.
        unsafe {
            free_owned(self.data);
            free_owned(self.signature);
        }
    }
}

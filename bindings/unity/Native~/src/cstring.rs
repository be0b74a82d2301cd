//! Strings the library owns and hands out: NUL-terminated copies made here and freed only by
//! [`free_owned`] (through `payseal_string_free` and the free functions of [`crate::abi`]).
//! A leaf module: the C types ([`crate::abi`]) and the error guard ([`crate::error`]) both use
//! it, neither through the other.

use std::ffi::{c_char, CString};
use std::ptr;

/// A NUL-terminated copy of `s` owned by the library (an inner NUL becomes U+FFFD).
pub fn owned(s: String) -> *mut c_char {
    let s = if s.contains('\0') {
        s.replace('\0', "\u{fffd}")
    } else {
        s
    };
    CString::new(s).map_or(ptr::null_mut(), CString::into_raw)
}

/// [`owned`], or null for `None`.
pub fn owned_opt(s: Option<String>) -> *mut c_char {
    s.map_or(ptr::null_mut(), owned)
}

/// Free a string made by [`owned`] (null is ignored).
///
/// # Safety
/// `p` is null or came from [`owned`] and was not freed yet.
pub unsafe fn free_owned(p: *mut c_char) {
    if !p.is_null() {
        drop(CString::from_raw(p));
    }
}

//! Leptonica (the image library under Tesseract) prints its own messages,
//! such as `Error in boxClipToRectangle: box outside rectangle`, straight to
//! stderr, where they interleave with `vprog eval`'s progress. [`route_messages`]
//! installs a handler that sends them to `tracing` instead (target
//! `leptonica`, level debug: they are warnings about boxes Tesseract
//! proposes, not failures of the run).
#![allow(unsafe_code)]

use std::ffi::{c_char, CStr};
use std::sync::Once;

/// Leptonica's message callback: one formatted message per call.
unsafe extern "C" fn to_tracing(message: *const c_char) {
    if message.is_null() {
        return;
    }
    // SAFETY: Leptonica passes a NUL-terminated string that lives for the call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy();
    tracing::debug!(target: "leptonica", "{}", text.trim_end());
}

/// Sends Leptonica's messages to `tracing` from now on (once per process).
pub fn route_messages() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: sets a process-wide function pointer in Leptonica; the
        // handler has the C signature Leptonica calls and never unwinds.
        unsafe { leptonica_sys::leptSetStderrHandler(Some(to_tracing)) }
    });
}

//! The one error mapping, and the Promise every method settles through it.

use std::future::Future;

use napi::bindgen_prelude::*;
use napi::sys;
use session_store_core::StoreError;

use crate::settle;

/// The one error mapping: an `Error` (a `TypeError` for bad input) whose message is the
/// core's and whose `code` property is machine-readable. Null if the environment could
/// not build it.
pub(crate) fn js_error_value(env: &Env, err: &StoreError) -> sys::napi_value {
    let reason = Error::new(err.code().to_string(), err.to_string());
    // SAFETY: `env` is the live environment of the current call or callback.
    unsafe {
        if err.is_type_error() {
            JsTypeError::from(reason).into_value(env.raw())
        } else {
            JsError::from(reason).into_value(env.raw())
        }
    }
}

/// [`js_error_value`] as an [`Error`] to throw (holding the object itself makes napi
/// throw it unchanged).
pub(crate) fn to_js_error(env: &Env, err: StoreError) -> Error {
    let raw = js_error_value(env, &err);
    if raw.is_null() {
        return Error::from_reason(err.to_string());
    }
    match unsafe { Unknown::from_napi_value(env.raw(), raw) } {
        Ok(object) => Error::from(object),
        Err(_) => Error::from_reason(err.to_string()),
    }
}

/// Runs a core call on the runtime and settles a Promise with its outcome.
pub(crate) fn settle<'env, V, F>(env: &'env Env, call: F) -> Result<PromiseRaw<'env, V>>
where
    V: ToNapiValue + Send + 'static,
    F: Future<Output = session_store_core::Result<V>> + Send + 'static,
{
    // A rejection carries the error object itself, created right where the Promise is
    // rejected: wrapping it in a napi `Error` would hold it through a reference.
    settle::spawn_promise(env, call, move |env, outcome| outcome.map_err(|err| js_error_value(env, &err)))
}

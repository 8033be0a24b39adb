//! Progress reports of a running call, delivered through the completion queue.

use std::marker::PhantomData;
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::{check_status, sys};

use super::{completions, Callback, Completions, Job};

/// Hands a running call's progress reports to a JavaScript function, through the
/// environment's completion queue: a report pushed before the call finishes reaches the
/// function before the call's Promise settles. Move it into the call's future.
pub struct Reporter<P> {
    completions: Arc<Completions>,
    callback: Callback,
    report: PhantomData<fn(P)>,
}

impl<P: ToNapiValue + Send + 'static> Reporter<P> {
    /// A reporter calling `function` (which the caller has checked is a function).
    pub fn new(env: &Env, function: Unknown<'_>) -> Result<Self> {
        let completions = completions(env)?;
        let mut reference = ptr::null_mut();
        // SAFETY: on the environment's thread.
        check_status!(unsafe { sys::napi_create_reference(env.raw(), function.raw(), 1, &mut reference) })?;
        Ok(Reporter { completions, callback: Callback(reference), report: PhantomData })
    }

    /// From the runtime: queues a call of the function with `value`. A throw from the
    /// function becomes an uncaught exception, as from any asynchronous callback.
    pub fn report(&self, value: P) {
        let callback = self.callback;
        self.completions.push(Job::Report(Box::new(move |env| {
            // The whole `Send` wrapper, not only its raw field, is moved into the closure.
            let callback = callback;
            // SAFETY: on the environment's thread; the reference lives until `Release`,
            // which this reporter's drop queues after its last report.
            unsafe {
                let env = env.raw();
                let mut function = ptr::null_mut();
                let mut this = ptr::null_mut();
                let mut result = ptr::null_mut();
                let Ok(argument) = P::to_napi_value(env, value) else { return };
                sys::napi_get_reference_value(env, callback.0, &mut function);
                sys::napi_get_undefined(env, &mut this);
                if sys::napi_call_function(env, this, function, 1, &argument, &mut result)
                    == sys::Status::napi_pending_exception
                {
                    let mut exception = ptr::null_mut();
                    sys::napi_get_and_clear_last_exception(env, &mut exception);
                    sys::napi_fatal_exception(env, exception);
                }
            }
        })));
    }
}

impl<P> Drop for Reporter<P> {
    fn drop(&mut self) {
        self.completions.push(Job::Release(self.callback));
    }
}

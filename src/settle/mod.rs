//! Runs store calls on the Tokio runtime and settles their Promises on the JavaScript
//! thread, through one threadsafe function per JavaScript environment.
//!
//! napi-rs's `Env::spawn_future_with_callback` creates (and later tears down) a threadsafe
//! function, an environment cleanup hook and two runtime tasks for every call, which cost
//! more CPU than a Redis round trip (BENCHMARKS.md has the figures).
//! Here a call creates a Promise and hands its future to the environment's dispatcher
//! task, which runs all calls; a finished call queues its outcome and wakes the
//! JavaScript thread only when the queue was empty, and the JavaScript thread settles
//! every queued call on one wake-up.
//!
//! Progress reports (a call's [`Reporter`]) travel through the same queue as outcomes, so
//! a call's reports always reach JavaScript before its Promise settles.
//!
//! The threadsafe function is unreferenced while no call is in flight, so an idle store
//! never keeps the event loop alive, and referenced while one is, so a process does not
//! exit under a pending call. The queue is the environment's instance data. Node finalizes
//! the threadsafe function when the environment is torn down (a Worker that exits or is
//! terminated): the dispatcher task then ends, dropping the calls still running (there is
//! no JavaScript left to settle them in), and the queue goes with the environment.

use std::ffi::c_void;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use napi::bindgen_prelude::*;
use napi::{check_status, sys, JsError};

mod reporter;
mod spin;

pub use reporter::Reporter;
use spin::Spin;

/// Turns a finished call's outcome into the value to resolve with (`Ok`) or to reject
/// with (`Err`), on the JavaScript thread.
type Settle = Box<dyn FnOnce(&Env) -> std::result::Result<sys::napi_value, sys::napi_value> + Send>;

/// A Promise's resolver; used only on the JavaScript thread that created it.
struct Deferred(sys::napi_deferred);
// SAFETY: carried through the runtime untouched and used only back on the JavaScript thread.
unsafe impl Send for Deferred {}

/// What the JavaScript thread is woken up for.
enum Job {
    /// A finished call: settles its Promise.
    Settle { deferred: Deferred, settle: Settle },
    /// A running call's progress report: calls the function the call was given.
    Report(Box<dyn FnOnce(&Env) + Send>),
    /// A call's reporter is gone: its reference to the function is no longer needed.
    Release(Callback),
}

/// A reference to a JavaScript function, used and deleted only on its environment's thread.
#[derive(Clone, Copy)]
struct Callback(sys::napi_ref);
// SAFETY: carried through the runtime untouched and used only back on the JavaScript thread.
unsafe impl Send for Callback {}
unsafe impl Sync for Callback {}

struct Tsfn(sys::napi_threadsafe_function);
// SAFETY: a threadsafe function may be called from any thread until it is finalized;
// `Completions::tsfn` guards against calls after that.
unsafe impl Send for Tsfn {}
unsafe impl Sync for Tsfn {}

/// One JavaScript environment's completion queue.
struct Completions {
    /// `None` once Node has finalized the threadsafe function. Held for reading across a
    /// call into it, so that finalization (which takes it for writing) waits for the call.
    tsfn: RwLock<Option<Tsfn>>,
    queue: Mutex<Vec<Job>>,
    /// Calls started and not yet settled; only changed on the JavaScript thread.
    in_flight: AtomicUsize,
    /// Calls submitted by the JavaScript thread, not yet taken by the dispatcher task.
    incoming: Mutex<Incoming>,
}

type Call = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What one turn of the dispatcher did.
enum Turn {
    Closed,
    Worked,
    Quiet,
}

#[derive(Default)]
struct Incoming {
    calls: Vec<Call>,
    /// The dispatcher's waker, left here when it found no calls to take.
    waker: Option<Waker>,
    /// The environment is gone: the dispatcher ends.
    closed: bool,
}

impl Completions {
    /// From a runtime thread: queues a job and wakes the JavaScript thread if the queue
    /// was empty (otherwise a wake-up is already on its way and will take it). A job
    /// queued after the environment is gone stays until the queue is dropped, which the
    /// end of the dispatcher soon allows.
    fn push(&self, job: Job) {
        let wake = {
            let mut queue = self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            queue.push(job);
            queue.len() == 1
        };
        if wake {
            let tsfn = self.tsfn.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(tsfn) = tsfn.as_ref() {
                // SAFETY: not finalized (checked under the lock that finalization takes).
                unsafe {
                    sys::napi_call_threadsafe_function(
                        tsfn.0,
                        ptr::null_mut(),
                        sys::ThreadsafeFunctionCallMode::nonblocking,
                    )
                };
            }
        }
    }

    /// From the JavaScript thread: hands a call to the dispatcher, waking it only when it
    /// is idle (calls started in the same JavaScript turn cost one wake-up together).
    fn submit(&self, call: Call) {
        let waker = {
            let mut incoming = self.incoming.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            incoming.calls.push(call);
            incoming.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The one task that runs all of this environment's calls, until the environment is
    /// torn down. Taking the calls in batches and polling them together means that their
    /// commands reach the connection's driver together and go out in one write, where a
    /// task per call had the driver (woken into the scheduler's LIFO slot) write each
    /// command on its own. After a turn with work it stays awake for a bounded [`Spin`].
    async fn dispatch(self: Arc<Self>) {
        let mut running = FuturesUnordered::<Call>::new();
        let spin = Spin::from_env();
        let mut busy_at = Instant::now();
        // Since when calls have been running without a pause, and how long they ran the
        // last time all of them finished: the time a call waits for Redis.
        let mut running_since: Option<Instant> = None;
        let mut last_wait = Duration::ZERO;
        loop {
            // Spinning is yielding to the runtime, which polls its I/O driver (without
            // blocking) before running this task again.
            let park = busy_at.elapsed() >= spin.window(running.len(), last_wait);
            match poll_fn(|cx| self.turn(&mut running, cx, park)).await {
                Turn::Closed => return,
                Turn::Worked => {
                    busy_at = Instant::now();
                    if running.is_empty() {
                        if let Some(since) = running_since.take() {
                            last_wait = busy_at - since;
                        }
                    } else {
                        running_since.get_or_insert(busy_at);
                    }
                }
                Turn::Quiet => {
                    std::thread::yield_now();
                    tokio::task::yield_now().await
                }
            }
        }
    }

    /// Takes the calls submitted so far and polls every running call. With `park`, a turn
    /// with nothing to do registers the waker and waits; without, it returns `Quiet`.
    fn turn(&self, running: &mut FuturesUnordered<Call>, cx: &mut Context<'_>, park: bool) -> Poll<Turn> {
        let mut worked = false;
        loop {
            let taken = {
                let mut incoming = self.incoming.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if incoming.closed {
                    return Poll::Ready(Turn::Closed);
                }
                if incoming.calls.is_empty() {
                    if park {
                        incoming.waker = Some(cx.waker().clone());
                    }
                    None
                } else {
                    Some(std::mem::take(&mut incoming.calls))
                }
            };
            let idle = taken.is_none();
            worked |= !idle;
            running.extend(taken.into_iter().flatten());
            while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {
                worked = true;
            }
            if idle {
                return match (worked, park) {
                    (true, _) => Poll::Ready(Turn::Worked),
                    (false, true) => Poll::Pending,
                    (false, false) => Poll::Ready(Turn::Quiet),
                };
            }
        }
    }

    /// On the JavaScript thread: references the threadsafe function when the first call
    /// goes in flight, and unreferences it when the last one settles.
    fn track(&self, env: sys::napi_env, delta: isize) {
        let before = self.in_flight.load(Ordering::Relaxed);
        let after = before.saturating_add_signed(delta);
        self.in_flight.store(after, Ordering::Relaxed);
        if (before == 0) != (after == 0) {
            if let Some(tsfn) = self.tsfn.read().unwrap_or_else(|poisoned| poisoned.into_inner()).as_ref() {
                // SAFETY: on the environment's thread, before finalization.
                unsafe {
                    if after == 0 {
                        sys::napi_unref_threadsafe_function(env, tsfn.0);
                    } else {
                        sys::napi_ref_threadsafe_function(env, tsfn.0);
                    }
                }
            }
        }
    }
}

/// The JavaScript side of the threadsafe function: runs every queued job.
unsafe extern "C" fn settle_queued(
    env: sys::napi_env,
    _js_callback: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    // SAFETY: `context` is the `Completions` that the finalize data keeps alive until the
    // threadsafe function is finalized, after which this is never called.
    let completions = unsafe { &*(context as *const Completions) };
    let batch = std::mem::take(&mut *completions.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    if env.is_null() {
        return; // the environment is being torn down: nothing to settle into
    }
    let js_env = Env::from_raw(env);
    for job in batch {
        let mut scope = ptr::null_mut();
        // SAFETY: on the environment's thread, inside Node's callback scope.
        unsafe {
            sys::napi_open_handle_scope(env, &mut scope);
            match job {
                Job::Settle { deferred, settle } => {
                    match settle(&js_env) {
                        Ok(value) => sys::napi_resolve_deferred(env, deferred.0, value),
                        Err(reason) => sys::napi_reject_deferred(env, deferred.0, reason),
                    };
                    completions.track(env, -1);
                }
                Job::Report(report) => report(&js_env),
                Job::Release(callback) => {
                    sys::napi_delete_reference(env, callback.0);
                }
            }
            sys::napi_close_handle_scope(env, scope);
        }
    }
}

/// Node finalized the threadsafe function (environment teardown): no more calls into it,
/// and the dispatcher ends, dropping the calls it was running.
unsafe extern "C" fn finalized(_env: sys::napi_env, finalize_data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `finalize_data` is the strong reference `Arc::into_raw` gave away at creation.
    let completions = unsafe { Arc::from_raw(finalize_data as *const Completions) };
    *completions.tsfn.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    let queued = std::mem::take(&mut *completions.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
    drop(queued);
    let (waker, unstarted) = {
        let mut incoming = completions.incoming.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        incoming.closed = true;
        (incoming.waker.take(), std::mem::take(&mut incoming.calls))
    };
    drop(unstarted);
    if let Some(waker) = waker {
        waker.wake();
    }
}

/// Node releases the environment's instance data (environment teardown).
unsafe extern "C" fn drop_instance_data(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: `data` is the reference `Arc::into_raw` gave away in `completions`.
    drop(unsafe { Arc::from_raw(data as *const Completions) });
}

/// The environment's completion queue (its instance data), created by its first call
/// together with the threadsafe function and the dispatcher task. Node-API's instance
/// data is read directly: napi-rs's `Env::get_instance_data` checks the pointer in a
/// process-wide registry behind a mutex, a cost on every call.
fn completions(env: &Env) -> Result<Arc<Completions>> {
    let mut data = ptr::null_mut();
    // SAFETY: on the environment's thread. This addon's instance data is only ever set
    // below, to a pointer from `Arc::into_raw`, released by `drop_instance_data`.
    unsafe {
        check_status!(sys::napi_get_instance_data(env.raw(), &mut data))?;
        if !data.is_null() {
            let data = data as *const Completions;
            Arc::increment_strong_count(data);
            return Ok(Arc::from_raw(data));
        }
    }
    let completions = Arc::new(Completions {
        tsfn: RwLock::new(None),
        queue: Mutex::new(Vec::new()),
        in_flight: AtomicUsize::new(0),
        incoming: Mutex::new(Incoming::default()),
    });
    let name = env.create_string("redis-session-store")?;
    let finalize_data = Arc::into_raw(completions.clone()) as *mut c_void;
    let mut tsfn = ptr::null_mut();
    // SAFETY: plain Node-API calls on the environment's thread; on failure the finalize
    // reference is reclaimed here since Node never took it.
    unsafe {
        let status = sys::napi_create_threadsafe_function(
            env.raw(),
            ptr::null_mut(),
            ptr::null_mut(),
            name.raw(),
            0,
            1,
            finalize_data,
            Some(finalized),
            Arc::as_ptr(&completions) as *mut c_void,
            Some(settle_queued),
            &mut tsfn,
        );
        if status != sys::Status::napi_ok {
            drop(Arc::from_raw(finalize_data as *const Completions));
        }
        check_status!(status, "creating the store's threadsafe function failed")?;
        check_status!(sys::napi_unref_threadsafe_function(env.raw(), tsfn))?;
    }
    *completions.tsfn.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Tsfn(tsfn));
    let data = Arc::into_raw(completions.clone()) as *mut c_void;
    // SAFETY: on the environment's thread; Node calls `drop_instance_data` with `data` when
    // the environment is torn down.
    let status = unsafe { sys::napi_set_instance_data(env.raw(), data, Some(drop_instance_data), ptr::null_mut()) };
    if status != sys::Status::napi_ok {
        // SAFETY: Node did not take the reference.
        drop(unsafe { Arc::from_raw(data as *const Completions) });
    }
    check_status!(status, "setting the store's instance data failed")?;
    napi::bindgen_prelude::spawn(completions.clone().dispatch());
    Ok(completions)
}

/// Polls a future, turning a panic into an `Err`, so that a bug settles its Promise
/// instead of leaving it pending forever.
struct CatchUnwind<F>(F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::result::Result<F::Output, ()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; it is never moved out.
        let inner = unsafe { self.map_unchecked_mut(|this| &mut this.0) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// A napi error as the JavaScript value to reject with.
fn rejection(env: &Env, err: Error) -> sys::napi_value {
    // SAFETY: on the environment's thread.
    unsafe { JsError::from(err).into_value(env.raw()) }
}

/// Runs `call` on the runtime; its Promise settles on this thread: resolved with
/// `to_js(output)`'s `Ok` value, rejected with its `Err` value (a JavaScript value).
pub fn spawn_promise<'env, T, V, F, C>(env: &'env Env, call: F, to_js: C) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = T> + Send + 'static,
    C: FnOnce(&Env, T) -> std::result::Result<V, sys::napi_value> + Send + 'static,
{
    let completions = completions(env)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: on the environment's thread.
    check_status!(unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) })?;
    completions.track(env.raw(), 1);
    let deferred = Deferred(deferred);
    let queue = completions.clone();
    completions.submit(Box::pin(async move {
        let outcome = CatchUnwind(call).await;
        let settle: Settle = Box::new(move |env| match outcome {
            // SAFETY: called on the environment's thread by `settle_queued`.
            Ok(output) => unsafe { V::to_napi_value(env.raw(), to_js(env, output)?).map_err(|e| rejection(env, e)) },
            Err(()) => Err(rejection(env, Error::from_reason("internal error: a store call panicked"))),
        });
        queue.push(Job::Settle { deferred, settle });
    }));
    Ok(PromiseRaw::new(env.raw(), promise))
}

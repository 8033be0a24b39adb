//! The napi surface: turns JavaScript values into the core's `Arg`s ([`args`]), calls the
//! core on the addon's Tokio runtime ([`store`], [`operator`], [`acl`]), and maps the
//! core's errors to JavaScript errors ([`errors`]); results become the JavaScript shapes
//! of [`results`]. Nothing here decides what a store does: that is the core's. Every method
//! returns a Promise, and an argument the core refuses rejects it with a `TypeError`. A
//! method throws when reading an argument throws (a getter that throws, a revoked Proxy)
//! or Node-API fails; `promised.js` turns such a throw into a rejection for callers of
//! `index.js`. The constructor throws for a bad `cfg`.

// Public so that a test build, which leaves napi registration out, sees its free
// functions as used.
pub mod acl;
mod args;
mod errors;
mod operator;
mod results;
mod settle;
mod store;

/// The addon's Rust allocations (commands, replies, futures and their wake-ups, several
/// per call, freed on another thread than the one that made them) go to mimalloc, as in
/// node-rs's packages: under load the system allocator was a large share of the client's
/// CPU per call (BENCHMARKS.md). JavaScript's own heap is V8's and is not affected.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Worker threads of the addon's Tokio runtime. The work per call is small (build a
/// command, hand it to the one multiplexed connection, parse the reply), so one worker
/// keeps up with the server, and a single thread avoids the cross-thread wake-ups and
/// idle spinning that napi-rs's default (one worker per core) costs on every call.
/// Overridable with `RSS_NATIVE_WORKER_THREADS` (a benchmarking aid).
const RUNTIME_WORKER_THREADS: usize = 1;

#[napi_derive::module_init]
fn init() {
    let workers = std::env::var("RSS_NATIVE_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(RUNTIME_WORKER_THREADS);
    if let Ok(runtime) = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build() {
        napi::bindgen_prelude::create_custom_tokio_runtime(runtime);
    }
}

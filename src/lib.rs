//! The napi surface: turns JavaScript values into the core's [`Arg`]s, calls the core on
//! the addon's Tokio runtime, and maps [`StoreError`] to JavaScript errors. Every method
//! returns a Promise, and an argument the core refuses rejects it with a `TypeError`. A
//! method throws when reading an argument throws (a getter that throws, a revoked Proxy)
//! or Node-API fails; `promised.js` turns such a throw into a rejection for callers of
//! `index.js`. The constructor throws for a bad `cfg`.

use std::future::Future;
use std::sync::Arc;

use indexmap::IndexMap;
use napi::bindgen_prelude::*;
use napi::{sys, JsValue, ValueType};
use napi_derive::napi;
use session_store_core::input::{self, Arg};
use session_store_core::{commands, gc, store, SessionStore, StoreConfig, StoreError};

mod settle;

mod views;

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

/// Reads a JavaScript value; for a plain object, only the named properties. Objects and
/// arrays inside it are read the same way, a few levels deep (enough for every option;
/// a cyclic object cannot recurse forever).
pub(crate) fn to_arg(value: Unknown<'_>, fields: &[&'static str]) -> Result<Arg> {
    to_arg_within(value, fields, 3)
}

fn to_arg_within(value: Unknown<'_>, fields: &[&'static str], depth: u8) -> Result<Arg> {
    Ok(match value.get_type()? {
        ValueType::Undefined => Arg::Undefined,
        ValueType::Null => Arg::Null,
        ValueType::Boolean => Arg::Bool(bool::from_unknown(value)?),
        ValueType::Number => Arg::Number(f64::from_unknown(value)?),
        ValueType::String => string_arg(value)?,
        ValueType::Function => Arg::Function,
        ValueType::Object if depth == 0 => Arg::Other("deeply nested object"),
        ValueType::Object if value.is_array()? => {
            let array = Array::from_unknown(value)?;
            // Only option lists are arrays: elements are read where properties are
            // (not for method arguments), and only so many.
            let len = if fields.is_empty() { 0 } else { array.len().min(MAX_ARRAY_ITEMS) };
            let mut items = Vec::with_capacity(len as usize);
            for i in 0..len {
                items.push(match array.get::<Unknown>(i)? {
                    Some(item) => to_arg_within(item, fields, depth - 1)?,
                    None => Arg::Undefined,
                });
            }
            Arg::Array(items)
        }
        ValueType::Object => {
            let object = Object::from_unknown(value)?;
            let mut read = Vec::with_capacity(fields.len());
            for &name in fields {
                read.push((name, to_arg_within(object.get_named_property::<Unknown>(name)?, fields, depth - 1)?));
            }
            Arg::Object(read)
        }
        ValueType::Symbol => Arg::Other("symbol"),
        ValueType::BigInt => Arg::Other("bigint"),
        _ => Arg::Other("external"),
    })
}

/// A string argument. Node-API turns a lone surrogate into U+FFFD on the way to UTF-8, so
/// two different JavaScript strings (`'a\uD800'`, `'a\uDFFF'`) would become one id; a
/// string whose UTF-8 form holds U+FFFD is read again as UTF-16 to tell a real U+FFFD
/// from a lone surrogate, which no rule accepts.
fn string_arg(value: Unknown<'_>) -> Result<Arg> {
    let text = String::from_unknown(value)?;
    if text.contains('\u{FFFD}') && String::from_utf16(&Utf16String::from_unknown(value)?).is_err() {
        return Ok(Arg::IllFormedString);
    }
    Ok(Arg::String(text))
}

/// The most elements read from an array option.
const MAX_ARRAY_ITEMS: u32 = 1024;

/// The one error mapping: an `Error` (a `TypeError` for bad input) whose message is the
/// core's and whose `code` property is machine-readable. Null if the environment could
/// not build it.
fn js_error_value(env: &Env, err: &StoreError) -> sys::napi_value {
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
fn to_js_error(env: &Env, err: StoreError) -> Error {
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
fn settle<'env, V, F>(env: &'env Env, call: F) -> Result<PromiseRaw<'env, V>>
where
    V: ToNapiValue + Send + 'static,
    F: Future<Output = session_store_core::Result<V>> + Send + 'static,
{
    // A rejection carries the error object itself, created right where the Promise is
    // rejected: wrapping it in a napi `Error` would hold it through a reference.
    settle::spawn_promise(env, call, move |env, outcome| outcome.map_err(|err| js_error_value(env, &err)))
}

/// A required id argument (`rid`, `userId`, `deviceId`), checked by the core.
fn id_arg(name: &str, value: Unknown<'_>) -> Result<session_store_core::Result<String>> {
    Ok(input::id(name, &to_arg(value, &[])?))
}

/// Two required id arguments, each checked by the core.
fn id_pair(
    names: [&str; 2],
    first: Unknown<'_>,
    second: Unknown<'_>,
) -> Result<session_store_core::Result<(String, String)>> {
    let (first, second) = (id_arg(names[0], first)?, id_arg(names[1], second)?);
    Ok(first.and_then(|a| second.map(|b| (a, b))))
}

/// `logoutDevice`'s arguments.
fn user_device_args(
    user_id: Unknown<'_>,
    device_id: Unknown<'_>,
) -> Result<session_store_core::Result<(String, String)>> {
    id_pair(["userId", "deviceId"], user_id, device_id)
}

/// Converts each element of a core result.
fn each<T, V: From<T>>(items: Vec<T>) -> Vec<V> {
    items.into_iter().map(V::from).collect()
}

// The JavaScript shapes of the results. The public declarations live in `index.d.ts`:
// those of the original package (`RefreshIssue`, `GCReport`) are written there as the
// original declares them, and the operator views' types (`views.rs`, `AuditEntry`) are
// re-exported there from the declarations napi generates from these structs
// (`js-binding.d.ts`), so each is written once, here.

#[napi(object)]
pub struct RefreshIssue {
    pub rid: String,
    pub abs_exp: f64,
}

impl From<store::RefreshIssue> for RefreshIssue {
    fn from(issue: store::RefreshIssue) -> Self {
        RefreshIssue { rid: issue.rid, abs_exp: issue.abs_exp as f64 }
    }
}

/// `issueInitial`'s result; `evicted` (the rids ended to keep the user within
/// `maxSessionsPerUser`) is present only when sessions were ended, and `index.js` takes it
/// off before the caller sees the result.
#[napi(object)]
pub struct IssueResult {
    pub rid: String,
    pub abs_exp: f64,
    pub evicted: Option<Vec<String>>,
}

impl From<(store::RefreshIssue, Vec<String>)> for IssueResult {
    fn from((issue, evicted): (store::RefreshIssue, Vec<String>)) -> Self {
        IssueResult {
            rid: issue.rid,
            abs_exp: issue.abs_exp as f64,
            evicted: if evicted.is_empty() { None } else { Some(evicted) },
        }
    }
}

#[napi(object)]
pub struct RotateResult {
    pub user_id: String,
    pub new_rid: RefreshIssue,
}

impl From<store::RotateResult> for RotateResult {
    fn from(rotated: store::RotateResult) -> Self {
        RotateResult { user_id: rotated.user_id, new_rid: rotated.new_rid.into() }
    }
}

#[napi(object)]
pub struct GcReport {
    pub scanned_user_sets: f64,
    pub scanned_rids: f64,
    pub removed_from_sets: f64,
    pub added_to_sets: f64,
    pub deleted_rid_hashes: f64,
    pub removed_rids: f64,
    pub dry_run: bool,
}

impl From<gc::GcReport> for GcReport {
    fn from(r: gc::GcReport) -> Self {
        GcReport {
            scanned_user_sets: r.scanned_user_sets as f64,
            scanned_rids: r.scanned_rids as f64,
            removed_from_sets: r.removed_from_sets as f64,
            added_to_sets: r.added_to_sets as f64,
            deleted_rid_hashes: r.deleted_rid_hashes as f64,
            // The same count under the name the original's README uses.
            removed_rids: r.deleted_rid_hashes as f64,
            dry_run: r.dry_run,
        }
    }
}

/// One entry of the audit stream.
#[napi(object)]
pub struct AuditEntry {
    /// The stream entry's id, `<milliseconds>-<sequence>`.
    pub id: String,
    #[napi(ts_type = "'issued' | 'rotated' | 'ended'")]
    pub event: String,
    pub user_id: String,
    pub rid: String,
    pub device_id: String,
    /// Why a session ended: `logout`, `logout_device`, `logout_all`, `revoked`
    /// (tombstoneLineage), `reuse` (onReuse), `idle`, `evicted`, `logout_session`,
    /// `logout_others` (logoutOtherSessions); `""` for other events.
    pub reason: String,
    /// The server's clock when the change happened, epoch seconds.
    pub time: f64,
    /// `rotated` only: the rid of the child the rotation issued.
    pub child_rid: Option<String>,
}

impl From<session_store_core::audit::AuditEntry> for AuditEntry {
    fn from(e: session_store_core::audit::AuditEntry) -> Self {
        let text = |name: &str| e.get(name).unwrap_or_default().to_string();
        AuditEntry {
            event: text("event"),
            user_id: text("userId"),
            rid: text("rid"),
            device_id: text("deviceId"),
            reason: text("reason"),
            time: e.get("time").and_then(|t| t.parse().ok()).unwrap_or(0.0),
            child_rid: e.get("childRid").map(str::to_string),
            id: e.id,
        }
    }
}

/// The store behind `createRedisStore`; `index.js` wraps it in a plain object of
/// functions so that methods work detached from the store, as the original's do.
#[napi]
pub struct NativeStore {
    pub(crate) core: Arc<SessionStore>,
}

#[napi]
impl NativeStore {
    /// Throws a `TypeError` for a bad `cfg`; never connects, so an unreachable server
    /// is reported by the calls instead.
    #[napi(constructor)]
    pub fn new(env: Env, cfg: Unknown<'_>) -> Result<Self> {
        let cfg = to_arg(cfg, session_store_core::config::CONFIG_FIELDS)?;
        let config = StoreConfig::from_arg(&cfg).map_err(|e| to_js_error(&env, e))?;
        Ok(NativeStore { core: Arc::new(SessionStore::new(config)) })
    }

    /// The one path of every store method: `args` (checked by the core; a bad one
    /// settles as a rejection) go to `call` on the runtime, with the store.
    pub(crate) fn call<'env, A, V, F, Fut>(
        &self,
        env: &'env Env,
        args: session_store_core::Result<A>,
        call: F,
    ) -> Result<PromiseRaw<'env, V>>
    where
        A: Send + 'static,
        V: ToNapiValue + Send + 'static,
        F: FnOnce(Arc<SessionStore>, A) -> Fut + Send + 'static,
        Fut: Future<Output = session_store_core::Result<V>> + Send + 'static,
    {
        let core = self.core.clone();
        settle(env, async move { call(core, args?).await })
    }

    #[napi(ts_return_type = "Promise<IssueResult>")]
    pub fn issue_initial<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown<'_>,
        input: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, IssueResult>> {
        let args = input::issue_input(&to_arg(user_id, &[])?, &to_arg(input, input::ISSUE_INPUT_FIELDS)?);
        self.call(env, args, |core, a| async move { core.issue_initial_evicting(a).await.map(Into::into) })
    }

    /// The newest entries of the audit stream (`cfg.audit`), newest first.
    #[napi(ts_return_type = "Promise<AuditEntry[]>")]
    pub fn read_audit<'env>(&self, env: &'env Env, opts: Unknown<'_>) -> Result<PromiseRaw<'env, Vec<AuditEntry>>> {
        let args = session_store_core::audit::audit_query(&to_arg(opts, session_store_core::audit::READ_AUDIT_FIELDS)?);
        self.call(env, args, |core, q| async move { core.read_audit(q).await.map(each) })
    }

    /// Whether `cfg.metrics` was set: the wrapper then keeps counters and histograms.
    #[napi(getter)]
    pub fn metrics_enabled(&self) -> bool {
        self.core.config().hardening.metrics
    }

    /// Whether `cfg.maxSessionsPerUser` was set: `issueInitial` may then report evictions.
    #[napi(getter)]
    pub fn limits_sessions(&self) -> bool {
        self.core.config().hardening.max_sessions_per_user > 0
    }

    /// Whether `cfg.onReuse` is `'revoke-lineage'`.
    #[napi(getter)]
    pub fn revokes_on_reuse(&self) -> bool {
        self.core.config().hardening.revoke_on_reuse
    }

    #[napi(ts_return_type = "Promise<RotateResult>")]
    pub fn verify_and_rotate_refresh<'env>(
        &self,
        env: &'env Env,
        input: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, RotateResult>> {
        let args = input::rotate_input(&to_arg(input, input::ROTATE_INPUT_FIELDS)?);
        self.call(env, args, |core, a| async move { core.verify_and_rotate_refresh(a).await.map(Into::into) })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn tombstone_lineage<'env>(&self, env: &'env Env, rid: Unknown<'_>) -> Result<PromiseRaw<'env, ()>> {
        self.call(env, id_arg("rid", rid)?, |core, rid| async move { core.tombstone_lineage(&rid).await.map(drop) })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn logout<'env>(&self, env: &'env Env, rid: Unknown<'_>) -> Result<PromiseRaw<'env, ()>> {
        self.call(env, id_arg("rid", rid)?, |core, rid| async move { core.logout(&rid).await.map(drop) })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn logout_device<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown<'_>,
        device_id: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, ()>> {
        let args = user_device_args(user_id, device_id)?;
        self.call(env, args, |core, (u, d)| async move { core.logout_device(&u, &d).await.map(drop) })
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn logout_all<'env>(&self, env: &'env Env, user_id: Unknown<'_>) -> Result<PromiseRaw<'env, ()>> {
        self.call(env, id_arg("userId", user_id)?, |core, u| async move { core.logout_all(&u).await.map(drop) })
    }

    /// Ends the session whose id is `sessionId` (its whole lineage) when it is one of
    /// `userId`'s active sessions; resolves to whether one was ended.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn logout_session<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown<'_>,
        session_id: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, bool>> {
        let args = id_pair(["userId", "sessionId"], user_id, session_id)?;
        self.call(env, args, |core, (u, s)| async move { core.logout_session(&u, &s).await.map(|n| n > 0) })
    }

    /// Ends every active session of `userId` but the one whose id is `keepSessionId`;
    /// resolves to how many it ended.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn logout_other_sessions<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown<'_>,
        keep_session_id: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, f64>> {
        let args = id_pair(["userId", "keepSessionId"], user_id, keep_session_id)?;
        self.call(env, args, |core, (u, s)| async move { core.logout_other_sessions(&u, &s).await.map(|n| n as f64) })
    }

    #[napi(ts_return_type = "Promise<Record<string, string> | null>")]
    pub fn get_rid<'env>(
        &self,
        env: &'env Env,
        rid: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, Option<IndexMap<String, String>>>> {
        self.call(env, id_arg("rid", rid)?, |core, rid| async move {
            core.get_rid(&rid).await.map(|hash| hash.map(IndexMap::from_iter))
        })
    }

    #[napi(ts_return_type = "Promise<string[]>")]
    pub fn scan_rids<'env>(&self, env: &'env Env, user_id: Unknown<'_>) -> Result<PromiseRaw<'env, Vec<String>>> {
        self.call(env, id_arg("userId", user_id)?, |core, u| async move { core.scan_rids(&u).await })
    }

    #[napi(ts_return_type = "Promise<GcReport>")]
    pub fn gc_orphans<'env>(&self, env: &'env Env, opts: Unknown<'_>) -> Result<PromiseRaw<'env, GcReport>> {
        let args = input::gc_options(&to_arg(opts, input::GC_OPTION_FIELDS)?);
        self.call(env, args, |core, o| async move { core.gc_orphans(o).await.map(Into::into) })
    }

    /// Benchmarking aid, not part of the store's API: a Promise that resolves to
    /// `undefined` through the same runtime and settle path as every store method, without
    /// touching Redis. `bench/` uses it to measure the cost of the napi boundary itself.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn noop<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        self.call(env, Ok(()), |_, ()| async { Ok(()) })
    }

    /// Ends the connection. Later calls reject with code `ERR_STORE_CLOSED`.
    #[napi]
    pub fn close(&self) {
        self.core.close();
    }
}

/// One feature's Redis commands, as ACL rule items.
#[napi(object)]
pub struct AclFeature {
    /// The name `aclRule()` takes.
    pub name: String,
    /// `command` or `command|subcommand`, as an ACL rule names them.
    pub commands: Vec<String>,
    /// When the store needs them.
    pub needed_for: String,
}

/// The Redis commands the store needs, by feature: `store` for every method, the others
/// for the options and views that add to it.
#[napi]
pub fn acl_features() -> Vec<AclFeature> {
    commands::FEATURES
        .iter()
        .map(|f| AclFeature {
            name: f.name.into(),
            commands: f.commands.iter().map(|c| c.to_string()).collect(),
            needed_for: f.needed_for.into(),
        })
        .collect()
}

/// The least-privilege ACL rule for a store under `prefix` (what follows
/// `ACL SETUSER <user> on ><password>`): keys under the prefix, the store's commands and
/// those of each feature named (see `aclFeatures()`). Throws a `TypeError` for an unknown
/// feature or an empty prefix.
#[napi]
pub fn acl_rule(env: Env, prefix: Unknown<'_>, features: Option<Vec<String>>) -> Result<String> {
    let prefix = input::id("prefix", &to_arg(prefix, &[])?).map_err(|e| to_js_error(&env, e))?;
    let names: Vec<&str> = features.iter().flatten().map(String::as_str).collect();
    commands::acl_rule(&prefix, &names).map_err(|unknown| {
        let known = commands::feature_names().join(", ");
        to_js_error(&env, StoreError::invalid("features", &format!("names among {known}"), &format!("{unknown:?}")))
    })
}

/// The ACL rule for the user the store logs in to the Sentinels with.
#[napi]
pub fn sentinel_user_rule() -> &'static str {
    commands::SENTINEL_USER_RULE
}

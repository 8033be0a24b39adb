//! The store behind `createRedisStore` and its methods: the original's, and what this
//! package adds for applications (session limits, logouts by session id, the audit stream).

use std::future::Future;
use std::sync::Arc;

use indexmap::IndexMap;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use session_store_core::input;
use session_store_core::{audit, config, SessionStore, StoreConfig};

use crate::args::{id_arg, id_pair, to_arg, user_device_args};
use crate::errors::{settle, to_js_error};
use crate::results::{each, AuditEntry, GcReport, IssueResult, RotateResult};

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
        let cfg = to_arg(cfg, config::CONFIG_FIELDS)?;
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
        let args = audit::audit_query(&to_arg(opts, audit::READ_AUDIT_FIELDS)?);
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

    #[napi(ts_return_type = "Promise<GCReport>")]
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

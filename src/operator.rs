//! The operator methods (used by the CLI): the core's read-only views and keyspace
//! statistics, migration, gc with progress, and logouts that report what they ended, as a
//! second `#[napi] impl NativeStore` block, through the same path as the store's methods.

use napi::bindgen_prelude::*;
use napi::ValueType;
use napi_derive::napi;
use session_store_core::{config, gc, input, migrate, StoreError};

use crate::args::{id_arg, id_pair, to_arg, user_device_args};
use crate::results::{each, GcReport, KeyspaceStats, LineageInfo, MigrationReport, SessionInfo};
use crate::settle::Reporter;
use crate::store::NativeStore;

#[napi]
impl NativeStore {
    /// The active sessions of a user, oldest first, with their fields.
    #[napi(ts_return_type = "Promise<SessionInfo[]>")]
    pub fn list_sessions<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, Vec<SessionInfo>>> {
        self.call(env, id_arg("userId", user_id)?, |core, u| async move { core.list_user_sessions(&u).await.map(each) })
    }

    /// The whole lineage `rid` belongs to, or `null` for an unknown rid.
    #[napi(ts_return_type = "Promise<LineageInfo | null>")]
    pub fn inspect_lineage<'env>(
        &self,
        env: &'env Env,
        rid: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, Option<LineageInfo>>> {
        self.call(env, id_arg("rid", rid)?, |core, rid| async move {
            core.inspect_lineage(&rid).await.map(|l| l.map(Into::into))
        })
    }

    /// The lineage of `userId`'s active session `sessionId`, or `null` when it is not one
    /// of theirs.
    #[napi(ts_return_type = "Promise<LineageInfo | null>")]
    pub fn inspect_session<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown<'_>,
        session_id: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, Option<LineageInfo>>> {
        let args = id_pair(["userId", "sessionId"], user_id, session_id)?;
        self.call(
            env,
            args,
            |core, (u, s)| async move { core.inspect_session(&u, &s).await.map(|l| l.map(Into::into)) },
        )
    }

    /// Copies the sessions of the deployment's old single node into this cluster store
    /// (repeatable; old rids keep working through aliases).
    #[napi(
        ts_return_type = "Promise<MigrationReport>",
        ts_args_type = "source: { url: string; prefix?: string; dryRun?: boolean }"
    )]
    pub fn migrate_from<'env>(&self, env: &'env Env, source: Unknown<'_>) -> Result<PromiseRaw<'env, MigrationReport>> {
        let args = migrate::migration_request(self.core.config(), &to_arg(source, config::MIGRATION_SOURCE_FIELDS)?);
        self.call(env, args, |core, (config, dry_run)| async move {
            core.migrate_from(config, dry_run).await.map(Into::into)
        })
    }

    /// `logoutDevice`, resolving to the number of active sessions it ended (the CLI
    /// reports what was done, not a list read before).
    #[napi(ts_return_type = "Promise<number>")]
    pub fn logout_device_counted<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown<'_>,
        device_id: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, f64>> {
        let args = user_device_args(user_id, device_id)?;
        self.call(env, args, |core, (u, d)| async move { core.logout_device(&u, &d).await.map(|n| n as f64) })
    }

    /// `logoutAll`, resolving to the number of active sessions it ended.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn logout_all_counted<'env>(&self, env: &'env Env, user_id: Unknown<'_>) -> Result<PromiseRaw<'env, f64>> {
        self.call(env, id_arg("userId", user_id)?, |core, u| async move { core.logout_all(&u).await.map(|n| n as f64) })
    }

    /// Sessions by status, users, keys and their memory.
    #[napi(ts_return_type = "Promise<KeyspaceStats>")]
    pub fn keyspace_stats<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, KeyspaceStats>> {
        self.call(env, Ok(()), |core, ()| async move { core.keyspace_stats().await.map(Into::into) })
    }

    /// Whether the store's prefix holds any key of its layout.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn prefix_has_keys<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, bool>> {
        self.call(env, Ok(()), |core, ()| async move { core.prefix_has_keys().await })
    }

    /// `gcOrphans`, calling `onProgress` with the running totals after each SCAN page
    /// (every call before the Promise settles).
    #[napi(
        ts_return_type = "Promise<GCReport>",
        ts_args_type = "opts: unknown, onProgress: (report: GCReport) => void"
    )]
    pub fn gc_orphans_with_progress<'env>(
        &self,
        env: &'env Env,
        opts: Unknown<'_>,
        on_progress: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, GcReport>> {
        let options = input::gc_options(&to_arg(opts, input::GC_OPTION_FIELDS)?);
        let reporter = if on_progress.get_type()? == ValueType::Function {
            Ok(Reporter::new(env, on_progress)?)
        } else {
            Err(StoreError::invalid("onProgress", "a function", &to_arg(on_progress, &[])?.kind()))
        };
        let args = options.and_then(|o| reporter.map(|r| (o, r)));
        self.call(env, args, |core, (options, reporter)| async move {
            let mut report = |r: &gc::GcReport| reporter.report(GcReport::from(*r));
            core.gc_orphans_with_progress(options, &mut report).await.map(Into::into)
        })
    }
}

//! The operator methods (used by the CLI): the core's read-only views and keyspace
//! statistics, gc with progress, and logouts that report what they ended, as a second
//! `#[napi] impl NativeStore` block, through the same path as `lib.rs`'s methods.

use indexmap::IndexMap;
use napi::bindgen_prelude::*;
use napi::ValueType;
use napi_derive::napi;
use session_store_core::input;
use session_store_core::{gc, stats, views, StoreError};

use crate::settle::Reporter;
use crate::{each, id_arg, id_pair, to_arg, user_device_args, GcReport, NativeStore};

/// One session as stored: `{prefix}:rid:{rid}`'s fields, epoch seconds as numbers.
#[napi(object)]
pub struct SessionInfo {
    pub rid: String,
    pub user_id: String,
    /// `""` for the first session of a lineage.
    pub parent_rid: String,
    /// listSessions only: when the lineage signed in, the createdAt of its first session
    /// (found through parentRid), or this session's createdAt when that one is gone.
    pub signed_in_at: Option<f64>,
    /// listSessions only: when the session was last rotated (or issued), its createdAt.
    pub last_rotated_at: Option<f64>,
    /// inspectLineage only: where this session's parent is in `sessions`; absent for a root.
    pub parent_index: Option<u32>,
    pub created_at: f64,
    pub exp_at: f64,
    pub abs_exp_at: f64,
    pub device_id: String,
    pub ua_hash: String,
    pub ip_hash: String,
    /// `active`, `used` or `tombstoned`.
    pub status: String,
    /// The session's id, the same for every session of one lineage (it survives
    /// rotations); never a token. `logoutSession` and `logoutOtherSessions` take it.
    pub session_id: String,
}

impl From<views::SessionInfo> for SessionInfo {
    fn from(s: views::SessionInfo) -> Self {
        SessionInfo {
            rid: s.rid,
            user_id: s.user_id,
            parent_rid: s.parent_rid,
            last_rotated_at: s.signed_in_at.map(|_| s.created_at as f64),
            signed_in_at: s.signed_in_at.map(|t| t as f64),
            parent_index: s.parent_index.map(|i| i as u32),
            created_at: s.created_at as f64,
            exp_at: s.exp_at as f64,
            abs_exp_at: s.abs_exp_at as f64,
            device_id: s.device_id,
            ua_hash: s.ua_hash,
            ip_hash: s.ip_hash,
            status: s.status,
            session_id: s.session_id,
        }
    }
}

/// A lineage: every session still in Redis, oldest first in tree order (each session's
/// `parentIndex` points at its parent).
#[napi(object)]
pub struct LineageInfo {
    pub user_id: String,
    /// The rid that was asked about.
    pub rid: String,
    pub sessions: Vec<SessionInfo>,
    /// The oldest session's `parentRid` when that parent's hash is gone (expired or collected).
    pub missing_parent: Option<String>,
    /// Whether the user's rid keys had to be found with SCAN (descendants no longer indexed).
    pub scanned: bool,
}

impl From<views::LineageInfo> for LineageInfo {
    fn from(l: views::LineageInfo) -> Self {
        LineageInfo {
            user_id: l.user_id,
            rid: l.rid,
            sessions: each(l.sessions),
            missing_parent: l.missing_parent,
            scanned: l.scanned,
        }
    }
}

/// Keys under the store's prefix; sizes in bytes as `MEMORY USAGE` reports them.
#[napi(object)]
pub struct KeyspaceStats {
    /// Rid hashes by status; `(no userId)` counts hashes gc would delete.
    #[napi(ts_type = "Record<string, number>")]
    pub sessions_by_status: IndexMap<String, f64>,
    pub rid_keys: f64,
    pub rid_bytes: f64,
    /// User index sets: users with at least one indexed session.
    pub user_keys: f64,
    pub user_bytes: f64,
    pub indexed_members: f64,
    pub device_keys: f64,
    pub device_bytes: f64,
}

impl From<stats::KeyspaceStats> for KeyspaceStats {
    fn from(s: stats::KeyspaceStats) -> Self {
        KeyspaceStats {
            sessions_by_status: s.sessions_by_status.into_iter().map(|(k, v)| (k, v as f64)).collect(),
            rid_keys: s.rid_keys as f64,
            rid_bytes: s.rid_bytes as f64,
            user_keys: s.user_keys as f64,
            user_bytes: s.user_bytes as f64,
            indexed_members: s.indexed_members as f64,
            device_keys: s.device_keys as f64,
            device_bytes: s.device_bytes as f64,
        }
    }
}

/// What `migrateFrom` did (or, with `dryRun`, found).
#[napi(object)]
pub struct MigrationReport {
    /// Rid hashes read on the old node.
    pub scanned: f64,
    /// Sessions written to the cluster for the first time.
    pub copied: f64,
    /// Sessions copied before whose status advanced since (e.g. logged out on the old node).
    pub advanced: f64,
    /// Sessions copied before and unchanged.
    pub unchanged: f64,
    /// Hashes not copied: no userId, or past their absolute expiry.
    pub skipped: f64,
    pub dry_run: bool,
}

impl From<session_store_core::MigrationReport> for MigrationReport {
    fn from(r: session_store_core::MigrationReport) -> Self {
        MigrationReport {
            scanned: r.scanned as f64,
            copied: r.copied as f64,
            advanced: r.advanced as f64,
            unchanged: r.unchanged as f64,
            skipped: r.skipped as f64,
            dry_run: r.dry_run,
        }
    }
}

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
        let source = to_arg(source, session_store_core::config::MIGRATION_SOURCE_FIELDS)?;
        let args = self.core.config().migration_source(&source).and_then(|config| match source.field("dryRun") {
            input::Arg::Undefined => Ok((config, false)),
            input::Arg::Bool(dry_run) => Ok((config, *dry_run)),
            other => Err(StoreError::invalid("source.dryRun", "a boolean", &other.kind())),
        });
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
        ts_return_type = "Promise<GcReport>",
        ts_args_type = "opts: unknown, onProgress: (report: GcReport) => void"
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

//! The read-only operator views of the core's `views` and `stats` modules (used by the CLI), as a
//! second `#[napi] impl NativeStore` block. Same rules as `lib.rs`: arguments are
//! checked by the core, every method returns a Promise and never throws.

use indexmap::IndexMap;
use napi::bindgen_prelude::*;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::ValueType;
use napi_derive::napi;
use session_store_core::input::{self};
use session_store_core::{gc, stats, views, StoreError};

use crate::{checked, gc_report, to_arg, GcReport, NativeStore};

/// One session: its rid and the data model's fields (epoch seconds as numbers).
#[napi(object)]
pub struct SessionInfo {
    pub rid: String,
    pub user_id: String,
    pub parent_rid: String,
    pub created_at: f64,
    pub exp_at: f64,
    pub abs_exp_at: f64,
    pub device_id: String,
    pub ua_hash: String,
    pub ip_hash: String,
    pub status: String,
    /// listSessions only: when the lineage signed in (its first session's createdAt, or
    /// this session's createdAt when the first session is gone).
    pub signed_in_at: Option<f64>,
    /// listSessions only: when the session was last rotated (or issued): its createdAt.
    pub last_rotated_at: Option<f64>,
    /// inspectLineage only: where this session's parent is in `sessions`; absent for a root.
    pub parent_index: Option<u32>,
}

/// The lineage a rid belongs to, oldest session first, in tree order.
#[napi(object)]
pub struct LineageInfo {
    pub user_id: String,
    /// The rid that was asked about.
    pub rid: String,
    pub sessions: Vec<SessionInfo>,
    /// The oldest session's parentRid when that parent's hash is gone.
    pub missing_parent: Option<String>,
    /// Whether the user's rid keys had to be found with SCAN.
    pub scanned: bool,
}

/// Counts and memory (bytes, `MEMORY USAGE`) of the keys under the store's prefix.
#[napi(object)]
pub struct KeyspaceStats {
    #[napi(ts_type = "Record<string, number>")]
    pub sessions_by_status: IndexMap<String, f64>,
    pub rid_keys: f64,
    pub rid_bytes: f64,
    pub user_keys: f64,
    pub user_bytes: f64,
    pub indexed_members: f64,
    pub device_keys: f64,
    pub device_bytes: f64,
}

/// What `migrateFrom` did (or, in a dry run, found).
#[napi(object)]
pub struct MigrationReport {
    /// Rid hashes read on the old node.
    pub scanned: f64,
    /// Sessions written to the cluster for the first time.
    pub copied: f64,
    /// Sessions copied before whose status advanced since.
    pub advanced: f64,
    /// Sessions copied before and unchanged.
    pub unchanged: f64,
    /// Hashes not copied: no userId, or past their absolute expiry.
    pub skipped: f64,
    pub dry_run: bool,
}

fn migration_report(r: session_store_core::MigrationReport) -> MigrationReport {
    MigrationReport {
        scanned: r.scanned as f64,
        copied: r.copied as f64,
        advanced: r.advanced as f64,
        unchanged: r.unchanged as f64,
        skipped: r.skipped as f64,
        dry_run: r.dry_run,
    }
}

fn session_info(s: views::SessionInfo) -> SessionInfo {
    SessionInfo {
        rid: s.rid,
        user_id: s.user_id,
        parent_rid: s.parent_rid,
        created_at: s.created_at as f64,
        exp_at: s.exp_at as f64,
        abs_exp_at: s.abs_exp_at as f64,
        device_id: s.device_id,
        ua_hash: s.ua_hash,
        ip_hash: s.ip_hash,
        status: s.status,
        last_rotated_at: s.signed_in_at.map(|_| s.created_at as f64),
        signed_in_at: s.signed_in_at.map(|t| t as f64),
        parent_index: s.parent_index.map(|i| i as u32),
    }
}

fn sessions(list: Vec<views::SessionInfo>) -> Vec<SessionInfo> {
    list.into_iter().map(session_info).collect()
}

fn lineage_info(l: Option<views::LineageInfo>) -> Option<LineageInfo> {
    l.map(|l| LineageInfo {
        user_id: l.user_id,
        rid: l.rid,
        sessions: sessions(l.sessions),
        missing_parent: l.missing_parent,
        scanned: l.scanned,
    })
}

fn keyspace_stats(s: stats::KeyspaceStats) -> KeyspaceStats {
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

#[napi]
impl NativeStore {
    /// The active sessions of a user, oldest first, with their fields.
    #[napi(ts_return_type = "Promise<SessionInfo[]>")]
    pub fn list_sessions<'env>(
        &self,
        env: &'env Env,
        user_id: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, Vec<SessionInfo>>> {
        let args = input::id("userId", &to_arg(user_id, &[])?);
        let core = self.core.clone();
        checked(env, args, move |u| async move { core.list_sessions(&u).await }, sessions)
    }

    /// The whole lineage `rid` belongs to, or `null` for an unknown rid.
    #[napi(ts_return_type = "Promise<LineageInfo | null>")]
    pub fn inspect_lineage<'env>(
        &self,
        env: &'env Env,
        rid: Unknown<'_>,
    ) -> Result<PromiseRaw<'env, Option<LineageInfo>>> {
        let args = input::id("rid", &to_arg(rid, &[])?);
        let core = self.core.clone();
        checked(env, args, move |rid| async move { core.inspect_lineage(&rid).await }, lineage_info)
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
        let core = self.core.clone();
        checked(
            env,
            args,
            move |(config, dry_run)| async move { core.migrate_from(config, dry_run).await },
            migration_report,
        )
    }

    /// Sessions by status, users, keys and their memory.
    #[napi(ts_return_type = "Promise<KeyspaceStats>")]
    pub fn keyspace_stats<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, KeyspaceStats>> {
        let core = self.core.clone();
        checked(env, Ok(()), move |()| async move { core.keyspace_stats().await }, keyspace_stats)
    }

    /// Whether the store's prefix holds any key of its layout.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn prefix_has_keys<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, bool>> {
        let core = self.core.clone();
        checked(env, Ok(()), move |()| async move { core.prefix_has_keys().await }, std::convert::identity)
    }

    /// `gcOrphans`, calling `onProgress` with the running totals after each SCAN page.
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
        let callback = if on_progress.get_type()? == ValueType::Function {
            let function = Function::<GcReport, ()>::from_unknown(on_progress)?;
            Ok(function.build_threadsafe_function::<GcReport>().callee_handled::<false>().weak::<true>().build()?)
        } else {
            Err(StoreError::invalid("onProgress", "a function", &to_arg(on_progress, &[])?.kind()))
        };
        let args = options.and_then(|o| callback.map(|c| (o, c)));
        let core = self.core.clone();
        checked(
            env,
            args,
            move |(options, callback)| async move {
                let mut report = |r: &gc::GcReport| {
                    callback.call(gc_report(*r), ThreadsafeFunctionCallMode::NonBlocking);
                };
                core.gc_orphans_with_progress(options, &mut report).await
            },
            gc_report,
        )
    }
}

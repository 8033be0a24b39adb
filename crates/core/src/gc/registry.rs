//! `gcScope: 'registry'`: the routine gc walks the registry of the store's users (a set
//! of user index keys, `<prefix>:registry`) instead of the whole keyspace, so other
//! applications' keys in the same database cost it nothing. The scripts add a user when
//! they create the user's index; gc removes the users whose index is gone. Until a full
//! pass has registered the users that were there before (the member `''`), gc makes one.

use redis::FromRedisValue;

use super::{run_per_slot, sum_pairs, GcReport, Run, GC_BATCH, GC_INDEX_BATCH};
use crate::error::Result;
use crate::scripts;
use crate::store::SessionStore;

/// Registry members asked of SSCAN per page.
const REGISTRY_PAGE: u32 = 200;

/// One command on the store's server (the registry mode is for one server: a cluster
/// store refuses it).
async fn query<T: FromRedisValue>(store: &SessionStore, command: &redis::Cmd) -> Result<T> {
    let mut link = store.connection().await?;
    command.query_async(&mut link).await.map_err(|e| store.error(e))
}

/// Whether a full pass has registered the users that were there before the registry.
pub(super) async fn seeded(store: &SessionStore) -> Result<bool> {
    query(store, redis::cmd("SISMEMBER").arg(store.layout().registry_key()).arg("")).await
}

/// Notes that a full pass registered every user it found.
pub(super) async fn mark_seeded(store: &SessionStore) -> Result<()> {
    query::<i64>(store, redis::cmd("SADD").arg(store.layout().registry_key()).arg("")).await.map(|_| ())
}

/// The routine collection: each page of the registry's users, their indexes cleaned (the
/// users whose index is gone leave the registry) and their indexed sessions checked.
pub(super) async fn walk(
    store: &SessionStore,
    run: &Run,
    report: &mut GcReport,
    progress: &mut (dyn FnMut(&GcReport) + Send),
) -> Result<()> {
    let registry = store.layout().registry_key();
    let mut cursor = 0u64;
    loop {
        let mut sscan = redis::cmd("SSCAN");
        sscan.arg(&registry).arg(cursor).arg("COUNT").arg(REGISTRY_PAGE);
        let (next, members): (u64, Vec<String>) = query(store, &sscan).await?;
        let indexes: Vec<String> = members.into_iter().filter(|m| !m.is_empty()).collect();
        if !indexes.is_empty() {
            clean_users(store, run, &indexes, report).await?;
            progress(report);
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// One page of users: their sessions are read, their indexes cleaned, then the sessions
/// that still exist are judged as the keyspace pass judges rid hashes.
async fn clean_users(store: &SessionStore, run: &Run, indexes: &[String], report: &mut GcReport) -> Result<()> {
    let mut pipe = redis::pipe();
    for index in indexes {
        pipe.cmd("SMEMBERS").arg(index);
    }
    let mut link = store.connection().await?;
    // A registered index key of another type fails the run (nothing of this page written):
    // passing over it would leave its user's sessions unjudged while the run resolves.
    let sessions: Vec<Vec<String>> = pipe.query_async(&mut link).await.map_err(|e| store.error(e))?;
    let args = [run.dry_run];
    let cleaned =
        run_per_slot::<(u64, u64)>(store, &scripts::GC_INDEX, indexes, |_| None, &args, run.writes, GC_INDEX_BATCH)
            .await?;
    let (removed, seen) = sum_pairs(cleaned);
    report.scanned_user_sets += seen;
    report.removed_from_sets += removed;
    let rids: Vec<String> = sessions.into_iter().flatten().collect();
    if rids.is_empty() {
        return Ok(());
    }
    let args = [run.now.as_str(), run.grace.as_str(), run.dry_run];
    let judged =
        run_per_slot::<(u64, u64, u64)>(store, &scripts::GC_RIDS, &rids, |_| None, &args, run.writes, GC_BATCH).await?;
    for outcome in judged {
        report.add_judged(outcome);
    }
    Ok(())
}

//! Garbage collection (`gcOrphans`): streams the keyspace with SCAN and cleans each page
//! with one script call (one per slot on a cluster), so memory stays bounded and the server
//! is never blocked for long. With `gcScope: 'registry'` the routine run walks the
//! store's registry of users instead (see `registry`).

mod registry;

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use redis::FromRedisValue;

use crate::config::GcScope;
use crate::error::Result;
use crate::input::GcOptions;
use crate::keys::hash_tag;
use crate::scan::ScanPages;
use crate::scripts::{self, StoreScript};
use crate::store::SessionStore;

/// Rid keys the keyspace pass keeps for the rid step (~100 bytes each): past this many,
/// the rid step scans the keyspace again instead, so memory stays bounded.
const REMEMBERED_RIDS_MAX: usize = 250_000;
/// Rid keys per gc script call: bounds how long one call holds the server.
const GC_BATCH: usize = 500;
/// User indexes per gc script call: the call checks every member of each, so it takes
/// fewer of them (at 25 sessions a user, as many members as a rid batch has keys).
const GC_INDEX_BATCH: usize = 20;

/// What a gc run did (or, in a dry run, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    pub scanned_user_sets: u64,
    pub scanned_rids: u64,
    pub removed_from_sets: u64,
    pub added_to_sets: u64,
    pub deleted_rid_hashes: u64,
    pub dry_run: bool,
}

impl GcReport {
    /// Counts what a `gc_rids` script call reports: (hashes deleted, re-indexed, judged).
    fn add_judged(&mut self, (deleted, added, seen): (u64, u64, u64)) {
        self.deleted_rid_hashes += deleted;
        self.added_to_sets += added;
        self.scanned_rids += seen;
    }
}

impl SessionStore {
    pub async fn gc_orphans(&self, options: GcOptions) -> Result<GcReport> {
        self.gc_orphans_with_progress(options, &mut |_| {}).await
    }

    /// `gc_orphans`, calling `progress` with the running totals after each SCAN page (for
    /// an operator's progress line on a large keyspace).
    pub async fn gc_orphans_with_progress(
        &self,
        options: GcOptions,
        progress: &mut (dyn FnMut(&GcReport) + Send),
    ) -> Result<GcReport> {
        collect(self, options, progress).await
    }
}

/// Runs a script over a page of keys: one call per `batch` keys of the page, and on a
/// cluster per slot (a script's keys must share one), sent together. `declare` adds the keys a
/// script will also touch for a key of the page (cluster layout only); the script's
/// last argument is how many page keys lead its KEYS. `writes` is false for a dry run.
async fn run_per_slot<T: FromRedisValue>(
    store: &SessionStore,
    script: &StoreScript,
    keys: &[String],
    declare: impl Fn(&str) -> Option<String>,
    args: &[&str],
    writes: bool,
    batch: usize,
) -> Result<Vec<T>> {
    let groups = store.layout().group_by_slot(keys.iter().map(String::as_str), |key| key.to_string());
    let batches = groups.iter().flat_map(|group| group.chunks(batch));
    let calls = batches.map(|group| {
        let count = group.len().to_string();
        let mut declared: Vec<String> = Vec::new();
        if store.layout().is_cluster() {
            for key in group {
                if let Some(extra) = declare(key).filter(|k| !declared.contains(k)) {
                    declared.push(extra);
                }
            }
        }
        async move {
            let all: Vec<&str> = group.iter().copied().chain(declared.iter().map(String::as_str)).collect();
            let args: Vec<&str> = args.iter().copied().chain([count.as_str()]).collect();
            store.run_as::<T, &str>(script, &all, &args, writes).await
        }
    });
    futures_util::future::try_join_all(calls).await
}

/// What every script call of one gc run is given: whether it is a dry run (the scripts'
/// argument, and whether a call can write), and the clock and grace period it judges by.
struct Run {
    dry_run: &'static str,
    writes: bool,
    now: String,
    grace: String,
}

async fn collect(
    store: &SessionStore,
    options: GcOptions,
    progress: &mut (dyn FnMut(&GcReport) + Send),
) -> Result<GcReport> {
    let run = Run {
        dry_run: if options.dry_run { "1" } else { "0" },
        writes: !options.dry_run,
        now: options
            .now
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
            .to_string(),
        grace: options.grace_seconds.to_string(),
    };
    let mut report = GcReport { dry_run: options.dry_run, ..GcReport::default() };
    let registry = store.config().hardening.gc_scope == GcScope::Registry;
    if registry && registry::seeded(store).await? {
        registry::walk(store, &run, &mut report, progress).await?;
        return Ok(report);
    }
    // The full pass; in registry mode it registers every user it finds (see gc_index).
    let remembered = clean_indexes(store, &run, &mut report, progress).await?;
    clean_rids(store, &run, remembered, &mut report, progress).await?;
    if registry && !options.dry_run {
        registry::mark_seeded(store).await?;
    }
    Ok(report)
}

/// Step 1, one pass over the keys under the prefix: index members whose rid hash is gone
/// are removed page by page, and the rid keys are remembered for step 2 (`None` past
/// [`REMEMBERED_RIDS_MAX`]), so the keyspace (other applications' keys included) is
/// walked once, not twice.
async fn clean_indexes(
    store: &SessionStore,
    run: &Run,
    report: &mut GcReport,
    progress: &mut (dyn FnMut(&GcReport) + Send),
) -> Result<Option<Vec<String>>> {
    let layout = store.layout();
    let (dry_run, writes) = (run.dry_run, run.writes);
    let mut remembered: Option<Vec<String>> = Some(Vec::new());
    each_page(
        ScanPages::new(store, layout.key_pattern(), None).await?,
        |keys| async move {
            let (indexes, rids): (Vec<String>, Vec<String>) = keys
                .into_iter()
                .filter(|k| layout.is_user_key(k) || layout.is_rid_key(k))
                .partition(|k| layout.is_user_key(k));
            let outcomes = if indexes.is_empty() {
                Vec::new()
            } else {
                run_per_slot::<(u64, u64)>(
                    store,
                    &scripts::GC_INDEX,
                    &indexes,
                    |_| None,
                    &[dry_run],
                    writes,
                    GC_INDEX_BATCH,
                )
                .await?
            };
            Ok((sum_pairs(outcomes), rids))
        },
        |((removed, seen), rids)| {
            report.scanned_user_sets += seen;
            report.removed_from_sets += removed;
            remembered = remembered
                .take()
                .map(|mut kept| {
                    kept.extend(rids);
                    kept
                })
                .filter(|kept| kept.len() <= REMEMBERED_RIDS_MAX);
            progress(report);
        },
    )
    .await?;
    Ok(remembered)
}

/// Step 2, rid hashes: delete garbage, re-index active sessions. From the keys
/// remembered, or, when there were too many to keep, from a second SCAN.
async fn clean_rids(
    store: &SessionStore,
    run: &Run,
    remembered: Option<Vec<String>>,
    report: &mut GcReport,
    progress: &mut (dyn FnMut(&GcReport) + Send),
) -> Result<()> {
    let layout = store.layout();
    let (now, grace, dry_run, writes) = (run.now.as_str(), run.grace.as_str(), run.dry_run, run.writes);
    let index_of = |key: &str| layout.rid_of_key(key).and_then(|rid| layout.user_key_of_rid(&rid));
    let clean = |keys: Vec<String>| async move {
        let outcomes = run_per_slot::<(u64, u64, u64)>(
            store,
            &scripts::GC_RIDS,
            &keys,
            index_of,
            &[now, grace, dry_run],
            writes,
            GC_BATCH,
        )
        .await?;
        Ok(outcomes.into_iter().fold((0, 0, 0), |(d, a, s), (deleted, added, seen)| (d + deleted, a + added, s + seen)))
    };
    let mut apply = |outcome: (u64, u64, u64)| {
        report.add_judged(outcome);
        progress(report);
    };
    match remembered {
        Some(mut keys) => {
            // A cluster's script calls go one per slot: keys of one slot side by side
            // share calls.
            if layout.is_cluster() {
                keys.sort_unstable_by(|a, b| hash_tag(a).cmp(hash_tag(b)));
            }
            let batches: Vec<Vec<String>> = keys.chunks(GC_BATCH).map(<[String]>::to_vec).collect();
            drop(keys);
            let mut outcomes = futures_util::stream::iter(batches.into_iter().map(clean)).buffered(2);
            while let Some(outcome) = outcomes.next().await {
                apply(outcome?);
            }
        }
        None => each_page(ScanPages::new(store, layout.rid_key_pattern(), "hash").await?, clean, apply).await?,
    }
    Ok(())
}

fn sum_pairs(pairs: Vec<(u64, u64)>) -> (u64, u64) {
    pairs.into_iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y))
}

/// Cleans every non-empty page of a scan with `clean` (one script call per page, or per
/// slot on a cluster) and folds each outcome into the report with `apply`. The next page
/// is asked for together with the current page's script, so the server runs them back to
/// back (script first, as before) instead of waiting a round trip in between.
async fn each_page<T, Fut>(
    mut pages: ScanPages<'_>,
    clean: impl Fn(Vec<String>) -> Fut,
    mut apply: impl FnMut(T),
) -> Result<()>
where
    Fut: Future<Output = Result<T>>,
{
    let mut page = pages.next().await?;
    while let Some(keys) = page {
        if keys.is_empty() {
            page = pages.next().await?;
            continue;
        }
        let (outcome, next) = futures_util::future::join(clean(keys), pages.next()).await;
        apply(outcome?);
        page = next?;
    }
    Ok(())
}

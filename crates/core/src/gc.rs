//! Garbage collection: streams the keyspace with SCAN and cleans each page with one
//! script call, so memory stays bounded and the server is never blocked for long.

use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use redis::aio::ConnectionManager;

use crate::error::Result;
use crate::input::GcOptions;
use crate::scripts;
use crate::store::{GcReport, SessionStore};

/// Keys asked of SCAN per page.
const SCAN_PAGE: u32 = 1_000;

/// The pages of one SCAN over keys of one type matching a pattern.
pub(crate) struct ScanPages<'a> {
    store: &'a SessionStore,
    /// Taken at the first page, so the server check runs before the first SCAN.
    connection: Option<ConnectionManager>,
    pattern: String,
    key_type: &'static str,
    cursor: Option<u64>,
}

impl<'a> ScanPages<'a> {
    pub(crate) fn new(store: &'a SessionStore, pattern: String, key_type: &'static str) -> Result<Self> {
        Ok(ScanPages { store, connection: None, pattern, key_type, cursor: Some(0) })
    }

    /// The next page (possibly empty), or `None` once the scan is complete.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<String>>> {
        let Some(cursor) = self.cursor else { return Ok(None) };
        if self.connection.is_none() {
            self.connection = Some(self.store.connection().await?);
        }
        let Some(connection) = self.connection.as_mut() else { return Ok(None) };
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("COUNT")
            .arg(SCAN_PAGE)
            .arg("TYPE")
            .arg(self.key_type)
            .query_async(connection)
            .await
            .map_err(|e| self.store.error(e))?;
        self.cursor = (next != 0).then_some(next);
        Ok(Some(keys))
    }
}

pub(crate) async fn run(store: &SessionStore, options: GcOptions) -> Result<GcReport> {
    run_observed(store, options, &mut |_| {}).await
}

/// [`run`], calling `progress` with the running totals after each SCAN page (for an
/// operator's progress line on a large keyspace).
pub(crate) async fn run_observed(
    store: &SessionStore,
    options: GcOptions,
    progress: &mut (dyn FnMut(&GcReport) + Send),
) -> Result<GcReport> {
    let dry_run = if options.dry_run { "1" } else { "0" };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()).to_string();
    let grace = options.grace_seconds.to_string();
    let mut report = GcReport { dry_run: options.dry_run, ..GcReport::default() };

    // 1) Index members whose rid hash is gone.
    each_page(
        ScanPages::new(store, store.layout().user_key_pattern(), "set")?,
        |keys| async move { store.run::<u64>(&scripts::GC_INDEX, &as_strs(&keys), &[dry_run]).await },
        |scanned, removed| {
            report.scanned_user_sets += scanned;
            report.removed_from_sets += removed;
            progress(&report);
        },
    )
    .await?;

    // 2) Rid hashes: delete garbage, re-index active sessions.
    let (now, grace) = (now.as_str(), grace.as_str());
    each_page(
        ScanPages::new(store, store.layout().rid_key_pattern(), "hash")?,
        |keys| async move { store.run::<(u64, u64)>(&scripts::GC_RIDS, &as_strs(&keys), &[now, grace, dry_run]).await },
        |scanned, (deleted, added)| {
            report.scanned_rids += scanned;
            report.deleted_rid_hashes += deleted;
            report.added_to_sets += added;
            progress(&report);
        },
    )
    .await?;
    Ok(report)
}

fn as_strs(keys: &[String]) -> Vec<&str> {
    keys.iter().map(String::as_str).collect()
}

/// Cleans every non-empty page of a scan with `clean` (one script call per page) and
/// folds each outcome into the report with `apply(keys in the page, outcome)`. The next
/// page is asked for together with the current page's script, so the server runs them
/// back to back (script first, as before) instead of waiting a round trip in between.
async fn each_page<T, Fut>(
    mut pages: ScanPages<'_>,
    clean: impl Fn(Vec<String>) -> Fut,
    mut apply: impl FnMut(u64, T),
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
        let scanned = keys.len() as u64;
        let (outcome, next) = futures_util::future::join(clean(keys), pages.next()).await;
        apply(scanned, outcome?);
        page = next?;
    }
    Ok(())
}

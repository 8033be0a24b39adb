//! The JavaScript shapes of the core's results, converted field by field. The public
//! declarations live in `index.d.ts`: those of the original package (`RefreshIssue`,
//! `GCReport`) are written there as the original declares them, and the operator views'
//! types (`SessionInfo`, `LineageInfo`, `KeyspaceStats`, `MigrationReport`, `AuditEntry`)
//! are re-exported there from the declarations napi generates from these structs
//! (`js-binding.d.ts`), so each is written once, here.

use indexmap::IndexMap;
use napi_derive::napi;
use session_store_core::{audit, gc, lineage, stats, views};

/// Converts each element of a core result.
pub(crate) fn each<T, V: From<T>>(items: Vec<T>) -> Vec<V> {
    items.into_iter().map(V::from).collect()
}

#[napi(object)]
pub struct RefreshIssue {
    pub rid: String,
    pub abs_exp: f64,
}

impl From<session_store_core::RefreshIssue> for RefreshIssue {
    fn from(issue: session_store_core::RefreshIssue) -> Self {
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

impl From<(session_store_core::RefreshIssue, Vec<String>)> for IssueResult {
    fn from((issue, evicted): (session_store_core::RefreshIssue, Vec<String>)) -> Self {
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

impl From<session_store_core::RotateResult> for RotateResult {
    fn from(rotated: session_store_core::RotateResult) -> Self {
        RotateResult { user_id: rotated.user_id, new_rid: rotated.new_rid.into() }
    }
}

/// What `gcOrphans` found and did (or, with `dryRun`, would do).
// `GCReport` in JavaScript, the original's name, which `index.d.ts` uses too.
#[napi(object, js_name = "GCReport")]
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

impl From<audit::AuditEntry> for AuditEntry {
    fn from(e: audit::AuditEntry) -> Self {
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

impl From<lineage::SessionInfo> for SessionInfo {
    fn from(s: lineage::SessionInfo) -> Self {
        SessionInfo {
            rid: s.rid,
            user_id: s.user_id,
            parent_rid: s.parent_rid,
            last_rotated_at: s.last_rotated_at.map(|t| t as f64),
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

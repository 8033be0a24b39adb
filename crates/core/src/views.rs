//! The read-only operator views (the `redis-session-store` CLI): the sessions of a user
//! with their hashes, the whole lineage of a rid as a tree, and whether the prefix holds
//! anything. Nothing here writes to Redis. Keys come from
//! [`KeyLayout`](crate::keys::KeyLayout) only; hashes are read in batches by one
//! read-only script (`lua/load_hashes.lua`).

use std::collections::{HashMap, HashSet};

use redis::Value;

use crate::error::Result;
use crate::limits::MAX_LINEAGE_HOPS;
use crate::lineage::SessionInfo;
use crate::reply::text;
use crate::scan::ScanPages;
use crate::scripts;
use crate::store::SessionStore;
use crate::token;

/// Keys read per `load_hashes` call.
const LOAD_BATCH: usize = 500;

/// The lineage a rid belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageInfo {
    pub user_id: String,
    /// The rid that was asked about.
    pub rid: String,
    /// Every session of the lineage still in Redis, in tree order: the oldest ancestor
    /// first, then depth-first, children by creation time. Each session's `parent_index`
    /// (and `parent_rid`) links it to its parent.
    pub sessions: Vec<SessionInfo>,
    /// The oldest session's `parentRid` when that parent's hash is gone (expired or
    /// collected): the lineage's earlier part cannot be shown.
    pub missing_parent: Option<String>,
    /// Whether the user's rid keys had to be found with SCAN: a `used` or `tombstoned`
    /// session had no child reachable from the user's index (e.g. the lineage was ended).
    pub scanned: bool,
}

impl SessionStore {
    /// Loads the sessions of some bare rids; missing ones (or hashes without userId) are
    /// absent from the map.
    async fn load_sessions(&self, rids: &[String]) -> Result<HashMap<String, SessionInfo>> {
        let mut out = HashMap::with_capacity(rids.len());
        let groups = self.layout.group_by_slot(rids.iter().cloned(), |rid| self.layout.rid_key(rid));
        for chunk in groups.iter().flat_map(|group| group.chunks(LOAD_BATCH)) {
            let keys: Vec<String> = chunk.iter().map(|rid| self.layout.rid_key(rid)).collect();
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let hashes: Vec<Vec<(String, String)>> = self.run(&scripts::LOAD_HASHES, &keys, &[]).await?;
            for (rid, fields) in chunk.iter().zip(hashes) {
                if let Some(session) = SessionInfo::from_fields(rid, &fields) {
                    out.insert(rid.clone(), session);
                }
            }
        }
        Ok(out)
    }

    /// [`list_sessions`](Self::list_sessions) as callers see it: with hashed tokens, no
    /// session is shown under a live token.
    pub async fn list_user_sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>> {
        Ok(self.list_sessions(user_id).await?.into_iter().map(|s| self.shown_session(s)).collect())
    }

    fn shown_session(&self, mut session: SessionInfo) -> SessionInfo {
        session.rid = self.layout.shown_rid(&session.rid);
        if !session.parent_rid.is_empty() {
            session.parent_rid = self.layout.shown_rid(&session.parent_rid);
        }
        session
    }

    /// The lineage `rid` belongs to, or `None` when the rid is unknown: one read-only
    /// script (`lua/inspect_lineage.lua`, the walk `tombstoneLineage` ends), one round trip
    /// in the original's layout. Sessions keep no pointer to their children, so the walk
    /// finds descendants from the user's index; when that leaves a `used` or `tombstoned`
    /// session without a child (its descendants were logged out or the lineage was ended,
    /// so they left the index), the user's rid keys are found with SCAN.
    pub async fn inspect_lineage(&self, rid: &str) -> Result<Option<LineageInfo>> {
        let Some(rid) = self.resolve_rid(rid).await? else { return Ok(None) };
        self.lineage_of(rid).await
    }

    /// The lineage of `user_id`'s active session whose id is `session_id`, or `None` when
    /// it is not one of theirs: the lineage view for callers that hold no token (an
    /// operator's page), in both token storages.
    pub async fn inspect_session(&self, user_id: &str, session_id: &str) -> Result<Option<LineageInfo>> {
        let sessions = self.list_sessions(user_id).await?;
        let Some(chosen) = sessions.into_iter().find(|s| crate::token::same_name(&s.session_id, session_id)) else {
            return Ok(None);
        };
        self.lineage_of(chosen.rid).await
    }

    /// The lineage the session stored under `rid` (a stored name) belongs to.
    async fn lineage_of(&self, rid: String) -> Result<Option<LineageInfo>> {
        let hops = MAX_LINEAGE_HOPS.to_string();
        let reply: Vec<Value> = self.run(&scripts::INSPECT_LINEAGE, &[self.layout.rid_key(&rid)], &[&hops]).await?;
        let Some((missing_parent, rows)) = reply.split_first() else { return Ok(None) };
        let mut members: HashMap<String, SessionInfo> = HashMap::new();
        for row in rows.chunks_exact(2) {
            let (Some(member), Value::Array(flat)) = (text(&row[0]), &row[1]) else { continue };
            let pairs: Vec<(String, String)> =
                flat.chunks_exact(2).filter_map(|p| Some((text(&p[0])?, text(&p[1])?))).collect();
            if let Some(session) = SessionInfo::from_fields(&member, &pairs) {
                members.insert(member, session);
            }
        }
        let Some(user_id) = members.get(&rid).map(|s| s.user_id.clone()) else { return Ok(None) };

        // A used session always has a child; when one is not found, scan. So may a
        // tombstoned one: ending a lineage turns its used sessions into tombstoned ones
        // and takes its descendants out of the index.
        let parents: HashSet<&str> = members.values().map(|s| s.parent_rid.as_str()).collect();
        let scanned = members
            .values()
            .any(|s| (s.status == "used" || s.status == "tombstoned") && !parents.contains(s.rid.as_str()));
        if scanned {
            let mut candidates: HashMap<String, SessionInfo> = HashMap::new();
            let mut pages = ScanPages::new(self, self.layout.rid_key_pattern(), "hash").await?;
            while let Some(keys) = pages.next().await? {
                let rids: Vec<String> = keys.iter().filter_map(|k| self.layout.rid_of_key(k)).collect();
                for (rid, session) in self.load_sessions(&rids).await? {
                    if session.user_id == user_id && !members.contains_key(&rid) {
                        candidates.insert(rid, session);
                    }
                }
            }
            loop {
                let joining: Vec<String> = candidates
                    .iter()
                    .filter(|(_, s)| members.contains_key(&s.parent_rid))
                    .map(|(r, _)| r.clone())
                    .collect();
                if joining.is_empty() {
                    break;
                }
                for rid in joining {
                    if let Some(session) = candidates.remove(&rid) {
                        members.insert(rid, session);
                    }
                }
            }
        }

        let missing_parent = text(missing_parent).filter(|p| !p.is_empty());
        let mut sessions = tree_order(members);
        // One lineage, one id: the one stored on a hashed session, else derived from the
        // first session found (where list_sessions' walk up stops too).
        let session_id = sessions
            .iter()
            .map(|s| s.session_id.clone())
            .find(|id| !id.is_empty())
            .or_else(|| sessions.first().map(|root| token::session_id(&root.rid)))
            .unwrap_or_default();
        let sessions = sessions
            .drain(..)
            .map(|s| self.shown_session(SessionInfo { session_id: session_id.clone(), ..s }))
            .collect();
        let rid = self.layout.shown_rid(&rid);
        let missing_parent = missing_parent.map(|p| self.layout.shown_rid(&p));
        Ok(Some(LineageInfo { user_id, rid, sessions, missing_parent, scanned }))
    }

    /// Whether any key of this store's layout (rid hash, user index, device key) exists
    /// under the prefix; stops at the first one found. Tells an operator whose view came
    /// back empty whether the prefix holds anything at all.
    pub async fn prefix_has_keys(&self) -> Result<bool> {
        let kinds = [
            (self.layout.rid_key_pattern(), "hash"),
            (self.layout.user_key_pattern(), "set"),
            (self.layout.device_key_pattern(), "string"),
        ];
        for (pattern, key_type) in kinds {
            let mut pages = ScanPages::new(self, pattern, key_type).await?;
            while let Some(keys) = pages.next().await? {
                if !keys.is_empty() {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

/// A lineage's sessions in tree order: roots (sessions whose parent is not in the
/// lineage) oldest first, then depth-first, children oldest first; each session's
/// `parent_index` points at its parent's place in the result.
fn tree_order(members: HashMap<String, SessionInfo>) -> Vec<SessionInfo> {
    let mut children: HashMap<&str, Vec<&SessionInfo>> = HashMap::new();
    let mut roots: Vec<&SessionInfo> = Vec::new();
    for session in members.values() {
        if members.contains_key(&session.parent_rid) && session.parent_rid != session.rid {
            children.entry(session.parent_rid.as_str()).or_default().push(session);
        } else {
            roots.push(session);
        }
    }
    let by_age = |a: &&SessionInfo, b: &&SessionInfo| (a.created_at, &a.rid).cmp(&(b.created_at, &b.rid));
    roots.sort_by(by_age);
    for list in children.values_mut() {
        list.sort_by(by_age);
    }
    let mut ordered: Vec<SessionInfo> = Vec::with_capacity(members.len());
    let mut place: HashMap<&str, usize> = HashMap::new();
    let mut stack: Vec<&SessionInfo> = roots.into_iter().rev().collect();
    while let Some(session) = stack.pop() {
        if place.contains_key(session.rid.as_str()) {
            continue;
        }
        place.insert(session.rid.as_str(), ordered.len());
        ordered.push(SessionInfo { parent_index: place.get(session.parent_rid.as_str()).copied(), ..session.clone() });
        if let Some(list) = children.get(session.rid.as_str()) {
            stack.extend(list.iter().rev());
        }
    }
    ordered
}

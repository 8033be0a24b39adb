//! The read-only operator views (the `redis-session-store` CLI): the sessions of a user
//! with their hashes, the whole lineage of a rid as a tree, and whether the prefix holds
//! anything. Nothing here writes to Redis. Keys come from
//! [`KeyLayout`](crate::keys::KeyLayout) only; hashes are read in batches by one
//! read-only script (`lua/load_hashes.lua`).

use std::collections::{HashMap, HashSet};

use crate::error::Result;
use crate::scan::ScanPages;
use crate::scripts;
use crate::store::{SessionStore, MAX_LINEAGE_HOPS};

/// Keys read per `load_hashes` call.
const LOAD_BATCH: usize = 500;

/// One session: its rid and the nine fields of the data model, epoch seconds parsed as
/// the scripts read them (missing or unparsable: 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub rid: String,
    pub user_id: String,
    pub parent_rid: String,
    pub created_at: u64,
    pub exp_at: u64,
    pub abs_exp_at: u64,
    pub device_id: String,
    pub ua_hash: String,
    pub ip_hash: String,
    pub status: String,
    /// `list_sessions` only: when the lineage signed in, the createdAt of its first
    /// session, or the session's own createdAt when that first session is gone.
    pub signed_in_at: Option<u64>,
}

/// A stored epoch-seconds field as the scripts read it: a finite number >= 0, floored;
/// `None` when missing or unparsable.
pub(crate) fn stored_seconds(text: &str) -> Option<u64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0).map(|n| n.floor() as u64)
}

impl SessionInfo {
    /// A session from its hash; `None` when the hash is missing or has no userId.
    fn from_fields(rid: &str, fields: &[(String, String)]) -> Option<SessionInfo> {
        let get = |name: &str| fields.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str());
        let secs = |name: &str| stored_seconds(get(name)).unwrap_or(0);
        let user_id = get("userId");
        if user_id.is_empty() {
            return None;
        }
        Some(SessionInfo {
            rid: rid.to_string(),
            user_id: user_id.to_string(),
            parent_rid: get("parentRid").to_string(),
            created_at: secs("createdAt"),
            exp_at: secs("expAt"),
            abs_exp_at: secs("absExpAt"),
            device_id: get("deviceId").to_string(),
            ua_hash: get("uaHash").to_string(),
            ip_hash: get("ipHash").to_string(),
            // A hash without status is treated as active, as gc does.
            status: match get("status") {
                "" => "active".to_string(),
                s => s.to_string(),
            },
            signed_in_at: None,
        })
    }
}

/// The lineage a rid belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageInfo {
    pub user_id: String,
    /// The rid that was asked about.
    pub rid: String,
    /// Every session of the lineage still in Redis, in tree order: the oldest ancestor
    /// first, then depth-first, children by creation time. Each `parent_rid` links a node
    /// to its parent.
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

    async fn load_session(&self, rid: &str) -> Result<Option<SessionInfo>> {
        Ok(self.load_sessions(&[rid.to_string()]).await?.remove(rid))
    }

    /// The bare rids in a user's index (members that are not rid keys are skipped).
    async fn indexed_rids(&self, user_id: &str) -> Result<Vec<String>> {
        let mut connection = self.connection().await?;
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.layout.user_key(user_id))
            .query_async(&mut connection)
            .await
            .map_err(|e| self.error(e))?;
        Ok(members.iter().filter_map(|key| self.layout.rid_of_key(key)).collect())
    }

    /// The active sessions of a user, oldest first. Reads the user's index, so it lists
    /// what `scanRids` lists (indexes written by the original also hold used sessions:
    /// those are left out), with each session's fields.
    /// Each also tells when its lineage signed in; one script call (one round trip in the
    /// original's layout).
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>> {
        let hops = MAX_LINEAGE_HOPS.to_string();
        let rows: Vec<Vec<String>> =
            self.run(&scripts::LIST_SESSIONS, &[self.layout.user_key(user_id)], &[user_id, &hops]).await?;
        let mut sessions: Vec<SessionInfo> = rows
            .into_iter()
            .filter_map(|row| {
                let [rid, signed_in, fields @ ..] = row.as_slice() else { return None };
                let pairs: Vec<(String, String)> =
                    fields.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
                let mut session = SessionInfo::from_fields(rid, &pairs)?;
                session.signed_in_at = Some(stored_seconds(signed_in).unwrap_or(session.created_at));
                Some(session)
            })
            .filter(|s| s.user_id == user_id && s.status == "active")
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.rid).cmp(&(b.created_at, &b.rid)));
        Ok(sessions)
    }

    /// The lineage `rid` belongs to, or `None` when the rid is unknown. Ancestors are
    /// found through `parentRid`. Sessions keep no pointer to their children, so
    /// descendants are found by walking `parentRid` up from each session in the user's
    /// index; when that leaves a `used` or `tombstoned` session without a child (its
    /// descendants were logged out or the lineage was ended, so they left the index), the
    /// user's rid keys are found with SCAN.
    pub async fn inspect_lineage(&self, rid: &str) -> Result<Option<LineageInfo>> {
        let Some(rid) = self.resolve_rid(rid).await? else { return Ok(None) };
        let rid = rid.as_str();
        let Some(start) = self.load_session(rid).await? else { return Ok(None) };
        let user_id = start.user_id.clone();
        let mut known: HashMap<String, Option<SessionInfo>> = HashMap::new();
        let mut members: HashSet<String> = HashSet::from([rid.to_string()]);
        known.insert(rid.to_string(), Some(start));

        // Ancestors.
        let mut missing_parent = None;
        let mut at = known[rid].as_ref().map(|s| s.parent_rid.clone()).unwrap_or_default();
        let mut hops = 0;
        while !at.is_empty() && !members.contains(&at) && hops < MAX_LINEAGE_HOPS {
            let session = self.load_session(&at).await?.filter(|s| s.user_id == user_id);
            let Some(session) = session else {
                missing_parent = Some(at);
                break;
            };
            let parent = session.parent_rid.clone();
            known.insert(at.clone(), Some(session));
            members.insert(at);
            at = parent;
            hops += 1;
        }

        // Descendants reachable from the index.
        let indexed = self.indexed_rids(&user_id).await?;
        for (rid, session) in self.load_sessions(&indexed).await? {
            known.entry(rid).or_insert(Some(session));
        }
        let mut outside: HashSet<String> = HashSet::new();
        for member in indexed {
            let mut path = Vec::new();
            let mut at = member;
            let mut steps = 0;
            while !at.is_empty() && !members.contains(&at) && !outside.contains(&at) && steps <= MAX_LINEAGE_HOPS {
                if !known.contains_key(&at) {
                    let session = self.load_session(&at).await?;
                    known.insert(at.clone(), session);
                }
                let Some(session) = known[&at].as_ref().filter(|s| s.user_id == user_id) else { break };
                let parent = session.parent_rid.clone();
                path.push(at);
                at = parent;
                steps += 1;
            }
            let joined = members.contains(&at);
            for rid in path {
                if joined {
                    members.insert(rid);
                } else {
                    outside.insert(rid);
                }
            }
        }

        // A used session always has a child; when one is not found yet, scan. So may a
        // tombstoned one: ending a lineage turns its used sessions into tombstoned ones
        // and takes its descendants out of the index.
        let session_of = |rid: &String| known.get(rid).and_then(Option::as_ref);
        let parents: HashSet<&str> = members.iter().filter_map(session_of).map(|s| s.parent_rid.as_str()).collect();
        let incomplete = members
            .iter()
            .filter_map(session_of)
            .any(|s| (s.status == "used" || s.status == "tombstoned") && !parents.contains(s.rid.as_str()));
        let scanned = incomplete;
        if incomplete {
            let mut candidates: HashMap<String, SessionInfo> = HashMap::new();
            let mut pages = ScanPages::new(self, self.layout.rid_key_pattern(), "hash").await?;
            while let Some(keys) = pages.next().await? {
                let rids: Vec<String> = keys.iter().filter_map(|k| self.layout.rid_of_key(k)).collect();
                for (rid, session) in self.load_sessions(&rids).await? {
                    if session.user_id == user_id && !members.contains(&rid) {
                        candidates.insert(rid, session);
                    }
                }
            }
            loop {
                let joining: Vec<String> = candidates
                    .iter()
                    .filter(|(_, s)| members.contains(&s.parent_rid))
                    .map(|(r, _)| r.clone())
                    .collect();
                if joining.is_empty() {
                    break;
                }
                for rid in joining {
                    let session = candidates.remove(&rid);
                    known.insert(rid.clone(), session);
                    members.insert(rid);
                }
            }
        }

        // Tree order: roots (sessions whose parent is not in the lineage), then depth-first.
        let mut children: HashMap<&str, Vec<&SessionInfo>> = HashMap::new();
        let mut roots: Vec<&SessionInfo> = Vec::new();
        for rid in &members {
            let Some(session) = known.get(rid).and_then(Option::as_ref) else { continue };
            if members.contains(&session.parent_rid) && session.parent_rid != session.rid {
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
        let mut sessions = Vec::with_capacity(members.len());
        let mut seen: HashSet<&str> = HashSet::new();
        let mut stack: Vec<&SessionInfo> = roots.into_iter().rev().collect();
        while let Some(session) = stack.pop() {
            if !seen.insert(session.rid.as_str()) {
                continue;
            }
            sessions.push(session.clone());
            if let Some(list) = children.get(session.rid.as_str()) {
                stack.extend(list.iter().rev());
            }
        }
        Ok(Some(LineageInfo { user_id, rid: rid.to_string(), sessions, missing_parent, scanned }))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_session_reads_the_data_model_fields() {
        let s = SessionInfo::from_fields(
            "r1",
            &fields(&[
                ("userId", "u"),
                ("parentRid", "r0"),
                ("createdAt", "10"),
                ("expAt", "20.7"),
                ("absExpAt", "x"),
                ("status", "used"),
            ]),
        )
        .unwrap();
        assert_eq!((s.rid.as_str(), s.user_id.as_str(), s.parent_rid.as_str()), ("r1", "u", "r0"));
        assert_eq!((s.created_at, s.exp_at, s.abs_exp_at), (10, 20, 0));
        assert_eq!((s.device_id.as_str(), s.status.as_str()), ("", "used"));
    }

    #[test]
    fn a_hash_without_user_id_is_no_session() {
        assert_eq!(SessionInfo::from_fields("r", &fields(&[("status", "active")])), None);
        assert_eq!(SessionInfo::from_fields("r", &fields(&[])), None);
        assert_eq!(SessionInfo::from_fields("r", &fields(&[("userId", "u")])).unwrap().status, "active");
    }
}

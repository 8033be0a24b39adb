//! A session as it is read back from its hash, and the active sessions of a user with
//! when their lineage signed in: what the logouts by session id and the operator views
//! both start from.

use crate::error::Result;
use crate::limits::MAX_LINEAGE_HOPS;
use crate::scripts;
use crate::store::SessionStore;
use crate::token;

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
    /// `list_sessions` only: when the session was last rotated (or issued), its createdAt.
    pub last_rotated_at: Option<u64>,
    /// `inspect_lineage` only: where this session's parent is in the lineage's list;
    /// `None` for a root.
    pub parent_index: Option<usize>,
    /// The id of the session as a devices page shows it, the same for every session of
    /// one lineage (see [`token::session_id`]); not a token. Empty until known.
    pub session_id: String,
}

/// A stored epoch-seconds field as the scripts read it: a finite number >= 0, floored;
/// `None` when missing or unparsable.
pub(crate) fn stored_seconds(text: &str) -> Option<u64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0).map(|n| n.floor() as u64)
}

impl SessionInfo {
    /// A session from its hash; `None` when the hash is missing or has no userId.
    pub(crate) fn from_fields(rid: &str, fields: &[(String, String)]) -> Option<SessionInfo> {
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
            last_rotated_at: None,
            parent_index: None,
            session_id: get("sessionId").to_string(),
        })
    }
}

impl SessionStore {
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
                let [rid, signed_in, root, fields @ ..] = row.as_slice() else { return None };
                let pairs: Vec<(String, String)> =
                    fields.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone())).collect();
                let mut session = SessionInfo::from_fields(rid, &pairs)?;
                session.signed_in_at = Some(stored_seconds(signed_in).unwrap_or(session.created_at));
                session.last_rotated_at = Some(session.created_at);
                if session.session_id.is_empty() {
                    session.session_id = token::session_id(root);
                }
                Some(session)
            })
            .filter(|s| s.user_id == user_id && s.status == "active")
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.rid).cmp(&(b.created_at, &b.rid)));
        Ok(sessions)
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

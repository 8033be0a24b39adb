//! Reading the audit stream that `cfg.audit` makes every state change append to (see
//! `audit` in `lua/prelude.lua`). Entries are read newest first.

use crate::error::{Result, StoreError};
use crate::input::{self, Arg};
use crate::store::SessionStore;

/// The properties read from `readAudit`'s argument.
pub const READ_AUDIT_FIELDS: &[&str] = &["userId", "count"];
/// The most entries one `readAudit` call returns.
pub const MAX_AUDIT_READ: u64 = 10_000;
const DEFAULT_AUDIT_READ: u64 = 100;
/// Entries read per XREVRANGE while filtering by user.
const PAGE: u64 = 1_000;

/// `readAudit`'s checked options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub user_id: Option<String>,
    pub count: u64,
}

/// One audit entry: its stream id and its fields (`event`, `userId`, `rid`, `deviceId`,
/// `reason`, `time`, and `childRid` for a rotation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: String,
    pub fields: Vec<(String, String)>,
}

impl AuditEntry {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Checks `readAudit`'s argument: absent, or `{ userId?: string, count?: integer 1..10000 }`.
pub fn audit_query(value: &Arg) -> Result<AuditQuery> {
    match value {
        Arg::Undefined => Ok(AuditQuery { user_id: None, count: DEFAULT_AUDIT_READ }),
        Arg::Object(_) => {
            let user_id = match value.field("userId") {
                Arg::Undefined => None,
                other => Some(input::id("opts.userId", other)?),
            };
            let count = match value.field("count") {
                Arg::Undefined => DEFAULT_AUDIT_READ,
                Arg::Number(n) if n.fract() == 0.0 && *n >= 1.0 && *n <= MAX_AUDIT_READ as f64 => *n as u64,
                other => {
                    return Err(StoreError::invalid(
                        "opts.count",
                        &format!("an integer from 1 to {MAX_AUDIT_READ}"),
                        &other.kind(),
                    ))
                }
            };
            Ok(AuditQuery { user_id, count })
        }
        other => Err(StoreError::invalid("opts", "an object { userId?, count? }", &other.kind())),
    }
}

type RawEntry = (String, Vec<(String, String)>);

impl SessionStore {
    /// The newest audit entries, of one user when `user_id` is given. In the cluster
    /// layout each user's entries live in a stream in that user's slot, so a user is
    /// required there.
    pub async fn read_audit(&self, query: AuditQuery) -> Result<Vec<AuditEntry>> {
        if self.layout.is_cluster() && query.user_id.is_none() {
            return Err(StoreError::invalid(
                "opts.userId",
                "given with cfg.cluster (each user's audit stream is in that user's slot)",
                "undefined",
            ));
        }
        let key = self.layout.audit_key(query.user_id.as_deref());
        let mut link = self.connection().await?;
        let mut out = Vec::new();
        let mut end = "+".to_string();
        // In the cluster layout the stream holds only this user's entries (and those of
        // users sharing the tag, filtered out below like in the one shared stream).
        loop {
            let page = if query.user_id.is_some() { PAGE } else { query.count };
            let raw: Vec<RawEntry> = redis::cmd("XREVRANGE")
                .arg(&key)
                .arg(&end)
                .arg("-")
                .arg("COUNT")
                .arg(page)
                .query_async(&mut link)
                .await
                .map_err(|e| self.error(e))?;
            let full = raw.len() as u64 == page;
            if let Some((last, _)) = raw.last() {
                end = format!("({last}");
            }
            for (id, fields) in raw {
                let entry = AuditEntry { id, fields: self.shown_fields(fields) };
                if query.user_id.as_deref().is_none_or(|u| entry.get("userId") == Some(u)) {
                    out.push(entry);
                    if out.len() as u64 == query.count {
                        return Ok(out);
                    }
                }
            }
            if !full || query.user_id.is_none() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_the_query() {
        assert_eq!(audit_query(&Arg::Undefined).unwrap(), AuditQuery { user_id: None, count: 100 });
        let q = Arg::Object(vec![("userId", Arg::String("u".into())), ("count", Arg::Number(5.0))]);
        assert_eq!(audit_query(&q).unwrap(), AuditQuery { user_id: Some("u".into()), count: 5 });
        for bad in [0.0, 1.5, 10_001.0, f64::NAN] {
            let q = Arg::Object(vec![("userId", Arg::Undefined), ("count", Arg::Number(bad))]);
            assert!(audit_query(&q).unwrap_err().to_string().starts_with("opts.count must be"));
        }
        let q = Arg::Object(vec![("userId", Arg::String(String::new())), ("count", Arg::Undefined)]);
        assert!(audit_query(&q).unwrap_err().to_string().starts_with("opts.userId"));
        assert!(audit_query(&Arg::Null).unwrap_err().is_type_error());
    }
}

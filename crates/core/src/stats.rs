//! Keyspace statistics for operators: the keys under the store's prefix by kind, rid
//! hashes by status, and their memory. Read-only; every count is one SCAN of one key kind
//! with one pipelined batch of reads per page ([`SessionStore::fold_keys`]).

use std::collections::BTreeMap;

use redis::{Pipeline, Value};

use crate::error::Result;
use crate::reply::{integer, text};
use crate::scan::ScanPages;
use crate::store::SessionStore;

/// Counts and memory of the keys under the store's prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyspaceStats {
    /// Rid hashes by `status` (`active`, `used`, `tombstoned`, or whatever else is stored;
    /// `(no userId)` for hashes gc would delete).
    pub sessions_by_status: BTreeMap<String, u64>,
    pub rid_keys: u64,
    pub rid_bytes: u64,
    /// User index sets (users with at least one indexed session).
    pub user_keys: u64,
    pub user_bytes: u64,
    /// Members of all user index sets.
    pub indexed_members: u64,
    pub device_keys: u64,
    pub device_bytes: u64,
}

impl SessionStore {
    /// Counts the keys under the prefix by kind, rid hashes by status, and their memory
    /// (`MEMORY USAGE`).
    pub async fn keyspace_stats(&self) -> Result<KeyspaceStats> {
        let mut stats = KeyspaceStats::default();
        let rid_reads = |pipe: &mut Pipeline, key: &str| {
            pipe.cmd("HMGET").arg(key).arg("userId").arg("status");
        };
        self.fold_keys(self.layout.rid_key_pattern(), "hash", rid_reads, |fields, bytes| {
            let (user_id, status) = match fields {
                [Value::Array(f)] if f.len() == 2 => (text(&f[0]), text(&f[1])),
                _ => (None, None),
            };
            let status = match (user_id.as_deref(), status) {
                (None | Some(""), _) => "(no userId)".to_string(),
                (_, None) => "active".to_string(),
                (_, Some(s)) if s.is_empty() => "active".to_string(),
                (_, Some(s)) => s,
            };
            *stats.sessions_by_status.entry(status).or_default() += 1;
            stats.rid_keys += 1;
            stats.rid_bytes += bytes;
        })
        .await?;

        let user_reads = |pipe: &mut Pipeline, key: &str| {
            pipe.cmd("SCARD").arg(key);
        };
        self.fold_keys(self.layout.user_key_pattern(), "set", user_reads, |members, bytes| {
            stats.user_keys += 1;
            stats.user_bytes += bytes;
            stats.indexed_members += members.first().and_then(integer).unwrap_or(0);
        })
        .await?;

        self.fold_keys(
            self.layout.device_key_pattern(),
            "string",
            |_, _| {},
            |_, bytes| {
                stats.device_keys += 1;
                stats.device_bytes += bytes;
            },
        )
        .await?;
        Ok(stats)
    }

    /// Every key of one type matching `pattern`: per SCAN page, one pipeline on the page's
    /// node sending `reads(key)` and `MEMORY USAGE key` for each key, then
    /// `fold(replies to reads, bytes)` per key still there (one gone since SCAN saw it has
    /// no memory usage, and is skipped).
    async fn fold_keys(
        &self,
        pattern: String,
        key_type: &'static str,
        reads: impl Fn(&mut Pipeline, &str),
        mut fold: impl FnMut(&[Value], u64),
    ) -> Result<()> {
        let mut connection = self.connection().await?;
        let mut pages = ScanPages::new(self, pattern, key_type).await?;
        while let Some(keys) = pages.next().await? {
            let Some(node) = pages.node().cloned() else { break };
            if keys.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            for key in &keys {
                reads(&mut pipe, key);
                pipe.cmd("MEMORY").arg("USAGE").arg(key);
            }
            let replies = connection.pipeline_on_node(&node, &pipe).await.map_err(|e| self.error(e))?;
            let width = (replies.len() / keys.len()).max(1);
            for per_key in replies.chunks_exact(width) {
                let Some((bytes, read)) = per_key.split_last() else { continue };
                if let Some(bytes) = integer(bytes) {
                    fold(read, bytes);
                }
            }
        }
        Ok(())
    }
}

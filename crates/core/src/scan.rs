//! SCAN over every primary: the pager gc, the keyspace statistics, the lineage view's
//! fallback and migration read the keyspace with.

use redis::FromRedisValue;

use crate::connection::{Link, Node};
use crate::error::Result;
use crate::store::SessionStore;

/// Keys asked of SCAN per page. In a Redis shared with other applications most pages hold
/// none of the store's keys, so a page is mostly a round trip: 5,000 keeps them few while
/// one SCAN call stays within a few milliseconds of the server's time (about 1 µs a key),
/// as long as a gc script call (gc cuts pages into smaller batches for its scripts).
const SCAN_PAGE: u32 = 5_000;

/// The pages of one SCAN over the keys matching a pattern (of one type, when given), node
/// after node (on a cluster, every primary; SCAN only sees the keys of the node it runs on).
pub(crate) struct ScanPages<'a> {
    store: &'a SessionStore,
    link: Link,
    nodes: Vec<Node>,
    pattern: String,
    key_type: Option<&'static str>,
    cursor: Option<u64>,
}

impl<'a> ScanPages<'a> {
    pub(crate) async fn new(
        store: &'a SessionStore,
        pattern: String,
        key_type: impl Into<Option<&'static str>>,
    ) -> Result<Self> {
        let key_type = key_type.into();
        let mut link = store.connection().await?;
        let mut nodes = link.primaries().await.map_err(|e| store.error(e))?;
        nodes.reverse(); // taken from the back
        Ok(ScanPages { store, link, nodes, pattern, key_type, cursor: Some(0) })
    }

    /// The node the pages come from now.
    pub(crate) fn node(&self) -> Option<&Node> {
        self.nodes.last()
    }

    /// The next page (possibly empty), or `None` once every node was scanned.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<String>>> {
        loop {
            let Some(node) = self.nodes.last() else { return Ok(None) };
            let Some(cursor) = self.cursor else {
                self.nodes.pop();
                self.cursor = Some(0);
                continue;
            };
            let mut command = redis::cmd("SCAN");
            command.arg(cursor).arg("MATCH").arg(&self.pattern).arg("COUNT").arg(SCAN_PAGE);
            if let Some(key_type) = self.key_type {
                command.arg("TYPE").arg(key_type);
            }
            let reply = self.link.on_node(node, &command).await.map_err(|e| self.store.error(e))?;
            let (next, keys): (u64, Vec<String>) =
                FromRedisValue::from_redis_value(reply).map_err(|e| self.store.error(e.into()))?;
            self.cursor = (next != 0).then_some(next);
            return Ok(Some(keys));
        }
    }
}

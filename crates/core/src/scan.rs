//! SCAN over every primary: the pager gc, the keyspace statistics, the lineage view's
//! fallback and migration read the keyspace with.

use redis::FromRedisValue;

use crate::connection::{Link, Node};
use crate::error::Result;
use crate::store::SessionStore;

/// Keys asked of SCAN per page. A SCAN call holds the server for about 2 µs a key it
/// visits (measured with MATCH over a keyspace of 1.1 million keys): 5,000 a page made it
/// the longest command gc sends (10-12 ms); 1,000 keeps it near 2 ms, for a few more
/// round trips.
const SCAN_PAGE: u32 = 1_000;

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

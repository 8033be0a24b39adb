//! The link to Redis: one server (a multiplexed connection that reconnects by itself), a
//! primary found through Sentinel (found again after a failover, see [`crate::sentinel`])
//! or a Redis Cluster (commands routed by their keys' slot, MOVED / ASK followed, the
//! slot map refreshed after a failover). The operations see one [`Link`] either way; the
//! few things that differ (visiting every primary, WAIT on the right node) are methods
//! here.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::config::{Durability, StoreConfig, Topology};
use crate::sentinel::SentinelLink;

/// Reconnection: a few quick attempts, so a call against a dead server fails fast
/// instead of waiting out a long backoff; the next call tries again.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(1_000);
/// Cluster: how often one command is retried across redirects, a slot map refresh and
/// a failover, and the longest wait between two tries (together they cover a failover
/// of a few seconds).
const CLUSTER_RETRIES: u32 = 12;
const CLUSTER_MAX_RETRY_WAIT_MS: u64 = 1_000;
const CLUSTER_MIN_RETRY_WAIT_MS: u64 = 50;

/// One primary of a cluster, by address; for a single server, the server itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Node {
    Only,
    Primary { host: String, port: u16 },
}

#[derive(Clone)]
pub(crate) enum Link {
    Single(ConnectionManager),
    Sentinel(SentinelLink),
    Cluster(ClusterConnection),
}

impl Link {
    /// Creates the link without connecting: the first command connects, so creating a
    /// store never fails because a server is unreachable. Must run inside Tokio.
    pub(crate) fn open(config: &StoreConfig) -> RedisResult<Link> {
        match &config.topology {
            Topology::Cluster { seeds } => {
                let mut builder = ClusterClientBuilder::new(seeds.clone());
                if let Some(tls) = &config.tls {
                    builder = builder.certs(tls.certificates());
                }
                let client = builder
                    .connection_timeout(config.connect_timeout)
                    .response_timeout(config.command_timeout)
                    .retries(CLUSTER_RETRIES)
                    .min_retry_wait(CLUSTER_MIN_RETRY_WAIT_MS)
                    .max_retry_wait(CLUSTER_MAX_RETRY_WAIT_MS)
                    .tcp_settings(config.connection.tcp_settings().clone())
                    .build()?;
                let cluster_config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(config.connect_timeout)
                    .set_response_timeout(config.command_timeout);
                Ok(Link::Cluster(client.get_pending_async_connection_with_config(cluster_config)))
            }
            Topology::Sentinel { .. } => Ok(Link::Sentinel(SentinelLink::new(config)?)),
            Topology::Standalone => {
                let client = match &config.tls {
                    Some(tls) => redis::Client::build_with_tls(config.connection.clone(), tls.certificates())?,
                    None => redis::Client::open(config.connection.clone())?,
                };
                let manager_config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(config.command_timeout))
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_number_of_retries(RECONNECT_RETRIES)
                    .set_min_delay(RECONNECT_MIN_DELAY)
                    .set_max_delay(RECONNECT_MAX_DELAY);
                Ok(Link::Single(ConnectionManager::new_lazy_with_config(client, manager_config)?))
            }
        }
    }

    /// The nodes that hold data: every primary of a cluster (asked of the cluster each
    /// time, so a failover since the last call is seen), or the one server.
    pub(crate) async fn primaries(&mut self) -> RedisResult<Vec<Node>> {
        let Link::Cluster(cluster) = self else { return Ok(vec![Node::Only]) };
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary);
        let slots = cluster.route_command(redis::cmd("CLUSTER").arg("SLOTS").clone(), routing).await?;
        let mut nodes: Vec<Node> = Vec::new();
        let Value::Array(ranges) = slots else { return Ok(nodes) };
        for range in ranges {
            // [start, end, [host, port, id, ...], replicas...]
            let Value::Array(parts) = range else { continue };
            let Some(Value::Array(primary)) = parts.get(2) else { continue };
            let (Some(host), Some(Value::Int(port))) = (primary.first(), primary.get(1)) else { continue };
            let host = match host {
                Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                Value::SimpleString(s) => s.clone(),
                _ => continue,
            };
            let node = Node::Primary { host, port: *port as u16 };
            if !nodes.contains(&node) {
                nodes.push(node);
            }
        }
        Ok(nodes)
    }

    /// Runs one command on one node (SCAN, which is per node).
    pub(crate) async fn on_node(&mut self, node: &Node, command: &Cmd) -> RedisResult<Value> {
        match (self, node) {
            (Link::Cluster(cluster), Node::Primary { host, port }) => {
                let routing =
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port });
                cluster.route_command(command.clone(), routing).await
            }
            (link, _) => command.query_async(link).await,
        }
    }
}

impl Link {
    /// `WAIT replicas timeout` on the connection that wrote: on a cluster, the primary of
    /// `key`'s slot (the node a script declaring that key ran on). Returns how many
    /// replicas acknowledged. WAIT covers every write sent on that connection before it;
    /// the connection is shared by concurrent calls, so it may also cover others' writes,
    /// which only makes it wait for more, never for less than this call's write.
    pub(crate) async fn wait_for_replicas(&mut self, key: &str, durability: &Durability) -> RedisResult<u64> {
        let mut wait = redis::cmd("WAIT");
        wait.arg(durability.replicas).arg(durability.timeout.as_millis() as u64);
        match self {
            Link::Cluster(cluster) => {
                let route = Route::with_slot(Slot::for_key(key), SlotAddr::Master);
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route));
                Ok(redis::from_redis_value(cluster.route_command(wait, routing).await?)?)
            }
            link => wait.query_async(link).await,
        }
    }

    /// Runs a pipeline on one node (reads of keys a SCAN of that node found).
    pub(crate) async fn pipeline_on_node(&mut self, node: &Node, pipe: &Pipeline) -> RedisResult<Vec<Value>> {
        match (self, node) {
            (Link::Cluster(cluster), Node::Primary { host, port }) => {
                let route = SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port };
                cluster.route_pipeline(pipe.clone(), 0, pipe.len(), route).await
            }
            (link, _) => pipe.query_async(link).await,
        }
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Sentinel(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(c) => c.get_db(),
            Link::Sentinel(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}

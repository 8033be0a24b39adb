//! The store's operations. Each state change is one script call; the connection is one
//! multiplexed connection shared by all calls (per node, on a cluster), reconnecting by
//! itself.

use std::collections::HashSet;
use std::sync::Mutex;

use redis::{FromRedisValue, Value};

use crate::config::StoreConfig;
use crate::connection::Link;
use crate::error::{Result, StoreError};
use crate::input::{GcOptions, IssueInput, RotateInput};
use crate::keys::{hash_tag, KeyLayout};
use crate::scripts::{self, StoreScript};

/// The rolling expiry of a first session (a rotated session gets a week, see rotate.lua).
const ISSUE_EXP_CAP: u64 = 2 * 24 * 3600;
/// Sessions ended per `logout_all` script call: bounds how long one call holds the server.
const LOGOUT_ALL_BATCH: u32 = 256;
/// Parent links a lineage walk follows at most (a guard against corrupt cycles).
pub(crate) const MAX_LINEAGE_HOPS: usize = 100_000;
/// Cluster layout: how many times one script call may ask for more keys. Each round
/// declares every key the script found missing (and whole parent chains), so a call
/// needs a few; the bound only stops a runaway.
const MAX_KEY_ROUNDS: usize = 64;
/// How long a rotation waits before trying again while its user's fence is up.
const FENCE_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshIssue {
    pub rid: String,
    pub abs_exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub user_id: String,
    pub new_rid: RefreshIssue,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    pub scanned_user_sets: u64,
    pub scanned_rids: u64,
    pub removed_from_sets: u64,
    pub added_to_sets: u64,
    pub deleted_rid_hashes: u64,
    pub dry_run: bool,
}

enum Connection {
    /// Not connected yet: the first call connects, so creating a store never fails
    /// because the server is unreachable.
    Pending,
    Open(Link),
    Closed,
}

pub struct SessionStore {
    config: StoreConfig,
    pub(crate) layout: KeyLayout,
    connection: Mutex<Connection>,
}

impl SessionStore {
    pub fn new(config: StoreConfig) -> Self {
        let layout =
            if config.is_cluster() { KeyLayout::cluster(&config.prefix) } else { KeyLayout::new(&config.prefix) };
        SessionStore { config, layout, connection: Mutex::new(Connection::Pending) }
    }

    pub fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    /// The shared connection. Must be called from within a Tokio runtime.
    pub(crate) fn connection(&self) -> Result<Link> {
        let mut state = self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*state {
            Connection::Open(link) => Ok(link.clone()),
            Connection::Closed => Err(StoreError::Closed),
            Connection::Pending => {
                let link = Link::open(&self.config).map_err(|e| self.error(e))?;
                *state = Connection::Open(link.clone());
                Ok(link)
            }
        }
    }

    /// Drops the connection; later calls reject with `StoreError::Closed`. Calls already
    /// running finish on their own handle.
    pub fn close(&self) {
        *self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Connection::Closed;
    }

    pub(crate) fn error(&self, err: redis::RedisError) -> StoreError {
        StoreError::from_redis(err, self.config.command_timeout, self.config.password())
    }

    /// Runs one script with the layout arguments in front of the caller's. In the cluster
    /// layout a script may answer that it needs more keys (`{'NEED', key...}`, having
    /// written nothing): it is called again with them declared, and for a rid key the
    /// parent chain behind it is declared too, so a lineage takes one more round, not one
    /// per generation.
    pub(crate) async fn run<T: FromRedisValue>(&self, script: &StoreScript, keys: &[&str], args: &[&str]) -> Result<T> {
        let args: Vec<&str> = self.layout.script_args().into_iter().chain(args.iter().copied()).collect();
        let mut link = self.connection()?;
        let mut declared: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        for _ in 0..MAX_KEY_ROUNDS {
            let reply: Value = self.invoke(script, &mut link, &declared, &args).await?;
            let Some(needed) = self.layout.is_cluster().then(|| needed_keys(&reply)).flatten() else {
                return T::from_redis_value(reply)
                    .map_err(|e| StoreError::Redis(format!("unexpected script reply: {e}")));
            };
            let slot = declared.first().map(|k| hash_tag(k).to_string()).unwrap_or_default();
            let mut known: HashSet<String> = declared.iter().cloned().collect();
            let mut added = Vec::new();
            for key in needed {
                // A key of another slot can only come from data this store did not write.
                if hash_tag(&key) != slot {
                    return Err(StoreError::Redis(format!("a session refers to a key in another slot: {key}")));
                }
                if known.insert(key.clone()) {
                    added.push(key);
                }
            }
            if added.is_empty() {
                return Err(StoreError::Redis("a script asked again for keys it was given".into()));
            }
            let chains = self.parent_chains(&mut link, &added, &known).await?;
            declared.extend(added);
            declared.extend(chains);
        }
        Err(StoreError::Redis(format!("a script needed more than {MAX_KEY_ROUNDS} rounds of keys")))
    }

    async fn invoke(&self, script: &StoreScript, link: &mut Link, keys: &[String], args: &[&str]) -> Result<Value> {
        let mut invocation = script.prepare_invoke();
        invocation.key(keys).arg(args);
        match invocation.invoke_async(link).await {
            // redis-rs answers NOSCRIPT by loading the script and trying once more; a
            // second SCRIPT FLUSH (or a failover) in between surfaces as NOSCRIPT again.
            // NOSCRIPT means the script did not run, so sending its source with EVAL,
            // which needs no script cache, is safe and cannot meet NOSCRIPT.
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => redis::cmd("EVAL")
                .arg(script.source)
                .arg(keys.len())
                .arg(keys)
                .arg(args)
                .query_async(link)
                .await
                .map_err(|e| self.error(e)),
            outcome => outcome.map_err(|e| self.error(e)),
        }
    }

    /// The rid keys up the parent links from `keys`, as far as they lead outside `known`
    /// (one pipelined read per generation).
    async fn parent_chains(&self, link: &mut Link, keys: &[String], known: &HashSet<String>) -> Result<Vec<String>> {
        let mut known = known.clone();
        let mut frontier: Vec<&String> = keys.iter().filter(|k| self.layout.is_rid_key(k)).collect();
        let mut found: Vec<String> = Vec::new();
        for _ in 0..MAX_LINEAGE_HOPS {
            if frontier.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            for key in &frontier {
                pipe.cmd("HGET").arg(*key).arg("parentRid");
            }
            let parents: Vec<Option<String>> = pipe.query_async(link).await.map_err(|e| self.error(e))?;
            let start = found.len();
            for parent in parents.into_iter().flatten().filter(|p| !p.is_empty()) {
                let key = self.layout.rid_key(&parent);
                if known.insert(key.clone()) {
                    found.push(key);
                }
            }
            frontier = found[start..].iter().collect();
        }
        Ok(found)
    }

    pub async fn issue_initial(&self, input: IssueInput) -> Result<RefreshIssue> {
        let abs_ttl = input.abs_ttl_seconds.unwrap_or(self.config.abs_ttl_seconds);
        let abs_exp_at = crate::input::abs_exp_at(input.now, abs_ttl)?;
        let exp_at = input.now + abs_ttl.min(ISSUE_EXP_CAP);
        let rid = self.layout.new_rid(&input.user_id);
        let b = &input.binding;
        let outcome: String = self
            .run(
                &scripts::ISSUE,
                &[
                    &self.layout.rid_key(&rid),
                    &self.layout.user_key(&input.user_id),
                    &self.layout.device_key(&input.user_id, &b.device_id),
                ],
                &[
                    &input.user_id,
                    &input.now.to_string(),
                    &exp_at.to_string(),
                    &abs_exp_at.to_string(),
                    &b.device_id,
                    &b.ua_hash,
                    &b.ip_hash,
                ],
            )
            .await?;
        match outcome.as_str() {
            "OK" => Ok(RefreshIssue { rid, abs_exp: abs_exp_at }),
            reason => Err(StoreError::RotateFail { reason: reason.to_string() }),
        }
    }

    pub async fn verify_and_rotate_refresh(&self, input: RotateInput) -> Result<Rotated> {
        // In the cluster layout a rid without a user's tag was never issued by a store,
        // and its child could not share its slot: it is an unknown rid.
        if self.layout.is_cluster() && self.layout.user_key_of_rid(&input.rid).is_none() {
            return Err(StoreError::NotFound);
        }
        let child = self.layout.child_rid(&input.rid);
        let b = &input.binding;
        let (current, child_key) = (self.layout.rid_key(&input.rid), self.layout.rid_key(&child));
        let mut keys = vec![current.as_str(), child_key.as_str()];
        // The cluster layout declares the index and device key, which the rid's tag gives.
        let index = self.layout.is_cluster().then(|| self.layout.user_key_of_rid(&input.rid)).flatten();
        let device =
            self.layout.is_cluster().then(|| self.layout.device_key_of_rid(&input.rid, &b.device_id)).flatten();
        keys.extend(index.as_deref());
        if !b.device_id.is_empty() {
            keys.extend(device.as_deref());
        }
        let fence = self.layout.is_cluster().then(|| self.layout.fence_key_of_rid(&input.rid)).flatten();
        keys.extend(fence.as_deref());
        let args = [input.now.to_string(), input.rid.clone(), b.device_id.clone(), b.ua_hash.clone(), b.ip_hash.clone()];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // BUSY: a logoutDevice / tombstoneLineage of this user is collecting its keys
        // (cluster layout); it lifts its fence within a few round trips.
        let deadline = tokio::time::Instant::now() + self.config.command_timeout;
        let reply = loop {
            let reply: Vec<String> = self.run(&scripts::ROTATE, &keys, &args).await?;
            if reply.first().map(String::as_str) != Some("BUSY") {
                break reply;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Timeout(self.config.command_timeout));
            }
            tokio::time::sleep(FENCE_RETRY_WAIT).await;
        };
        match reply.as_slice() {
            [ok, user_id, abs_exp] if ok == "OK" => {
                let abs_exp =
                    abs_exp.parse().map_err(|_| StoreError::Redis(format!("unexpected absExpAt {abs_exp:?}")))?;
                Ok(Rotated { user_id: user_id.clone(), new_rid: RefreshIssue { rid: child, abs_exp } })
            }
            [not_found] if not_found == "not_found" => Err(StoreError::NotFound),
            [expired] if expired == "expired_abs" => Err(StoreError::ExpiredAbs),
            [reason] => Err(StoreError::RotateFail { reason: reason.clone() }),
            other => Err(StoreError::Redis(format!("unexpected rotate reply {other:?}"))),
        }
    }

    /// Ends the whole lineage `rid` belongs to; returns how many sessions it ended.
    pub async fn tombstone_lineage(&self, rid: &str) -> Result<u64> {
        let hops = MAX_LINEAGE_HOPS.to_string();
        let rid_key = self.layout.rid_key(rid);
        let fence = self.layout.is_cluster().then(|| self.layout.fence_key_of_rid(rid)).flatten();
        let keys: Vec<&str> = std::iter::once(rid_key.as_str()).chain(fence.as_deref()).collect();
        self.run(&scripts::TOMBSTONE_LINEAGE, &keys, &[&hops]).await
    }

    /// Ends one session; returns whether it existed.
    pub async fn logout(&self, rid: &str) -> Result<bool> {
        let ended: u64 = self.run(&scripts::LOGOUT, &[&self.layout.rid_key(rid)], &[]).await?;
        Ok(ended == 1)
    }

    /// Ends every active session of `user_id` bound to `device_id`; returns how many.
    pub async fn logout_device(&self, user_id: &str, device_id: &str) -> Result<u64> {
        let (index, device) = (self.layout.user_key(user_id), self.layout.device_key(user_id, device_id));
        let fence = self.layout.is_cluster().then(|| self.layout.fence_key(user_id));
        let keys: Vec<&str> = [index.as_str(), device.as_str()].into_iter().chain(fence.as_deref()).collect();
        self.run(&scripts::LOGOUT_DEVICE, &keys, &[user_id, device_id]).await
    }

    /// Ends every session in the user's index, in bounded batches. After the first batch
    /// tells how many remain, the batches that should end them are sent together (each
    /// still its own script call, so other clients' commands run between them); the last
    /// reply says whether rotations meanwhile added sessions, and then it goes on.
    pub async fn logout_all(&self, user_id: &str) -> Result<()> {
        let user_key = self.layout.user_key(user_id);
        let batch = LOGOUT_ALL_BATCH.to_string();
        if self.layout.is_cluster() {
            return self.logout_all_declared(&user_key, &batch).await;
        }
        let (keys, args) = ([user_key.as_str()], [batch.as_str(), "0"]);
        let one_batch = || self.run::<u64>(&scripts::LOGOUT_ALL, &keys, &args);
        let mut remaining = one_batch().await?;
        while remaining > 0 {
            let batches = remaining.div_ceil(u64::from(LOGOUT_ALL_BATCH));
            let replies = futures_util::future::try_join_all((0..batches).map(|_| one_batch())).await?;
            remaining = replies.last().copied().unwrap_or(0);
        }
        Ok(())
    }

    /// `logout_all` in the cluster layout, where the script must be given its sessions:
    /// read a batch of the index, end those still in it, until the index is empty.
    async fn logout_all_declared(&self, user_key: &str, batch: &str) -> Result<()> {
        let mut link = self.connection()?;
        loop {
            let members: Vec<String> = redis::cmd("SRANDMEMBER")
                .arg(user_key)
                .arg(LOGOUT_ALL_BATCH)
                .query_async(&mut link)
                .await
                .map_err(|e| self.error(e))?;
            if members.is_empty() {
                return Ok(());
            }
            let count = members.len().to_string();
            let keys: Vec<&str> = std::iter::once(user_key).chain(members.iter().map(String::as_str)).collect();
            self.run::<u64>(&scripts::LOGOUT_ALL, &keys, &[batch, &count]).await?;
        }
    }

    /// The session's hash fields in the server's order, or `None`; one round trip.
    pub async fn get_rid(&self, rid: &str) -> Result<Option<Vec<(String, String)>>> {
        let mut connection = self.connection()?;
        let hash: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.layout.rid_key(rid))
            .query_async(&mut connection)
            .await
            .map_err(|e| self.error(e))?;
        Ok(if hash.is_empty() { None } else { Some(hash) })
    }

    /// The bare rids of the user's active sessions.
    pub async fn scan_rids(&self, user_id: &str) -> Result<Vec<String>> {
        self.run(&scripts::SCAN_RIDS, &[&self.layout.user_key(user_id)], &[user_id]).await
    }

    pub async fn gc_orphans(&self, options: GcOptions) -> Result<GcReport> {
        crate::gc::run(self, options).await
    }
}

/// The keys of a `{'NEED', key...}` script reply.
fn needed_keys(reply: &Value) -> Option<Vec<String>> {
    let Value::Array(items) = reply else { return None };
    let text = |v: &Value| match v {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    if items.first().and_then(text).as_deref() != Some("NEED") {
        return None;
    }
    items[1..].iter().map(text).collect()
}

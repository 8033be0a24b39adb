//! The store's operations. Each state change is one script call; the connection is one
//! multiplexed connection shared by all calls (per node, on a cluster), reconnecting by
//! itself.

use std::collections::HashSet;
use std::sync::Mutex;

use redis::{FromRedisValue, Value};

use crate::config::StoreConfig;
use crate::connection::Link;
use crate::error::{Result, StoreError};
use crate::input::{IssueInput, RotateInput};
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
pub struct RotateResult {
    pub user_id: String,
    pub new_rid: RefreshIssue,
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
    /// ARGV[5] of every script: the layout's mode, then the hardening options, if any.
    mode_arg: String,
    connection: Mutex<Connection>,
    server: crate::server::ServerCheck,
}

impl SessionStore {
    pub fn new(config: StoreConfig) -> Self {
        let layout =
            if config.is_cluster() { KeyLayout::cluster(&config.prefix) } else { KeyLayout::new(&config.prefix) };
        let layout = layout.with_tokens(config.tokens, config.tag_secret.as_ref().map(|s| s.0.as_slice()));
        // With keyed tags the scripts cannot compute a user's tag: they take it from the
        // keys they are given (every key of one call is in that user's slot).
        let keyed = if layout.keyed_tags() { ";keyed=true" } else { "" };
        let mode_arg = format!("{}{}{keyed}", layout.script_args()[4], config.hardening.script_text());
        SessionStore {
            config,
            layout,
            mode_arg,
            connection: Mutex::new(Connection::Pending),
            server: Default::default(),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    pub fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    /// The shared connection, once the server behind it is one the store supports
    /// (checked at first use). Must be called from within a Tokio runtime.
    pub(crate) async fn connection(&self) -> Result<Link> {
        let mut connection = self.open_connection()?;
        self.server.ensure(&mut connection, |e| self.error(e)).await?;
        Ok(connection)
    }

    fn open_connection(&self) -> Result<Link> {
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
        StoreError::from_redis(err, &self.config)
    }

    /// Runs one script with the layout arguments in front of the caller's. In the cluster
    /// layout a script may answer that it needs more keys (`{'NEED', key...}`, having
    /// written nothing): it is called again with them declared, and for a script that
    /// walks lineages the parent chain behind a rid key is declared too, so a lineage
    /// takes one more round, not one per generation.
    pub(crate) async fn run<T: FromRedisValue, K: AsRef<str>>(
        &self,
        script: &StoreScript,
        keys: &[K],
        args: &[&str],
    ) -> Result<T> {
        self.run_as(script, keys, args, script.writes).await
    }

    /// [`run`](Self::run), saying whether this call can write (a gc dry run cannot).
    /// With replicated writes, a call that can write is followed by WAIT, whatever the
    /// script answered.
    pub(crate) async fn run_as<T: FromRedisValue, K: AsRef<str>>(
        &self,
        script: &StoreScript,
        keys: &[K],
        args: &[&str],
        writes: bool,
    ) -> Result<T> {
        let mut layout_args = self.layout.script_args();
        layout_args[4] = &self.mode_arg;
        let args: Vec<&str> = layout_args.into_iter().chain(args.iter().copied()).collect();
        let mut link = self.connection().await?;
        let mut declared: Vec<String> = keys.iter().map(|k| k.as_ref().to_string()).collect();
        for round in 0..MAX_KEY_ROUNDS {
            let reply = match self.invoke(script, &mut link, &declared, &args).await {
                Ok(reply) => reply,
                Err(err) => {
                    // A round that asked for more keys may have raised its user's fence
                    // (see `fenced_need_reply` in lua/prelude.lua); a later round that
                    // fails must not leave it up, so that the call changed nothing.
                    if round > 0 {
                        self.lift_fences(&mut link, &declared).await;
                    }
                    return Err(err);
                }
            };
            let Some(needed) = self.layout.is_cluster().then(|| needed_keys(&reply)).flatten() else {
                if writes {
                    self.replicate(&mut link, declared.first().map_or("", String::as_str)).await?;
                }
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
            let chains = if script.walks_lineage {
                match self.parent_chains(&mut link, &added, &known).await {
                    Ok(chains) => chains,
                    Err(err) => {
                        self.lift_fences(&mut link, &declared).await;
                        return Err(err);
                    }
                }
            } else {
                Vec::new()
            };
            declared.extend(added);
            declared.extend(chains);
        }
        Err(StoreError::Redis(format!("a script needed more than {MAX_KEY_ROUNDS} rounds of keys")))
    }

    /// Deletes the fence keys among `declared`, as far as the server lets it (the call's
    /// own error is what the caller reports).
    async fn lift_fences(&self, link: &mut Link, declared: &[String]) {
        for fence in declared.iter().filter(|k| self.layout.is_fence_key(k)) {
            let _: redis::RedisResult<Value> = redis::cmd("DEL").arg(fence).query_async(link).await;
        }
    }

    /// With `cfg.durability`: WAIT until enough replicas acknowledged what this
    /// connection wrote (on a cluster, the connection to the primary of `key`'s slot,
    /// where the script ran). The connection is shared: WAIT covers this call's write
    /// and every write other calls sent on it before, and while it waits the server
    /// holds back the commands queued behind it on that connection. Without
    /// `cfg.durability` nothing is sent.
    async fn replicate(&self, link: &mut Link, key: &str) -> Result<()> {
        let Some(durability) = &self.config.durability else { return Ok(()) };
        let acknowledged = link.wait_for_replicas(key, durability).await.map_err(|e| self.error(e))?;
        if acknowledged < u64::from(durability.replicas) {
            return Err(StoreError::NotReplicated {
                acknowledged,
                wanted: durability.replicas,
                timeout: durability.timeout,
            });
        }
        Ok(())
    }

    /// Runs one script: as a function of the library where the server has functions,
    /// else (or when the server refuses them) with EVALSHA.
    async fn invoke(&self, script: &StoreScript, link: &mut Link, keys: &[String], args: &[&str]) -> Result<Value> {
        if self.server.functions() {
            if let Some(outcome) = self.call_function(script, link, keys, args).await {
                return outcome;
            }
        }
        let mut invocation = script.prepare_invoke();
        invocation.key(keys).arg(args);
        match invocation.invoke_async(link).await {
            // redis-rs answers NOSCRIPT by loading the script and trying once more; a
            // second SCRIPT FLUSH (or a failover) in between surfaces as NOSCRIPT again.
            // NOSCRIPT means the script did not run, so sending its source with EVAL,
            // which needs no script cache, is safe and cannot meet NOSCRIPT.
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => redis::cmd("EVAL")
                .arg(&script.source)
                .arg(keys.len())
                .arg(keys)
                .arg(args)
                .query_async(link)
                .await
                .map_err(|e| self.error(e)),
            outcome => outcome.map_err(|e| self.error(e)),
        }
    }

    /// FCALL of the script's function; when the server does not have the library (a new
    /// or restarted server, FUNCTION FLUSH) it is loaded, on every primary, and the call
    /// made once more. `None` when the function did not run and the script should run
    /// with EVALSHA instead: the server refused functions (they are then not tried again),
    /// or the library was flushed again before the second call.
    async fn call_function(
        &self,
        script: &StoreScript,
        link: &mut Link,
        keys: &[String],
        args: &[&str],
    ) -> Option<Result<Value>> {
        let mut fcall = redis::cmd("FCALL");
        fcall.arg(&script.function).arg(keys.len()).arg(keys).arg(args);
        match fcall.query_async::<Value>(link).await {
            Err(e) if function_missing(&e) => {}
            Err(e) if functions_refused(&e) => {
                self.server.refuse_functions();
                return None;
            }
            outcome => return Some(outcome.map_err(|e| self.error(e))),
        }
        let mut load = redis::cmd("FUNCTION");
        load.arg("LOAD").arg("REPLACE").arg(&scripts::LIBRARY.code);
        match load.query_async::<Value>(link).await {
            Err(e) if functions_refused(&e) => {
                self.server.refuse_functions();
                return None;
            }
            Err(e) => return Some(Err(self.error(e))),
            Ok(_) => {}
        }
        match fcall.query_async::<Value>(link).await {
            Err(e) if function_missing(&e) => None,
            outcome => Some(outcome.map_err(|e| self.error(e))),
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
        self.issue_initial_evicting(input).await.map(|(issue, _)| issue)
    }

    /// `issue_initial`, also returning the rids of the sessions it ended to keep the user
    /// within `maxSessionsPerUser`.
    pub async fn issue_initial_evicting(&self, input: IssueInput) -> Result<(RefreshIssue, Vec<String>)> {
        let abs_ttl = input.abs_ttl_seconds.unwrap_or(self.config.abs_ttl_seconds);
        let abs_exp_at = crate::input::abs_exp_at(input.now, abs_ttl)?;
        let idle = self.config.hardening.idle_ttl_seconds;
        let exp_at = if idle > 0 { (input.now + idle).min(abs_exp_at) } else { input.now + abs_ttl.min(ISSUE_EXP_CAP) };
        let rid = self.layout.new_rid(&input.user_id);
        let name = self.layout.stored_rid(&rid).ok_or_else(|| StoreError::Redis("a new rid named nothing".into()))?;
        // With hashed tokens the session's id is stored, so it outlives the lineage's
        // first session; a plain session's id is derived when read (the original's bytes).
        let session_id = if name != rid { crate::token::session_id(&name) } else { String::new() };
        let b = &input.binding;
        let mut keys = vec![
            self.layout.rid_key(&name),
            self.layout.user_key(&input.user_id),
            self.layout.device_key(&input.user_id, &b.device_id),
        ];
        keys.extend(self.audit_key_to_declare(&input.user_id));
        let outcome: Value = self
            .run(
                &scripts::ISSUE,
                &keys,
                &[
                    &input.user_id,
                    &input.now.to_string(),
                    &exp_at.to_string(),
                    &abs_exp_at.to_string(),
                    &b.device_id,
                    &b.ua_hash,
                    &b.ip_hash,
                    &session_id,
                ],
            )
            .await?;
        // 'OK' or a failure's code, or {'OK', evicted rid...}.
        let outcome: Vec<String> = match outcome {
            Value::Array(_) => Vec::from_redis_value(outcome),
            other => String::from_redis_value(other).map(|s| vec![s]),
        }
        .map_err(|e| StoreError::Redis(format!("unexpected issue reply: {e}")))?;
        match outcome.split_first() {
            Some((ok, evicted)) if ok == "OK" => Ok((
                RefreshIssue { rid, abs_exp: abs_exp_at },
                evicted.iter().map(|name| self.layout.shown_rid(name)).collect(),
            )),
            Some((reason, _)) => Err(StoreError::RotateFail { reason: reason.to_string() }),
            None => Err(StoreError::Redis("empty issue reply".into())),
        }
    }

    /// Cluster layout with audit on: the user's audit stream, declared up front so that
    /// scripts need not ask for it.
    fn audit_key_to_declare(&self, user_id: &str) -> Option<String> {
        (self.layout.is_cluster() && self.config.hardening.audit_max_len > 0)
            .then(|| self.layout.audit_key(Some(user_id)))
    }

    /// As `audit_key_to_declare`, from a rid's tag.
    fn audit_key_of_rid(&self, rid: &str) -> Option<String> {
        (self.config.hardening.audit_max_len > 0).then(|| self.layout.audit_key_of_rid(rid)).flatten()
    }

    /// The stored name of the session a token names (see [`crate::token`]). In the
    /// cluster layout a rid without a tag was issued before the deployment moved from one
    /// node: its alias key, under its name on that node, names its user's tag (one more
    /// round trip, for that rid only). `None` when the rid cannot be known.
    pub(crate) async fn resolve_rid(&self, rid: &str) -> Result<Option<String>> {
        if self.layout.is_layout_rid(rid) {
            return Ok(self.layout.stored_rid(rid));
        }
        let Some(old_name) = crate::token::stored_body(rid, rid) else { return Ok(None) };
        let rid = old_name.as_str();
        let mut link = self.connection().await?;
        let tag: Option<String> = redis::cmd("GET")
            .arg(self.layout.alias_key(rid))
            .query_async(&mut link)
            .await
            .map_err(|e| self.error(e))?;
        Ok(tag.map(|tag| KeyLayout::moved_rid(&tag, rid)))
    }

    pub async fn verify_and_rotate_refresh(&self, mut input: RotateInput) -> Result<RotateResult> {
        // From here on `input.rid` is the stored name; the token stays in Rust.
        let token = std::mem::take(&mut input.rid);
        input.rid = self.resolve_rid(&token).await?.ok_or(StoreError::NotFound)?;
        let child = self.layout.child_rid(&input.rid);
        let child_name =
            self.layout.stored_rid(&child).ok_or_else(|| StoreError::Redis("a new rid named nothing".into()))?;
        // Within reuseGraceSeconds the parent's holder may ask again: a hashed child is
        // kept sealed under the parent token, which only that holder has.
        let seal = if self.config.hardening.reuse_grace_seconds > 0 {
            self.layout.seal_child(&token, &child).unwrap_or_default()
        } else {
            String::new()
        };
        let b = &input.binding;
        // The cluster layout declares what the rid's tag gives: the user's index, device key,
        // audit stream and fence (each `None` in the original's layout).
        let mut keys = vec![self.layout.rid_key(&input.rid), self.layout.rid_key(&child_name)];
        keys.extend(self.layout.user_key_of_rid(&input.rid));
        if !b.device_id.is_empty() {
            keys.extend(self.layout.device_key_of_rid(&input.rid, &b.device_id));
        }
        keys.extend(self.audit_key_of_rid(&input.rid));
        keys.extend(self.layout.fence_key_of_rid(&input.rid));
        let args =
            [input.now.to_string(), input.rid.clone(), b.device_id.clone(), b.ua_hash.clone(), b.ip_hash.clone(), seal];
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
                return Err(StoreError::Timeout(format!(
                    "no rotation within {} ms: a logoutDevice or tombstoneLineage of this user held it back",
                    self.config.command_timeout.as_millis()
                )));
            }
            tokio::time::sleep(FENCE_RETRY_WAIT).await;
        };
        match reply.as_slice() {
            [ok, user_id, abs_exp] if ok == "OK" => {
                let abs_exp =
                    abs_exp.parse().map_err(|_| StoreError::Redis(format!("unexpected absExpAt {abs_exp:?}")))?;
                Ok(RotateResult { user_id: user_id.clone(), new_rid: RefreshIssue { rid: child, abs_exp } })
            }
            // Within reuseGraceSeconds: the child the first rotation issued (its stored
            // name, and when hashed, its token sealed under the token presented).
            [ok, user_id, abs_exp, issued, sealed] if ok == "OK" => {
                let abs_exp =
                    abs_exp.parse().map_err(|_| StoreError::Redis(format!("unexpected absExpAt {abs_exp:?}")))?;
                let rid = if sealed.is_empty() {
                    Some(issued.clone()).filter(|name| self.layout.stored_rid(name).as_ref() == Some(name))
                } else {
                    self.layout.open_child(&token, &input.rid, sealed, issued)
                };
                // A hashed child without its seal (issued by a store without the grace
                // window) cannot be handed out: a replay, as without the window.
                let rid = rid.ok_or_else(|| StoreError::RotateFail { reason: "ERR_REPLAY".into() })?;
                Ok(RotateResult { user_id: user_id.clone(), new_rid: RefreshIssue { rid, abs_exp } })
            }
            [not_found] if not_found == "not_found" => Err(StoreError::NotFound),
            [expired] if expired == "expired_abs" => Err(StoreError::ExpiredAbs),
            [reason] => Err(StoreError::RotateFail { reason: reason.clone() }),
            other => Err(StoreError::Redis(format!("unexpected rotate reply {other:?}"))),
        }
    }

    /// A rid's key, and in the cluster layout its user's index too (the rid's tag gives
    /// it), declared up front so the script need not ask for it.
    fn keys_of_rid(&self, rid: &str) -> Vec<String> {
        std::iter::once(self.layout.rid_key(rid))
            .chain(self.layout.user_key_of_rid(rid))
            .chain(self.audit_key_of_rid(rid))
            .collect()
    }

    /// Ends the whole lineage `rid` belongs to; returns how many sessions it ended.
    pub async fn tombstone_lineage(&self, rid: &str) -> Result<u64> {
        self.end_lineage_of(rid, "revoked").await
    }

    /// Ends one session; returns whether it existed. A rid already rotated away (or
    /// ended) ends its whole lineage: see `lua/tombstone_lineage.lua`.
    pub async fn logout(&self, rid: &str) -> Result<bool> {
        Ok(self.end_lineage_of(rid, "logout").await? > 0)
    }

    /// The tombstone_lineage script for `rid`, as tombstoneLineage (`revoked`) or logout.
    async fn end_lineage_of(&self, rid: &str, reason: &str) -> Result<u64> {
        let Some(rid) = self.resolve_rid(rid).await? else { return Ok(0) };
        let rid = rid.as_str();
        let hops = MAX_LINEAGE_HOPS.to_string();
        let mut keys = self.keys_of_rid(rid);
        keys.extend(self.layout.fence_key_of_rid(rid));
        self.run(&scripts::TOMBSTONE_LINEAGE, &keys, &[&hops, reason]).await
    }

    /// Ends every active session of `user_id` bound to `device_id`; returns how many.
    pub async fn logout_device(&self, user_id: &str, device_id: &str) -> Result<u64> {
        let keys: Vec<String> = [self.layout.user_key(user_id), self.layout.device_key(user_id, device_id)]
            .into_iter()
            .chain(self.layout.is_cluster().then(|| self.layout.fence_key(user_id)))
            .chain(self.audit_key_to_declare(user_id))
            .collect();
        self.run(&scripts::LOGOUT_DEVICE, &keys, &[user_id, device_id]).await
    }

    /// Ends every session in the user's index, in bounded batches; returns how many of
    /// them were active. After the first batch tells how many remain, the batches that
    /// should end them are sent together (each still its own script call, so other
    /// clients' commands run between them); the last reply says whether rotations
    /// meanwhile added sessions, and then it goes on.
    pub async fn logout_all(&self, user_id: &str) -> Result<u64> {
        let user_key = self.layout.user_key(user_id);
        let batch = LOGOUT_ALL_BATCH.to_string();
        if self.layout.is_cluster() {
            return self.logout_all_declared(user_id, &user_key, &batch).await;
        }
        let (keys, args) = ([user_key.as_str()], [batch.as_str(), "0"]);
        // Each reply: (index members still to process, active sessions it ended).
        let one_batch = || self.run::<(u64, u64), &str>(&scripts::LOGOUT_ALL, &keys, &args);
        let (mut remaining, mut ended) = one_batch().await?;
        while remaining > 0 {
            let batches = remaining.div_ceil(u64::from(LOGOUT_ALL_BATCH));
            let replies = futures_util::future::try_join_all((0..batches).map(|_| one_batch())).await?;
            ended += replies.iter().map(|(_, n)| n).sum::<u64>();
            remaining = replies.last().map_or(0, |(left, _)| *left);
        }
        Ok(ended)
    }

    /// `logout_all` in the cluster layout, where the script must be given its sessions:
    /// read a batch of the index, end those still in it, until the index is empty.
    async fn logout_all_declared(&self, user_id: &str, user_key: &str, batch: &str) -> Result<u64> {
        let audit = self.audit_key_to_declare(user_id);
        let mut link = self.connection().await?;
        let mut ended = 0;
        loop {
            let members: Vec<String> = redis::cmd("SRANDMEMBER")
                .arg(user_key)
                .arg(LOGOUT_ALL_BATCH)
                .query_async(&mut link)
                .await
                .map_err(|e| self.error(e))?;
            if members.is_empty() {
                return Ok(ended);
            }
            let count = members.len().to_string();
            let keys: Vec<&str> =
                std::iter::once(user_key).chain(members.iter().map(String::as_str)).chain(audit.as_deref()).collect();
            let (_, batch_ended) = self.run::<(u64, u64), &str>(&scripts::LOGOUT_ALL, &keys, &[batch, &count]).await?;
            ended += batch_ended;
        }
    }

    /// Ends the session (the whole lineage) whose id is `session_id`, if it is one of
    /// `user_id`'s active sessions; returns how many active sessions it ended (0: none,
    /// e.g. the id of another user's session or of one already ended).
    pub async fn logout_session(&self, user_id: &str, session_id: &str) -> Result<u64> {
        self.logout_by_session(user_id, session_id, "one").await
    }

    /// Ends every active session of `user_id` but the one whose id is `keep_session_id`;
    /// returns how many it ended. Nothing ends (0) when that id is not one of the user's
    /// active sessions, so a stale or foreign id never signs a user out everywhere.
    pub async fn logout_other_sessions(&self, user_id: &str, keep_session_id: &str) -> Result<u64> {
        self.logout_by_session(user_id, keep_session_id, "others").await
    }

    /// Finds the session's current rid from its id (a read), then ends by it in one
    /// script, which follows any rotation made in between.
    async fn logout_by_session(&self, user_id: &str, session_id: &str, mode: &str) -> Result<u64> {
        let sessions = self.list_sessions(user_id).await?;
        let Some(chosen) = sessions.iter().find(|s| crate::token::same_name(&s.session_id, session_id)) else {
            return Ok(0);
        };
        let user_key = self.layout.user_key(user_id);
        let keys: Vec<String> = std::iter::once(user_key)
            .chain(self.layout.is_cluster().then(|| self.layout.fence_key(user_id)))
            .chain(self.audit_key_to_declare(user_id))
            .chain(std::iter::once(self.layout.rid_key(&chosen.rid)))
            .collect();
        let hops = MAX_LINEAGE_HOPS.to_string();
        self.run(&scripts::LOGOUT_SESSIONS, &keys, &[user_id, &chosen.rid, mode, &hops]).await
    }

    /// The session's hash fields in the server's order, or `None`; one round trip.
    pub async fn get_rid(&self, rid: &str) -> Result<Option<Vec<(String, String)>>> {
        let Some(rid) = self.resolve_rid(rid).await? else { return Ok(None) };
        let rid = rid.as_str();
        let mut connection = self.connection().await?;
        let hash: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.layout.rid_key(rid))
            .query_async(&mut connection)
            .await
            .map_err(|e| self.error(e))?;
        Ok(if hash.is_empty() { None } else { Some(self.shown_fields(hash)) })
    }

    /// A session's hash as callers see it: the fields naming other sessions by their
    /// shown names (with hashed tokens, never a live token).
    pub(crate) fn shown_fields(&self, mut hash: Vec<(String, String)>) -> Vec<(String, String)> {
        if self.layout.tokens() == crate::token::TokenStorage::Sha256 {
            for (field, value) in &mut hash {
                if field == "parentRid" || field == "childRid" || field == "rid" {
                    *value = self.layout.shown_rid(value);
                }
            }
        }
        hash
    }

    /// The bare rids of the user's active sessions (with hashed tokens, their stored
    /// names: a token is never stored).
    pub async fn scan_rids(&self, user_id: &str) -> Result<Vec<String>> {
        let names: Vec<String> = self.run(&scripts::SCAN_RIDS, &[&self.layout.user_key(user_id)], &[user_id]).await?;
        Ok(names.iter().map(|name| self.layout.shown_rid(name)).collect())
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

/// The server has no such function: the library is not loaded there (the call did not run).
fn function_missing(err: &redis::RedisError) -> bool {
    err.code() == Some("ERR") && err.detail().is_some_and(|d| d.starts_with("Function not found"))
}

/// The server will not run functions for this user (ACL), or does not know the commands.
/// Either way nothing ran. A NOPERM naming another command comes from inside the script
/// (its check before writing) and is the call's own error.
fn functions_refused(err: &redis::RedisError) -> bool {
    let names_functions = |d: &str| {
        let d = d.to_ascii_lowercase();
        d.contains("'fcall'") || d.contains("'function")
    };
    (err.code() == Some("NOPERM") && err.detail().is_some_and(names_functions))
        || (err.code() == Some("ERR") && err.detail().is_some_and(|d| d.starts_with("unknown command")))
}

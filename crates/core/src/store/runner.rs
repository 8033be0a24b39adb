//! Running the scripts: as functions of the library where the server has them, else
//! with EVALSHA; in the cluster layout, declaring the keys a script asks for; with
//! replicated writes, waiting for the replicas.

use std::collections::HashSet;

use redis::{FromRedisValue, Value};

use super::SessionStore;
use crate::connection::Link;
use crate::error::{Result, StoreError};
use crate::keys::hash_tag;
use crate::limits::MAX_LINEAGE_HOPS;
use crate::scripts::{self, StoreScript};

/// Cluster layout: how many times one script call may ask for more keys. Each round
/// declares every key the script found missing (and whole parent chains), so a call
/// needs a few; the bound only stops a runaway.
const MAX_KEY_ROUNDS: usize = 64;

impl SessionStore {
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

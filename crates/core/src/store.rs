//! The store's operations. Each state change is one script call; the connection is one
//! multiplexed connection shared by all calls, reconnecting by itself.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::FromRedisValue;

use crate::config::StoreConfig;
use crate::error::{Result, StoreError};
use crate::input::{GcOptions, IssueInput, RotateInput};
use crate::keys::KeyLayout;
use crate::scripts::{self, StoreScript};

/// The rolling expiry of a first session, and its cap after each rotation.
const ISSUE_EXP_CAP: u64 = 2 * 24 * 3600;
/// Sessions ended per `logout_all` script call: bounds how long one call holds the server.
const LOGOUT_ALL_BATCH: u32 = 256;
/// Parent links a lineage walk follows at most (a guard against corrupt cycles).
pub(crate) const MAX_LINEAGE_HOPS: usize = 100_000;
/// Reconnection: a few quick attempts, so a call against a dead server fails fast
/// instead of waiting out a long backoff; the next call tries again.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(1_000);

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
    Open(ConnectionManager),
    Closed,
}

pub struct SessionStore {
    config: StoreConfig,
    pub(crate) layout: KeyLayout,
    connection: Mutex<Connection>,
}

impl SessionStore {
    pub fn new(config: StoreConfig) -> Self {
        let layout = KeyLayout::new(&config.prefix);
        SessionStore { config, layout, connection: Mutex::new(Connection::Pending) }
    }

    pub fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    /// The shared connection. Must be called from within a Tokio runtime.
    pub(crate) fn connection(&self) -> Result<ConnectionManager> {
        let mut state = self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*state {
            Connection::Open(manager) => Ok(manager.clone()),
            Connection::Closed => Err(StoreError::Closed),
            Connection::Pending => {
                let client = redis::Client::open(self.config.connection.clone()).map_err(|e| self.error(e))?;
                let manager_config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(self.config.command_timeout))
                    .set_connection_timeout(Some(self.config.connect_timeout))
                    .set_number_of_retries(RECONNECT_RETRIES)
                    .set_min_delay(RECONNECT_MIN_DELAY)
                    .set_max_delay(RECONNECT_MAX_DELAY);
                let manager =
                    ConnectionManager::new_lazy_with_config(client, manager_config).map_err(|e| self.error(e))?;
                *state = Connection::Open(manager.clone());
                Ok(manager)
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

    /// Runs one script with the layout arguments in front of the caller's.
    pub(crate) async fn run<T: FromRedisValue>(&self, script: &StoreScript, keys: &[&str], args: &[&str]) -> Result<T> {
        let args: Vec<&str> = self.layout.script_args().into_iter().chain(args.iter().copied()).collect();
        let mut invocation = script.prepare_invoke();
        invocation.key(keys).arg(&args);
        let mut connection = self.connection()?;
        match invocation.invoke_async(&mut connection).await {
            // redis-rs answers NOSCRIPT by loading the script and trying once more; a
            // second SCRIPT FLUSH (or a failover) in between surfaces as NOSCRIPT again.
            // NOSCRIPT means the script did not run, so sending its source with EVAL,
            // which needs no script cache, is safe and cannot meet NOSCRIPT.
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => redis::cmd("EVAL")
                .arg(script.source)
                .arg(keys.len())
                .arg(keys)
                .arg(&args)
                .query_async(&mut connection)
                .await
                .map_err(|e| self.error(e)),
            outcome => outcome.map_err(|e| self.error(e)),
        }
    }

    pub async fn issue_initial(&self, input: IssueInput) -> Result<RefreshIssue> {
        let abs_ttl = input.abs_ttl_seconds.unwrap_or(self.config.abs_ttl_seconds);
        let abs_exp_at = crate::input::abs_exp_at(input.now, abs_ttl)?;
        let exp_at = input.now + abs_ttl.min(ISSUE_EXP_CAP);
        let rid = uuid::Uuid::new_v4().to_string();
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
        let child = uuid::Uuid::new_v4().to_string();
        let b = &input.binding;
        let reply: Vec<String> = self
            .run(
                &scripts::ROTATE,
                &[&self.layout.rid_key(&input.rid), &self.layout.rid_key(&child)],
                &[&input.now.to_string(), &input.rid, &b.device_id, &b.ua_hash, &b.ip_hash],
            )
            .await?;
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
        self.run(&scripts::TOMBSTONE_LINEAGE, &[&self.layout.rid_key(rid)], &[&hops]).await
    }

    /// Ends one session; returns whether it existed.
    pub async fn logout(&self, rid: &str) -> Result<bool> {
        let ended: u64 = self.run(&scripts::LOGOUT, &[&self.layout.rid_key(rid)], &[]).await?;
        Ok(ended == 1)
    }

    /// Ends every active session of `user_id` bound to `device_id`; returns how many.
    pub async fn logout_device(&self, user_id: &str, device_id: &str) -> Result<u64> {
        self.run(
            &scripts::LOGOUT_DEVICE,
            &[&self.layout.user_key(user_id), &self.layout.device_key(user_id, device_id)],
            &[user_id, device_id],
        )
        .await
    }

    /// Ends every session in the user's index, in bounded batches. After the first batch
    /// tells how many remain, the batches that should end them are sent together (each
    /// still its own script call, so other clients' commands run between them); the last
    /// reply says whether rotations meanwhile added sessions, and then it goes on.
    pub async fn logout_all(&self, user_id: &str) -> Result<()> {
        let user_key = self.layout.user_key(user_id);
        let batch = LOGOUT_ALL_BATCH.to_string();
        let (keys, args) = ([user_key.as_str()], [batch.as_str()]);
        let one_batch = || self.run::<u64>(&scripts::LOGOUT_ALL, &keys, &args);
        let mut remaining = one_batch().await?;
        while remaining > 0 {
            let batches = remaining.div_ceil(u64::from(LOGOUT_ALL_BATCH));
            let replies = futures_util::future::try_join_all((0..batches).map(|_| one_batch())).await?;
            remaining = replies.last().copied().unwrap_or(0);
        }
        Ok(())
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

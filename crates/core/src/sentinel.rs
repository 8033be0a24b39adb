//! A primary found through Redis Sentinel, and found again after a failover.
//!
//! The link keeps one multiplexed connection to the primary the Sentinels named. It
//! forgets that connection when it fails (refused, dropped, I/O, timed out) or when the
//! server answers READONLY (the old primary, demoted to a replica, still accepts the
//! connection but refuses writes); the next command asks the Sentinels again. A command
//! refused with READONLY did not run, so it is sent once more to the primary the
//! Sentinels name then. A command whose connection failed may have run: its error is
//! returned, never retried, as with a single server.
//!
//! A Sentinel demotes the old primary only when it next checks on it, seconds after the
//! failover; until then the old primary still takes writes, which the failover loses.
//! So once connected, the link also listens on a Sentinel for `+switch-master` of its
//! primary and forgets the connection when it comes: the next call connects to the
//! announced primary (once `ROLE` confirms it; otherwise it asks the Sentinels, one of
//! which may not have heard of the failover yet).
//!
//! Asking the Sentinels is one lookup at a time: calls that need a primary while a
//! lookup runs wait for it and share its outcome, so a failover does not send every
//! waiting call to the Sentinels. A lookup is bounded by the connect timeout and a
//! command by the command timeout, so no call waits longer than their sum (twice, for a
//! command resent after READONLY).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    AsyncConnectionConfig, Client, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline,
    RedisError, RedisFuture, RedisResult, Role, ServerErrorKind, Value,
};
use tokio::sync::oneshot;
use tokio::time::{sleep, timeout, timeout_at, Instant};

use crate::config::{StoreConfig, TlsMaterial, Topology};

/// A failed lookup is answered again, without asking the Sentinels, to calls that come
/// within this long after it: during a failover the Sentinels are asked about twenty
/// times a second, not once per call.
const FAILED_LOOKUP_REUSE: Duration = Duration::from_millis(50);
/// The channel on which a Sentinel announces a new primary: `<name> <old ip> <old port>
/// <new ip> <new port>`.
const SWITCH_CHANNEL: &str = "+switch-master";
/// The pause before listening on the next Sentinel when one could not be reached.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(200);
/// How many Sentinels a lookup asks at once.
const SENTINELS_ASKED_AT_ONCE: usize = 3;

#[derive(Clone)]
pub(crate) struct SentinelLink {
    shared: Arc<Shared>,
    db: i64,
}

struct Shared {
    master_name: String,
    lookup: tokio::sync::Mutex<Lookup>,
    primary: Mutex<Primary>,
    connection_config: AsyncConnectionConfig,
    lookup_timeout: Duration,
    /// The Sentinels, each with its credentials and `cfg.tls`.
    sentinels: Vec<ConnectionInfo>,
    /// The data nodes' settings, for the address a Sentinel names.
    data_node: ConnectionInfo,
    /// `cfg.tls`: the CA and client certificate for every TLS connection, to the Sentinels
    /// and to the data nodes.
    tls: Option<TlsMaterial>,
    /// Dropped with the link, which ends the listener.
    _stop_listener: oneshot::Sender<()>,
}

struct Lookup {
    /// When the last lookup failed, and why.
    failed: Option<(Instant, RedisError)>,
    /// What ends the `+switch-master` listener, until the first lookup starts it.
    listener: Option<oneshot::Receiver<()>>,
}

/// The connection to the primary, if there is one, and a number that changes each time
/// it is replaced, so a call forgets only the connection it saw fail.
#[derive(Default)]
struct Primary {
    generation: u64,
    connection: Option<MultiplexedConnection>,
    /// The primary a `+switch-master` announced, for the next lookup to try first.
    announced: Option<ConnectionInfo>,
}

impl SentinelLink {
    /// Builds the link without connecting, from a configuration with a Sentinel
    /// topology. The data nodes' credentials, database, TLS and TCP settings come from
    /// `cfg.url` (its address is not used); the Sentinels get their own credentials.
    pub(crate) fn new(config: &StoreConfig) -> RedisResult<SentinelLink> {
        let Topology::Sentinel { master_name, sentinels, username, password } = &config.topology else {
            return Err(RedisError::from((ErrorKind::InvalidClientConfig, "not a Sentinel configuration")));
        };
        let sentinels: Vec<ConnectionInfo> = sentinels
            .iter()
            .map(|info| {
                let mut auth = info.redis_settings().clone();
                if let Some(username) = username {
                    auth = auth.set_username(username);
                }
                if let Some(password) = password {
                    auth = auth.set_password(password);
                }
                with_tls(info.clone().set_redis_settings(auth), config.tls.as_ref())
            })
            .collect::<RedisResult<_>>()?;
        let (stop_listener, listener_stopped) = oneshot::channel();
        let connection_config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout));
        Ok(SentinelLink {
            shared: Arc::new(Shared {
                master_name: master_name.clone(),
                lookup: tokio::sync::Mutex::new(Lookup { failed: None, listener: Some(listener_stopped) }),
                primary: Mutex::new(Primary::default()),
                connection_config,
                lookup_timeout: config.connect_timeout,
                sentinels,
                data_node: config.connection.clone(),
                tls: config.tls.clone(),
                _stop_listener: stop_listener,
            }),
            db: config.connection.redis_settings().db(),
        })
    }

    fn current(&self) -> Option<(u64, MultiplexedConnection)> {
        let primary = self.shared.primary.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        primary.connection.clone().map(|connection| (primary.generation, connection))
    }

    /// Forgets the connection of `generation`, unless another call already replaced it.
    fn forget(&self, generation: u64) {
        let mut primary = self.shared.primary.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if primary.generation == generation {
            primary.connection = None;
        }
    }

    /// The connection to the primary: the current one, or a new one to the primary the
    /// Sentinels name now.
    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let asked = Instant::now();
        let deadline = asked + self.shared.lookup_timeout;
        let mut lookup = timeout_at(deadline, self.shared.lookup.lock()).await.map_err(|_| self.no_primary())?;
        // Another call found the primary while this one waited.
        if let Some(current) = self.current() {
            return Ok(current);
        }
        if let Some((at, err)) = &lookup.failed {
            if *at >= asked || at.elapsed() < FAILED_LOOKUP_REUSE {
                return Err(err.clone());
            }
        }
        let config = &self.shared.connection_config;
        let announced = self.shared.primary.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).announced.take();
        let found = timeout_at(deadline, async {
            if let Some(node) = announced {
                if let Ok(connection) = confirmed_primary(node, config).await {
                    return Ok(connection);
                }
            }
            self.shared.ask_sentinels().await
        })
        .await
        .unwrap_or_else(|_| Err(self.no_primary()));
        match found {
            Ok(connection) => {
                lookup.failed = None;
                if let Some(stopped) = lookup.listener.take() {
                    let listener = listen_for_switches(Arc::downgrade(&self.shared), self.shared.sentinels.clone());
                    tokio::spawn(futures_util::future::select(Box::pin(listener), stopped));
                }
                let mut primary = self.shared.primary.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                primary.generation += 1;
                primary.connection = Some(connection.clone());
                Ok((primary.generation, connection))
            }
            Err(err) => {
                lookup.failed = Some((Instant::now(), err.clone()));
                Err(err)
            }
        }
    }

    fn no_primary(&self) -> RedisError {
        let detail = format!(
            "no primary for {:?} found through Sentinel within {} ms",
            self.shared.master_name,
            self.shared.lookup_timeout.as_millis()
        );
        RedisError::from((ErrorKind::Io, "sentinel lookup timed out", detail))
    }

    /// Sends one command or pipeline on the current primary's connection.
    async fn send(&self, request: Request<'_>) -> RedisResult<Vec<Value>> {
        let (generation, mut connection) = self.connection().await?;
        match request.send(&mut connection).await {
            Err(err) if is_demoted(&err) => {
                self.forget(generation);
                let (generation, mut connection) = self.connection().await?;
                let outcome = request.send(&mut connection).await;
                if outcome.as_ref().is_err_and(|err| is_demoted(err) || is_lost(err)) {
                    self.forget(generation);
                }
                outcome
            }
            Err(err) if is_lost(&err) => {
                self.forget(generation);
                Err(err)
            }
            outcome => outcome,
        }
    }
}

#[derive(Clone, Copy)]
enum Request<'a> {
    Command(&'a Cmd),
    Pipeline(&'a Pipeline, usize, usize),
}

impl Request<'_> {
    async fn send(self, connection: &mut MultiplexedConnection) -> RedisResult<Vec<Value>> {
        match self {
            Request::Command(cmd) => connection.req_packed_command(cmd).await.map(|value| vec![value]),
            Request::Pipeline(pipeline, offset, count) => connection.req_packed_commands(pipeline, offset, count).await,
        }
    }
}

impl Shared {
    /// Forgets the connection, whichever it is: the primary changed (to `announced`,
    /// when the announcement said where).
    fn forget_primary(&self, announced: Option<ConnectionInfo>) {
        let mut primary = self.primary.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        primary.connection = None;
        primary.announced = announced;
    }

    /// The data node at `host:port`, as a Sentinel or its announcement names it, with the
    /// settings of `cfg.url` and `cfg.tls`.
    fn data_node_at(&self, host: &str, port: &str) -> RedisResult<ConnectionInfo> {
        let port: u16 = port.parse().map_err(|_| {
            RedisError::from((ErrorKind::UnexpectedReturnType, "a Sentinel named a primary without a valid port"))
        })?;
        let addr = match self.data_node.addr() {
            ConnectionAddr::TcpTls { .. } => {
                ConnectionAddr::TcpTls { host: host.to_string(), port, insecure: false, tls_params: None }
            }
            _ => ConnectionAddr::Tcp(host.to_string(), port),
        };
        let info = addr
            .into_connection_info()?
            .set_redis_settings(self.data_node.redis_settings().clone())
            .set_tcp_settings(self.data_node.tcp_settings().clone());
        with_tls(info, self.tls.as_ref())
    }

    /// Asks the Sentinels for the primary: up to three at once, their answers taken in the
    /// order of `cfg.sentinel.nodes`. The first Sentinel that names a primary it has not
    /// flagged down, which then confirms with `ROLE` that it is one, gives the connection.
    /// An error about a named primary outranks one about a Sentinel.
    async fn ask_sentinels(&self) -> RedisResult<MultiplexedConnection> {
        let lookups: Vec<_> = self.sentinels.iter().map(|sentinel| self.primary_named_by(sentinel)).collect();
        let mut lookups = futures_util::stream::iter(lookups).buffered(SENTINELS_ASKED_AT_ONCE);
        let (mut primary_err, mut sentinel_err) = (None, None);
        while let Some(lookup) = lookups.next().await {
            match lookup {
                Ok(Ok(connection)) => return Ok(connection),
                Ok(Err(err)) if err.kind() != ErrorKind::MasterNameNotFoundBySentinel => primary_err = Some(err),
                Ok(Err(err)) | Err(err) => sentinel_err = Some(err),
            }
        }
        Err(primary_err.or(sentinel_err).unwrap_or_else(|| self.not_named()))
    }

    /// The outer result is the Sentinel's answer, the inner one the check of the primary
    /// it names.
    async fn primary_named_by(&self, sentinel: &ConnectionInfo) -> RedisResult<RedisResult<MultiplexedConnection>> {
        let config = &self.connection_config;
        let mut connection =
            Client::open(sentinel.clone())?.get_multiplexed_async_connection_with_config(config).await?;
        let masters: Vec<HashMap<String, String>> =
            redis::cmd("SENTINEL").arg("MASTERS").query_async(&mut connection).await?;
        let usable = |m: &HashMap<String, String>| {
            m.get("flags").is_some_and(|f| f.contains("master") && !f.contains("s_down") && !f.contains("o_down"))
        };
        let named = masters.iter().find(|m| m.get("name") == Some(&self.master_name) && usable(m));
        let (Some(host), Some(port)) = (named.and_then(|m| m.get("ip")), named.and_then(|m| m.get("port"))) else {
            return Ok(Err(self.not_named()));
        };
        Ok(match self.data_node_at(host, port) {
            Ok(node) => confirmed_primary(node, config).await,
            Err(err) => Err(err),
        })
    }

    fn not_named(&self) -> RedisError {
        RedisError::from((
            ErrorKind::MasterNameNotFoundBySentinel,
            "primary not found in Sentinel",
            format!("no Sentinel names a primary {:?} that it has not flagged down", self.master_name),
        ))
    }
}

/// `info` with `cfg.tls` applied (see [`TlsMaterial::applied_to`]), or as it is without it.
fn with_tls(info: ConnectionInfo, tls: Option<&TlsMaterial>) -> RedisResult<ConnectionInfo> {
    match tls {
        Some(tls) => tls.applied_to(info),
        None => Ok(info),
    }
}

/// A connection to `node`, once it says (`ROLE`) that it is a primary.
async fn confirmed_primary(node: ConnectionInfo, config: &AsyncConnectionConfig) -> RedisResult<MultiplexedConnection> {
    let mut connection = Client::open(node)?.get_multiplexed_async_connection_with_config(config).await?;
    let role: Role = redis::cmd("ROLE").query_async(&mut connection).await?;
    match role {
        Role::Primary { .. } => Ok(connection),
        // Not a primary (yet, or any more): a Sentinel that has not caught up with a
        // failover, answered as a Sentinel naming none would be.
        _ => Err(RedisError::from((
            ErrorKind::MasterNameNotFoundBySentinel,
            "primary not found in Sentinel",
            "the node a Sentinel named is not a primary".to_string(),
        ))),
    }
}

/// Listens on one Sentinel after another for `+switch-master` of this link's primary,
/// forgetting the connection on each, until the link is gone.
async fn listen_for_switches(shared: Weak<Shared>, sentinels: Vec<ConnectionInfo>) {
    let Some((master_name, subscribe_timeout)) = shared.upgrade().map(|s| (s.master_name.clone(), s.lookup_timeout))
    else {
        return;
    };
    let mut listened_before = false;
    for sentinel in sentinels.iter().cycle() {
        let subscribed = timeout(subscribe_timeout, async {
            let mut pubsub = Client::open(sentinel.clone())?.get_async_pubsub().await?;
            pubsub.subscribe(SWITCH_CHANNEL).await?;
            Ok::<_, RedisError>(pubsub)
        })
        .await;
        if let Ok(Ok(pubsub)) = subscribed {
            // A switch may have been announced while no Sentinel was listened to.
            if std::mem::replace(&mut listened_before, true) {
                let Some(shared) = shared.upgrade() else { return };
                shared.forget_primary(None);
            }
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                let payload: String = message.get_payload().unwrap_or_default();
                let words: Vec<&str> = payload.split(' ').collect();
                if let [name, _, _, host, port] = words.as_slice() {
                    if *name == master_name {
                        let Some(shared) = shared.upgrade() else { return };
                        shared.forget_primary(shared.data_node_at(host, port).ok());
                    }
                }
            }
        }
        if shared.strong_count() == 0 {
            return;
        }
        sleep(RESUBSCRIBE_DELAY).await;
    }
}

/// READONLY: the server is a replica now. A script answers it at its first write, so
/// nothing was written.
fn is_demoted(err: &RedisError) -> bool {
    err.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
}

/// The connection is not usable any more (or the server stalls): look the primary up
/// again before the next command.
fn is_lost(err: &RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error() || err.is_timeout()
}

impl ConnectionLike for SentinelLink {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut replies = self.send(Request::Command(cmd)).await?;
            Ok(replies.pop().unwrap_or(Value::Nil))
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move { self.send(Request::Pipeline(pipeline, offset, count)).await })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}

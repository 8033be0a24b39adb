//! Store configuration: the original's `url`, `prefix` and `absTtlSeconds`, plus what
//! this package adds (timeouts, cluster or Sentinel, TLS material, replicated writes, the
//! hardening options). Checked once, when the store is created.

use std::time::Duration;

use redis::io::tcp::TcpSettings;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::error::{Result, StoreError};
use crate::input::{self, Arg};
use crate::token::TokenStorage;

pub const DEFAULT_PREFIX: &str = "auth";
/// How long one Redis command may wait for its reply. Sessions are checked on a
/// request's hot path: a stalled server must turn into a fast, clear error, while a
/// healthy one answers these scripts in well under a millisecond.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(2_000);
/// How long one connection attempt may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(2_000);

/// The properties read from the `cfg` object and from the objects inside it.
pub const CONFIG_FIELDS: &[&str] = &[
    "url",
    "prefix",
    "absTtlSeconds",
    "commandTimeoutMs",
    "connectTimeoutMs",
    "cluster",
    "sentinel",
    "durability",
    "nodes",
    "masterName",
    "username",
    "password",
    "replicas",
    "timeoutMs",
    "tls",
    "ca",
    "cert",
    "key",
    "onReuse",
    "reuseGraceSeconds",
    "idleTtlSeconds",
    "maxSessionsPerUser",
    "sessionLimitPolicy",
    "audit",
    "maxLen",
    "metrics",
    "tokenStorage",
    "tagSecret",
];

/// The longest `reuseGraceSeconds`: a grace window exists for two requests racing with
/// one refresh token (a retried request, two browser tabs), which takes seconds; a long
/// window would let a stolen token be used alongside its owner's.
pub const MAX_REUSE_GRACE_SECONDS: u64 = 300;
/// The longest `idleTtlSeconds` (ten years; more is either a mistake or milliseconds).
pub const MAX_IDLE_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;
/// The largest `maxSessionsPerUser` (the issue script reads every session of the user).
pub const MAX_SESSIONS_PER_USER: u64 = 10_000;
/// The largest `audit.maxLen`.
pub const MAX_AUDIT_LEN: u64 = 100_000_000;

/// The opt-in hardening options. The default (every option off) is the original's
/// behaviour, with the original's stored bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hardening {
    /// `onReuse: 'revoke-lineage'`: a used rid presented again ends its whole lineage.
    pub revoke_on_reuse: bool,
    /// `reuseGraceSeconds`: how long after a rotation the same request may get the same child.
    pub reuse_grace_seconds: u64,
    /// `idleTtlSeconds`: how long a rid may go unrotated after its createdAt (0: no limit).
    pub idle_ttl_seconds: u64,
    /// `maxSessionsPerUser` (0: no limit).
    pub max_sessions_per_user: u64,
    /// `sessionLimitPolicy: 'refuse'` (else the least recently rotated sessions end).
    pub refuse_at_limit: bool,
    /// `audit.maxLen` (0: no audit stream).
    pub audit_max_len: u64,
    /// `metrics: true`: counters and latency histograms (kept by the JavaScript wrapper).
    pub metrics: bool,
}

impl Hardening {
    /// The options as the scripts read them, after the layout's mode in ARGV[5]: empty
    /// when every option is off (the scripts then behave as the original's).
    pub fn script_text(&self) -> String {
        let mut text = String::new();
        if self.revoke_on_reuse {
            text.push_str(&format!(";revoke=true;hops={}", crate::store::MAX_LINEAGE_HOPS));
        }
        for (name, value) in [
            ("grace", self.reuse_grace_seconds),
            ("idle", self.idle_ttl_seconds),
            ("max", self.max_sessions_per_user),
            ("audit", self.audit_max_len),
        ] {
            if value > 0 {
                text.push_str(&format!(";{name}={value}"));
            }
        }
        if self.refuse_at_limit && self.max_sessions_per_user > 0 {
            text.push_str(";refuse=true");
        }
        text
    }

    fn from_arg(cfg: &Arg) -> Result<Self> {
        let revoke_on_reuse = match cfg.field("onReuse") {
            Arg::Undefined => false,
            Arg::String(s) if s == "error" => false,
            Arg::String(s) if s == "revoke-lineage" => true,
            other => return Err(StoreError::invalid("cfg.onReuse", "'error' or 'revoke-lineage'", &other.kind())),
        };
        let refuse_at_limit = match cfg.field("sessionLimitPolicy") {
            Arg::Undefined => false,
            Arg::String(s) if s == "evict-oldest" => false,
            Arg::String(s) if s == "refuse" => true,
            other => {
                return Err(StoreError::invalid("cfg.sessionLimitPolicy", "'evict-oldest' or 'refuse'", &other.kind()))
            }
        };
        let max_sessions_per_user =
            whole("cfg.maxSessionsPerUser", cfg.field("maxSessionsPerUser"), 1, MAX_SESSIONS_PER_USER)?;
        if refuse_at_limit && max_sessions_per_user == 0 {
            return Err(StoreError::invalid(
                "cfg.sessionLimitPolicy",
                "given together with cfg.maxSessionsPerUser",
                "no cfg.maxSessionsPerUser",
            ));
        }
        let audit_max_len = match cfg.field("audit") {
            Arg::Undefined => 0,
            value @ Arg::Object(_) => {
                let len = whole("cfg.audit.maxLen", value.field("maxLen"), 1, MAX_AUDIT_LEN)?;
                if len == 0 {
                    return Err(StoreError::invalid(
                        "cfg.audit.maxLen",
                        &format!("an integer from 1 to {MAX_AUDIT_LEN}"),
                        "undefined",
                    ));
                }
                len
            }
            other => return Err(StoreError::invalid("cfg.audit", "an object { maxLen }", &other.kind())),
        };
        let metrics = match cfg.field("metrics") {
            Arg::Undefined => false,
            Arg::Bool(b) => *b,
            other => return Err(StoreError::invalid("cfg.metrics", "a boolean", &other.kind())),
        };
        Ok(Hardening {
            revoke_on_reuse,
            reuse_grace_seconds: whole(
                "cfg.reuseGraceSeconds",
                cfg.field("reuseGraceSeconds"),
                0,
                MAX_REUSE_GRACE_SECONDS,
            )?,
            idle_ttl_seconds: whole("cfg.idleTtlSeconds", cfg.field("idleTtlSeconds"), 1, MAX_IDLE_TTL_SECONDS)?,
            max_sessions_per_user,
            refuse_at_limit,
            audit_max_len,
            metrics,
        })
    }
}

/// An optional whole number in `[min, max]`; 0 when absent.
fn whole(name: &str, value: &Arg, min: u64, max: u64) -> Result<u64> {
    match value {
        Arg::Undefined => Ok(0),
        Arg::Number(n) if n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64 => Ok(*n as u64),
        other => {
            let unit = if name.ends_with("Seconds") { " (seconds)" } else { "" };
            Err(StoreError::invalid(name, &format!("an integer from {min} to {max}{unit}"), &other.kind()))
        }
    }
}

/// The properties read from `migrateFrom`'s argument.
pub const MIGRATION_SOURCE_FIELDS: &[&str] = &["url", "prefix", "dryRun"];

/// How the store reaches its data.
#[derive(Debug, Clone)]
pub enum Topology {
    /// One server (or a primary behind a proxy): the original's key layout.
    Standalone,
    /// A Redis Cluster, found through these seed nodes (the `url` first); the cluster
    /// key layout, in which every key a script touches is in one slot.
    Cluster { seeds: Vec<ConnectionInfo> },
    /// A primary found through Sentinel; the original's key layout. The data nodes'
    /// credentials and TLS come from `url`; these are the Sentinels' own.
    Sentinel { master_name: String, sentinels: Vec<ConnectionInfo>, username: Option<String>, password: Option<String> },
}

/// Replicated writes: each state change waits until this many replicas acknowledged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durability {
    pub replicas: u32,
    pub timeout: Duration,
}

/// TLS material given in `cfg.tls` (PEM text): a CA to trust instead of the system's
/// roots, and a client certificate with its key for servers that ask for one.
#[derive(Clone, Default)]
pub struct TlsMaterial {
    pub ca: Option<Vec<u8>>,
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsMaterial {
    // Never prints a key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").field("ca", &self.ca.is_some()).field("client", &self.client.is_some()).finish()
    }
}

impl TlsMaterial {
    pub fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .client
                .clone()
                .map(|(client_cert, client_key)| redis::ClientTlsConfig { client_cert, client_key }),
            root_cert: self.ca.clone(),
        }
    }
}

/// The shortest `cfg.cluster.tagSecret`, in bytes (128 bits).
pub const MIN_TAG_SECRET_LEN: usize = 16;

/// `cfg.cluster.tagSecret`: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TagSecret(pub Vec<u8>);

impl std::fmt::Debug for TagSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TagSecret(..)")
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub connection: ConnectionInfo,
    pub prefix: String,
    pub abs_ttl_seconds: u64,
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
    pub topology: Topology,
    pub durability: Option<Durability>,
    pub tls: Option<TlsMaterial>,
    pub hardening: Hardening,
    /// `cfg.tokenStorage`.
    pub tokens: TokenStorage,
    /// `cfg.cluster.tagSecret`.
    pub tag_secret: Option<TagSecret>,
}

impl StoreConfig {
    /// Reads and checks a `cfg` object.
    pub fn from_arg(cfg: &Arg) -> Result<Self> {
        if !matches!(cfg, Arg::Object(_)) {
            return Err(StoreError::invalid("cfg", "an object", &cfg.kind()));
        }
        let url = match cfg.field("url") {
            Arg::String(s) if !s.is_empty() => s.as_str(),
            other => return Err(StoreError::invalid("cfg.url", "a redis://, rediss:// or unix:// URL", &other.kind())),
        };
        let prefix = match cfg.field("prefix") {
            Arg::Undefined => DEFAULT_PREFIX.to_string(),
            value => input::id("cfg.prefix", value)?,
        };
        let connection = connection_info("cfg.url", url)?;
        let topology = topology(cfg, &connection)?;
        if matches!(topology, Topology::Cluster { .. }) && prefix.contains(['{', '}']) {
            return Err(StoreError::invalid(
                "cfg.prefix",
                "free of '{' and '}' with cfg.cluster (the cluster layout adds its own hash tags)",
                "a prefix with braces",
            ));
        }
        let command_timeout = millis("cfg.commandTimeoutMs", cfg.field("commandTimeoutMs"), DEFAULT_COMMAND_TIMEOUT)?;
        let durability = durability(cfg.field("durability"))?;
        // WAIT answers after at most timeoutMs; its reply must come before the command
        // timeout gives up on it.
        if durability.is_some_and(|d| d.timeout >= command_timeout) {
            return Err(StoreError::invalid(
                "cfg.durability.timeoutMs",
                &format!("less than the command timeout ({} ms)", command_timeout.as_millis()),
                "a longer one",
            ));
        }
        Ok(StoreConfig {
            tls: tls_material(cfg.field("tls"), &connection)?,
            connection,
            prefix,
            abs_ttl_seconds: input::ttl("cfg.absTtlSeconds", cfg.field("absTtlSeconds"))?,
            command_timeout,
            connect_timeout: millis("cfg.connectTimeoutMs", cfg.field("connectTimeoutMs"), DEFAULT_CONNECT_TIMEOUT)?,
            topology,
            durability,
            hardening: Hardening::from_arg(cfg)?,
            tokens: token_storage(cfg.field("tokenStorage"))?,
            tag_secret: tag_secret(cfg.field("cluster"))?,
        })
    }

    /// The old single node of a deployment moving to this cluster store, from
    /// `{ url, prefix? }` (the prefix defaults to this store's); timeouts as this store's.
    pub fn migration_source(&self, source: &Arg) -> Result<StoreConfig> {
        if !matches!(source, Arg::Object(_)) {
            return Err(StoreError::invalid("source", "an object { url, prefix?, dryRun? }", &source.kind()));
        }
        let url = match source.field("url") {
            Arg::String(s) if !s.is_empty() => s.as_str(),
            other => {
                return Err(StoreError::invalid("source.url", "a redis://, rediss:// or unix:// URL", &other.kind()))
            }
        };
        let prefix = match source.field("prefix") {
            Arg::Undefined => self.prefix.clone(),
            value => input::id("source.prefix", value)?,
        };
        let connection = connection_info("source.url", url)?;
        // The old node over TLS trusts what this store trusts.
        let tls = if matches!(connection.addr(), ConnectionAddr::TcpTls { .. }) { self.tls.clone() } else { None };
        Ok(StoreConfig {
            connection,
            tls,
            prefix,
            topology: Topology::Standalone,
            durability: None,
            hardening: Hardening::default(),
            ..self.clone()
        })
    }

    /// Whether keys follow the cluster layout.
    pub fn is_cluster(&self) -> bool {
        matches!(self.topology, Topology::Cluster { .. })
    }

    /// The password the URL carries, so that error texts can be scrubbed of it.
    pub fn password(&self) -> Option<&str> {
        self.connection.redis_settings().password()
    }

    /// Where the store connects, for error messages: scheme, host and port, or the socket
    /// path; never the credentials.
    pub fn server(&self) -> String {
        match self.connection.addr() {
            ConnectionAddr::Tcp(host, port) => format!("redis://{}:{port}", bracketed(host)),
            ConnectionAddr::TcpTls { host, port, .. } => format!("rediss://{}:{port}", bracketed(host)),
            ConnectionAddr::Unix(path) => format!("unix://{}", path.display()),
            other => other.to_string(),
        }
    }

    /// The database index the URL selects (0 when it names none).
    pub fn database(&self) -> i64 {
        self.connection.redis_settings().db()
    }
}

/// A store configuration from typed values, for Rust callers (the core's tests): each
/// setter sets the `cfg` property of the same name, and [`build`](Self::build) checks the
/// result with [`StoreConfig::from_arg`], so both ways in share one set of rules.
#[derive(Debug, Clone)]
pub struct StoreConfigBuilder {
    cfg: Vec<(&'static str, Arg)>,
}

impl StoreConfig {
    /// A configuration for the server at `url`; `absTtlSeconds` must still be set.
    pub fn builder(url: &str) -> StoreConfigBuilder {
        StoreConfigBuilder { cfg: vec![("url", Arg::String(url.to_string()))] }
    }
}

impl StoreConfigBuilder {
    fn set(mut self, name: &'static str, value: Arg) -> Self {
        self.cfg.retain(|(n, _)| *n != name);
        self.cfg.push((name, value));
        self
    }

    pub fn prefix(self, prefix: &str) -> Self {
        self.set("prefix", Arg::String(prefix.to_string()))
    }

    pub fn abs_ttl_seconds(self, seconds: u64) -> Self {
        self.set("absTtlSeconds", Arg::Number(seconds as f64))
    }

    pub fn command_timeout(self, timeout: Duration) -> Self {
        self.set("commandTimeoutMs", Arg::Number(timeout.as_millis() as f64))
    }

    pub fn connect_timeout(self, timeout: Duration) -> Self {
        self.set("connectTimeoutMs", Arg::Number(timeout.as_millis() as f64))
    }

    /// The cluster layout, with the URL as the seed node (`cluster: true`).
    pub fn cluster(self) -> Self {
        self.set("cluster", Arg::Bool(true))
    }

    pub fn durability(self, replicas: u32, timeout: Duration) -> Self {
        let value = vec![
            ("replicas", Arg::Number(f64::from(replicas))),
            ("timeoutMs", Arg::Number(timeout.as_millis() as f64)),
        ];
        self.set("durability", Arg::Object(value))
    }

    /// `onReuse: 'revoke-lineage'`.
    pub fn revoke_on_reuse(self) -> Self {
        self.set("onReuse", Arg::String("revoke-lineage".to_string()))
    }

    pub fn reuse_grace_seconds(self, seconds: u64) -> Self {
        self.set("reuseGraceSeconds", Arg::Number(seconds as f64))
    }

    pub fn idle_ttl_seconds(self, seconds: u64) -> Self {
        self.set("idleTtlSeconds", Arg::Number(seconds as f64))
    }

    pub fn max_sessions_per_user(self, sessions: u64) -> Self {
        self.set("maxSessionsPerUser", Arg::Number(sessions as f64))
    }

    /// `sessionLimitPolicy: 'refuse'`.
    pub fn refuse_at_session_limit(self) -> Self {
        self.set("sessionLimitPolicy", Arg::String("refuse".to_string()))
    }

    /// `audit: { maxLen }`.
    pub fn audit(self, max_len: u64) -> Self {
        self.set("audit", Arg::Object(vec![("maxLen", Arg::Number(max_len as f64))]))
    }

    pub fn metrics(self, metrics: bool) -> Self {
        self.set("metrics", Arg::Bool(metrics))
    }

    /// `tokenStorage: 'sha256'`.
    pub fn sha256_tokens(self) -> Self {
        self.set("tokenStorage", Arg::String("sha256".to_string()))
    }

    /// The cluster layout with users' tags keyed by `secret` (`cluster: { tagSecret }`).
    pub fn cluster_with_tag_secret(self, secret: &str) -> Self {
        self.set("cluster", Arg::Object(vec![("tagSecret", Arg::String(secret.to_string()))]))
    }

    pub fn build(self) -> Result<StoreConfig> {
        StoreConfig::from_arg(&Arg::Object(self.cfg))
    }
}

/// An IPv6 address in brackets, as URLs write it.
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// A duration in milliseconds: a finite number > 0, non-integers rounded up.
fn millis(name: &str, value: &Arg, default: Duration) -> Result<Duration> {
    match value {
        Arg::Undefined => Ok(default),
        value => input::positive(name, value)
            .map(Duration::from_millis)
            .map_err(|_| StoreError::invalid(name, "a finite number > 0 (milliseconds)", &value.kind())),
    }
}

/// `cfg.tokenStorage`: `'plain'` (default) or `'sha256'`.
fn token_storage(value: &Arg) -> Result<TokenStorage> {
    match value {
        Arg::Undefined => Ok(TokenStorage::Plain),
        Arg::String(s) if s == "plain" => Ok(TokenStorage::Plain),
        Arg::String(s) if s == "sha256" => Ok(TokenStorage::Sha256),
        other => Err(StoreError::invalid("cfg.tokenStorage", "'plain' or 'sha256'", &other.kind())),
    }
}

/// `cfg.cluster.tagSecret`: absent, or a string of at least 16 bytes.
fn tag_secret(cluster: &Arg) -> Result<Option<TagSecret>> {
    match cluster.field("tagSecret") {
        Arg::Undefined => Ok(None),
        Arg::String(s) if s.len() >= MIN_TAG_SECRET_LEN => Ok(Some(TagSecret(s.as_bytes().to_vec()))),
        Arg::String(_) => Err(StoreError::invalid(
            "cfg.cluster.tagSecret",
            &format!("a string of at least {MIN_TAG_SECRET_LEN} bytes"),
            "a shorter string",
        )),
        other => Err(StoreError::invalid("cfg.cluster.tagSecret", "a string", &other.kind())),
    }
}

/// `cfg.cluster` / `cfg.sentinel`: at most one of them.
fn topology(cfg: &Arg, url: &ConnectionInfo) -> Result<Topology> {
    let cluster = match cfg.field("cluster") {
        Arg::Undefined | Arg::Bool(false) => None,
        Arg::Bool(true) => Some(vec![url.clone()]),
        value @ Arg::Object(_) => {
            let mut seeds = vec![url.clone()];
            if !matches!(value.field("nodes"), Arg::Undefined) {
                seeds.extend(node_list("cfg.cluster.nodes", value.field("nodes"))?);
            }
            Some(seeds)
        }
        other => {
            return Err(StoreError::invalid(
                "cfg.cluster",
                "true or { nodes?: string[], tagSecret?: string }",
                &other.kind(),
            ))
        }
    };
    let sentinel = match cfg.field("sentinel") {
        Arg::Undefined => None,
        value @ Arg::Object(_) => Some(Topology::Sentinel {
            master_name: input::id("cfg.sentinel.masterName", value.field("masterName"))?,
            sentinels: node_list("cfg.sentinel.nodes", value.field("nodes"))?,
            username: optional_string("cfg.sentinel.username", value.field("username"))?,
            password: optional_string("cfg.sentinel.password", value.field("password"))?,
        }),
        other => {
            return Err(StoreError::invalid(
                "cfg.sentinel",
                "{ masterName, nodes, username?, password? }",
                &other.kind(),
            ))
        }
    };
    match (cluster, sentinel) {
        (Some(_), Some(_)) => Err(StoreError::invalid("cfg.cluster and cfg.sentinel", "given one at a time", "both")),
        (Some(seeds), None) => Ok(Topology::Cluster { seeds }),
        (None, Some(sentinel)) => Ok(sentinel),
        (None, None) => Ok(Topology::Standalone),
    }
}

/// A non-empty list of node URLs, each in a form `cfg.url` accepts.
fn node_list(name: &str, value: &Arg) -> Result<Vec<ConnectionInfo>> {
    let rule = "a non-empty array of redis:// or rediss:// URLs";
    let Arg::Array(items) = value else { return Err(StoreError::invalid(name, rule, &value.kind())) };
    if items.is_empty() {
        return Err(StoreError::invalid(name, rule, "an empty array"));
    }
    items
        .iter()
        .map(|item| match item {
            Arg::String(url) if !url.is_empty() => connection_info(name, url),
            other => Err(StoreError::invalid(name, rule, &format!("an element that is {}", other.kind()))),
        })
        .collect()
}

fn optional_string(name: &str, value: &Arg) -> Result<Option<String>> {
    match value {
        Arg::Undefined => Ok(None),
        Arg::String(s) => Ok(Some(s.clone())),
        other => Err(StoreError::invalid(name, "a string", &other.kind())),
    }
}

/// `cfg.tls`: `{ ca?, cert?, key? }`, PEM text; only with a rediss:// URL.
fn tls_material(value: &Arg, url: &ConnectionInfo) -> Result<Option<TlsMaterial>> {
    if matches!(value, Arg::Undefined) {
        return Ok(None);
    }
    if !matches!(value, Arg::Object(_)) {
        return Err(StoreError::invalid("cfg.tls", "an object { ca?, cert?, key? } of PEM strings", &value.kind()));
    }
    if !matches!(url.addr(), ConnectionAddr::TcpTls { .. }) {
        return Err(StoreError::invalid("cfg.tls", "given only with a rediss:// URL", "a URL without TLS"));
    }
    let pem = |name: &str| match value.field(name) {
        Arg::Undefined => Ok(None),
        Arg::String(s) if s.contains("-----BEGIN") => Ok(Some(s.clone().into_bytes())),
        other => Err(StoreError::invalid(&format!("cfg.tls.{name}"), "PEM text (-----BEGIN ...)", &other.kind())),
    };
    let client = match (pem("cert")?, pem("key")?) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(StoreError::invalid("cfg.tls.cert and cfg.tls.key", "given together", "only one")),
    };
    Ok(Some(TlsMaterial { ca: pem("ca")?, client }))
}

/// `cfg.durability`: `{ replicas: integer >= 1, timeoutMs: number > 0 }`.
fn durability(value: &Arg) -> Result<Option<Durability>> {
    match value {
        Arg::Undefined => Ok(None),
        Arg::Object(_) => {
            let replicas = match value.field("replicas") {
                Arg::Number(n) if n.fract() == 0.0 && *n >= 1.0 && *n <= 1_000.0 => *n as u32,
                other => {
                    return Err(StoreError::invalid(
                        "cfg.durability.replicas",
                        "an integer from 1 to 1000",
                        &other.kind(),
                    ))
                }
            };
            let timeout = millis("cfg.durability.timeoutMs", value.field("timeoutMs"), Duration::ZERO)?;
            if timeout.is_zero() {
                return Err(StoreError::invalid(
                    "cfg.durability.timeoutMs",
                    "a finite number > 0 (milliseconds)",
                    "undefined",
                ));
            }
            Ok(Some(Durability { replicas, timeout }))
        }
        other => Err(StoreError::invalid("cfg.durability", "{ replicas, timeoutMs }", &other.kind())),
    }
}

/// Parses the URL forms the original's client accepts for a single server, with
/// TCP_NODELAY on: every call is one small request awaiting its reply, which Nagle's
/// algorithm would otherwise hold back.
fn connection_info(name: &str, url: &str) -> Result<ConnectionInfo> {
    let invalid = || StoreError::invalid(name, "a redis://, rediss:// or unix:// URL", "an unparsable URL");
    let target = if url.starts_with('/') { format!("unix://{url}") } else { url.to_string() };
    let scheme_ok = ["redis://", "rediss://", "unix://", "redis+unix://"].iter().any(|s| target.starts_with(s));
    if !scheme_ok {
        return Err(invalid());
    }
    let info = target.as_str().into_connection_info().map_err(|_| invalid())?;
    if matches!(info.addr(), ConnectionAddr::Tcp(host, _) if host.is_empty()) {
        return Err(invalid());
    }
    // A session store must not talk to an unverified server: `#insecure` (skip the
    // certificate check) is refused here rather than failing every call later.
    if matches!(info.addr(), ConnectionAddr::TcpTls { insecure: true, .. }) {
        return Err(StoreError::invalid(
            name,
            "a URL without #insecure: rediss:// certificates are always verified (add a private CA with SSL_CERT_FILE)",
            "#insecure",
        ));
    }
    // No CLIENT SETINFO after connecting: Redis 7.2+ and Valkey want `+client|setinfo` in
    // an ACL user's rule for it (and log a denial without), which Redis 7.0 refuses to
    // even name, so one rule could not serve every supported server.
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    Ok(info.set_redis_settings(settings).set_tcp_settings(TcpSettings::default().set_nodelay(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_follows_the_cfg_rules() {
        let config = StoreConfig::builder("redis://h:1")
            .prefix("p")
            .abs_ttl_seconds(60)
            .command_timeout(Duration::from_millis(500))
            .revoke_on_reuse()
            .max_sessions_per_user(3)
            .refuse_at_session_limit()
            .build()
            .unwrap();
        assert_eq!((config.prefix.as_str(), config.abs_ttl_seconds), ("p", 60));
        assert_eq!(config.command_timeout, Duration::from_millis(500));
        assert!(config.hardening.revoke_on_reuse && config.hardening.refuse_at_limit);
        assert_eq!(config.hardening.max_sessions_per_user, 3);
        let no_ttl = StoreConfig::builder("redis://h:1").build().unwrap_err();
        assert!(no_ttl.to_string().starts_with("cfg.absTtlSeconds must be"), "{no_ttl}");
        let braces =
            StoreConfig::builder("redis://h:1").abs_ttl_seconds(1).prefix("{p}").cluster().build().unwrap_err();
        assert!(braces.to_string().starts_with("cfg.prefix must be free of"), "{braces}");
        let replicated = StoreConfig::builder("redis://h:1").abs_ttl_seconds(1).durability(1, Duration::from_secs(5));
        assert!(replicated.build().unwrap_err().to_string().starts_with("cfg.durability.timeoutMs must be less than"));
    }

    fn cfg(url: &str) -> Arg {
        Arg::Object(vec![("url", Arg::String(url.into())), ("absTtlSeconds", Arg::Number(60.0))])
    }

    #[test]
    fn accepts_the_url_forms_and_defaults() {
        for url in
            ["redis://localhost:6379", "redis://:pw@127.0.0.1/2", "rediss://h:1", "unix:///tmp/r.sock", "/tmp/r.sock"]
        {
            let c = StoreConfig::from_arg(&cfg(url)).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(c.prefix, "auth");
            assert_eq!(c.command_timeout, DEFAULT_COMMAND_TIMEOUT);
            assert!(c.connection.tcp_settings().nodelay());
        }
    }

    #[test]
    fn rejects_bad_urls_without_echoing_them() {
        for url in ["", "http://x", "localhost:6379", "redis://"] {
            let err = StoreConfig::from_arg(&cfg(url)).unwrap_err();
            assert!(err.is_type_error(), "{url}");
            assert!(err.to_string().starts_with("cfg.url must be"), "{err}");
        }
        let err = StoreConfig::from_arg(&cfg("http://user:s3cret@h")).unwrap_err();
        assert!(!err.to_string().contains("s3cret"));
    }

    #[test]
    fn refuses_unverified_tls() {
        let err = StoreConfig::from_arg(&cfg("rediss://h:6380/#insecure")).unwrap_err();
        assert!(err.is_type_error());
        assert!(err.to_string().contains("certificates are always verified"), "{err}");
    }

    #[test]
    fn rejects_bad_prefix_and_ttl() {
        let mut c = cfg("redis://h");
        if let Arg::Object(f) = &mut c {
            f.push(("prefix", Arg::String(String::new())));
        }
        assert!(StoreConfig::from_arg(&c).unwrap_err().to_string().starts_with("cfg.prefix"));
        let c = Arg::Object(vec![("url", Arg::String("redis://h".into())), ("absTtlSeconds", Arg::Number(0.0))]);
        assert!(StoreConfig::from_arg(&c).unwrap_err().to_string().starts_with("cfg.absTtlSeconds"));
        assert!(StoreConfig::from_arg(&Arg::Null).unwrap_err().to_string().starts_with("cfg must be an object"));
    }

    fn with(options: Vec<(&'static str, Arg)>) -> Result<StoreConfig> {
        let mut fields = vec![("url", Arg::String("redis://h".into())), ("absTtlSeconds", Arg::Number(60.0))];
        fields.extend(options);
        StoreConfig::from_arg(&Arg::Object(fields))
    }

    #[test]
    fn hardening_is_off_by_default_and_adds_nothing_to_the_scripts() {
        let c = with(vec![]).unwrap();
        assert_eq!(c.hardening, Hardening::default());
        assert_eq!(c.hardening.script_text(), "");
    }

    #[test]
    fn reads_every_hardening_option_at_its_limits() {
        let c = with(vec![
            ("onReuse", Arg::String("revoke-lineage".into())),
            ("reuseGraceSeconds", Arg::Number(300.0)),
            ("idleTtlSeconds", Arg::Number(1.0)),
            ("maxSessionsPerUser", Arg::Number(10_000.0)),
            ("sessionLimitPolicy", Arg::String("refuse".into())),
            ("audit", Arg::Object(vec![("maxLen", Arg::Number(1.0))])),
            ("metrics", Arg::Bool(true)),
        ])
        .unwrap();
        assert_eq!(
            c.hardening.script_text(),
            ";revoke=true;hops=100000;grace=300;idle=1;max=10000;audit=1;refuse=true"
        );
        assert!(c.hardening.metrics);
        let c = with(vec![("onReuse", Arg::String("error".into())), ("reuseGraceSeconds", Arg::Number(0.0))]).unwrap();
        assert_eq!(c.hardening.script_text(), "");
    }

    #[test]
    fn refuses_bad_hardening_values_naming_the_option() {
        let cases: Vec<(&'static str, Arg, &str)> = vec![
            ("onReuse", Arg::String("revoke".into()), "cfg.onReuse must be 'error' or 'revoke-lineage'"),
            ("onReuse", Arg::Bool(true), "cfg.onReuse must be"),
            ("reuseGraceSeconds", Arg::Number(301.0), "cfg.reuseGraceSeconds must be an integer from 0 to 300"),
            ("reuseGraceSeconds", Arg::Number(-1.0), "cfg.reuseGraceSeconds must be"),
            ("reuseGraceSeconds", Arg::Number(1.5), "cfg.reuseGraceSeconds must be"),
            ("idleTtlSeconds", Arg::Number(0.0), "cfg.idleTtlSeconds must be an integer from 1 to"),
            ("idleTtlSeconds", Arg::Number(1.7e12), "cfg.idleTtlSeconds must be"),
            ("idleTtlSeconds", Arg::Number(f64::NAN), "cfg.idleTtlSeconds must be"),
            ("maxSessionsPerUser", Arg::Number(0.0), "cfg.maxSessionsPerUser must be an integer from 1 to 10000"),
            ("maxSessionsPerUser", Arg::String("3".into()), "cfg.maxSessionsPerUser must be"),
            ("sessionLimitPolicy", Arg::String("lru".into()), "cfg.sessionLimitPolicy must be"),
            ("sessionLimitPolicy", Arg::String("refuse".into()), "cfg.sessionLimitPolicy must be given together"),
            ("audit", Arg::Bool(true), "cfg.audit must be an object"),
            ("audit", Arg::Object(vec![("maxLen", Arg::Undefined)]), "cfg.audit.maxLen must be"),
            ("audit", Arg::Object(vec![("maxLen", Arg::Number(0.0))]), "cfg.audit.maxLen must be"),
            ("metrics", Arg::String("yes".into()), "cfg.metrics must be a boolean"),
        ];
        for (name, value, message) in cases {
            let err = with(vec![(name, value)]).unwrap_err();
            assert!(err.is_type_error(), "{name}");
            assert!(err.to_string().starts_with(message), "{name}: {err}");
        }
    }

    #[test]
    fn names_the_server_without_credentials() {
        for (url, server) in [
            ("redis://:hunter2@h:6379/3", "redis://h:6379"),
            ("redis://bob:hunter2@127.0.0.1", "redis://127.0.0.1:6379"),
            ("rediss://u:hunter2@cache.example:6380", "rediss://cache.example:6380"),
            ("redis://[::1]:7000", "redis://[::1]:7000"),
            ("/tmp/r.sock", "unix:///tmp/r.sock"),
        ] {
            assert_eq!(StoreConfig::from_arg(&cfg(url)).unwrap().server(), server, "{url}");
        }
        assert_eq!(StoreConfig::from_arg(&cfg("redis://h/3")).unwrap().database(), 3);
    }

    #[test]
    fn exposes_the_password_for_scrubbing() {
        let c = StoreConfig::from_arg(&cfg("redis://:hunter2@h:6379")).unwrap();
        assert_eq!(c.password(), Some("hunter2"));
    }

    #[test]
    fn durability_must_wait_less_than_the_command_timeout() {
        let with = |timeout_ms: f64, command_ms: Option<f64>| {
            let mut fields = vec![
                ("url", Arg::String("redis://h".into())),
                ("absTtlSeconds", Arg::Number(60.0)),
                (
                    "durability",
                    Arg::Object(vec![("replicas", Arg::Number(1.0)), ("timeoutMs", Arg::Number(timeout_ms))]),
                ),
            ];
            if let Some(ms) = command_ms {
                fields.push(("commandTimeoutMs", Arg::Number(ms)));
            }
            StoreConfig::from_arg(&Arg::Object(fields))
        };
        let ok = with(500.0, None).unwrap();
        assert_eq!(ok.durability, Some(Durability { replicas: 1, timeout: Duration::from_millis(500) }));
        let err = with(2_000.0, None).unwrap_err();
        assert!(err.is_type_error());
        assert!(err
            .to_string()
            .starts_with("cfg.durability.timeoutMs must be less than the command timeout (2000 ms)"));
        assert!(with(500.0, Some(400.0)).unwrap_err().is_type_error());
    }
}

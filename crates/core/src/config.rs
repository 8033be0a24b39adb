//! Store configuration: the original's `url`, `prefix` and `absTtlSeconds`, plus the
//! connection timing this package adds. Checked once, when the store is created.

use std::time::Duration;

use redis::io::tcp::TcpSettings;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::error::{Result, StoreError};
use crate::input::{self, Arg};

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
];

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
        Ok(StoreConfig { connection, tls, prefix, topology: Topology::Standalone, durability: None, ..self.clone() })
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
        other => return Err(StoreError::invalid("cfg.cluster", "true or { nodes: string[] }", &other.kind())),
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

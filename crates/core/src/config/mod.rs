//! Store configuration: the original's `url`, `prefix` and `absTtlSeconds`, plus what
//! this package adds (timeouts, cluster or Sentinel, TLS material, replicated writes, the
//! hardening options). Checked once, when the store is created. By concern: the URLs and
//! TLS material (`urls`), cluster, Sentinel and replicated writes (`topology`), the
//! hardening options (`hardening`) and a builder for Rust callers (`builder`).

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo};

use crate::error::{ErrorTarget, Result, StoreError};
use crate::input::{self, Arg};
use crate::token::TokenStorage;

mod builder;
mod hardening;
mod topology;
mod urls;

pub use builder::StoreConfigBuilder;
pub use hardening::{
    GcScope, Hardening, MAX_AUDIT_LEN, MAX_IDLE_TTL_SECONDS, MAX_REUSE_GRACE_SECONDS, MAX_SESSIONS_PER_USER,
};
pub use topology::{Durability, TagSecret, Topology, MIN_TAG_SECRET_LEN};
pub use urls::TlsMaterial;

use topology::{durability, tag_secret, topology};
use urls::{connection_info, tls_material};

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
    "gcScope",
    "tokenStorage",
    "tagSecret",
];

/// The properties read from `migrateFrom`'s argument.
pub const MIGRATION_SOURCE_FIELDS: &[&str] = &["url", "prefix", "dryRun"];

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
        let hardening = Hardening::from_arg(cfg)?;
        if matches!(topology, Topology::Cluster { .. }) && hardening.gc_scope == GcScope::Registry {
            return Err(StoreError::invalid(
                "cfg.gcScope",
                "'keyspace' with cfg.cluster (one registry key cannot be written with keys of every slot)",
                "'registry'",
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
            hardening,
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

    /// What error messages say about the server: where it is, never the credentials.
    pub fn error_target(&self) -> ErrorTarget {
        ErrorTarget {
            server: self.server(),
            password: self.password().map(str::to_string),
            database: self.database(),
            command_timeout: self.command_timeout,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `cfg` with `url` and the one other property it needs.
    pub(super) fn cfg(url: &str) -> Arg {
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
}

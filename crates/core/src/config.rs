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

/// The properties read from the `cfg` object.
pub const CONFIG_FIELDS: &[&str] = &["url", "prefix", "absTtlSeconds", "commandTimeoutMs", "connectTimeoutMs"];

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub connection: ConnectionInfo,
    pub prefix: String,
    pub abs_ttl_seconds: u64,
    pub command_timeout: Duration,
    pub connect_timeout: Duration,
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
        Ok(StoreConfig {
            connection: connection_info(url)?,
            prefix,
            abs_ttl_seconds: input::ttl("cfg.absTtlSeconds", cfg.field("absTtlSeconds"))?,
            command_timeout: millis("cfg.commandTimeoutMs", cfg.field("commandTimeoutMs"), DEFAULT_COMMAND_TIMEOUT)?,
            connect_timeout: millis("cfg.connectTimeoutMs", cfg.field("connectTimeoutMs"), DEFAULT_CONNECT_TIMEOUT)?,
        })
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

/// Parses the URL forms the original's client accepts for a single server, with
/// TCP_NODELAY on: every call is one small request awaiting its reply, which Nagle's
/// algorithm would otherwise hold back.
fn connection_info(url: &str) -> Result<ConnectionInfo> {
    let invalid = || StoreError::invalid("cfg.url", "a redis://, rediss:// or unix:// URL", "an unparsable URL");
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
            "cfg.url",
            "a URL without #insecure: rediss:// certificates are always verified (add a private CA with SSL_CERT_FILE)",
            "#insecure",
        ));
    }
    Ok(info.set_tcp_settings(TcpSettings::default().set_nodelay(true)))
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
}

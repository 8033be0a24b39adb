//! Which servers the store runs on: Redis 6.2 or later, or Valkey 7.2 or later, with every
//! command the store and its scripts call. The first call on a connection reads
//! `INFO server` and asks `COMMAND INFO` for those commands; a server that is too old or
//! lacks one (renamed or disabled) gets one [`StoreError::ServerUnsupported`] naming its
//! version and what is needed, instead of a script error later on. A passing check is
//! kept for the life of the connection; a failing one is repeated by the next call, so an
//! upgraded server is picked up without a new store.
//!
//! A server that refuses `INFO` or `COMMAND` (an ACL user without them, a proxy) cannot be
//! checked: the store then runs on it unchecked rather than refuse a server that may work.

use std::sync::atomic::{AtomicBool, Ordering};

use redis::aio::ConnectionLike;
use redis::Value;
use tokio::sync::OnceCell;

use crate::commands;
use crate::error::{Result, StoreError};

/// The oldest supported versions.
const MIN_REDIS: (u32, u32) = (6, 2);
const MIN_VALKEY: (u32, u32) = (7, 2);
pub const NEEDED: &str = "Redis 6.2 or later, or Valkey 7.2 or later";

/// A server as `INFO server` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// "Redis", "Valkey", or the `server_name` another server reports.
    pub product: String,
    /// The product's own version, as reported.
    pub version: String,
}

impl ServerVersion {
    /// Reads `INFO server` text. Valkey reports `server_name:valkey` and its own version
    /// in `valkey_version` (its `redis_version` is the Redis version it is compatible
    /// with); Redis reports `redis_version` only.
    pub fn from_info(info: &str) -> Option<Self> {
        let field = |name: &str| {
            info.lines().find_map(|line| line.trim_end().strip_prefix(name)?.strip_prefix(':').map(str::to_string))
        };
        let redis_version = field("redis_version");
        let valkey_version = field("valkey_version");
        let server_name = field("server_name");
        let is_valkey = valkey_version.is_some() || server_name.as_deref() == Some("valkey");
        if is_valkey {
            let version = valkey_version.or(redis_version)?;
            return Some(ServerVersion { product: "Valkey".into(), version });
        }
        let product = match server_name.as_deref() {
            None | Some("") | Some("redis") => "Redis".to_string(),
            Some(other) => other.to_string(),
        };
        Some(ServerVersion { product, version: redis_version? })
    }

    /// Whether this version is one the store supports. A server that is neither Redis nor
    /// Valkey is judged by the Redis version it reports.
    pub fn is_supported(&self) -> bool {
        let Some(found) = major_minor(&self.version) else { return false };
        found >= if self.product == "Valkey" { MIN_VALKEY } else { MIN_REDIS }
    }

    /// Whether the server has functions (`FUNCTION LOAD`, `FCALL`): Redis 7.0 and every
    /// supported Valkey. A server that only claims the version and lacks them is found
    /// out at the first call, which then falls back to EVALSHA.
    pub fn has_functions(&self) -> bool {
        major_minor(&self.version).is_some_and(|found| found >= (7, 0))
    }
}

impl std::fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.product, self.version)
    }
}

fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.trim().parse().ok())?;
    Some((major, minor))
}

/// The verdict on a server, from its version (when it could be read) and the needed
/// commands it lacks.
pub fn verdict(version: Option<&ServerVersion>, missing: &[&str]) -> Result<()> {
    let name = version.map_or_else(|| "the server".to_string(), ToString::to_string);
    if let Some(v) = version.filter(|v| !v.is_supported()) {
        return Err(StoreError::ServerUnsupported(format!("{v} is not supported: this store needs {NEEDED}")));
    }
    if !missing.is_empty() {
        return Err(StoreError::ServerUnsupported(format!(
            "{name} does not offer the command{} {} (renamed or disabled): this store needs {NEEDED} with the \
             commands {}",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            commands::checked_commands().join(", ")
        )));
    }
    Ok(())
}

/// The once-per-connection check. Cheap after the first success: one atomic load.
#[derive(Debug, Default)]
pub struct ServerCheck {
    /// Once passed: whether the server has functions.
    passed: OnceCell<bool>,
    /// Set when the server refused a function call or load (an ACL user without them, a
    /// server that lacks them after all): the store uses EVALSHA from then on.
    functions_refused: AtomicBool,
}

impl ServerCheck {
    /// Checks the server behind `connection` unless a check already passed. Calls that
    /// arrive while a check runs wait for it instead of sending their own.
    pub async fn ensure<C: ConnectionLike>(
        &self,
        connection: &mut C,
        map_err: impl Fn(redis::RedisError) -> StoreError,
    ) -> Result<()> {
        self.passed.get_or_try_init(|| inspect(connection, &map_err)).await.map(|_| ())
    }

    /// Whether scripts run as the function library: the check passed on a server with
    /// functions, and no function call was refused since.
    pub fn functions(&self) -> bool {
        self.passed.get() == Some(&true) && !self.functions_refused.load(Ordering::Relaxed)
    }

    pub fn refuse_functions(&self) {
        self.functions_refused.store(true, Ordering::Relaxed);
    }
}

/// Reads the server's version and which needed commands it lacks, and judges them. A
/// connection failure is returned as such (the server may be fine); a refused `INFO` or
/// `COMMAND` leaves that part unchecked.
async fn inspect<C: ConnectionLike>(
    connection: &mut C,
    map_err: &impl Fn(redis::RedisError) -> StoreError,
) -> Result<bool> {
    // A reply the server gave (an error such as NOPERM or an unknown command) is a
    // refusal; anything else (unreachable, timeout, loading) is the call's error.
    let version = match redis::cmd("INFO").arg("server").query_async::<Value>(connection).await {
        Ok(info) => info_text(&info).and_then(|text| ServerVersion::from_info(&text)),
        Err(e) if refused(&e) => None,
        Err(e) => return Err(map_err(e)),
    };
    if let Some(v) = version.as_ref().filter(|v| !v.is_supported()) {
        return verdict(Some(v), &[]).map(|()| false);
    }
    let commands = commands::checked_commands();
    let missing: Vec<&str> =
        match redis::cmd("COMMAND").arg("INFO").arg(&commands).query_async::<Vec<Value>>(connection).await {
            Ok(entries) if entries.len() == commands.len() => commands
                .iter()
                .zip(&entries)
                .filter(|(_, entry)| matches!(entry, Value::Nil))
                .map(|(name, _)| name.as_str())
                .collect(),
            Ok(_) => Vec::new(),
            Err(e) if refused(&e) => Vec::new(),
            Err(e) => return Err(map_err(e)),
        };
    verdict(version.as_ref(), &missing)?;
    Ok(version.is_some_and(|v| v.has_functions()))
}

/// Whether the server answered the command with an error of its own (not permitted to
/// this user, unknown, renamed): the check then leaves that part out. Connection
/// failures, timeouts, refused credentials and a server still loading are not refusals.
fn refused(err: &redis::RedisError) -> bool {
    // Credentials the server refuses are the call's error, not a refusal of the check.
    if matches!(err.code(), Some("NOAUTH" | "WRONGPASS")) || err.kind() == redis::ErrorKind::AuthenticationFailed {
        return false;
    }
    err.code() == Some("NOPERM")
        || !(err.is_io_error()
            || err.is_timeout()
            || err.is_connection_refusal()
            || err.is_connection_dropped()
            || err.is_unrecoverable_error()
            || matches!(err.retry_method(), redis::RetryMethod::WaitAndRetry))
}

/// The text of an `INFO` reply: one server's, or on a cluster (where the client asks
/// every node and answers with a map of node to text) the first node's; the nodes of one
/// deployment run the same server.
fn info_text(reply: &Value) -> Option<String> {
    match reply {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::VerbatimString { text, .. } | Value::SimpleString(text) => Some(text.clone()),
        Value::Map(nodes) => nodes.first().and_then(|(_, text)| info_text(text)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(lines: &[&str]) -> String {
        let mut text = String::from("# Server\r\n");
        for line in lines {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text
    }

    #[test]
    fn reads_redis_and_valkey_versions() {
        let redis = ServerVersion::from_info(&info(&["redis_version:6.2.14", "redis_git_sha1:00000000"])).unwrap();
        assert_eq!(redis, ServerVersion { product: "Redis".into(), version: "6.2.14".into() });
        let valkey =
            ServerVersion::from_info(&info(&["redis_version:7.2.4", "server_name:valkey", "valkey_version:8.1.8"]))
                .unwrap();
        assert_eq!(valkey, ServerVersion { product: "Valkey".into(), version: "8.1.8".into() });
        // Valkey builds that name themselves but report no valkey_version.
        let early = ServerVersion::from_info(&info(&["redis_version:7.2.4", "server_name:valkey"])).unwrap();
        assert_eq!(early.to_string(), "Valkey 7.2.4");
        assert_eq!(ServerVersion::from_info("# Server\r\nprocess_id:1\r\n"), None);
    }

    #[test]
    fn supported_versions() {
        let v = |product: &str, version: &str| ServerVersion { product: product.into(), version: version.into() };
        for ok in
            [v("Redis", "6.2.0"), v("Redis", "6.2.14"), v("Redis", "7.0.15"), v("Redis", "8.0.2"), v("Valkey", "7.2.5")]
        {
            assert!(ok.is_supported(), "{ok}");
            assert_eq!(verdict(Some(&ok), &[]), Ok(()));
        }
        for old in [v("Redis", "6.0.16"), v("Redis", "5.0.7"), v("Valkey", "7.0.0"), v("Redis", "garbage")] {
            assert!(!old.is_supported(), "{old}");
            let err = verdict(Some(&old), &[]).unwrap_err();
            assert_eq!(err.code(), "ERR_SERVER_UNSUPPORTED");
            assert_eq!(
                err.to_string(),
                format!("server_unsupported: {old} is not supported: this store needs {NEEDED}")
            );
        }
    }

    #[test]
    fn missing_commands_are_named() {
        let v = ServerVersion { product: "Redis".into(), version: "7.0.15".into() };
        let err = verdict(Some(&v), &["EVALSHA", "SPOP"]).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("server_unsupported: Redis 7.0.15 does not offer the commands EVALSHA, SPOP"),
            "{text}"
        );
        let err = verdict(None, &["SPOP"]).unwrap_err();
        assert!(err.to_string().contains("the server does not offer the command SPOP"), "{err}");
        assert_eq!(verdict(None, &[]), Ok(()));
    }

    #[test]
    fn a_cluster_info_reply_is_read_from_its_first_node() {
        let text = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let map = Value::Map(vec![(text("10.0.0.1:6379"), text("# Server\r\nredis_version:7.2.4\r\n"))]);
        assert_eq!(info_text(&map).as_deref(), Some("# Server\r\nredis_version:7.2.4\r\n"));
        assert_eq!(info_text(&Value::Nil), None);
    }
}

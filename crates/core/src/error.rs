//! The one error type of the store. `Display` gives the exact messages the original
//! package throws (`not_found`, `expired_abs`, `rotate_fail:ERR_*`); `code()` gives a
//! stable machine-readable code for the rest.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A bad argument or configuration value; becomes a JavaScript `TypeError`.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("not_found")]
    NotFound,
    #[error("expired_abs")]
    ExpiredAbs,
    /// `reason` is the script's code, e.g. `ERR_REPLAY`.
    #[error("rotate_fail:{reason}")]
    RotateFail { reason: String },
    /// No connection to the server, or a server that is up but cannot serve yet.
    #[error("redis_unavailable: {0}")]
    Unavailable(String),
    #[error("redis_timeout: {0}")]
    Timeout(String),
    /// The server refused the URL's credentials, asks for credentials the URL does not
    /// give, or denies the user a command: retrying cannot help, the URL or ACL must change.
    #[error("redis_auth: {0}")]
    Auth(String),
    /// The server refused a setting of the URL (a database index it does not have):
    /// retrying cannot help, the URL or the server's configuration must change.
    #[error("redis_config: {0}")]
    Config(String),
    #[error("redis_error: {0}")]
    Redis(String),
    #[error("store_closed: close() was called on this store")]
    Closed,
    /// With replicated writes: the state change was applied on the primary, but fewer
    /// replicas than asked for acknowledged it in time.
    #[error(
        "not_replicated: {acknowledged} of {wanted} replicas acknowledged within {} ms; the change was applied on \
         the primary and may or may not survive a failover",
        .timeout.as_millis()
    )]
    NotReplicated { acknowledged: u64, wanted: u32, timeout: Duration },
    /// The server is too old or lacks a command the store needs; names both.
    #[error("server_unsupported: {0}")]
    ServerUnsupported(String),
}

impl StoreError {
    pub fn invalid(argument: &str, rule: &str, received: &str) -> Self {
        StoreError::InvalidArgument(format!("{argument} must be {rule} (received {received})"))
    }

    /// The value of the JavaScript error's `code` property.
    pub fn code(&self) -> &str {
        match self {
            StoreError::InvalidArgument(_) => "ERR_INVALID_ARG",
            StoreError::NotFound => "ERR_NOT_FOUND",
            StoreError::ExpiredAbs => "ERR_EXPIRED_ABS",
            StoreError::RotateFail { reason } => reason,
            StoreError::Unavailable(_) => "ERR_REDIS_UNAVAILABLE",
            StoreError::Timeout(_) => "ERR_REDIS_TIMEOUT",
            StoreError::Auth(_) => "ERR_REDIS_AUTH",
            StoreError::Config(_) => "ERR_REDIS_CONFIG",
            StoreError::Redis(_) => "ERR_REDIS",
            StoreError::Closed => "ERR_STORE_CLOSED",
            StoreError::NotReplicated { .. } => "ERR_NOT_REPLICATED",
            StoreError::ServerUnsupported(_) => "ERR_SERVER_UNSUPPORTED",
        }
    }

    pub fn is_type_error(&self) -> bool {
        matches!(self, StoreError::InvalidArgument(_))
    }

    /// Maps a client error to a plain message naming the server tried (never its
    /// password), with the connection password scrubbed from any text the client gives.
    pub(crate) fn from_redis(err: redis::RedisError, target: &ErrorTarget) -> Self {
        let scrub = |text: String| match target.password.as_deref() {
            Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
            _ => text,
        };
        let server = &target.server;
        let tls = server.starts_with("rediss://");
        // The client formats some errors with its internal kind in Debug form
        // (`... - Server(ResponseError): ...`); that part means nothing to a reader.
        let text = scrub(err.to_string().replace(&format!(" - {:?}", err.kind()), ""));
        let detail = err.detail().map(|d| scrub(d.to_string())).unwrap_or_default();
        let not_tls_hint = "; if that port does not speak TLS, use a redis:// URL";
        match (err.kind(), err.code()) {
            (redis::ErrorKind::AuthenticationFailed, _) | (_, Some("WRONGPASS")) => StoreError::Auth(format!(
                "{server} refused the username or password of the URL; correct the credentials (retrying cannot help)"
            )),
            (_, Some("NOAUTH")) => StoreError::Auth(format!(
                "{server} requires a password and the URL gives none; use redis://:password@host or redis://user:password@host"
            )),
            (_, Some("NOPERM")) => StoreError::Auth(format!(
                "the URL's user may not run a command the store needs on {server}: {}; grant it in the server's ACL",
                // An error inside a pipeline carries its text only in the message.
                if detail.is_empty() { text.as_str() } else { detail.as_str() }
            )),
            _ if text.starts_with("Redis server refused to switch database") => StoreError::Config(format!(
                "{server} has no database {} (the number after the host in the URL): {}; use a lower number or raise the server's `databases` setting",
                target.database,
                if detail.is_empty() { "refused" } else { detail.as_str() },
            )),
            _ if err.is_timeout() => StoreError::Timeout(format!(
                "no reply within {} ms from {server}{}",
                target.command_timeout.as_millis(),
                if tls { not_tls_hint } else { "" },
            )),
            _ if err.is_io_error()
                || err.is_connection_refusal()
                || err.is_connection_dropped()
                || err.is_unrecoverable_error()
                // LOADING (a restarted server reading its data), MASTERDOWN, TRYAGAIN: the
                // server is up but cannot serve yet; callers should treat it like a restart.
                // A redirect (MOVED, ASK), READONLY or a lost cluster connection still there
                // after every retry: the cluster is moving slots or electing a new primary.
                // So is a script stopped because a key of its slot moved away meanwhile
                // (what it had ended stays ended; the call may be made again).
                || text.contains("Script attempted to access a non local key")
                || matches!(
                    err.retry_method(),
                    redis::RetryMethod::WaitAndRetry
                        | redis::RetryMethod::MovedRedirect
                        | redis::RetryMethod::AskRedirect
                        | redis::RetryMethod::RefreshSlotsAndRetry
                        | redis::RetryMethod::ReconnectFromInitialConnections
                ) =>
            {
                // A plain server answering a TLS handshake sends bytes that are no TLS record.
                let hint = if tls && (text.contains("InvalidContentType") || text.contains("corrupt message")) {
                    not_tls_hint
                } else {
                    ""
                };
                StoreError::Unavailable(format!("{server}: {text}{hint}"))
            }
            _ => StoreError::Redis(text),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What an error message may say about the server a client error came from, as plain
/// values: the configuration fills it in once, so this type needs nothing of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorTarget {
    /// Scheme, host and port, or the socket path; never the credentials.
    pub server: String,
    /// The connection's password, scrubbed from any text the client gives.
    pub password: Option<String>,
    /// The database index the URL selects.
    pub database: i64,
    pub command_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(line: &str) -> redis::RedisError {
        redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).and_then(|v| v.extract_error()).unwrap_err()
    }

    #[test]
    fn a_cluster_in_transition_is_unavailable() {
        let target = ErrorTarget {
            server: "redis://127.0.0.1:7000".into(),
            password: None,
            database: 0,
            command_timeout: Duration::from_secs(2),
        };
        let lines = [
            "MOVED 717 127.0.0.1:7000",
            "ASK 717 127.0.0.1:7000",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "READONLY You can't write against a read only replica.",
            "ERR Script attempted to access a non local key in a cluster node script: 34fa, on @user_script:336.",
        ];
        for line in lines {
            let err = StoreError::from_redis(server_error(line), &target);
            assert_eq!(err.code(), "ERR_REDIS_UNAVAILABLE", "{line}: {err}");
        }
        let other = StoreError::from_redis(server_error("ERR wrong number of arguments"), &target);
        assert_eq!(other.code(), "ERR_REDIS");
    }
}

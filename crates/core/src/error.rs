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
    #[error("redis_unavailable: {0}")]
    Unavailable(String),
    #[error("redis_timeout: no reply within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("redis_error: {0}")]
    Redis(String),
    #[error("store_closed: close() was called on this store")]
    Closed,
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
            StoreError::Redis(_) => "ERR_REDIS",
            StoreError::Closed => "ERR_STORE_CLOSED",
        }
    }

    pub fn is_type_error(&self) -> bool {
        matches!(self, StoreError::InvalidArgument(_))
    }

    /// Maps a client error, scrubbing the connection password from its text.
    pub(crate) fn from_redis(err: redis::RedisError, timeout: Duration, password: Option<&str>) -> Self {
        let scrub = |text: String| match password {
            Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
            _ => text,
        };
        if err.is_timeout() {
            StoreError::Timeout(timeout)
        } else if err.is_io_error()
            || err.is_connection_refusal()
            || err.is_connection_dropped()
            || err.is_unrecoverable_error()
            // LOADING (a restarted server reading its data), MASTERDOWN, TRYAGAIN: the
            // server is up but cannot serve yet; callers should treat it like a restart.
            // A redirect (MOVED, ASK), READONLY or a lost cluster connection still there
            // after every retry: the cluster is moving slots or electing a new primary.
            || matches!(
                err.retry_method(),
                redis::RetryMethod::WaitAndRetry
                    | redis::RetryMethod::MovedRedirect
                    | redis::RetryMethod::AskRedirect
                    | redis::RetryMethod::RefreshSlotsAndRetry
                    | redis::RetryMethod::ReconnectFromInitialConnections
            )
        {
            StoreError::Unavailable(scrub(err.to_string()))
        } else {
            StoreError::Redis(scrub(err.to_string()))
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(line: &str) -> redis::RedisError {
        redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).and_then(|v| v.extract_error()).unwrap_err()
    }

    #[test]
    fn a_cluster_in_transition_is_unavailable() {
        let lines = [
            "MOVED 717 127.0.0.1:7000",
            "ASK 717 127.0.0.1:7000",
            "TRYAGAIN Multiple keys request during rehashing of slot",
            "CLUSTERDOWN The cluster is down",
            "READONLY You can't write against a read only replica.",
        ];
        for line in lines {
            let err = StoreError::from_redis(server_error(line), Duration::from_secs(1), None);
            assert_eq!(err.code(), "ERR_REDIS_UNAVAILABLE", "{line}: {err}");
        }
        let other = StoreError::from_redis(server_error("ERR wrong number of arguments"), Duration::from_secs(1), None);
        assert_eq!(other.code(), "ERR_REDIS");
    }
}

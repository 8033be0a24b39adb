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
            StoreError::Redis(_) => "ERR_REDIS",
            StoreError::Closed => "ERR_STORE_CLOSED",
            StoreError::NotReplicated { .. } => "ERR_NOT_REPLICATED",
            StoreError::ServerUnsupported(_) => "ERR_SERVER_UNSUPPORTED",
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
            || matches!(err.retry_method(), redis::RetryMethod::WaitAndRetry)
        {
            StoreError::Unavailable(scrub(err.to_string()))
        } else {
            StoreError::Redis(scrub(err.to_string()))
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

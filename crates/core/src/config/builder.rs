//! A store configuration from typed values, for Rust callers.

use std::time::Duration;

use super::StoreConfig;
use crate::error::Result;
use crate::input::Arg;

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

    /// `gcScope: 'registry'`: the routine gc walks the registry of the store's users.
    pub fn gc_registry(self) -> Self {
        self.set("gcScope", Arg::String("registry".into()))
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
}

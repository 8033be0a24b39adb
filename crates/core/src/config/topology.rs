//! How the store reaches its data: one server, a Redis Cluster (with its users' tag
//! key) or a primary found through Sentinel; and replicated writes.

use std::time::Duration;

use redis::ConnectionInfo;

use super::millis;
use super::urls::connection_info;
use crate::error::{Result, StoreError};
use crate::input::{self, Arg};

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

/// `cfg.cluster.tagSecret`: absent, or a string of at least 16 bytes.
pub(super) fn tag_secret(cluster: &Arg) -> Result<Option<TagSecret>> {
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
pub(super) fn topology(cfg: &Arg, url: &ConnectionInfo) -> Result<Topology> {
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

/// `cfg.durability`: `{ replicas: integer >= 1, timeoutMs: number > 0 }`.
pub(super) fn durability(value: &Arg) -> Result<Option<Durability>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;

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

//! The Redis commands the store needs, by feature, written once. The server check at a
//! connection's first use (that none is renamed or disabled), the least-privilege ACL
//! rule (`aclRule()`, the CLI's `acl` command, the ACL tests and the rules the docs
//! show) are derived from this list, and a test checks that every command the Lua
//! scripts call is on it.

/// One feature's commands, as ACL rule items (`command` or `command|subcommand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// The name `aclRule()` and the CLI take.
    pub name: &'static str,
    pub commands: &'static [&'static str],
    /// When the store needs it.
    pub needed_for: &'static str,
}

/// Every method, gcOrphans included: the scripts (EVALSHA; SCRIPT LOAD when the server
/// does not have them yet; EVAL when the cache is flushed again before a reload is
/// retried), the commands they call (including the reads that tell a key's type before a
/// script's first write), getRid's HGETALL, gcOrphans' SCAN, and the server check (INFO,
/// COMMAND INFO; refused, the check is skipped and the server logs the denial).
pub const STORE: Feature = Feature {
    name: "store",
    commands: &[
        "evalsha",
        "script|load",
        "eval",
        "hgetall",
        "hset",
        "hmget",
        "exists",
        "del",
        "expireat",
        "pttl",
        "time",
        "sadd",
        "srem",
        "smembers",
        "sismember",
        "scard",
        "srandmember",
        "get",
        "set",
        "scan",
        "info",
        "command|info",
    ],
    needed_for: "every method",
};

/// Every feature, the store first. The others add to it.
pub const FEATURES: &[Feature] = &[
    STORE,
    Feature {
        name: "functions",
        commands: &["fcall", "function|load"],
        needed_for: "Redis 7 and Valkey: the scripts as one function library (Redis 6.2 refuses a rule naming \
                     these; without them the store falls back to EVALSHA after one logged refusal)",
    },
    Feature {
        name: "audit",
        commands: &["xadd", "xlen", "xrevrange"],
        needed_for: "cfg.audit: the entries each state change appends, the type check before the first write, \
                     and readAudit",
    },
    Feature {
        name: "operator",
        commands: &["type", "memory|usage"],
        needed_for: "listSessions, inspectLineage, keyspaceStats",
    },
    Feature {
        name: "registry",
        commands: &["sscan"],
        needed_for: "cfg.gcScope 'registry': gc pages through the registry of users with SSCAN",
    },
    Feature { name: "durability", commands: &["wait"], needed_for: "cfg.durability (replicated writes)" },
    Feature {
        name: "sentinel",
        commands: &["role"],
        needed_for: "cfg.sentinel, on the data nodes: the lookup asks the named primary for its ROLE",
    },
    Feature {
        name: "cluster",
        commands: &["cluster|slots", "asking", "hget", "ping", "client|setinfo"],
        needed_for: "cfg.cluster: the slot map, ASK redirects, the parent chains read outside scripts \
                     (migrateFrom's copies too), the client's checks of its node connections, and the \
                     client name each node connection announces (Redis 7.0 does not know CLIENT SETINFO \
                     and refuses a rule naming it: leave +client|setinfo out there)",
    },
];

/// The rule for the user the store logs in to the Sentinels with (`cfg.sentinel.username`):
/// it asks for the primaries and listens for failovers.
pub const SENTINEL_USER_RULE: &str = "resetkeys resetchannels &+switch-master -@all +sentinel|masters +subscribe";

pub fn feature(name: &str) -> Option<&'static Feature> {
    FEATURES.iter().find(|f| f.name == name)
}

/// The names `aclRule()` takes, for messages.
pub fn feature_names() -> Vec<&'static str> {
    FEATURES.iter().map(|f| f.name).collect()
}

/// The ACL rule (what follows `ACL SETUSER <name> on ><password>`) for a store under
/// `prefix` with `features` added to the store's own commands, or the unknown feature.
pub fn acl_rule(prefix: &str, features: &[&str]) -> Result<String, String> {
    let mut items = vec![format!("resetkeys ~{prefix}:* resetchannels -@all")];
    let mut seen = vec!["store"];
    items.extend(STORE.commands.iter().map(|c| format!("+{c}")));
    for &name in features {
        let feature = feature(name).ok_or_else(|| name.to_string())?;
        if !seen.contains(&feature.name) {
            seen.push(feature.name);
            items.extend(feature.commands.iter().map(|c| format!("+{c}")));
        }
    }
    Ok(items.join(" "))
}

/// The commands the server check asks `COMMAND INFO` about: the store's own, by their
/// command names (a subcommand's container).
pub fn checked_commands() -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for command in STORE.commands {
        let name = command.split('|').next().unwrap_or(command).to_ascii_uppercase();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands a Lua text calls: `redis.call('X'`, `redis.pcall('X'`, and the
    /// commands its write checks probe (the keys of ACL_FORMS and the reads of TYPE_PROBES).
    fn lua_commands(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for opener in ["redis.call('", "redis.pcall('"] {
            for piece in text.split(opener).skip(1) {
                found.push(piece.split('\'').next().unwrap_or_default().to_ascii_lowercase());
            }
        }
        for table in ["local ACL_FORMS = {", "local TYPE_PROBES = {"] {
            if let Some(start) = text.find(table) {
                let body = &text[start + table.len()..];
                let body = &body[..body.find("}\n").unwrap_or(body.len())];
                for line in body.split([',', '\n']) {
                    let line = line.trim();
                    if let Some((name, value)) = line.split_once('=') {
                        let name = name.trim();
                        if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase()) {
                            found.push(name.to_ascii_lowercase());
                        }
                        let value = value.trim().trim_matches('\'');
                        if !value.is_empty() && value.chars().all(|c| c.is_ascii_uppercase()) {
                            found.push(value.to_ascii_lowercase());
                        }
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_command_the_scripts_call_is_listed() {
        let listed: Vec<&str> = FEATURES.iter().flat_map(|f| f.commands.iter().copied()).collect();
        let mut called = Vec::new();
        for (name, text) in crate::scripts::lua_texts() {
            for command in lua_commands(text) {
                assert!(listed.contains(&command.as_str()), "{name}.lua calls {command}, which no feature lists");
                called.push(command);
            }
        }
        // The probe tables are read: a write the scripts check is among them.
        for command in ["hset", "xadd", "scard", "xlen", "srandmember"] {
            assert!(called.iter().any(|c| c == command), "{command} not found in the scripts");
        }
    }

    #[test]
    fn rules_add_features_once_and_refuse_unknown_ones() {
        let rule = acl_rule("auth", &["audit", "audit", "store"]).unwrap();
        assert!(rule.starts_with("resetkeys ~auth:* resetchannels -@all +evalsha "), "{rule}");
        assert_eq!(rule.matches("+xadd").count(), 1);
        assert_eq!(rule.matches("+hset").count(), 1);
        assert_eq!(acl_rule("auth", &["nope"]), Err("nope".to_string()));
        assert!(checked_commands().contains(&"SCRIPT".to_string()));
        assert!(!checked_commands().iter().any(|c| c.contains('|')));
    }
}

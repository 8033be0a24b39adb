//! The opt-in hardening options: reuse detection, a grace window, an idle limit, a cap
//! on sessions per user, the audit stream and metrics.

use crate::error::{Result, StoreError};
use crate::input::Arg;
use crate::limits::MAX_LINEAGE_HOPS;

/// The longest `reuseGraceSeconds`: a grace window exists for two requests racing with
/// one refresh token (a retried request, two browser tabs), which takes seconds; a long
/// window would let a stolen token be used alongside its owner's.
pub const MAX_REUSE_GRACE_SECONDS: u64 = 300;
/// The longest `idleTtlSeconds` (ten years; more is either a mistake or milliseconds).
pub const MAX_IDLE_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;
/// The largest `maxSessionsPerUser` (the issue script reads every session of the user).
pub const MAX_SESSIONS_PER_USER: u64 = 10_000;
/// The largest `audit.maxLen`.
pub const MAX_AUDIT_LEN: u64 = 100_000_000;

/// `gcScope`: what a routine `gcOrphans` walks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GcScope {
    /// `'keyspace'` (the default): every key under the prefix, by SCAN; nothing extra is
    /// stored.
    #[default]
    Keyspace,
    /// `'registry'`: the store's own users, from a set the scripts add a user to when
    /// they create the user's index (`<prefix>:registry`); one full keyspace pass first.
    Registry,
}

/// The opt-in hardening options. The default (every option off) is the original's
/// behaviour, with the original's stored bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hardening {
    /// `onReuse: 'revoke-lineage'`: a used rid presented again ends its whole lineage.
    pub revoke_on_reuse: bool,
    /// `reuseGraceSeconds`: how long after a rotation the same request may get the same child.
    pub reuse_grace_seconds: u64,
    /// `idleTtlSeconds`: how long a rid may go unrotated after its createdAt (0: no limit).
    pub idle_ttl_seconds: u64,
    /// `maxSessionsPerUser` (0: no limit).
    pub max_sessions_per_user: u64,
    /// `sessionLimitPolicy: 'refuse'` (else the least recently rotated sessions end).
    pub refuse_at_limit: bool,
    /// `audit.maxLen` (0: no audit stream).
    pub audit_max_len: u64,
    /// `metrics: true`: counters and latency histograms (kept by the JavaScript wrapper).
    pub metrics: bool,
    /// `gcScope`.
    pub gc_scope: GcScope,
}

impl Hardening {
    /// The options as the scripts read them, after the layout's mode in ARGV[5]: empty
    /// when every option is off (the scripts then behave as the original's).
    pub fn script_text(&self) -> String {
        let mut text = String::new();
        if self.revoke_on_reuse {
            text.push_str(&format!(";revoke=true;hops={}", MAX_LINEAGE_HOPS));
        }
        for (name, value) in [
            ("grace", self.reuse_grace_seconds),
            ("idle", self.idle_ttl_seconds),
            ("max", self.max_sessions_per_user),
            ("audit", self.audit_max_len),
        ] {
            if value > 0 {
                text.push_str(&format!(";{name}={value}"));
            }
        }
        if self.refuse_at_limit && self.max_sessions_per_user > 0 {
            text.push_str(";refuse=true");
        }
        if self.gc_scope == GcScope::Registry {
            text.push_str(";gcScope=registry");
        }
        text
    }

    pub(super) fn from_arg(cfg: &Arg) -> Result<Self> {
        let revoke_on_reuse = match cfg.field("onReuse") {
            Arg::Undefined => false,
            Arg::String(s) if s == "error" => false,
            Arg::String(s) if s == "revoke-lineage" => true,
            other => return Err(StoreError::invalid("cfg.onReuse", "'error' or 'revoke-lineage'", &other.kind())),
        };
        let refuse_at_limit = match cfg.field("sessionLimitPolicy") {
            Arg::Undefined => false,
            Arg::String(s) if s == "evict-oldest" => false,
            Arg::String(s) if s == "refuse" => true,
            other => {
                return Err(StoreError::invalid("cfg.sessionLimitPolicy", "'evict-oldest' or 'refuse'", &other.kind()))
            }
        };
        let max_sessions_per_user =
            whole("cfg.maxSessionsPerUser", cfg.field("maxSessionsPerUser"), 1, MAX_SESSIONS_PER_USER)?;
        if refuse_at_limit && max_sessions_per_user == 0 {
            return Err(StoreError::invalid(
                "cfg.sessionLimitPolicy",
                "given together with cfg.maxSessionsPerUser",
                "no cfg.maxSessionsPerUser",
            ));
        }
        let audit_max_len = match cfg.field("audit") {
            Arg::Undefined => 0,
            value @ Arg::Object(_) => {
                let len = whole("cfg.audit.maxLen", value.field("maxLen"), 1, MAX_AUDIT_LEN)?;
                if len == 0 {
                    return Err(StoreError::invalid(
                        "cfg.audit.maxLen",
                        &format!("an integer from 1 to {MAX_AUDIT_LEN}"),
                        "undefined",
                    ));
                }
                len
            }
            other => return Err(StoreError::invalid("cfg.audit", "an object { maxLen }", &other.kind())),
        };
        let metrics = match cfg.field("metrics") {
            Arg::Undefined => false,
            Arg::Bool(b) => *b,
            other => return Err(StoreError::invalid("cfg.metrics", "a boolean", &other.kind())),
        };
        let gc_scope = match cfg.field("gcScope") {
            Arg::Undefined => GcScope::Keyspace,
            Arg::String(s) if s == "keyspace" => GcScope::Keyspace,
            Arg::String(s) if s == "registry" => GcScope::Registry,
            other => return Err(StoreError::invalid("cfg.gcScope", "'keyspace' or 'registry'", &other.kind())),
        };
        Ok(Hardening {
            revoke_on_reuse,
            reuse_grace_seconds: whole(
                "cfg.reuseGraceSeconds",
                cfg.field("reuseGraceSeconds"),
                0,
                MAX_REUSE_GRACE_SECONDS,
            )?,
            idle_ttl_seconds: whole("cfg.idleTtlSeconds", cfg.field("idleTtlSeconds"), 1, MAX_IDLE_TTL_SECONDS)?,
            max_sessions_per_user,
            refuse_at_limit,
            audit_max_len,
            metrics,
            gc_scope,
        })
    }
}

/// An optional whole number in `[min, max]`; 0 when absent.
fn whole(name: &str, value: &Arg, min: u64, max: u64) -> Result<u64> {
    match value {
        Arg::Undefined => Ok(0),
        Arg::Number(n) if n.fract() == 0.0 && *n >= min as f64 && *n <= max as f64 => Ok(*n as u64),
        other => {
            let unit = if name.ends_with("Seconds") { " (seconds)" } else { "" };
            Err(StoreError::invalid(name, &format!("an integer from {min} to {max}{unit}"), &other.kind()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;

    fn with(options: Vec<(&'static str, Arg)>) -> Result<StoreConfig> {
        let mut fields = vec![("url", Arg::String("redis://h".into())), ("absTtlSeconds", Arg::Number(60.0))];
        fields.extend(options);
        StoreConfig::from_arg(&Arg::Object(fields))
    }

    #[test]
    fn hardening_is_off_by_default_and_adds_nothing_to_the_scripts() {
        let c = with(vec![]).unwrap();
        assert_eq!(c.hardening, Hardening::default());
        assert_eq!(c.hardening.script_text(), "");
    }

    #[test]
    fn reads_every_hardening_option_at_its_limits() {
        let c = with(vec![
            ("onReuse", Arg::String("revoke-lineage".into())),
            ("reuseGraceSeconds", Arg::Number(300.0)),
            ("idleTtlSeconds", Arg::Number(1.0)),
            ("maxSessionsPerUser", Arg::Number(10_000.0)),
            ("sessionLimitPolicy", Arg::String("refuse".into())),
            ("audit", Arg::Object(vec![("maxLen", Arg::Number(1.0))])),
            ("metrics", Arg::Bool(true)),
        ])
        .unwrap();
        assert_eq!(
            c.hardening.script_text(),
            ";revoke=true;hops=100000;grace=300;idle=1;max=10000;audit=1;refuse=true"
        );
        assert!(c.hardening.metrics);
        let c = with(vec![("onReuse", Arg::String("error".into())), ("reuseGraceSeconds", Arg::Number(0.0))]).unwrap();
        assert_eq!(c.hardening.script_text(), "");
        let c = with(vec![("gcScope", Arg::String("keyspace".into()))]).unwrap();
        assert_eq!(c.hardening.script_text(), "");
        let c = with(vec![("gcScope", Arg::String("registry".into()))]).unwrap();
        assert_eq!(c.hardening.script_text(), ";gcScope=registry");
    }

    #[test]
    fn refuses_bad_hardening_values_naming_the_option() {
        let cases: Vec<(&'static str, Arg, &str)> = vec![
            ("onReuse", Arg::String("revoke".into()), "cfg.onReuse must be 'error' or 'revoke-lineage'"),
            ("onReuse", Arg::Bool(true), "cfg.onReuse must be"),
            ("reuseGraceSeconds", Arg::Number(301.0), "cfg.reuseGraceSeconds must be an integer from 0 to 300"),
            ("reuseGraceSeconds", Arg::Number(-1.0), "cfg.reuseGraceSeconds must be"),
            ("reuseGraceSeconds", Arg::Number(1.5), "cfg.reuseGraceSeconds must be"),
            ("idleTtlSeconds", Arg::Number(0.0), "cfg.idleTtlSeconds must be an integer from 1 to"),
            ("idleTtlSeconds", Arg::Number(1.7e12), "cfg.idleTtlSeconds must be"),
            ("idleTtlSeconds", Arg::Number(f64::NAN), "cfg.idleTtlSeconds must be"),
            ("maxSessionsPerUser", Arg::Number(0.0), "cfg.maxSessionsPerUser must be an integer from 1 to 10000"),
            ("maxSessionsPerUser", Arg::String("3".into()), "cfg.maxSessionsPerUser must be"),
            ("sessionLimitPolicy", Arg::String("lru".into()), "cfg.sessionLimitPolicy must be"),
            ("sessionLimitPolicy", Arg::String("refuse".into()), "cfg.sessionLimitPolicy must be given together"),
            ("audit", Arg::Bool(true), "cfg.audit must be an object"),
            ("audit", Arg::Object(vec![("maxLen", Arg::Undefined)]), "cfg.audit.maxLen must be"),
            ("audit", Arg::Object(vec![("maxLen", Arg::Number(0.0))]), "cfg.audit.maxLen must be"),
            ("metrics", Arg::String("yes".into()), "cfg.metrics must be a boolean"),
            ("gcScope", Arg::String("all".into()), "cfg.gcScope must be 'keyspace' or 'registry'"),
            ("gcScope", Arg::Bool(true), "cfg.gcScope must be"),
        ];
        for (name, value, message) in cases {
            let err = with(vec![(name, value)]).unwrap_err();
            assert!(err.is_type_error(), "{name}");
            assert!(err.to_string().starts_with(message), "{name}: {err}");
        }
    }
}

//! Input checking, shared by every caller. The napi layer turns each JavaScript value
//! into an [`Arg`] and the rules here decide, so the messages live in one place and are
//! testable without Node. Nothing reaches Redis before these checks pass.

use crate::error::{Result, StoreError};

/// The largest id or binding value accepted, in bytes.
pub const MAX_ID_BYTES: usize = 1024;

/// A JavaScript value as the checks see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// A string that is not well-formed UTF-16 (it holds a lone surrogate): no rule
    /// accepts one, since its UTF-8 form would merge it with other strings.
    IllFormedString,
    Function,
    /// An array, with its elements (read only where an argument may be an array).
    Array(Vec<Arg>),
    /// A plain object, with the properties the caller asked for (missing ones are `Undefined`).
    Object(Vec<(&'static str, Arg)>),
    /// Any other kind (bigint, symbol, external), by its `typeof` name.
    Other(&'static str),
}

impl Arg {
    /// What the value is, for error messages; never the value itself, which may be
    /// large or secret.
    pub fn kind(&self) -> String {
        match self {
            Arg::Undefined => "undefined".into(),
            Arg::Null => "null".into(),
            Arg::Bool(_) => "boolean".into(),
            Arg::Number(n) if n.is_nan() => "NaN".into(),
            Arg::Number(n) if n.is_infinite() => "Infinity".into(),
            // Very large or small numbers in exponent form, as JavaScript prints them,
            // instead of hundreds of digits.
            Arg::Number(n) if n.abs() >= 1e21 || (*n != 0.0 && n.abs() < 1e-6) => format!("number {n:e}"),
            Arg::Number(n) => format!("number {n}"),
            Arg::String(s) if s.is_empty() => "empty string".into(),
            Arg::String(s) => format!("string of {} bytes", s.len()),
            Arg::IllFormedString => "string with a lone surrogate (not well-formed UTF-16)".into(),
            Arg::Array(_) => "array".into(),
            Arg::Function => "function".into(),
            Arg::Object(_) => "object".into(),
            Arg::Other(name) => (*name).into(),
        }
    }

    /// A property of an object argument (`Undefined` when absent).
    pub fn field(&self, name: &str) -> &Arg {
        match self {
            Arg::Object(fields) => fields.iter().find(|(n, _)| *n == name).map_or(&Arg::Undefined, |(_, v)| v),
            _ => &Arg::Undefined,
        }
    }
}

/// The properties read from each object argument.
pub const ISSUE_INPUT_FIELDS: &[&str] = &["now", "deviceId", "uaHash", "ipHash", "absTtlSeconds"];
pub const ROTATE_INPUT_FIELDS: &[&str] = &["rid", "now", "deviceId", "uaHash", "ipHash"];
pub const GC_OPTION_FIELDS: &[&str] = &["dryRun", "graceSeconds"];

/// Device, user-agent and IP binding values; absent ones are `""`, as the original stores them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    pub device_id: String,
    pub ua_hash: String,
    pub ip_hash: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IssueInput {
    pub user_id: String,
    pub now: u64,
    pub binding: Binding,
    /// `None` falls back to the store's `absTtlSeconds`.
    pub abs_ttl_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RotateInput {
    pub rid: String,
    pub now: u64,
    pub binding: Binding,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcOptions {
    pub dry_run: bool,
    pub grace_seconds: u64,
    /// The time gc judges expiry by, epoch seconds; `None` (what JavaScript gets): the
    /// system clock. Lets a test put the clock on a boundary.
    pub now: Option<u64>,
}

/// A required id: a non-empty string of at most [`MAX_ID_BYTES`].
pub fn id(name: &str, value: &Arg) -> Result<String> {
    match value {
        Arg::String(s) if !s.is_empty() && s.len() <= MAX_ID_BYTES => Ok(s.clone()),
        other => Err(StoreError::invalid(
            name,
            &format!("a non-empty string of at most {MAX_ID_BYTES} bytes"),
            &other.kind(),
        )),
    }
}

/// An optional binding value: absent, `undefined`, `""` or a string of at most [`MAX_ID_BYTES`].
pub fn binding_value(name: &str, value: &Arg) -> Result<String> {
    match value {
        Arg::Undefined => Ok(String::new()),
        Arg::String(s) if s.len() <= MAX_ID_BYTES => Ok(s.clone()),
        other => Err(StoreError::invalid(
            name,
            &format!("a string of at most {MAX_ID_BYTES} bytes, or undefined"),
            &other.kind(),
        )),
    }
}

/// The largest integer a JavaScript number holds exactly, 2^53 - 1: the bound of the
/// numbers read as whole seconds or milliseconds, and of an absolute expiry. (The Lua
/// prelude's `MAX_EPOCH` is the same number; a test below checks it.)
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// `now` must be below this: 10000-01-01T00:00:00Z in epoch seconds. Every millisecond
/// timestamp after 1978-01-11 (so every `Date.now()`) is above it, and no clock in epoch
/// seconds reaches it.
pub const NOW_LIMIT: u64 = 253_402_300_800;

/// The longest lifetime accepted, in seconds: 10 years of 365.25 days. A lifetime of a
/// month or more written in milliseconds is above it.
pub const MAX_TTL_SECONDS: u64 = 315_576_000;

/// Epoch seconds: a finite number >= 0 and below [`NOW_LIMIT`], non-integers floored.
/// A larger number can only be milliseconds (or nonsense), and is refused with the fix.
pub fn now(name: &str, value: &Arg) -> Result<u64> {
    match value {
        Arg::Number(n) if n.is_finite() && *n >= 0.0 && *n < NOW_LIMIT as f64 => Ok(n.floor() as u64),
        Arg::Number(n) if n.is_finite() && *n >= NOW_LIMIT as f64 => Err(StoreError::invalid(
            name,
            "epoch seconds, not milliseconds: below 253402300800 (the year 10000); use Math.floor(Date.now() / 1000)",
            &value.kind(),
        )),
        other => {
            Err(StoreError::invalid(name, "a finite number >= 0 and below 253402300800 (epoch seconds)", &other.kind()))
        }
    }
}

/// A lifetime in seconds: a finite number > 0 and at most [`MAX_TTL_SECONDS`];
/// non-integers are rounded up, since Redis expiries are whole seconds and a positive
/// lifetime must stay positive. A longer one is refused: it is milliseconds or a mistake.
pub fn ttl(name: &str, value: &Arg) -> Result<u64> {
    match value {
        Arg::Number(n) if n.is_finite() && *n > 0.0 && *n <= MAX_TTL_SECONDS as f64 => Ok(n.ceil() as u64),
        Arg::Number(n) if n.is_finite() && *n > MAX_TTL_SECONDS as f64 => Err(StoreError::invalid(
            name,
            "seconds, not milliseconds: at most 315576000 (10 years); divide a lifetime in milliseconds by 1000",
            &value.kind(),
        )),
        other => Err(StoreError::invalid(name, "a finite number > 0 and at most 315576000 (seconds)", &other.kind())),
    }
}

/// A duration in seconds: a finite number from 0 to [`MAX_SAFE_INTEGER`], non-integers floored.
pub fn seconds(name: &str, value: &Arg) -> Result<u64> {
    match value {
        Arg::Number(n) if n.is_finite() && *n >= 0.0 && *n <= MAX_SAFE_INTEGER as f64 => Ok(n.floor() as u64),
        other => Err(StoreError::invalid(name, "a finite number >= 0 (seconds)", &other.kind())),
    }
}

/// A positive number up to [`MAX_SAFE_INTEGER`], non-integers rounded up (timeouts in
/// milliseconds).
pub fn positive(name: &str, value: &Arg) -> Result<u64> {
    match value {
        Arg::Number(n) if n.is_finite() && *n > 0.0 && *n <= MAX_SAFE_INTEGER as f64 => Ok(n.ceil() as u64),
        other => Err(StoreError::invalid(name, "a finite number > 0", &other.kind())),
    }
}

/// The latest absolute expiry accepted, in epoch seconds: the largest integer a JavaScript
/// number holds exactly (Redis refuses EXPIREAT past about 9.2e15).
pub const MAX_EPOCH_SECONDS: u64 = MAX_SAFE_INTEGER;

/// A lineage's absolute expiry, `now + absTtlSeconds`. Each is checked on its own, but
/// their sum can still pass what Redis accepts, and Redis would then refuse the expiry
/// half-way through the issue script, after the hash was written: refused here instead.
pub fn abs_exp_at(now: u64, abs_ttl_seconds: u64) -> Result<u64> {
    now.checked_add(abs_ttl_seconds).filter(|t| *t <= MAX_EPOCH_SECONDS).ok_or_else(|| {
        StoreError::invalid(
            "input.now + absTtlSeconds",
            &format!("at most {MAX_EPOCH_SECONDS} (epoch seconds)"),
            "a larger sum",
        )
    })
}

fn object<'a>(name: &str, value: &'a Arg) -> Result<&'a Arg> {
    match value {
        Arg::Object(_) => Ok(value),
        other => Err(StoreError::invalid(name, "an object", &other.kind())),
    }
}

fn binding(input: &Arg) -> Result<Binding> {
    Ok(Binding {
        device_id: binding_value("input.deviceId", input.field("deviceId"))?,
        ua_hash: binding_value("input.uaHash", input.field("uaHash"))?,
        ip_hash: binding_value("input.ipHash", input.field("ipHash"))?,
    })
}

pub fn issue_input(user_id: &Arg, input: &Arg) -> Result<IssueInput> {
    let user_id = id("userId", user_id)?;
    let input = object("input", input)?;
    let abs_ttl_seconds = match input.field("absTtlSeconds") {
        Arg::Undefined => None,
        value => Some(ttl("input.absTtlSeconds", value)?),
    };
    Ok(IssueInput { user_id, now: now("input.now", input.field("now"))?, binding: binding(input)?, abs_ttl_seconds })
}

pub fn rotate_input(input: &Arg) -> Result<RotateInput> {
    let input = object("input", input)?;
    Ok(RotateInput {
        rid: id("input.rid", input.field("rid"))?,
        now: now("input.now", input.field("now"))?,
        binding: binding(input)?,
    })
}

pub fn gc_options(opts: &Arg) -> Result<GcOptions> {
    // The original reads `opts?.dryRun`, so `null` means "no options" there too.
    if matches!(opts, Arg::Undefined | Arg::Null) {
        return Ok(GcOptions::default());
    }
    let opts = object("opts", opts)?;
    let dry_run = match opts.field("dryRun") {
        Arg::Undefined => false,
        Arg::Bool(b) => *b,
        other => return Err(StoreError::invalid("opts.dryRun", "a boolean", &other.kind())),
    };
    let grace_seconds = match opts.field("graceSeconds") {
        Arg::Undefined => 0,
        value => seconds("opts.graceSeconds", value)?,
    };
    Ok(GcOptions { dry_run, grace_seconds, now: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lua_prelude_clamps_to_the_same_largest_integer() {
        let prelude = include_str!("../../../lua/prelude.lua");
        assert!(prelude.contains(&format!("local MAX_EPOCH = {MAX_SAFE_INTEGER}\n")));
    }

    fn obj(fields: Vec<(&'static str, Arg)>) -> Arg {
        Arg::Object(fields)
    }

    #[test]
    fn ids_must_be_non_empty_bounded_strings() {
        assert_eq!(id("rid", &Arg::String("r".into())).unwrap(), "r");
        for bad in [
            Arg::Undefined,
            Arg::Null,
            Arg::Number(1.0),
            Arg::String(String::new()),
            Arg::Array(vec![]),
            Arg::String("x".repeat(MAX_ID_BYTES + 1)),
        ] {
            let err = id("rid", &bad).unwrap_err();
            assert!(err.is_type_error());
            assert!(err.to_string().starts_with("rid must be a non-empty string"), "{err}");
        }
    }

    #[test]
    fn numbers_are_checked_and_floored() {
        assert_eq!(now("now", &Arg::Number(12.9)).unwrap(), 12);
        assert_eq!(ttl("ttl", &Arg::Number(0.2)).unwrap(), 1);
        for bad in [f64::NAN, f64::INFINITY, -1.0, 1e300] {
            assert!(now("now", &Arg::Number(bad)).is_err());
            assert!(ttl("ttl", &Arg::Number(bad)).is_err());
        }
        assert!(ttl("ttl", &Arg::Number(0.0)).is_err());
        assert!(now("now", &Arg::String("5".into())).is_err());
    }

    #[test]
    fn milliseconds_are_refused_with_the_unit_and_the_fix() {
        // 2026-11-30 as Date.now() would give it, and 30 days written in milliseconds.
        let err = now("input.now", &Arg::Number(1_764_460_800_000.0)).unwrap_err();
        assert!(err.is_type_error());
        assert!(err.to_string().starts_with("input.now must be epoch seconds, not milliseconds"), "{err}");
        assert!(err.to_string().contains("Math.floor(Date.now() / 1000)"), "{err}");
        assert_eq!(now("now", &Arg::Number((NOW_LIMIT - 1) as f64)).unwrap(), NOW_LIMIT - 1);
        assert!(now("now", &Arg::Number(NOW_LIMIT as f64)).is_err());
        let err = ttl("input.absTtlSeconds", &Arg::Number(2_592_000_000.0)).unwrap_err();
        assert!(err.to_string().starts_with("input.absTtlSeconds must be seconds, not milliseconds"), "{err}");
        assert_eq!(ttl("ttl", &Arg::Number(MAX_TTL_SECONDS as f64)).unwrap(), MAX_TTL_SECONDS);
        assert!(ttl("ttl", &Arg::Number(MAX_TTL_SECONDS as f64 + 0.5)).is_err());
        // A grace period is a duration, not a clock: no such bound.
        assert_eq!(seconds("opts.graceSeconds", &Arg::Number(1e12)).unwrap(), 1_000_000_000_000);
    }

    #[test]
    fn binding_values_accept_absent_and_strings_only() {
        assert_eq!(binding_value("d", &Arg::Undefined).unwrap(), "");
        assert_eq!(binding_value("d", &Arg::String(String::new())).unwrap(), "");
        assert!(binding_value("d", &Arg::Null).is_err());
        assert!(binding_value("d", &Arg::Bool(true)).is_err());
    }

    #[test]
    fn issue_input_falls_back_and_names_the_field() {
        let input = obj(vec![("now", Arg::Number(100.0))]);
        let parsed = issue_input(&Arg::String("u".into()), &input).unwrap();
        assert_eq!(parsed.abs_ttl_seconds, None);
        assert_eq!(parsed.binding, Binding::default());
        let err = issue_input(&Arg::String("u".into()), &obj(vec![("now", Arg::Null)])).unwrap_err();
        assert!(err.to_string().starts_with("input.now must be"), "{err}");
        let err = issue_input(&Arg::String("u".into()), &Arg::Array(vec![])).unwrap_err();
        assert!(err.to_string().starts_with("input must be an object"), "{err}");
    }

    #[test]
    fn gc_options_default_and_reject_wrong_types() {
        assert_eq!(gc_options(&Arg::Undefined).unwrap(), GcOptions::default());
        let ok = gc_options(&obj(vec![("dryRun", Arg::Bool(true)), ("graceSeconds", Arg::Number(5.5))])).unwrap();
        assert_eq!(ok, GcOptions { dry_run: true, grace_seconds: 5, now: None });
        assert_eq!(gc_options(&Arg::Null).unwrap(), GcOptions::default());
        assert!(gc_options(&Arg::Bool(true)).is_err());
        assert!(gc_options(&obj(vec![("dryRun", Arg::Number(1.0))])).is_err());
        assert!(gc_options(&obj(vec![("graceSeconds", Arg::Number(-1.0))])).is_err());
    }
}

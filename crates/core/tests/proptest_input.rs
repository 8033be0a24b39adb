//! Property tests over the input rules: every parser in `input` and
//! `StoreConfig::from_arg` never panics, and accepts exactly the documented input rules,
//! with the argument's name in every refusal. (The key layout's properties are in
//! `proptest_keys.rs`.)

mod common;

use common::strategies::string;
use proptest::prelude::*;
use session_store_core::input::{self, Arg, MAX_EPOCH_SECONDS};
use session_store_core::{StoreConfig, StoreError};

const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// Numbers that hit every edge: NaN, infinities, signed zeros, tiny, huge, fractions,
/// around 2^53, and anything at all.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(MAX_SAFE),
        Just(MAX_SAFE + 1.0),
        Just(MAX_SAFE - 0.5),
        Just(1e300),
        -10.0..10.0f64,
        0.0..2e9f64,
        // Around the seconds/milliseconds bounds, and millisecond clocks and lifetimes.
        Just(YEAR_10000),
        Just(YEAR_10000 - 0.5),
        Just(TEN_YEARS),
        Just(TEN_YEARS + 0.5),
        1e12..2e12f64,
        any::<f64>(),
    ]
}

/// Any JavaScript value as the checks see it, objects carrying the given field names.
fn arg_with(fields: &'static [&'static str]) -> impl Strategy<Value = Arg> {
    let leaf = prop_oneof![
        Just(Arg::Undefined),
        Just(Arg::Null),
        any::<bool>().prop_map(Arg::Bool),
        number().prop_map(Arg::Number),
        string().prop_map(Arg::String),
        Just(Arg::Array(vec![])),
        Just(Arg::Function),
        Just(Arg::Other("symbol")),
        Just(Arg::Other("bigint")),
    ];
    let object = proptest::collection::vec(leaf.clone(), fields.len())
        .prop_map(move |values| Arg::Object(fields.iter().copied().zip(values).collect()));
    prop_oneof![3 => leaf, 2 => object]
}

fn leaf() -> impl Strategy<Value = Arg> {
    arg_with(&[])
}

/// A field value that passes its own rule, or anything; used to build objects that are
/// mostly valid so the later fields get checked too.
fn maybe_valid(valid: BoxedStrategy<Arg>) -> BoxedStrategy<Arg> {
    prop_oneof![3 => valid, 1 => leaf()].boxed()
}

fn valid_now() -> BoxedStrategy<Arg> {
    (0.0..2e9f64).prop_map(Arg::Number).boxed()
}
fn valid_id() -> BoxedStrategy<Arg> {
    "[a-z:*😀]{1,20}".prop_map(Arg::String).boxed()
}
fn valid_binding() -> BoxedStrategy<Arg> {
    prop_oneof![Just(Arg::Undefined), Just(Arg::String(String::new())), "[a-z:]{1,10}".prop_map(Arg::String)].boxed()
}

// The rules of the bad-input contract, stated on their own as data: the limits are the
// contract's numbers written here (not the implementation's constants), and one small
// evaluator reads every rule, so a limit, a bound's strictness, a rounding or a missing
// kind of value wrong in `input` makes the properties below fail.

/// 10000-01-01T00:00:00Z in epoch seconds: a clock at or past it can only be milliseconds.
const YEAR_10000: f64 = 253_402_300_800.0;
/// Ten years of 365.25 days, in seconds: a longer lifetime can only be milliseconds.
const TEN_YEARS: f64 = 10.0 * 365.25 * 24.0 * 3600.0;

/// Where a number's range starts or ends, and whether the end itself is in it.
#[derive(Clone, Copy)]
enum End {
    Including(f64),
    Excluding(f64),
}

#[derive(Clone, Copy)]
enum Rounding {
    Down,
    Up,
}

/// "A finite number from `low` to `high`, rounded ...; past `high`, refused as milliseconds
/// when `past_high_is_milliseconds`".
struct NumberRule {
    low: End,
    high: End,
    rounding: Rounding,
    past_high_is_milliseconds: bool,
}

/// `now`: a finite number >= 0 below the year 10000, non-integers floored.
const CLOCK: NumberRule = NumberRule {
    low: End::Including(0.0),
    high: End::Excluding(YEAR_10000),
    rounding: Rounding::Down,
    past_high_is_milliseconds: true,
};
/// `absTtlSeconds`: a finite number > 0 and at most ten years, rounded up (a positive
/// lifetime stays positive in whole seconds).
const LIFETIME: NumberRule = NumberRule {
    low: End::Excluding(0.0),
    high: End::Including(TEN_YEARS),
    rounding: Rounding::Up,
    past_high_is_milliseconds: true,
};
/// `graceSeconds`: a finite number >= 0 (up to the largest exact JavaScript integer), floored.
const DURATION: NumberRule = NumberRule {
    low: End::Including(0.0),
    high: End::Including(MAX_SAFE),
    rounding: Rounding::Down,
    past_high_is_milliseconds: false,
};

impl NumberRule {
    fn accepts(&self, a: &Arg) -> Option<u64> {
        let Arg::Number(n) = *a else { return None };
        let above_low = match self.low {
            End::Including(low) => n >= low,
            End::Excluding(low) => n > low,
        };
        if !(n.is_finite() && above_low && !self.past_high(n)) {
            return None;
        }
        Some(match self.rounding {
            Rounding::Down => n.floor() as u64,
            Rounding::Up => n.ceil() as u64,
        })
    }

    fn past_high(&self, n: f64) -> bool {
        match self.high {
            End::Including(high) => n > high,
            End::Excluding(high) => n >= high,
        }
    }

    /// Whether a refusal of `a` must name the unit (it can only be milliseconds).
    fn refuses_as_milliseconds(&self, a: &Arg) -> bool {
        matches!(*a, Arg::Number(n) if self.past_high_is_milliseconds && n.is_finite() && self.past_high(n))
    }
}

/// "A string of at most `max_bytes`", with whether `""` and an absent value are allowed
/// (an absent binding value is stored as `""`).
struct StringRule {
    max_bytes: usize,
    empty_allowed: bool,
    absent_allowed: bool,
}

/// `userId`, `rid`: non-empty strings of at most 1024 bytes.
const ID: StringRule = StringRule { max_bytes: 1024, empty_allowed: false, absent_allowed: false };
/// `deviceId`, `uaHash`, `ipHash` in inputs: absent, `undefined`, `""` or a string of at most 1024 bytes.
const BINDING: StringRule = StringRule { max_bytes: 1024, empty_allowed: true, absent_allowed: true };

impl StringRule {
    fn accepts(&self, a: &Arg) -> Option<String> {
        match a {
            Arg::Undefined if self.absent_allowed => Some(String::new()),
            Arg::String(s) if (self.empty_allowed || !s.is_empty()) && s.len() <= self.max_bytes => Some(s.clone()),
            _ => None,
        }
    }
}

fn id_ok(a: &Arg) -> Option<String> {
    ID.accepts(a)
}
fn binding_ok(a: &Arg) -> Option<String> {
    BINDING.accepts(a)
}
fn now_ok(a: &Arg) -> Option<u64> {
    CLOCK.accepts(a)
}
fn ttl_ok(a: &Arg) -> Option<u64> {
    LIFETIME.accepts(a)
}
fn grace_ok(a: &Arg) -> Option<u64> {
    DURATION.accepts(a)
}

#[test]
fn the_reference_rules_state_the_contract_limits() {
    // The evaluator itself, on the edges the contract names.
    let n = Arg::Number;
    assert_eq!(TEN_YEARS, 315_576_000.0);
    assert_eq!(now_ok(&n(0.0)), Some(0));
    assert_eq!(now_ok(&n(12.9)), Some(12));
    assert_eq!(now_ok(&n(YEAR_10000 - 1.0)), Some(253_402_300_799));
    assert_eq!(now_ok(&n(YEAR_10000)), None);
    assert!(CLOCK.refuses_as_milliseconds(&n(1_764_460_800_000.0)));
    assert_eq!(ttl_ok(&n(0.0)), None);
    assert_eq!(ttl_ok(&n(0.2)), Some(1));
    assert_eq!(ttl_ok(&n(TEN_YEARS)), Some(315_576_000));
    assert_eq!(ttl_ok(&n(TEN_YEARS + 0.5)), None);
    assert_eq!(grace_ok(&n(1e12)), Some(1_000_000_000_000));
    assert!(!DURATION.refuses_as_milliseconds(&n(1e300)));
    assert_eq!(id_ok(&Arg::String("x".repeat(1024))), Some("x".repeat(1024)));
    assert_eq!(id_ok(&Arg::String("x".repeat(1025))), None);
    assert_eq!(id_ok(&Arg::String(String::new())), None);
    assert_eq!(binding_ok(&Arg::String(String::new())), Some(String::new()));
    assert_eq!(binding_ok(&Arg::Undefined), Some(String::new()));
    assert_eq!(binding_ok(&Arg::Null), None);
}

/// A refusal is a TypeError naming `arg`, in the documented shape, not echoing the value.
fn assert_refusal(err: StoreError, arg: &str) {
    assert!(err.is_type_error(), "{err}");
    assert_eq!(err.code(), "ERR_INVALID_ARG");
    let text = err.to_string();
    assert!(text.starts_with(&format!("{arg} must be ")), "{text:?} should name {arg}");
    assert!(text.ends_with(')') && text.contains(" (received "), "{text:?}");
    assert!(text.len() < 200, "the value is not echoed: {} bytes", text.len());
}

/// `parse` agrees with its `rule` on `a`: it returns the rule's value where the rule
/// accepts `a`, and a refusal naming `arg` where the rule refuses it.
fn agrees_with_rule<T: PartialEq + std::fmt::Debug>(
    parse: fn(&str, &Arg) -> Result<T, StoreError>,
    arg: &str,
    rule: fn(&Arg) -> Option<T>,
    a: &Arg,
) -> Result<(), TestCaseError> {
    match (parse(arg, a), rule(a)) {
        (Ok(got), Some(want)) => prop_assert_eq!(got, want),
        (Err(e), None) => assert_refusal(e, arg),
        (got, want) => prop_assert!(false, "{a:?}: got {got:?}, rule says {want:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn id_accepts_exactly_non_empty_strings_up_to_1024_bytes(a in leaf()) {
        agrees_with_rule(input::id, "rid", id_ok, &a)?;
    }

    #[test]
    fn binding_value_accepts_exactly_undefined_and_strings_up_to_1024_bytes(a in leaf()) {
        agrees_with_rule(input::binding_value, "input.deviceId", binding_ok, &a)?;
    }

    #[test]
    fn now_and_ttl_accept_exactly_the_documented_numbers(a in leaf()) {
        match (input::now("input.now", &a), now_ok(&a)) {
            (Ok(got), Some(want)) => prop_assert_eq!(got, want),
            (Err(e), None) => {
                // A clock at or past the year 10000 is refused as milliseconds, with the fix.
                prop_assert_eq!(e.to_string().contains("not milliseconds"), CLOCK.refuses_as_milliseconds(&a), "{}", e);
                assert_refusal(e, "input.now")
            }
            (got, want) => prop_assert!(false, "{a:?}: got {got:?}, rule says {want:?}"),
        }
        match (input::ttl("input.absTtlSeconds", &a), ttl_ok(&a)) {
            (Ok(got), Some(want)) => { prop_assert_eq!(got, want); prop_assert!(got >= 1) }
            (Err(e), None) => {
                prop_assert_eq!(e.to_string().contains("not milliseconds"), LIFETIME.refuses_as_milliseconds(&a), "{}", e);
                assert_refusal(e, "input.absTtlSeconds")
            }
            (got, want) => prop_assert!(false, "{a:?}: got {got:?}, rule says {want:?}"),
        }
        agrees_with_rule(input::seconds, "opts.graceSeconds", grace_ok, &a)?;
    }

    #[test]
    fn abs_exp_at_is_the_sum_when_redis_can_expire_it(now in 0..=MAX_EPOCH_SECONDS, ttl in 1..=MAX_EPOCH_SECONDS) {
        match input::abs_exp_at(now, ttl) {
            Ok(t) => { prop_assert_eq!(t, now + ttl); prop_assert!(t <= MAX_EPOCH_SECONDS) }
            Err(e) => { prop_assert!(now + ttl > MAX_EPOCH_SECONDS); assert_refusal(e, "input.now + absTtlSeconds") }
        }
    }

    #[test]
    fn issue_input_checks_every_field_in_order(
        user in maybe_valid(valid_id()),
        is_object in prop::bool::weighted(0.9),
        now in maybe_valid(valid_now()),
        device in maybe_valid(valid_binding()),
        ua in maybe_valid(valid_binding()),
        ip in maybe_valid(valid_binding()),
        ttl in maybe_valid(prop_oneof![Just(Arg::Undefined), (0.5..1e6f64).prop_map(Arg::Number)].boxed()),
    ) {
        let obj = if is_object {
            Arg::Object(vec![("now", now.clone()), ("deviceId", device.clone()), ("uaHash", ua.clone()), ("ipHash", ip.clone()), ("absTtlSeconds", ttl.clone())])
        } else {
            Arg::Array(vec![])
        };
        let got = input::issue_input(&user, &obj);
        // The first failing rule, in the documented order.
        let first_bad = if id_ok(&user).is_none() { Some("userId") }
            else if !is_object { Some("input") }
            else if !matches!(ttl, Arg::Undefined) && ttl_ok(&ttl).is_none() { Some("input.absTtlSeconds") }
            else if now_ok(&now).is_none() { Some("input.now") }
            else if binding_ok(&device).is_none() { Some("input.deviceId") }
            else if binding_ok(&ua).is_none() { Some("input.uaHash") }
            else if binding_ok(&ip).is_none() { Some("input.ipHash") }
            else { None };
        match (got, first_bad) {
            (Ok(parsed), None) => {
                prop_assert_eq!(parsed.user_id, id_ok(&user).unwrap());
                prop_assert_eq!(parsed.now, now_ok(&now).unwrap());
                prop_assert_eq!(parsed.binding.device_id, binding_ok(&device).unwrap());
                prop_assert_eq!(parsed.binding.ua_hash, binding_ok(&ua).unwrap());
                prop_assert_eq!(parsed.binding.ip_hash, binding_ok(&ip).unwrap());
                prop_assert_eq!(parsed.abs_ttl_seconds, ttl_ok(&ttl));
            }
            (Err(e), Some(name)) => assert_refusal(e, name),
            (got, want) => prop_assert!(false, "got {got:?}, first bad field {want:?}"),
        }
    }

    #[test]
    fn rotate_input_checks_every_field(
        rid in maybe_valid(valid_id()),
        now in maybe_valid(valid_now()),
        device in maybe_valid(valid_binding()),
        ua in maybe_valid(valid_binding()),
        ip in maybe_valid(valid_binding()),
    ) {
        let obj = Arg::Object(vec![("rid", rid.clone()), ("now", now.clone()), ("deviceId", device.clone()), ("uaHash", ua.clone()), ("ipHash", ip.clone())]);
        let ok = id_ok(&rid).is_some() && now_ok(&now).is_some() && binding_ok(&device).is_some() && binding_ok(&ua).is_some() && binding_ok(&ip).is_some();
        match input::rotate_input(&obj) {
            Ok(parsed) => {
                prop_assert!(ok);
                prop_assert_eq!(parsed.rid, id_ok(&rid).unwrap());
                prop_assert_eq!(parsed.now, now_ok(&now).unwrap());
            }
            Err(e) => {
                prop_assert!(!ok, "refused a valid input: {e}");
                prop_assert!(e.is_type_error());
                prop_assert!(e.to_string().starts_with("input."), "{e}");
            }
        }
    }

    #[test]
    fn rotate_and_gc_never_panic_on_anything(a in arg_with(input::ROTATE_INPUT_FIELDS), g in arg_with(input::GC_OPTION_FIELDS)) {
        if let Err(e) = input::rotate_input(&a) { prop_assert!(e.is_type_error()) }
        match input::gc_options(&g) {
            Ok(o) => {
                let dry_ok = matches!(g.field("dryRun"), Arg::Undefined | Arg::Bool(_));
                let grace_ok = matches!(g.field("graceSeconds"), Arg::Undefined) || grace_ok(g.field("graceSeconds")).is_some();
                prop_assert!(matches!(g, Arg::Undefined | Arg::Null | Arg::Object(_)) && dry_ok && grace_ok);
                prop_assert_eq!(o.dry_run, matches!(g.field("dryRun"), Arg::Bool(true)));
            }
            Err(e) => prop_assert!(e.is_type_error()),
        }
    }

    #[test]
    fn config_never_panics_and_never_echoes_the_url(
        url in prop_oneof![string(), "(redis|rediss|unix|http)://[a-z:@/%?=.0-9\\[\\]*]{0,30}".prop_map(String::from)],
        prefix in leaf(),
        ttl in leaf(),
        cmd in leaf(),
    ) {
        let secret = "pw-Zq8Vt3";
        let url = format!("{url}{secret}");
        let cfg = Arg::Object(vec![("url", Arg::String(url)), ("prefix", prefix), ("absTtlSeconds", ttl), ("commandTimeoutMs", cmd)]);
        if let Err(e) = StoreConfig::from_arg(&cfg) {
            prop_assert!(e.is_type_error());
            prop_assert!(e.to_string().starts_with("cfg."), "{e}");
            prop_assert!(!e.to_string().contains(secret), "{e}");
        }
    }
}

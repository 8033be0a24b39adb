//! Property tests over the key layout:
//! - `KeyLayout` keys are injective where the layout can be (rid and user keys; device
//!   keys for ids without ':'), and the three key kinds never collide;
//! - `escape_glob` round-trips through Redis's own MATCH semantics (against a real
//!   server): an escaped literal matches itself and nothing else, and the SCAN patterns
//!   match exactly the keys of their own prefix.

mod common;

use common::strategies::string;
use proptest::prelude::*;
use session_store_core::keys::{escape_glob, KeyLayout};

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn rid_and_user_keys_are_injective_and_kinds_never_collide(prefix in "[a-z:*?\\[\\]]{1,6}", a in string(), b in string()) {
        let l = KeyLayout::new(&prefix);
        prop_assert_eq!(l.rid_key(&a) == l.rid_key(&b), a == b);
        prop_assert_eq!(l.user_key(&a) == l.user_key(&b), a == b);
        for x in [&a, &b] {
            for y in [&a, &b] {
                prop_assert_ne!(l.rid_key(x), l.user_key(y));
                prop_assert_ne!(l.rid_key(x), l.device_key(x, y));
                prop_assert_ne!(l.user_key(x), l.device_key(y, x));
            }
        }
    }

    #[test]
    fn device_keys_alias_only_through_colons(u1 in "[a-c:]{1,4}", d1 in "[a-c:]{1,4}", u2 in "[a-c:]{1,4}", d2 in "[a-c:]{1,4}") {
        let l = KeyLayout::new("auth");
        if l.device_key(&u1, &d1) == l.device_key(&u2, &d2) && (u1 != u2 || d1 != d2) {
            // The original's layout: only a ':' inside an id can shift the boundary.
            prop_assert!(u1.contains(':') || d1.contains(':') || u2.contains(':') || d2.contains(':'));
            prop_assert_eq!(format!("{u1}:{d1}"), format!("{u2}:{d2}"));
        }
        if !u1.contains(':') && !u2.contains(':') {
            prop_assert_eq!(l.device_key(&u1, &d1) == l.device_key(&u2, &d2), u1 == u2 && d1 == d2);
        }
    }

    #[test]
    fn escape_glob_escapes_every_glob_byte_and_only_adds_backslashes(s in string()) {
        let e = escape_glob(&s);
        // Removing one backslash before each escaped character gives the literal back.
        let mut back = String::new();
        let mut chars = e.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                let next = chars.next();
                prop_assert!(next.is_some(), "dangling escape in {e:?}");
                back.push(next.unwrap());
            } else {
                prop_assert!(!matches!(c, '*' | '?' | '[' | ']' | '^' | '-'), "unescaped {c:?} in {e:?}");
                back.push(c);
            }
        }
        prop_assert_eq!(back, s);
    }
}

// Against Redis: MATCH semantics are the server's, so check them there.

fn glob_literal() -> impl Strategy<Value = String> {
    "[a:*?\\[\\]\\\\^\\-!{}😀 ]{1,8}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn escaped_patterns_match_exactly_their_literal_in_redis(literal in glob_literal(), others in proptest::collection::vec(glob_literal(), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut r = common::redis().await;
            let base = common::unique_prefix("glob");
            let key = format!("{base}|{literal}");
            let mut all = vec![key.clone()];
            for o in &others { all.push(format!("{base}|{o}")); }
            for k in &all {
                let _: () = redis::cmd("SET").arg(k).arg("1").arg("EX").arg(60).query_async(&mut r).await.unwrap();
            }
            // The escaped literal matches itself, and nothing else.
            let found: Vec<String> = redis::cmd("KEYS").arg(escape_glob(&key)).query_async(&mut r).await.unwrap();
            prop_assert_eq!(found, vec![key.clone()]);
            // The escaped base as a prefix, followed by '*', matches exactly this case's keys.
            let mut found: Vec<String> = redis::cmd("KEYS").arg(format!("{}|*", escape_glob(&base))).query_async(&mut r).await.unwrap();
            found.sort();
            let mut want = all.clone();
            want.sort();
            want.dedup();
            prop_assert_eq!(found, want);
            let _: () = redis::cmd("DEL").arg(&all).query_async(&mut r).await.unwrap();
            Ok(())
        })?;
    }

    #[test]
    fn scan_patterns_match_only_their_own_prefix_in_redis(prefix in glob_literal(), sibling in glob_literal(), user in glob_literal()) {
        prop_assume!(prefix != sibling);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut r = common::redis().await;
            let base = common::unique_prefix("scanpat");
            let mine = KeyLayout::new(&format!("{base}{prefix}"));
            let other = KeyLayout::new(&format!("{base}{sibling}"));
            let keys = [mine.rid_key("r1"), mine.user_key(&user), mine.device_key(&user, "d"), other.rid_key("r1"), other.user_key(&user), other.device_key(&user, "d")];
            for k in &keys {
                let _: () = redis::cmd("SET").arg(k).arg("1").arg("EX").arg(60).query_async(&mut r).await.unwrap();
            }
            let rids: Vec<String> = redis::cmd("KEYS").arg(mine.rid_key_pattern()).query_async(&mut r).await.unwrap();
            let users: Vec<String> = redis::cmd("KEYS").arg(mine.user_key_pattern()).query_async(&mut r).await.unwrap();
            let _: () = redis::cmd("DEL").arg(&keys[..]).query_async(&mut r).await.unwrap();
            // A sibling prefix that extends this one (e.g. "a" and "a:rid:x") could share
            // keys by construction; only distinct, non-nested prefixes are compared.
            let nested = keys[3].starts_with(&format!("{base}{prefix}:")) || keys[0].starts_with(&format!("{base}{sibling}:"));
            if !nested {
                prop_assert_eq!(rids, vec![keys[0].clone()]);
                prop_assert_eq!(users, vec![keys[1].clone()]);
            } else {
                prop_assert!(rids.contains(&keys[0]));
                prop_assert!(users.contains(&keys[1]));
            }
            Ok(())
        })?;
    }
}

//! The store's operations and Lua scripts against a real Redis. (gcOrphans has its own
//! file, `gc.rs`.)

mod common;

use std::collections::HashMap;

use common::{
    bind, expire_time, hash, issue, now, redis, rid_named, rotate, store, store_with_one_session, OneSession,
};
use redis::AsyncCommands;
use session_store_core::input::{Binding, GcOptions, IssueInput, RotateInput};
use session_store_core::{scripts, SessionStore, StoreError};

#[tokio::test(flavor = "multi_thread")]
async fn issue_writes_the_original_data_model() {
    let (s, p) = store("issue");
    let t = now();
    let issued = s
        .issue_initial(IssueInput {
            user_id: "u1".into(),
            now: t,
            binding: bind("d1", "ua", ""),
            abs_ttl_seconds: Some(3600),
        })
        .await
        .unwrap();
    assert_eq!(issued.abs_exp, t + 3600);
    let fields = s.get_rid(&issued.rid).await.unwrap().unwrap();
    let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["userId", "parentRid", "createdAt", "expAt", "absExpAt", "deviceId", "uaHash", "ipHash", "status"]
    );
    let h: HashMap<_, _> = fields.into_iter().collect();
    assert_eq!(h["userId"], "u1");
    assert_eq!(h["parentRid"], "");
    assert_eq!(h["createdAt"], t.to_string());
    assert_eq!(h["expAt"], (t + 3600).to_string());
    assert_eq!(h["absExpAt"], (t + 3600).to_string());
    assert_eq!((h["deviceId"].as_str(), h["uaHash"].as_str(), h["ipHash"].as_str()), ("d1", "ua", ""));
    assert_eq!(h["status"], "active");

    let mut r = redis().await;
    let layout = s.layout();
    let rid_key = layout.rid_key(&issued.rid);
    if !layout.is_cluster() {
        assert_eq!(rid_key, format!("{p}:rid:{}", issued.rid), "the original's key names");
        assert_eq!(layout.user_key("u1"), format!("{p}:user:u1:rids"));
        assert_eq!(layout.device_key("u1", "d1"), format!("{p}:device:u1:d1"));
    }
    assert_eq!(expire_time(&mut r, &rid_key).await, (t + 3600) as i64);
    let members: Vec<String> = r.smembers(layout.user_key("u1")).await.unwrap();
    assert_eq!(members, std::slice::from_ref(&rid_key));
    let device: String = r.get(layout.device_key("u1", "d1")).await.unwrap();
    assert_eq!(device, rid_key);
    assert_eq!(expire_time(&mut r, &layout.device_key("u1", "d1")).await, (t + 3600) as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_caps_exp_at_two_days_and_falls_back_to_the_configured_ttl() {
    let (s, _) = store("issue-cap");
    let t = now();
    let rid = issue(&s, "u", t, Binding::default(), None).await;
    let h = hash(&s, &rid).await;
    assert_eq!(h["expAt"], (t + 2 * 86400).to_string());
    assert_eq!(h["absExpAt"], (t + 30 * 86400).to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_moves_the_lineage_forward() {
    let (s, _) = store("rotate");
    let t = now();
    let r0 = issue(&s, "u", t, bind("d", "ua", "ip"), Some(10 * 86400)).await;
    let rotated = s
        .verify_and_rotate_refresh(RotateInput { rid: r0.clone(), now: t + 5, binding: bind("d", "ua", "ip") })
        .await
        .unwrap();
    assert_eq!(rotated.user_id, "u");
    assert_eq!(rotated.new_rid.abs_exp, t + 10 * 86400);
    let r1 = rotated.new_rid.rid;
    assert_eq!(hash(&s, &r0).await["status"], "used");
    let h = hash(&s, &r1).await;
    assert_eq!(h["parentRid"], r0);
    assert_eq!(h["createdAt"], (t + 5).to_string());
    assert_eq!(h["expAt"], (t + 5 + 7 * 86400).to_string());
    assert_eq!(h["status"], "active");
    let mut r = redis().await;
    let device: String = r.get(s.layout().device_key("u", "d")).await.unwrap();
    assert_eq!(device, s.layout().rid_key(&r1));
    // The index holds the active session only.
    assert_eq!(s.scan_rids("u").await.unwrap(), std::slice::from_ref(&r1));
    let members: Vec<String> = r.smembers(s.layout().user_key("u")).await.unwrap();
    assert_eq!(members, [s.layout().rid_key(&r1)]);
    // expAt near the end is capped by absExpAt.
    let r2 = rotate(&s, &r1, t + 10 * 86400 - 100, Binding::default()).await.unwrap();
    assert_eq!(hash(&s, &r2).await["expAt"], (t + 10 * 86400).to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_errors_come_in_the_original_order() {
    let (s, _) = store("rotate-errors");
    let t = now();
    assert_eq!(rotate(&s, "missing", t, Binding::default()).await, Err(StoreError::NotFound));
    let r0 = issue(&s, "u", t, bind("d", "ua", "ip"), Some(100)).await;
    // Expired beats replay and binding.
    assert_eq!(rotate(&s, &r0, t + 101, bind("x", "", "")).await, Err(StoreError::ExpiredAbs));
    let _r1 = rotate(&s, &r0, t + 1, Binding::default()).await.unwrap();
    // Replay beats binding.
    assert_eq!(rotate(&s, &r0, t + 2, bind("x", "", "")).await.unwrap_err().to_string(), "rotate_fail:ERR_REPLAY");
    // now == absExpAt still rotates.
    let r2 = issue(&s, "u", t, Binding::default(), Some(100)).await;
    assert!(rotate(&s, &r2, t + 100, Binding::default()).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn binding_is_checked_only_for_given_values() {
    let (s, _) = store("binding");
    let t = now();
    let cases: &[(Binding, Binding, bool)] = &[
        (bind("d", "ua", "ip"), bind("d", "ua", "ip"), true),
        (bind("d", "ua", "ip"), Binding::default(), true),
        (bind("d", "ua", "ip"), bind("other", "", ""), false),
        (bind("d", "ua", "ip"), bind("", "other", ""), false),
        (bind("d", "ua", "ip"), bind("", "", "other"), false),
        // A deviceless session rotated with a device: the stored "" is compared.
        (bind("", "", ""), bind("d", "", ""), false),
        (bind("", "ua", ""), bind("", "ua", ""), true),
    ];
    for (i, (stored, given, ok)) in cases.iter().enumerate() {
        let rid = issue(&s, "u", t, stored.clone(), Some(1000)).await;
        let got = rotate(&s, &rid, t + 1, given.clone()).await;
        if *ok {
            assert!(got.is_ok(), "case {i}: {got:?}");
        } else {
            assert_eq!(got.unwrap_err().to_string(), "rotate_fail:ERR_BINDING", "case {i}");
            assert_eq!(hash(&s, &rid).await["status"], "active", "case {i}: a failure writes nothing");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn collisions_are_refused_without_writing() {
    let OneSession { store: s, at: t, rid: r0, .. } = store_with_one_session("collision", 100).await;
    let mut r = redis().await;
    let taken = s.layout().rid_key(&rid_named(&s, "u", "taken"));
    let _: () = r.hset(&taken, "userId", "someone").await.unwrap();
    let layout = s.layout();
    let mut inv = scripts::ROTATE.prepare_invoke();
    inv.key(layout.rid_key(&r0)).key(&taken);
    for a in layout.script_args() {
        inv.arg(a);
    }
    inv.arg(t + 1).arg(&r0).arg("").arg("").arg("");
    let reply: Vec<String> = inv.invoke_async(&mut r).await.unwrap();
    assert_eq!(reply, ["ERR_COLLISION"]);
    assert_eq!(hash(&s, &r0).await["status"], "active");
    let mut inv = scripts::ISSUE.prepare_invoke();
    inv.key(&taken).key(layout.user_key("u")).key(layout.device_key("u", "d"));
    for a in layout.script_args() {
        inv.arg(a);
    }
    inv.arg("u").arg(t).arg(t + 10).arg(t + 10).arg("d").arg("").arg("");
    let reply: String = inv.invoke_async(&mut r).await.unwrap();
    assert_eq!(reply, "ERR_COLLISION");
    let device: String = r.get(layout.device_key("u", "d")).await.unwrap_or_default();
    assert_eq!(device, "", "the refused issue wrote no device key");
    let members: Vec<String> = r.smembers(layout.user_key("u")).await.unwrap();
    assert_eq!(members, [layout.rid_key(&r0)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn index_expiry_only_grows() {
    let (s, _) = store("index-expiry");
    let t = now();
    issue(&s, "u", t, Binding::default(), Some(10_000)).await;
    issue(&s, "u", t, Binding::default(), Some(100)).await;
    let mut r = redis().await;
    let index = s.layout().user_key("u");
    assert_eq!(expire_time(&mut r, &index).await, (t + 10_000) as i64);
    issue(&s, "u", t, Binding::default(), Some(20_000)).await;
    assert_eq!(expire_time(&mut r, &index).await, (t + 20_000) as i64);
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_ends_one_session_and_ignores_unknown_rids() {
    let (s, p) = store("logout");
    let unknown = rid_named(&s, "u", "unknown");
    let t = now();
    let a = issue(&s, "u", t, bind("d", "", ""), Some(1000)).await;
    let b = issue(&s, "u", t, Binding::default(), Some(1000)).await;
    assert!(s.logout(&a).await.unwrap());
    assert_eq!(hash(&s, &a).await["status"], "tombstoned");
    assert_eq!(s.scan_rids("u").await.unwrap(), std::slice::from_ref(&b));
    let mut r = redis().await;
    let device: Option<String> = r.get(s.layout().device_key("u", "d")).await.unwrap();
    assert_eq!(device, None);
    assert!(!s.logout(&unknown).await.unwrap());
    let exists: bool = r.exists(s.layout().rid_key(&unknown)).await.unwrap();
    assert!(!exists, "logout of an unknown rid writes nothing");
    assert_eq!(s.tombstone_lineage(&unknown).await.unwrap(), 0);
    assert_eq!(s.logout_all("nobody").await.unwrap(), 0);
    let keys: Vec<String> = r.keys(format!("{p}:*unknown*")).await.unwrap();
    assert!(keys.is_empty());
}

/// Issues one session per `(user, device)` in order, each lasting 1000 seconds; their rids.
async fn issue_on_devices<const N: usize>(s: &SessionStore, at: u64, sessions: [(&str, &str); N]) -> [String; N] {
    let mut rids = Vec::with_capacity(N);
    for (user, device) in sessions {
        rids.push(issue(s, user, at, bind(device, "", ""), Some(1000)).await);
    }
    rids.try_into().unwrap()
}

/// Asserts each session's stored status.
async fn assert_statuses(s: &SessionStore, expected: &[(&str, &str)]) {
    for (rid, status) in expected {
        assert_eq!(hash(s, rid).await["status"], *status, "{rid}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_device_ends_every_session_of_that_device_only() {
    let (s, _) = store("logout-device");
    let t = now();
    let [a, b, c, other] =
        issue_on_devices(&s, t, [("u", "phone"), ("u", "phone"), ("u", "laptop"), ("v", "phone")]).await;
    assert_eq!(s.logout_device("u", "phone").await.unwrap(), 2);
    assert_statuses(&s, &[(&a, "tombstoned"), (&b, "tombstoned"), (&c, "active"), (&other, "active")]).await;
    assert_eq!(s.scan_rids("u").await.unwrap(), [c]);
    let mut r = redis().await;
    let exists: bool = r.exists(s.layout().device_key("u", "phone")).await.unwrap();
    assert!(!exists);
}

#[tokio::test(flavor = "multi_thread")]
async fn colons_in_ids_never_reach_another_user() {
    let (s, _) = store("alias");
    let t = now();
    // In the original's layout both write the device key "{prefix}:device:a:b:c".
    let [victim, attacker, victim2] = issue_on_devices(&s, t, [("a", "b:c"), ("a:b", "c"), ("a", "b:c")]).await;
    // The shared device key now points at the victim's newest session.
    assert_eq!(s.logout_device("a:b", "c").await.unwrap(), 1);
    assert_statuses(&s, &[(&attacker, "tombstoned"), (&victim, "active"), (&victim2, "active")]).await;
    let mut r = redis().await;
    let device: String = r.get(s.layout().device_key("a", "b:c")).await.unwrap();
    assert_eq!(device, s.layout().rid_key(&victim2), "another user's device key is left alone");
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_all_ends_every_indexed_session_in_batches() {
    let (s, _) = store("logout-all");
    let t = now();
    let mut rids = Vec::new();
    for i in 0..600 {
        rids.push(issue(&s, "u", t, bind(&format!("d{}", i % 3), "", ""), Some(1000)).await);
    }
    let keep = issue(&s, "v", t, Binding::default(), Some(1000)).await;
    assert_eq!(s.logout_all("u").await.unwrap(), 600, "every active session, counted once");
    for rid in &rids {
        assert_eq!(hash(&s, rid).await["status"], "tombstoned");
    }
    assert_eq!(hash(&s, &keep).await["status"], "active");
    let mut r = redis().await;
    let exists: bool = r.exists(s.layout().user_key("u")).await.unwrap();
    assert!(!exists, "the index is deleted");
    for rid in &rids {
        assert_eq!(rotate(&s, rid, t + 1, Binding::default()).await.unwrap_err().to_string(), "rotate_fail:ERR_REPLAY");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tombstone_lineage_ends_ancestors_and_descendants() {
    let (s, _) = store("lineage");
    let t = now();
    let r0 = issue(&s, "u", t, Binding::default(), Some(1000)).await;
    let r1 = rotate(&s, &r0, t + 1, Binding::default()).await.unwrap();
    let r2 = rotate(&s, &r1, t + 2, Binding::default()).await.unwrap();
    let r3 = rotate(&s, &r2, t + 3, Binding::default()).await.unwrap();
    let other = issue(&s, "u", t, Binding::default(), Some(1000)).await;
    let other_child = rotate(&s, &other, t + 1, Binding::default()).await.unwrap();
    // From the middle: ancestors r0, r1 and descendants r2 (used) and r3 (active).
    assert_eq!(s.tombstone_lineage(&r1).await.unwrap(), 4);
    for rid in [&r0, &r1, &r2, &r3] {
        assert_eq!(hash(&s, rid).await["status"], "tombstoned", "{rid}");
    }
    assert_eq!(hash(&s, &other).await["status"], "used");
    assert_eq!(hash(&s, &other_child).await["status"], "active");
    assert_eq!(s.scan_rids("u").await.unwrap(), [other_child]);
}

/// How many libraries of this build's scripts the server holds; `None` on a server without
/// functions.
async fn libraries(r: &mut common::Raw) -> Option<usize> {
    let mut list = redis::cmd("FUNCTION");
    list.arg("LIST").arg("LIBRARYNAME").arg(&scripts::LIBRARY.name);
    list.query_async::<Vec<redis::Value>>(r).await.ok().map(|found| found.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn scripts_reload_after_a_script_and_function_flush() {
    let OneSession { store: s, at: t, rid, .. } = store_with_one_session("noscript", 1000).await;
    let mut r = redis().await;
    // Where the server has functions, the store runs its scripts as its library.
    let functions = libraries(&mut r).await.is_some();
    if functions {
        assert_eq!(libraries(&mut r).await, Some(1));
        let _: () = redis::cmd("FUNCTION").arg("FLUSH").query_async(&mut r).await.unwrap();
    }
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query_async(&mut r).await.unwrap();
    let child = rotate(&s, &rid, t + 1, Binding::default()).await.unwrap();
    assert!(rotate(&s, &child, t + 2, Binding::default()).await.is_ok());
    if functions {
        assert_eq!(libraries(&mut r).await, Some(1), "the library was loaded again");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_stored_expiries_never_leave_a_half_done_rotation_or_gc() {
    let (s, _) = store("corrupt-expiry");
    let t = now();
    let mut r = redis().await;
    let named = |name: &str| rid_named(&s, "u", name);
    for (name, abs) in [("huge", "1e300"), ("nan", "nan"), ("neginf", "-inf"), ("inf", "inf")] {
        let fields = [
            ("userId", "u"),
            ("status", "active"),
            ("absExpAt", abs),
            ("deviceId", ""),
            ("uaHash", ""),
            ("ipHash", ""),
        ];
        let _: () = r.hset_multiple(s.layout().rid_key(&named(name)), &fields).await.unwrap();
    }
    // Huge and infinite expiries clamp to the largest one Redis holds; unparsable ones read as 0.
    for rid in [named("huge"), named("inf")] {
        let child = rotate(&s, &rid, t, Binding::default()).await.unwrap();
        let h = hash(&s, &child).await;
        assert_eq!(h["absExpAt"], "9007199254740991", "{rid}");
        assert_eq!(hash(&s, &rid).await["status"], "used");
    }
    for rid in [named("nan"), named("neginf")] {
        assert_eq!(rotate(&s, &rid, t, Binding::default()).await, Err(StoreError::ExpiredAbs), "{rid}");
        assert_eq!(hash(&s, &rid).await["status"], "active", "{rid}: nothing written");
    }
    // gc re-indexes an unindexed active session with a corrupt expiry without failing.
    let _: () = r
        .hset_multiple(
            s.layout().rid_key(&rid_named(&s, "w", "lost")),
            &[("userId", "w"), ("status", "active"), ("absExpAt", "1e300")],
        )
        .await
        .unwrap();
    let report = s.gc_orphans(GcOptions::default()).await.unwrap();
    assert!(report.added_to_sets >= 1);
    assert!(s.scan_rids("w").await.unwrap().contains(&rid_named(&s, "w", "lost")));
}

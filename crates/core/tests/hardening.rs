//! The opt-in hardening options against a real Redis (standalone, or a cluster with
//! REDIS_TOPOLOGY=cluster): reuse detection, the grace window, idle expiry, the session
//! limit and the audit stream.

mod common;

use common::{config, hash, now, rotate, unique_prefix};
use session_store_core::audit::AuditQuery;
use session_store_core::config::StoreConfigBuilder;
use session_store_core::input::{Binding, IssueInput, RotateInput};
use session_store_core::{SessionStore, StoreError};

fn store_with(test: &str, options: impl FnOnce(StoreConfigBuilder) -> StoreConfigBuilder) -> SessionStore {
    SessionStore::new(options(config(&unique_prefix(test))).build().expect("valid test config"))
}

fn bind(device: &str, ua: &str) -> Binding {
    Binding { device_id: device.into(), ua_hash: ua.into(), ip_hash: String::new() }
}

async fn issue(s: &SessionStore, user: &str, at: u64, b: Binding) -> String {
    s.issue_initial(IssueInput { user_id: user.into(), now: at, binding: b, abs_ttl_seconds: Some(3600) })
        .await
        .unwrap()
        .rid
}

fn replay() -> StoreError {
    StoreError::RotateFail { reason: "ERR_REPLAY".into() }
}

#[tokio::test(flavor = "multi_thread")]
async fn without_options_a_rotation_stores_only_the_nine_fields() {
    let s = store_with("plain", |b| b);
    let t = now();
    let root = issue(&s, "u", t, bind("d", "ua")).await;
    let child = rotate(&s, &root, t + 1, bind("d", "ua")).await.unwrap();
    let mut names: Vec<String> = hash(&s, &root).await.into_keys().collect();
    names.sort();
    assert_eq!(
        names,
        ["absExpAt", "createdAt", "deviceId", "expAt", "ipHash", "parentRid", "status", "uaHash", "userId"]
    );
    // Reuse only rejects: the child stays active.
    assert_eq!(rotate(&s, &root, t + 2, bind("d", "ua")).await.unwrap_err(), replay());
    assert_eq!(hash(&s, &child).await["status"], "active");
}

#[tokio::test(flavor = "multi_thread")]
async fn reuse_revokes_the_whole_lineage() {
    let s = store_with("revoke", |b| b.revoke_on_reuse());
    let t = now();
    let root = issue(&s, "u", t, bind("d", "")).await;
    let other = issue(&s, "u", t, bind("d2", "")).await;
    let c1 = rotate(&s, &root, t + 1, bind("d", "")).await.unwrap();
    let c2 = rotate(&s, &c1, t + 2, bind("d", "")).await.unwrap();
    assert_eq!(rotate(&s, &root, t + 3, bind("d", "")).await.unwrap_err(), replay());
    for rid in [&root, &c1, &c2] {
        assert_eq!(hash(&s, rid).await["status"], "tombstoned", "{rid}");
    }
    assert_eq!(s.scan_rids("u").await.unwrap(), vec![other.clone()], "the other lineage is untouched");
    // Presenting any of them again cannot bring a session back.
    for rid in [&root, &c1, &c2] {
        assert_eq!(rotate(&s, rid, t + 4, bind("d", "")).await.unwrap_err(), replay());
    }
    assert_eq!(s.scan_rids("u").await.unwrap(), vec![other]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_grace_window_answers_with_the_same_child_and_never_extends() {
    let s = store_with("grace", |b| b.reuse_grace_seconds(10));
    let t = now();
    let root = issue(&s, "u", t, bind("d", "ua")).await;
    let first = s
        .verify_and_rotate_refresh(RotateInput { rid: root.clone(), now: t + 1, binding: bind("d", "ua") })
        .await
        .unwrap();
    let h = hash(&s, &root).await;
    assert_eq!((h["rotatedAt"].as_str(), h["childRid"].as_str()), (&*(t + 1).to_string(), first.new_rid.rid.as_str()));
    // Inside the window, same binding: the same child, whatever the number of retries.
    for at in [t + 1, t + 5, t + 11] {
        let again = s
            .verify_and_rotate_refresh(RotateInput { rid: root.clone(), now: at, binding: bind("d", "ua") })
            .await
            .unwrap();
        assert_eq!(again, first, "at +{}", at - t);
    }
    assert_eq!(s.scan_rids("u").await.unwrap(), vec![first.new_rid.rid.clone()], "never a second child");
    // Another binding inside the window, or the window over: reuse.
    assert_eq!(rotate(&s, &root, t + 2, bind("d", "other")).await.unwrap_err(), replay());
    assert_eq!(rotate(&s, &root, t + 12, bind("d", "ua")).await.unwrap_err(), replay());
    // Once the child was rotated, the parent is plain reuse even inside the window.
    let root2 = issue(&s, "v", t, bind("", "")).await;
    let c1 = rotate(&s, &root2, t + 1, bind("", "")).await.unwrap();
    rotate(&s, &c1, t + 2, bind("", "")).await.unwrap();
    assert_eq!(rotate(&s, &root2, t + 3, bind("", "")).await.unwrap_err(), replay());
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_are_refused_and_ended() {
    let s = store_with("idle", |b| b.idle_ttl_seconds(60));
    let t = now();
    let rid = issue(&s, "u", t, bind("d", "")).await;
    assert_eq!(hash(&s, &rid).await["expAt"], (t + 60).to_string());
    let child = rotate(&s, &rid, t + 60, bind("d", "")).await.unwrap();
    assert_eq!(hash(&s, &child).await["expAt"], (t + 120).to_string());
    let err = rotate(&s, &child, t + 121, bind("d", "")).await.unwrap_err();
    assert_eq!(err, StoreError::RotateFail { reason: "ERR_IDLE".into() });
    assert_eq!(hash(&s, &child).await["status"], "tombstoned");
    assert!(s.scan_rids("u").await.unwrap().is_empty());
    // The deadline never passes absExpAt (3600 s here).
    let long = store_with("idle-long", |b| b.idle_ttl_seconds(7200));
    let rid = issue(&long, "u", t, bind("", "")).await;
    assert_eq!(hash(&long, &rid).await["expAt"], (t + 3600).to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_limit_evicts_the_least_recently_rotated_or_refuses() {
    let s = store_with("limit", |b| b.max_sessions_per_user(2));
    let t = now();
    let a = issue(&s, "u", t, bind("da", "")).await;
    let b = issue(&s, "u", t + 1, bind("db", "")).await;
    let a2 = rotate(&s, &a, t + 2, bind("da", "")).await.unwrap();
    let (c, evicted) = s
        .issue_initial_evicting(IssueInput {
            user_id: "u".into(),
            now: t + 3,
            binding: bind("dc", ""),
            abs_ttl_seconds: Some(3600),
        })
        .await
        .unwrap();
    assert_eq!(evicted, vec![b.clone()], "b was rotated least recently");
    assert_eq!(hash(&s, &b).await["status"], "tombstoned");
    let mut active = s.scan_rids("u").await.unwrap();
    active.sort();
    let mut expected = vec![a2, c.rid];
    expected.sort();
    assert_eq!(active, expected);

    let refuse = store_with("refuse", |b| b.max_sessions_per_user(1).refuse_at_session_limit());
    let only = issue(&refuse, "u", t, bind("", "")).await;
    let err = refuse
        .issue_initial(IssueInput { user_id: "u".into(), now: t, binding: bind("", ""), abs_ttl_seconds: Some(60) })
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::RotateFail { reason: "ERR_SESSION_LIMIT".into() });
    assert_eq!(refuse.scan_rids("u").await.unwrap(), vec![only]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_state_change_appends_one_audit_entry() {
    let s = store_with("audit", |b| b.audit(1000).revoke_on_reuse());
    let t = now();
    let root = issue(&s, "u", t, bind("d", "")).await;
    let child = rotate(&s, &root, t + 1, bind("d", "")).await.unwrap();
    let _ = rotate(&s, &root, t + 2, bind("d", "")).await.unwrap_err();
    let other = issue(&s, "u", t, bind("", "")).await;
    s.logout(&other).await.unwrap();
    s.logout(&other).await.unwrap(); // already ended: no entry
    let entries = s.read_audit(AuditQuery { user_id: Some("u".into()), count: 100 }).await.unwrap();
    let seen: Vec<(String, String, String)> = entries
        .iter()
        .rev()
        .map(|e| {
            let f = |n| e.get(n).unwrap_or_default().to_string();
            (f("event"), f("rid"), f("reason"))
        })
        .collect();
    let expected = [
        ("issued", &root, ""),
        ("rotated", &root, ""),
        // The reuse ends both sessions of the lineage (in either order).
        ("ended", &root, "reuse"),
        ("ended", &child, "reuse"),
        ("issued", &other, ""),
        ("ended", &other, "logout"),
    ];
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    let mut ends: Vec<&(String, String, String)> = seen[2..4].iter().collect();
    ends.sort();
    let mut want: Vec<(String, String, String)> =
        expected[2..4].iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    want.sort();
    assert_eq!(ends, want.iter().collect::<Vec<_>>());
    for i in [0, 1, 4, 5] {
        let (a, b, c) = expected[i];
        assert_eq!(seen[i], (a.to_string(), b.to_string(), c.to_string()), "entry {i}");
    }
    assert_eq!(entries.iter().rev().nth(1).unwrap().get("childRid"), Some(child.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn list_sessions_tells_when_the_lineage_signed_in() {
    let s = store_with("devices", |b| b);
    let t = now();
    let root = issue(&s, "u", t - 100, bind("d", "ua")).await;
    let c1 = rotate(&s, &root, t - 50, bind("d", "ua")).await.unwrap();
    let c2 = rotate(&s, &c1, t - 10, bind("d", "ua")).await.unwrap();
    let sessions = s.list_sessions("u").await.unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].rid, c2);
    assert_eq!(sessions[0].signed_in_at, Some(t - 100));
    assert_eq!(sessions[0].created_at, t - 10);
    assert_eq!(sessions[0].ua_hash, "ua");
}

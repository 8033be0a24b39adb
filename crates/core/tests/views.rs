//! The read-only operator views (views.rs) and keyspace statistics (stats.rs) against a
//! real Redis.

mod common;

use std::collections::BTreeMap;

use common::{expire_time, now, redis, rid_named, store};
use redis::AsyncCommands;
use session_store_core::input::{Binding, IssueInput, RotateInput};
use session_store_core::{LineageInfo, SessionStore};

fn device(d: &str) -> Binding {
    Binding { device_id: d.into(), ..Binding::default() }
}

async fn issue(s: &SessionStore, user: &str, at: u64, b: Binding) -> String {
    s.issue_initial(IssueInput { user_id: user.into(), now: at, binding: b, abs_ttl_seconds: Some(3600) })
        .await
        .unwrap()
        .rid
}

async fn rotate(s: &SessionStore, rid: &str, at: u64) -> String {
    s.verify_and_rotate_refresh(RotateInput { rid: rid.into(), now: at, binding: Binding::default() })
        .await
        .unwrap()
        .new_rid
        .rid
}

/// A lineage of three generations for user "u": issued at `t - 30`, rotated at `t - 20`
/// and again at `t - 10`; its rids, oldest first.
async fn three_generations(s: &SessionStore, t: u64) -> [String; 3] {
    let r0 = issue(s, "u", t - 30, device("d")).await;
    let r1 = rotate(s, &r0, t - 20).await;
    let r2 = rotate(s, &r1, t - 10).await;
    [r0, r1, r2]
}

fn rids(l: &LineageInfo) -> Vec<&str> {
    l.sessions.iter().map(|s| s.rid.as_str()).collect()
}

fn statuses(l: &LineageInfo) -> Vec<&str> {
    l.sessions.iter().map(|s| s.status.as_str()).collect()
}

/// Every key under the prefix with its type and content, to show a view wrote nothing.
async fn snapshot(prefix: &str) -> BTreeMap<String, String> {
    let mut r = redis().await;
    let keys: Vec<String> = r.keys(format!("{prefix}:*")).await.unwrap();
    let mut out = BTreeMap::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut r).await.unwrap();
        let content = match kind.as_str() {
            "hash" => format!("{:?}", r.hgetall::<_, BTreeMap<String, String>>(&key).await.unwrap()),
            "set" => format!("{:?}", {
                let mut m: Vec<String> = r.smembers(&key).await.unwrap();
                m.sort();
                m
            }),
            "string" => r.get::<_, String>(&key).await.unwrap(),
            other => other.to_string(),
        };
        let ttl = expire_time(&mut r, &key).await;
        out.insert(key, format!("{kind} {content} {ttl}"));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn list_sessions_lists_active_sessions_with_their_fields_oldest_first() {
    let (s, _) = store("admin-list");
    let t = now();
    let a = issue(&s, "u", t - 20, device("laptop")).await;
    let b = issue(&s, "u", t - 10, device("phone")).await;
    let a2 = rotate(&s, &a, t - 5).await;
    let gone = issue(&s, "u", t - 8, Binding::default()).await;
    s.logout(&gone).await.unwrap();
    issue(&s, "other", t, device("laptop")).await;
    // An index written by the original keeps the used parent: it is not listed.
    let mut r = redis().await;
    let _: () = r.sadd(s.layout().user_key("u"), s.layout().rid_key(&a)).await.unwrap();

    let listed = s.list_sessions("u").await.unwrap();
    let got: Vec<(&str, &str, u64)> =
        listed.iter().map(|x| (x.rid.as_str(), x.device_id.as_str(), x.created_at)).collect();
    assert_eq!(got, [(b.as_str(), "phone", t - 10), (a2.as_str(), "", t - 5)]);
    assert!(listed.iter().all(|x| x.user_id == "u" && x.status == "active" && x.abs_exp_at > t));
    assert_eq!(listed[1].parent_rid, a);
    assert!(s.list_sessions("nobody").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn lineage_is_the_same_tree_from_any_of_its_rids() {
    let (s, p) = store("admin-lineage");
    let t = now();
    let [r0, r1, r2] = three_generations(&s, t).await;
    let other = issue(&s, "u", t - 25, device("d")).await; // a second lineage of the same user
    rotate(&s, &other, t - 15).await;

    let before = snapshot(&p).await;
    for asked in [&r0, &r1, &r2] {
        let l = s.inspect_lineage(asked).await.unwrap().unwrap();
        assert_eq!(rids(&l), [r0.as_str(), r1.as_str(), r2.as_str()], "asked {asked}");
        assert_eq!(statuses(&l), ["used", "used", "active"]);
        assert_eq!(l.rid, *asked);
        assert_eq!(l.user_id, "u");
        assert_eq!(l.missing_parent, None);
        assert!(!l.scanned, "the index reaches every descendant");
        assert_eq!(l.sessions[1].parent_rid, r0);
        assert_eq!(l.sessions[2].created_at, t - 10);
    }
    assert_eq!(s.inspect_lineage(&rid_named(&s, "u", "no-such-rid")).await.unwrap(), None);
    assert_eq!(snapshot(&p).await, before, "inspect_lineage writes nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn lineage_finds_logged_out_descendants_with_scan() {
    let (s, _) = store("admin-scan");
    let t = now();
    let [r0, r1, r2] = three_generations(&s, t).await;
    s.logout(&r2).await.unwrap(); // r2 leaves the index: r0 and r1 have no indexed descendant
    issue(&s, "u", t, Binding::default()).await; // an unrelated indexed session

    let l = s.inspect_lineage(&r0).await.unwrap().unwrap();
    assert_eq!(rids(&l), [r0.as_str(), r1.as_str(), r2.as_str()]);
    assert_eq!(statuses(&l), ["used", "used", "tombstoned"]);
    assert!(l.scanned);

    s.tombstone_lineage(&r1).await.unwrap();
    let l = s.inspect_lineage(&r2).await.unwrap().unwrap();
    assert_eq!(statuses(&l), ["tombstoned", "tombstoned", "tombstoned"]);
    // From the oldest rid too: its rotation into r1 is still shown after the revocation.
    let l = s.inspect_lineage(&r0).await.unwrap().unwrap();
    assert_eq!(rids(&l), [r0.as_str(), r1.as_str(), r2.as_str()]);
    assert!(l.scanned);
}

#[tokio::test(flavor = "multi_thread")]
async fn lineage_of_a_revoked_lineage_keeps_its_rotations() {
    let (s, _) = store("admin-revoked");
    let t = now();
    let [r0, r1, r2] = three_generations(&s, t).await;
    s.tombstone_lineage(&r2).await.unwrap(); // the active leaf: every session leaves the index
    for asked in [&r0, &r1, &r2] {
        let l = s.inspect_lineage(asked).await.unwrap().unwrap();
        assert_eq!(rids(&l), [r0.as_str(), r1.as_str(), r2.as_str()], "asked {asked}");
        assert_eq!(statuses(&l), ["tombstoned", "tombstoned", "tombstoned"]);
        assert_eq!(l.sessions[1].parent_rid, r0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lineage_reports_a_collected_ancestor_and_reads_the_originals_layout() {
    let (s, _) = store("admin-orig");
    let t = now();
    let mut r = redis().await;
    // A lineage as the original writes it: the used parent stays in the index.
    let index = s.layout().user_key("u");
    let [o0, o1, o2] = ["o0", "o1", "o2"].map(|name| rid_named(&s, "u", name));
    for (rid, parent, status, at) in
        [(&o0, "", "used", t - 20), (&o1, o0.as_str(), "used", t - 10), (&o2, o1.as_str(), "active", t - 5)]
    {
        let key = s.layout().rid_key(rid);
        let fields = [
            ("userId", "u".to_string()),
            ("parentRid", parent.to_string()),
            ("createdAt", at.to_string()),
            ("expAt", (at + 600).to_string()),
            ("absExpAt", (t + 3600).to_string()),
            ("deviceId", String::new()),
            ("uaHash", String::new()),
            ("ipHash", String::new()),
            ("status", status.to_string()),
        ];
        let _: () = r.hset_multiple(&key, &fields).await.unwrap();
        let _: () = r.sadd(&index, &key).await.unwrap();
    }
    let l = s.inspect_lineage(&o1).await.unwrap().unwrap();
    assert_eq!(rids(&l), [o0.as_str(), o1.as_str(), o2.as_str()]);
    assert_eq!(l.missing_parent, None);

    let _: () = r.del(s.layout().rid_key(&o0)).await.unwrap();
    let l = s.inspect_lineage(&o2).await.unwrap().unwrap();
    assert_eq!(rids(&l), [o1.as_str(), o2.as_str()]);
    assert_eq!(l.missing_parent.as_deref(), Some(o0.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn keyspace_stats_counts_sessions_by_status_and_measures_memory() {
    let (s, p) = store("admin-stats");
    let t = now();
    let a = issue(&s, "u1", t, device("d1")).await;
    rotate(&s, &a, t + 1).await;
    let b = issue(&s, "u2", t, device("d2")).await;
    s.logout(&b).await.unwrap();
    issue(&s, "u3", t, Binding::default()).await;
    let mut r = redis().await;
    let _: () = r.hset(s.layout().rid_key(&rid_named(&s, "u1", "broken")), "status", "active").await.unwrap();

    let before = snapshot(&p).await;
    let stats = s.keyspace_stats().await.unwrap();
    assert_eq!(snapshot(&p).await, before, "keyspace_stats writes nothing");
    let by_status: Vec<(&str, u64)> = stats.sessions_by_status.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(by_status, [("(no userId)", 1), ("active", 2), ("tombstoned", 1), ("used", 1)]);
    assert_eq!(stats.rid_keys, 5);
    // u2's index is gone with its only session; u1 and u3 keep one member each.
    assert_eq!((stats.user_keys, stats.indexed_members), (2, 2));
    assert_eq!(stats.device_keys, 1, "d2's key went with the logout");
    assert!(stats.rid_bytes > 5 * 50 && stats.user_bytes > 0 && stats.device_bytes > 0, "{stats:?}");

    let (empty, _) = store("admin-stats-empty");
    assert_eq!(empty.keyspace_stats().await.unwrap(), Default::default());
}

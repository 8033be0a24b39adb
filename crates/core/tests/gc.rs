//! gcOrphans against a real Redis: each kind of garbage, the grace period, progress
//! reports, keys it must pass over, a prefix with glob characters, and the registry
//! mode (gcScope 'registry').

mod common;

use common::{
    config, is_cluster, issue, now, redis, rid_named, store, store_with_one_session, unique_prefix, OneSession,
};
use redis::AsyncCommands;
use session_store_core::input::{Binding, GcOptions};
use session_store_core::{GcReport, SessionStore};

#[tokio::test(flavor = "multi_thread")]
async fn gc_cleans_each_kind_of_garbage_and_dry_run_writes_nothing() {
    let (s, p) = store("gc");
    let t = now();
    let live = issue(&s, "u", t, Binding::default(), Some(1000)).await;
    let used = issue(&s, "u", t - 5000, Binding::default(), Some(1000)).await; // absExpAt in the past
    let mut r = redis().await;
    let layout = s.layout();
    let used_key = layout.rid_key(&used);
    let _: () = r.hset(&used_key, "status", "used").await.unwrap();
    let _: () = r.persist(&used_key).await.unwrap();
    let _: () = r.sadd(layout.user_key("u"), layout.rid_key(&rid_named(&s, "u", "gone"))).await.unwrap();
    let nouser = rid_named(&s, "u", "nouser");
    let _: () = r.hset(layout.rid_key(&nouser), "status", "active").await.unwrap();
    let unindexed = issue(&s, "w", t, Binding::default(), Some(1000)).await;
    let _: () = r.srem(layout.user_key("w"), layout.rid_key(&unindexed)).await.unwrap();

    let before: Vec<String> = r.keys(format!("{p}:*")).await.unwrap();
    let dry = s.gc_orphans(GcOptions { dry_run: true, grace_seconds: 0, now: None }).await.unwrap();
    let after: Vec<String> = r.keys(format!("{p}:*")).await.unwrap();
    assert_eq!(before.len(), after.len());
    assert!(dry.dry_run);
    let report = s.gc_orphans(GcOptions::default()).await.unwrap();
    assert_eq!((dry.removed_from_sets, dry.deleted_rid_hashes, dry.added_to_sets), (1, 2, 1));
    assert_eq!(report.scanned_user_sets, 1); // "w"'s index vanished when emptied
    assert_eq!(report.scanned_rids, 4);
    assert_eq!((report.removed_from_sets, report.deleted_rid_hashes, report.added_to_sets), (1, 2, 1));
    assert!(s.get_rid(&used).await.unwrap().is_none());
    assert!(s.get_rid(&nouser).await.unwrap().is_none());
    assert!(s.get_rid(&live).await.unwrap().is_some());
    assert_eq!(s.scan_rids("w").await.unwrap(), [unindexed]);
    // A grace period keeps recently expired sessions.
    let recent = layout.rid_key(&rid_named(&s, "u", "recent"));
    let fields = [("userId", "u".to_string()), ("status", "tombstoned".into()), ("absExpAt", (t - 100).to_string())];
    let _: () = r.hset_multiple(&recent, &fields).await.unwrap();
    let graced = s.gc_orphans(GcOptions { dry_run: false, grace_seconds: 3600, now: None }).await.unwrap();
    assert_eq!(graced.deleted_rid_hashes, 0);
    let gone = s.gc_orphans(GcOptions { dry_run: false, grace_seconds: 60, now: None }).await.unwrap();
    assert_eq!(gone.deleted_rid_hashes, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_deletes_an_ended_session_only_after_abs_exp_at_plus_grace() {
    let (s, _) = store("gc-boundary");
    let mut r = redis().await;
    let (abs_exp_at, grace) = (now() - 1000, 60);
    let keys = ["used", "tombstoned"].map(|status| (status, s.layout().rid_key(&rid_named(&s, "u", status))));
    for (status, key) in &keys {
        let fields =
            [("userId", "u".to_string()), ("status", status.to_string()), ("absExpAt", abs_exp_at.to_string())];
        let _: () = r.hset_multiple(key, &fields).await.unwrap();
    }
    let at = |now| GcOptions { dry_run: false, grace_seconds: grace, now: Some(now) };
    let kept = s.gc_orphans(at(abs_exp_at + grace)).await.unwrap();
    assert_eq!(kept.deleted_rid_hashes, 0, "at absExpAt + grace exactly, nothing is past");
    for (status, key) in &keys {
        assert!(r.exists::<_, bool>(key).await.unwrap(), "{status} kept");
    }
    let collected = s.gc_orphans(at(abs_exp_at + grace + 1)).await.unwrap();
    assert_eq!(collected.deleted_rid_hashes, 2);
    for (status, key) in &keys {
        assert!(!r.exists::<_, bool>(key).await.unwrap(), "{status} deleted");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_reports_progress_after_each_page() {
    let (s, _) = store("gc-progress");
    let t = now();
    for i in 0..30 {
        issue(&s, &format!("u{i}"), t, Binding::default(), None).await;
    }
    let mut seen: Vec<GcReport> = Vec::new();
    let report = s
        .gc_orphans_with_progress(GcOptions { dry_run: true, ..GcOptions::default() }, &mut |r: &GcReport| {
            seen.push(*r)
        })
        .await
        .unwrap();
    assert_eq!((report.scanned_user_sets, report.scanned_rids), (30, 30));
    assert!(!seen.is_empty());
    assert_eq!(seen.last(), Some(&report));
    assert!(seen
        .windows(2)
        .all(|w| w[0].scanned_rids + w[0].scanned_user_sets <= w[1].scanned_rids + w[1].scanned_user_sets));
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_passes_over_keys_of_another_type_or_outside_its_key_kinds() {
    let OneSession { store: s, prefix: p, rid: live, .. } = store_with_one_session("gc-types", 1000).await;
    let mut r = redis().await;
    let string_index = s.layout().user_key("odd");
    let set_rid = s.layout().rid_key(&rid_named(&s, "odd", "r"));
    let _: () = r.set(&string_index, "not an index").await.unwrap();
    let _: () = r.sadd(&set_rid, "not a session").await.unwrap();
    let _: () = r.hset(format!("{p}:other:{{x}}"), "userId", "").await.unwrap();
    let _: () = r.hset(format!("{p}-other:rid:{{x}}"), "userId", "").await.unwrap();
    let report = s.gc_orphans(GcOptions::default()).await.unwrap();
    assert_eq!((report.scanned_user_sets, report.scanned_rids), (1, 1));
    assert_eq!((report.removed_from_sets, report.deleted_rid_hashes, report.added_to_sets), (0, 0, 0));
    assert_eq!(r.get::<_, String>(&string_index).await.unwrap(), "not an index");
    assert!(r.sismember::<_, _, bool>(&set_rid, "not a session").await.unwrap());
    assert_eq!(s.scan_rids("u").await.unwrap(), [live]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_index_of_another_type_fails_gc_only_where_gc_must_write_it() {
    let OneSession { store: s, at: t, rid: live, .. } = store_with_one_session("gc-odd-index", 1000).await;
    let mut r = redis().await;
    let index = s.layout().user_key("odd");
    let _: () = r.set(&index, "not an index").await.unwrap();
    let abs = (t + 1000).to_string();
    // A used session within its lifetime: gc writes nothing for it, so its index's type
    // does not matter.
    let used = s.layout().rid_key(&rid_named(&s, "odd", "used"));
    let _: () =
        r.hset_multiple(&used, &[("userId", "odd"), ("status", "used"), ("absExpAt", abs.as_str())]).await.unwrap();
    let report = s.gc_orphans(GcOptions::default()).await.unwrap();
    assert_eq!((report.scanned_rids, report.deleted_rid_hashes, report.added_to_sets), (2, 0, 0));
    // An active session missing from that index: re-indexing it must write the index, so
    // gc fails, a dry run too, and nothing is written.
    let active = s.layout().rid_key(&rid_named(&s, "odd", "active"));
    let _: () =
        r.hset_multiple(&active, &[("userId", "odd"), ("status", "active"), ("absExpAt", abs.as_str())]).await.unwrap();
    assert!(s.gc_orphans(GcOptions::default()).await.is_err());
    assert!(s.gc_orphans(GcOptions { dry_run: true, ..GcOptions::default() }).await.is_err());
    assert_eq!(r.get::<_, String>(&index).await.unwrap(), "not an index");
    assert!(r.exists::<_, bool>(&used).await.unwrap() && r.exists::<_, bool>(&active).await.unwrap());
    assert_eq!(s.scan_rids("u").await.unwrap(), [live]);
}

#[tokio::test(flavor = "multi_thread")]
async fn gc_escapes_glob_characters_in_the_prefix() {
    let prefix = format!("{}*[x]?", common::unique_prefix("glob"));
    let s = SessionStore::new(common::config(&prefix).build().unwrap());
    let neighbour = SessionStore::new(common::config(&prefix.replace("*[x]?", "-ab")).build().unwrap());
    let t = now();
    let theirs = issue(&neighbour, "u", t, Binding::default(), Some(1000)).await;
    let mut r = redis().await;
    let _: () = r.hset(neighbour.layout().rid_key(&theirs), "userId", "").await.unwrap();
    let report = s.gc_orphans(GcOptions::default()).await.unwrap();
    assert_eq!(report.scanned_rids, 0);
    assert_eq!(report.scanned_user_sets, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_gc_walks_the_registered_users_only_after_one_full_pass() {
    if is_cluster() {
        return; // the cluster layout refuses the registry (tested in the config)
    }
    let p = unique_prefix("gc-registry");
    let s = SessionStore::new(config(&p).gc_registry().build().unwrap());
    let plain = SessionStore::new(config(&p).build().unwrap());
    let t = now();
    let mut r = redis().await;
    let layout = s.layout();
    // A session issued before the option: its user is not registered yet.
    issue(&plain, "old", t, Binding::default(), Some(1000)).await;
    let _: () = r.sadd(layout.user_key("old"), layout.rid_key("gone-1")).await.unwrap();
    let nouser = layout.rid_key("nouser");
    let _: () = r.hset(&nouser, "status", "active").await.unwrap();
    let first = s.gc_orphans(GcOptions::default()).await.unwrap();
    assert_eq!((first.removed_from_sets, first.deleted_rid_hashes), (1, 1), "the full pass");
    let registry: Vec<String> = r.smembers(format!("{p}:registry")).await.unwrap();
    assert_eq!(registry.len(), 2, "the old user and the mark of the full pass: {registry:?}");
    // From now on: the registered users only; a hash in no index is left alone.
    let _: () = r.hset(&nouser, "status", "active").await.unwrap();
    let _: () = r.sadd(layout.user_key("old"), layout.rid_key("gone-2")).await.unwrap();
    let routine = s.gc_orphans(GcOptions::default()).await.unwrap();
    assert_eq!((routine.scanned_user_sets, routine.removed_from_sets, routine.deleted_rid_hashes), (1, 1, 0));
    assert!(r.exists::<_, bool>(&nouser).await.unwrap());
}

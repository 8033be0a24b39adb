//! Moving a deployment from one node to a Redis Cluster without logging anybody out.
//!
//! Sessions on the old node use the original's layout and rids without a user tag. Each
//! is copied into the cluster layout under the rid `<tag>.<old rid>` (its parent link
//! likewise), and an alias key `{prefix}:alias:<old rid>` naming the tag is written for
//! the session's remaining lifetime, so a client still holding an old rid can rotate,
//! log out or read it: the store looks the alias up (one extra round trip, for old rids
//! only) and works on the copy. Copying is repeatable: run it once before switching the
//! application to the cluster and once after, and sessions that changed on the old node
//! in between catch up; a copied session's status only ever advances, so an ended session
//! never comes back. Sessions past their absolute expiry are not copied.

use std::collections::HashMap;

use redis::Value;

use crate::config::StoreConfig;
use crate::error::{Result, StoreError};
use crate::input::Arg;
use crate::keys::KeyLayout;
use crate::lineage::stored_seconds;
use crate::scan::ScanPages;
use crate::scripts;
use crate::store::SessionStore;

/// What a migration did (or, in a dry run, found).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Rid hashes read on the old node.
    pub scanned: u64,
    /// Sessions written to the cluster for the first time.
    pub copied: u64,
    /// Sessions already copied whose status advanced since.
    pub advanced: u64,
    /// Sessions already copied and unchanged.
    pub unchanged: u64,
    /// Hashes not copied: no userId, or past their absolute expiry.
    pub skipped: u64,
    pub dry_run: bool,
}

/// `migrateFrom`'s argument, `{ url, prefix?, dryRun? }`, checked: the old node's
/// configuration (see [`StoreConfig::migration_source`]) and whether this is a dry run.
pub fn migration_request(config: &StoreConfig, source: &Arg) -> Result<(StoreConfig, bool)> {
    let old = config.migration_source(source)?;
    match source.field("dryRun") {
        Arg::Undefined => Ok((old, false)),
        Arg::Bool(dry_run) => Ok((old, *dry_run)),
        other => Err(StoreError::invalid("source.dryRun", "a boolean", &other.kind())),
    }
}

impl SessionStore {
    /// Copies every session of the deployment at `source` (one node, the original's
    /// layout) into this store, which must use the cluster layout.
    pub async fn migrate_from(&self, source: StoreConfig, dry_run: bool) -> Result<MigrationReport> {
        if !self.layout().is_cluster() {
            return Err(StoreError::InvalidArgument(
                "migrateFrom copies into the cluster layout: create this store with cfg.cluster".into(),
            ));
        }
        if source.is_cluster() {
            return Err(StoreError::InvalidArgument("source must be a single node (without cluster)".into()));
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let old = SessionStore::new(source);
        let old_layout = old.layout().clone();
        let mut report = MigrationReport { dry_run, ..MigrationReport::default() };
        let mut link = old.connection().await?;
        let mut pages = ScanPages::new(&old, old_layout.rid_key_pattern(), "hash").await?;
        while let Some(keys) = pages.next().await? {
            let rids: Vec<String> = keys.iter().filter_map(|k| old_layout.rid_of_key(k)).collect();
            if rids.is_empty() {
                continue;
            }
            let mut pipe = redis::pipe();
            for rid in &rids {
                pipe.cmd("HGETALL").arg(old_layout.rid_key(rid));
            }
            let hashes: Vec<Vec<(String, String)>> = pipe.query_async(&mut link).await.map_err(|e| old.error(e))?;
            // Which sessions their device key names (the newest of each device).
            let mut pipe = redis::pipe();
            let mut asked = Vec::new();
            for (i, fields) in hashes.iter().enumerate() {
                let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
                if let (Some(user), Some(device)) = (field("userId"), field("deviceId")) {
                    if !user.is_empty() && !device.is_empty() {
                        pipe.cmd("GET").arg(old_layout.device_key(user, device));
                        asked.push(i);
                    }
                }
            }
            let targets: Vec<Value> = if asked.is_empty() {
                Vec::new()
            } else {
                pipe.query_async(&mut link).await.map_err(|e| old.error(e))?
            };
            let mut named: HashMap<usize, bool> = HashMap::new();
            for (i, target) in asked.into_iter().zip(targets) {
                let target: Option<String> = redis::from_redis_value(target).ok().flatten();
                named.insert(i, target.as_deref() == Some(old_layout.rid_key(&rids[i]).as_str()));
            }
            // A page's sessions are copied together (each its own script call).
            let imports = rids.iter().zip(hashes).enumerate().map(|(i, (rid, fields))| {
                self.import_session(rid, fields, named.get(&i).copied().unwrap_or(false), now, dry_run)
            });
            for outcome in futures_util::future::try_join_all(imports).await? {
                report.scanned += 1;
                match outcome {
                    Imported::Copied => report.copied += 1,
                    Imported::Advanced => report.advanced += 1,
                    Imported::Unchanged => report.unchanged += 1,
                    Imported::Skipped => report.skipped += 1,
                }
            }
        }
        Ok(report)
    }

    async fn import_session(
        &self,
        old_rid: &str,
        mut fields: Vec<(String, String)>,
        device_named: bool,
        now: u64,
        dry_run: bool,
    ) -> Result<Imported> {
        let get = |fields: &[(String, String)], name: &str| {
            fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
        };
        let user_id = get(&fields, "userId");
        let abs_exp_at = stored_seconds(&get(&fields, "absExpAt")).unwrap_or(0);
        if user_id.is_empty() || abs_exp_at < now {
            return Ok(Imported::Skipped);
        }
        if dry_run {
            return Ok(Imported::Copied);
        }
        let tag = self.layout().user_tag(&user_id);
        for (name, value) in fields.iter_mut() {
            if (name == "parentRid" || name == "childRid") && !value.is_empty() {
                *value = KeyLayout::moved_rid(&tag, value);
            }
        }
        let status = match get(&fields, "status") {
            s if s.is_empty() => "active".to_string(),
            s => s,
        };
        let new_rid = KeyLayout::moved_rid(&tag, old_rid);
        let layout = self.layout();
        let device_id = get(&fields, "deviceId");
        let keys = [layout.rid_key(&new_rid), layout.user_key(&user_id), layout.device_key(&user_id, &device_id)];
        let abs = get(&fields, "absExpAt");
        let mut args: Vec<&str> = vec![if device_named { "1" } else { "0" }, &status, &abs];
        for (name, value) in &fields {
            args.push(name);
            args.push(value);
        }
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let outcome: String = self.run(&scripts::IMPORT_SESSION, &key_refs, &args).await?;
        // The alias, for the session's lifetime: old rids keep working.
        let mut link = self.connection().await?;
        let _: () = redis::cmd("SET")
            .arg(layout.alias_key(old_rid))
            .arg(&tag)
            .arg("EXAT")
            .arg(abs_exp_at.min(crate::input::MAX_EPOCH_SECONDS))
            .query_async(&mut link)
            .await
            .map_err(|e| self.error(e))?;
        Ok(match outcome.as_str() {
            "copied" => Imported::Copied,
            "advanced" => Imported::Advanced,
            _ => Imported::Unchanged,
        })
    }
}

enum Imported {
    Copied,
    Advanced,
    Unchanged,
    Skipped,
}

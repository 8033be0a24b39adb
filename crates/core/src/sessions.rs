//! The session operations: issuing a lineage's first session, rotating a rid, and
//! reading one session or a user's rids.

use redis::{FromRedisValue, Value};

use crate::error::{Result, StoreError};
use crate::input::{IssueInput, RotateInput};
use crate::keys::KeyLayout;
use crate::scripts;
use crate::store::SessionStore;
use crate::token::{self, TokenStorage};

/// The rolling expiry of a first session (a rotated session gets a week, see rotate.lua).
const ISSUE_EXP_CAP: u64 = 2 * 24 * 3600;
/// How long a rotation waits before trying again while its user's fence is up.
const FENCE_RETRY_WAIT: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshIssue {
    pub rid: String,
    pub abs_exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotateResult {
    pub user_id: String,
    pub new_rid: RefreshIssue,
}

impl SessionStore {
    pub async fn issue_initial(&self, input: IssueInput) -> Result<RefreshIssue> {
        self.issue_initial_evicting(input).await.map(|(issue, _)| issue)
    }

    /// `issue_initial`, also returning the rids of the sessions it ended to keep the user
    /// within `maxSessionsPerUser`.
    pub async fn issue_initial_evicting(&self, input: IssueInput) -> Result<(RefreshIssue, Vec<String>)> {
        let abs_ttl = input.abs_ttl_seconds.unwrap_or(self.config().abs_ttl_seconds);
        let abs_exp_at = crate::input::abs_exp_at(input.now, abs_ttl)?;
        let idle = self.config().hardening.idle_ttl_seconds;
        let exp_at = if idle > 0 { (input.now + idle).min(abs_exp_at) } else { input.now + abs_ttl.min(ISSUE_EXP_CAP) };
        let rid = self.layout.new_rid(&input.user_id);
        let name = self.layout.stored_rid(&rid).ok_or_else(|| StoreError::Redis("a new rid named nothing".into()))?;
        // With hashed tokens the session's id is stored, so it outlives the lineage's
        // first session; a plain session's id is derived when read (the original's bytes).
        let session_id = if name != rid { token::session_id(&name) } else { String::new() };
        let b = &input.binding;
        let mut keys = vec![
            self.layout.rid_key(&name),
            self.layout.user_key(&input.user_id),
            self.layout.device_key(&input.user_id, &b.device_id),
        ];
        keys.extend(self.audit_key_to_declare(&input.user_id));
        let outcome: Value = self
            .run(
                &scripts::ISSUE,
                &keys,
                &[
                    &input.user_id,
                    &input.now.to_string(),
                    &exp_at.to_string(),
                    &abs_exp_at.to_string(),
                    &b.device_id,
                    &b.ua_hash,
                    &b.ip_hash,
                    &session_id,
                ],
            )
            .await?;
        // 'OK' or a failure's code, or {'OK', evicted rid...}.
        let outcome: Vec<String> = match outcome {
            Value::Array(_) => Vec::from_redis_value(outcome),
            other => String::from_redis_value(other).map(|s| vec![s]),
        }
        .map_err(|e| StoreError::Redis(format!("unexpected issue reply: {e}")))?;
        match outcome.split_first() {
            Some((ok, evicted)) if ok == "OK" => Ok((
                RefreshIssue { rid, abs_exp: abs_exp_at },
                evicted.iter().map(|name| self.layout.shown_rid(name)).collect(),
            )),
            Some((reason, _)) => Err(StoreError::RotateFail { reason: reason.to_string() }),
            None => Err(StoreError::Redis("empty issue reply".into())),
        }
    }

    /// Cluster layout with audit on: the user's audit stream, declared up front so that
    /// scripts need not ask for it.
    pub(crate) fn audit_key_to_declare(&self, user_id: &str) -> Option<String> {
        (self.layout.is_cluster() && self.config().hardening.audit_max_len > 0)
            .then(|| self.layout.audit_key(Some(user_id)))
    }

    /// As `audit_key_to_declare`, from a rid's tag.
    pub(crate) fn audit_key_of_rid(&self, rid: &str) -> Option<String> {
        (self.config().hardening.audit_max_len > 0).then(|| self.layout.audit_key_of_rid(rid)).flatten()
    }

    /// The stored name of the session a token names (see [`crate::token`]). In the
    /// cluster layout a rid without a tag was issued before the deployment moved from one
    /// node: its alias key, under its name on that node, names its user's tag (one more
    /// round trip, for that rid only). `None` when the rid cannot be known.
    pub(crate) async fn resolve_rid(&self, rid: &str) -> Result<Option<String>> {
        if self.layout.is_layout_rid(rid) {
            return Ok(self.layout.stored_rid(rid));
        }
        let Some(old_name) = token::stored_body(rid, rid) else { return Ok(None) };
        let rid = old_name.as_str();
        let mut link = self.connection().await?;
        let tag: Option<String> = redis::cmd("GET")
            .arg(self.layout.alias_key(rid))
            .query_async(&mut link)
            .await
            .map_err(|e| self.error(e))?;
        Ok(tag.map(|tag| KeyLayout::moved_rid(&tag, rid)))
    }

    pub async fn verify_and_rotate_refresh(&self, mut input: RotateInput) -> Result<RotateResult> {
        // From here on `input.rid` is the stored name; the token stays in Rust.
        let token = std::mem::take(&mut input.rid);
        input.rid = self.resolve_rid(&token).await?.ok_or(StoreError::NotFound)?;
        let child = self.layout.child_rid(&input.rid);
        let child_name =
            self.layout.stored_rid(&child).ok_or_else(|| StoreError::Redis("a new rid named nothing".into()))?;
        // Within reuseGraceSeconds the parent's holder may ask again: a hashed child is
        // kept sealed under the parent token, which only that holder has.
        let seal = if self.config().hardening.reuse_grace_seconds > 0 {
            self.layout.seal_child(&token, &child).unwrap_or_default()
        } else {
            String::new()
        };
        let b = &input.binding;
        // The cluster layout declares what the rid's tag gives: the user's index, device key,
        // audit stream and fence (each `None` in the original's layout).
        let mut keys = vec![self.layout.rid_key(&input.rid), self.layout.rid_key(&child_name)];
        keys.extend(self.layout.user_key_of_rid(&input.rid));
        if !b.device_id.is_empty() {
            keys.extend(self.layout.device_key_of_rid(&input.rid, &b.device_id));
        }
        keys.extend(self.audit_key_of_rid(&input.rid));
        keys.extend(self.layout.fence_key_of_rid(&input.rid));
        let args =
            [input.now.to_string(), input.rid.clone(), b.device_id.clone(), b.ua_hash.clone(), b.ip_hash.clone(), seal];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // BUSY: a logoutDevice / tombstoneLineage of this user is collecting its keys
        // (cluster layout); it lifts its fence within a few round trips.
        let deadline = tokio::time::Instant::now() + self.config().command_timeout;
        let reply = loop {
            let reply: Vec<String> = self.run(&scripts::ROTATE, &keys, &args).await?;
            if reply.first().map(String::as_str) != Some("BUSY") {
                break reply;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Timeout(format!(
                    "no rotation within {} ms: a logoutDevice or tombstoneLineage of this user held it back",
                    self.config().command_timeout.as_millis()
                )));
            }
            tokio::time::sleep(FENCE_RETRY_WAIT).await;
        };
        match reply.as_slice() {
            [ok, user_id, abs_exp] if ok == "OK" => {
                let abs_exp =
                    abs_exp.parse().map_err(|_| StoreError::Redis(format!("unexpected absExpAt {abs_exp:?}")))?;
                Ok(RotateResult { user_id: user_id.clone(), new_rid: RefreshIssue { rid: child, abs_exp } })
            }
            // Within reuseGraceSeconds: the child the first rotation issued (its stored
            // name, and when hashed, its token sealed under the token presented).
            [ok, user_id, abs_exp, issued, sealed] if ok == "OK" => {
                let abs_exp =
                    abs_exp.parse().map_err(|_| StoreError::Redis(format!("unexpected absExpAt {abs_exp:?}")))?;
                let rid = if sealed.is_empty() {
                    Some(issued.clone()).filter(|name| self.layout.stored_rid(name).as_ref() == Some(name))
                } else {
                    self.layout.open_child(&token, &input.rid, sealed, issued)
                };
                // A hashed child without its seal (issued by a store without the grace
                // window) cannot be handed out: a replay, as without the window.
                let rid = rid.ok_or_else(|| StoreError::RotateFail { reason: "ERR_REPLAY".into() })?;
                Ok(RotateResult { user_id: user_id.clone(), new_rid: RefreshIssue { rid, abs_exp } })
            }
            [not_found] if not_found == "not_found" => Err(StoreError::NotFound),
            [expired] if expired == "expired_abs" => Err(StoreError::ExpiredAbs),
            [reason] => Err(StoreError::RotateFail { reason: reason.clone() }),
            other => Err(StoreError::Redis(format!("unexpected rotate reply {other:?}"))),
        }
    }

    /// The session's hash fields in the server's order, or `None`; one round trip.
    pub async fn get_rid(&self, rid: &str) -> Result<Option<Vec<(String, String)>>> {
        let Some(rid) = self.resolve_rid(rid).await? else { return Ok(None) };
        let rid = rid.as_str();
        let mut connection = self.connection().await?;
        let hash: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.layout.rid_key(rid))
            .query_async(&mut connection)
            .await
            .map_err(|e| self.error(e))?;
        Ok(if hash.is_empty() { None } else { Some(self.shown_fields(hash)) })
    }

    /// A session's hash as callers see it: the fields naming other sessions by their
    /// shown names (with hashed tokens, never a live token).
    pub(crate) fn shown_fields(&self, mut hash: Vec<(String, String)>) -> Vec<(String, String)> {
        if self.layout.tokens() == TokenStorage::Sha256 {
            for (field, value) in &mut hash {
                if field == "parentRid" || field == "childRid" || field == "rid" {
                    *value = self.layout.shown_rid(value);
                }
            }
        }
        hash
    }

    /// The bare rids of the user's active sessions (with hashed tokens, their stored
    /// names: a token is never stored).
    pub async fn scan_rids(&self, user_id: &str) -> Result<Vec<String>> {
        let names: Vec<String> = self.run(&scripts::SCAN_RIDS, &[&self.layout.user_key(user_id)], &[user_id]).await?;
        Ok(names.iter().map(|name| self.layout.shown_rid(name)).collect())
    }
}

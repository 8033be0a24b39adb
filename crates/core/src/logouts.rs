//! Ending sessions: one lineage, a device, every session of a user, or one session (or
//! all but one) by its id.

use crate::error::Result;
use crate::limits::MAX_LINEAGE_HOPS;
use crate::scripts;
use crate::store::SessionStore;
use crate::token;

/// Sessions ended per `logout_all` script call: bounds how long one call holds the server.
const LOGOUT_ALL_BATCH: u32 = 256;

impl SessionStore {
    /// A rid's key, and in the cluster layout its user's index too (the rid's tag gives
    /// it), declared up front so the script need not ask for it.
    fn keys_of_rid(&self, rid: &str) -> Vec<String> {
        std::iter::once(self.layout.rid_key(rid))
            .chain(self.layout.user_key_of_rid(rid))
            .chain(self.audit_key_of_rid(rid))
            .collect()
    }

    /// Ends the whole lineage `rid` belongs to; returns how many sessions it ended.
    pub async fn tombstone_lineage(&self, rid: &str) -> Result<u64> {
        self.end_lineage_of(rid, "revoked").await
    }

    /// Ends one session; returns whether it existed. A rid already rotated away (or
    /// ended) ends its whole lineage: see `lua/tombstone_lineage.lua`.
    pub async fn logout(&self, rid: &str) -> Result<bool> {
        Ok(self.end_lineage_of(rid, "logout").await? > 0)
    }

    /// The tombstone_lineage script for `rid`, as tombstoneLineage (`revoked`) or logout.
    async fn end_lineage_of(&self, rid: &str, reason: &str) -> Result<u64> {
        let Some(rid) = self.resolve_rid(rid).await? else { return Ok(0) };
        let rid = rid.as_str();
        let hops = MAX_LINEAGE_HOPS.to_string();
        let mut keys = self.keys_of_rid(rid);
        keys.extend(self.layout.fence_key_of_rid(rid));
        self.run(&scripts::TOMBSTONE_LINEAGE, &keys, &[&hops, reason]).await
    }

    /// Ends every active session of `user_id` bound to `device_id`; returns how many.
    pub async fn logout_device(&self, user_id: &str, device_id: &str) -> Result<u64> {
        let keys: Vec<String> = [self.layout.user_key(user_id), self.layout.device_key(user_id, device_id)]
            .into_iter()
            .chain(self.layout.is_cluster().then(|| self.layout.fence_key(user_id)))
            .chain(self.audit_key_to_declare(user_id))
            .collect();
        self.run(&scripts::LOGOUT_DEVICE, &keys, &[user_id, device_id]).await
    }

    /// Ends every session in the user's index, in bounded batches; returns how many of
    /// them were active. After the first batch tells how many remain, the batches that
    /// should end them are sent together (each still its own script call, so other
    /// clients' commands run between them); the last reply says whether rotations
    /// meanwhile added sessions, and then it goes on.
    pub async fn logout_all(&self, user_id: &str) -> Result<u64> {
        let user_key = self.layout.user_key(user_id);
        let batch = LOGOUT_ALL_BATCH.to_string();
        if self.layout.is_cluster() {
            return self.logout_all_declared(user_id, &user_key, &batch).await;
        }
        let (keys, args) = ([user_key.as_str()], [batch.as_str(), "0"]);
        // Each reply: (index members still to process, active sessions it ended).
        let one_batch = || self.run::<(u64, u64), &str>(&scripts::LOGOUT_ALL, &keys, &args);
        let (mut remaining, mut ended) = one_batch().await?;
        while remaining > 0 {
            let batches = remaining.div_ceil(u64::from(LOGOUT_ALL_BATCH));
            let replies = futures_util::future::try_join_all((0..batches).map(|_| one_batch())).await?;
            ended += replies.iter().map(|(_, n)| n).sum::<u64>();
            remaining = replies.last().map_or(0, |(left, _)| *left);
        }
        Ok(ended)
    }

    /// `logout_all` in the cluster layout, where the script must be given its sessions:
    /// the index is read and its members handed out in batches, sent together; a member
    /// ended meanwhile is skipped. The last reply says whether rotations meanwhile added
    /// sessions, and then it reads the index again.
    async fn logout_all_declared(&self, user_id: &str, user_key: &str, batch: &str) -> Result<u64> {
        let audit = self.audit_key_to_declare(user_id);
        let mut ended = 0;
        loop {
            let members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(user_key)
                .query_async(&mut self.connection().await?)
                .await
                .map_err(|e| self.error(e))?;
            if members.is_empty() {
                return Ok(ended);
            }
            let replies = futures_util::future::try_join_all(members.chunks(LOGOUT_ALL_BATCH as usize).map(|chunk| {
                let count = chunk.len().to_string();
                let keys: Vec<&str> =
                    std::iter::once(user_key).chain(chunk.iter().map(String::as_str)).chain(audit.as_deref()).collect();
                async move { self.run::<(u64, u64), &str>(&scripts::LOGOUT_ALL, &keys, &[batch, &count]).await }
            }))
            .await?;
            ended += replies.iter().map(|(_, n)| n).sum::<u64>();
            if replies.last().is_none_or(|(left, _)| *left == 0) {
                return Ok(ended);
            }
        }
    }

    /// Ends the session (the whole lineage) whose id is `session_id`, if it is one of
    /// `user_id`'s active sessions; returns how many active sessions it ended (0: none,
    /// e.g. the id of another user's session or of one already ended).
    pub async fn logout_session(&self, user_id: &str, session_id: &str) -> Result<u64> {
        self.logout_by_session(user_id, session_id, "one").await
    }

    /// Ends every active session of `user_id` but the one whose id is `keep_session_id`;
    /// returns how many it ended. Nothing ends (0) when that id is not one of the user's
    /// active sessions, so a stale or foreign id never signs a user out everywhere.
    pub async fn logout_other_sessions(&self, user_id: &str, keep_session_id: &str) -> Result<u64> {
        self.logout_by_session(user_id, keep_session_id, "others").await
    }

    /// Finds the session's current rid from its id (a read), then ends by it in one
    /// script, which follows any rotation made in between.
    async fn logout_by_session(&self, user_id: &str, session_id: &str, mode: &str) -> Result<u64> {
        let sessions = self.list_sessions(user_id).await?;
        let Some(chosen) = sessions.iter().find(|s| token::same_name(&s.session_id, session_id)) else {
            return Ok(0);
        };
        let user_key = self.layout.user_key(user_id);
        let keys: Vec<String> = std::iter::once(user_key)
            .chain(self.layout.is_cluster().then(|| self.layout.fence_key(user_id)))
            .chain(self.audit_key_to_declare(user_id))
            .chain(std::iter::once(self.layout.rid_key(&chosen.rid)))
            .collect();
        let hops = MAX_LINEAGE_HOPS.to_string();
        self.run(&scripts::LOGOUT_SESSIONS, &keys, &[user_id, &chosen.rid, mode, &hops]).await
    }
}

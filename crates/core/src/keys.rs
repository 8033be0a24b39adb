//! The Redis key layout, in one place. Scripts receive the layout's parts as their
//! first arguments (see `lua/prelude.lua`) instead of hard-coding key shapes.
//!
//! Two layouts:
//! - the original's, byte-compatible with the original package:
//!   `{prefix}:rid:{rid}`, `{prefix}:user:{userId}:rids`, `{prefix}:device:{userId}:{deviceId}`;
//! - the cluster layout, in which every key of one user hashes to one slot through the
//!   user's tag (the first 16 hex digits of SHA-1 of the userId) in braces, and a rid is
//!   `<tag>.<uuid>`, so a call given only a rid finds the slot:
//!   `{prefix}:rid:{<tag>}.<uuid>`, `{prefix}:user:{<tag>}:rids`, `{prefix}:device:{<tag>}:{deviceId}`,
//!   and, only while a logoutDevice or tombstoneLineage collects its keys, the user's
//!   fence `{prefix}:user:{<tag>}:fence` (a string that expires within seconds).
//!
//! In both, a rid is a token the client holds and keys hold its stored name (see
//! [`token`](crate::token)): the token itself, or with `tokenStorage: 'sha256'` its
//! digest, the tag kept in front in the cluster layout (`<tag>.#<sha256 base64url>`) so that the
//! name still routes. With `cluster.tagSecret`, the tag is derived from an HMAC of the
//! userId under that secret instead of SHA-1.

use crate::token::{self, TokenStorage};

/// The length of a user's tag, in hex digits (64 bits: two users sharing a tag share an
/// index and device keys' slot, which the scripts tolerate since they check userIds).
pub const TAG_LEN: usize = 16;

#[derive(Debug, Clone)]
pub struct KeyLayout {
    prefix: String,
    rid_prefix: String,
    user_prefix: String,
    device_prefix: String,
    cluster: bool,
    tokens: TokenStorage,
    /// `cfg.cluster.tagSecret`: the key of the users' tags.
    tag_secret: Option<Vec<u8>>,
}

const USER_SUFFIX: &str = ":rids";

impl KeyLayout {
    /// The original's layout.
    pub fn new(prefix: &str) -> Self {
        KeyLayout {
            prefix: prefix.to_string(),
            rid_prefix: format!("{prefix}:rid:"),
            user_prefix: format!("{prefix}:user:"),
            device_prefix: format!("{prefix}:device:"),
            cluster: false,
            tokens: TokenStorage::Plain,
            tag_secret: None,
        }
    }

    /// This layout, issuing tokens as `tokens` says and (cluster layout) keying users'
    /// tags with `tag_secret`.
    pub fn with_tokens(self, tokens: TokenStorage, tag_secret: Option<&[u8]>) -> Self {
        KeyLayout { tokens, tag_secret: tag_secret.map(<[u8]>::to_vec), ..self }
    }

    /// How this layout issues tokens.
    pub fn tokens(&self) -> TokenStorage {
        self.tokens
    }

    /// Whether users' tags are keyed (`cfg.cluster.tagSecret`).
    pub fn keyed_tags(&self) -> bool {
        self.cluster && self.tag_secret.is_some()
    }

    /// A user's tag: the first 16 hex digits of SHA-1 of the userId (as `redis.sha1hex`
    /// gives them in the scripts), or of HMAC-SHA256 under `cfg.cluster.tagSecret`.
    pub fn user_tag(&self, user_id: &str) -> String {
        match &self.tag_secret {
            Some(secret) => {
                let mut tag = token::hmac_hex(secret, user_id);
                tag.truncate(TAG_LEN);
                tag
            }
            None => user_tag(user_id),
        }
    }

    /// The cluster layout (the prefix must not contain braces).
    pub fn cluster(prefix: &str) -> Self {
        KeyLayout { cluster: true, ..KeyLayout::new(prefix) }
    }

    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// A fresh token for a session of `user_id`: a random UUID v4 (in the form this
    /// layout issues), behind the user's tag in the cluster layout.
    pub fn new_rid(&self, user_id: &str) -> String {
        let body = token::new_body(self.tokens);
        if self.cluster {
            format!("{}.{body}", self.user_tag(user_id))
        } else {
            body
        }
    }

    /// A fresh token in the same lineage as the session stored as `name` (the same slot
    /// in the cluster layout).
    pub fn child_rid(&self, name: &str) -> String {
        let body = token::new_body(self.tokens);
        match self.tag_of_rid(name) {
            Some(tag) => format!("{tag}.{body}"),
            None => body,
        }
    }

    /// The body of a rid: what follows the tag in the cluster layout.
    fn body_of<'r>(&self, rid: &'r str) -> &'r str {
        match self.tag_of_rid(rid) {
            Some(tag) => &rid[tag.len() + 1..],
            None => rid,
        }
    }

    /// The stored name of the session a token names; `None` when the token is a stored
    /// name itself (never a token, so nothing is asked of Redis).
    pub fn stored_rid(&self, rid: &str) -> Option<String> {
        let body = self.body_of(rid);
        let stored = token::stored_body(rid, body)?;
        Some(match self.tag_of_rid(rid) {
            Some(tag) if stored != rid => format!("{tag}.{stored}"),
            _ => stored,
        })
    }

    /// A hashed child token `child` sealed for the holder of the parent token `parent`;
    /// `None` for a child stored as it is (its name already is its token).
    pub fn seal_child(&self, parent: &str, child: &str) -> Option<String> {
        token::seal(parent, self.body_of(child))
    }

    /// The child token sealed by [`seal_child`](Self::seal_child), opened with the parent
    /// token; `None` unless it is the token of the child stored as `child_name`.
    pub fn open_child(&self, parent: &str, parent_name: &str, sealed: &str, child_name: &str) -> Option<String> {
        let body = token::open(parent, sealed)?;
        let child = match self.tag_of_rid(parent_name) {
            Some(tag) => format!("{tag}.{body}"),
            None => body,
        };
        let name = self.stored_rid(&child)?;
        token::same_name(&name, child_name).then_some(child)
    }

    /// The name a caller is shown for a stored name (see [`token::shown_body`]).
    pub fn shown_rid(&self, name: &str) -> String {
        let shown = token::shown_body(self.tokens, name, self.body_of(name));
        match self.tag_of_rid(name) {
            Some(tag) if shown != name => format!("{tag}.{shown}"),
            _ => shown,
        }
    }

    pub fn rid_key(&self, rid: &str) -> String {
        if !self.cluster {
            return format!("{}{rid}", self.rid_prefix);
        }
        match rid_tag(rid) {
            Some(tag) => format!("{}{{{tag}}}{}", self.rid_prefix, &rid[TAG_LEN..]),
            // Not a rid of this layout: a key of its own slot, which holds nothing.
            None => format!("{}{{{rid}}}", self.rid_prefix),
        }
    }

    pub fn user_key(&self, user_id: &str) -> String {
        if self.cluster {
            self.user_key_of_tag(&self.user_tag(user_id))
        } else {
            format!("{}{user_id}{USER_SUFFIX}", self.user_prefix)
        }
    }

    pub fn device_key(&self, user_id: &str, device_id: &str) -> String {
        if self.cluster {
            self.device_key_of_tag(&self.user_tag(user_id), device_id)
        } else {
            format!("{}{user_id}:{device_id}", self.device_prefix)
        }
    }

    /// Cluster layout: the user index of the user a rid belongs to, from the rid alone.
    pub fn user_key_of_rid(&self, rid: &str) -> Option<String> {
        self.tag_of_rid(rid).map(|tag| self.user_key_of_tag(tag))
    }

    /// Cluster layout: the user's fence (see `lua/prelude.lua`): up while a call that
    /// collects its keys over several rounds runs; rotations of the user wait for it.
    pub fn fence_key(&self, user_id: &str) -> String {
        self.fence_key_of_tag(&self.user_tag(user_id))
    }

    /// Cluster layout: the fence of the user a rid belongs to, from the rid alone.
    pub fn fence_key_of_rid(&self, rid: &str) -> Option<String> {
        self.tag_of_rid(rid).map(|tag| self.fence_key_of_tag(tag))
    }

    /// Whether `key` is a user's fence (cluster layout).
    pub fn is_fence_key(&self, key: &str) -> bool {
        key.starts_with(self.user_prefix.as_str()) && key.ends_with("}:fence")
    }

    fn fence_key_of_tag(&self, tag: &str) -> String {
        format!("{}{{{tag}}}:fence", self.user_prefix)
    }

    /// Cluster layout: a device key of the user a rid belongs to, from the rid alone.
    pub fn device_key_of_rid(&self, rid: &str, device_id: &str) -> Option<String> {
        self.tag_of_rid(rid).map(|tag| self.device_key_of_tag(tag, device_id))
    }

    /// The audit stream (with `cfg.audit`): `{prefix}:audit` in the original's layout, one
    /// per user's slot in the cluster layout, `{prefix}:audit:{<tag>}`, which needs the
    /// user (`None` there gives the pattern's stem, never a real stream).
    pub fn audit_key(&self, user_id: Option<&str>) -> String {
        match (self.cluster, user_id) {
            (true, Some(user_id)) => self.audit_key_of_tag(&self.user_tag(user_id)),
            _ => format!("{}:audit", self.prefix),
        }
    }

    /// `gcScope: 'registry'`: the set of user index keys that routine gc walks.
    pub fn registry_key(&self) -> String {
        format!("{}:registry", self.prefix)
    }

    /// Cluster layout: the audit stream of the user a rid belongs to, from the rid alone.
    pub fn audit_key_of_rid(&self, rid: &str) -> Option<String> {
        self.tag_of_rid(rid).map(|tag| self.audit_key_of_tag(tag))
    }

    fn audit_key_of_tag(&self, tag: &str) -> String {
        format!("{}:audit:{{{tag}}}", self.prefix)
    }

    /// The user's tag a rid starts with, in the cluster layout; `None` in the original's
    /// layout (no rid carries a tag there) and for a rid of another form.
    fn tag_of_rid<'r>(&self, rid: &'r str) -> Option<&'r str> {
        if self.cluster {
            rid_tag(rid)
        } else {
            None
        }
    }

    fn user_key_of_tag(&self, tag: &str) -> String {
        format!("{}{{{tag}}}{USER_SUFFIX}", self.user_prefix)
    }

    fn device_key_of_tag(&self, tag: &str, device_id: &str) -> String {
        format!("{}{{{tag}}}:{device_id}", self.device_prefix)
    }

    /// The five leading script arguments that describe this layout.
    pub fn script_args(&self) -> [&str; 5] {
        let mode = if self.cluster { "cluster" } else { "standalone" };
        [&self.rid_prefix, &self.user_prefix, USER_SUFFIX, &self.device_prefix, mode]
    }

    /// SCAN pattern matching every key under the prefix.
    pub fn key_pattern(&self) -> String {
        format!("{}:*", escape_glob(&self.prefix))
    }

    /// SCAN pattern matching every user index key.
    pub fn user_key_pattern(&self) -> String {
        format!("{}*{USER_SUFFIX}", escape_glob(&self.user_prefix))
    }

    /// SCAN pattern matching every rid key.
    pub fn rid_key_pattern(&self) -> String {
        format!("{}*", escape_glob(&self.rid_prefix))
    }

    /// SCAN pattern matching every device key.
    pub fn device_key_pattern(&self) -> String {
        format!("{}*", escape_glob(&self.device_prefix))
    }

    /// The bare rid of a rid key, or `None` when the key is not one.
    pub fn rid_of_key(&self, key: &str) -> Option<String> {
        let rest = key.strip_prefix(self.rid_prefix.as_str()).filter(|rid| !rid.is_empty())?;
        if !self.cluster {
            return Some(rest.to_string());
        }
        let (tag, uuid) = rest.strip_prefix('{')?.split_once("}.")?;
        (is_tag(tag) && !uuid.is_empty()).then(|| format!("{tag}.{uuid}"))
    }

    /// Whether `rid` has this layout's form (in the cluster layout: starts with a tag).
    pub fn is_layout_rid(&self, rid: &str) -> bool {
        !self.cluster || rid_tag(rid).is_some()
    }

    /// Cluster layout: the key naming the user's tag of a rid issued before the move from
    /// one node, kept for that session's lifetime (see `migrate`).
    pub fn alias_key(&self, old_rid: &str) -> String {
        format!("{}alias:{old_rid}", self.rid_prefix.strip_suffix("rid:").unwrap_or(&self.rid_prefix))
    }

    /// Cluster layout: the rid a session issued before the move from one node has now.
    pub fn moved_rid(tag: &str, old_rid: &str) -> String {
        format!("{tag}.{old_rid}")
    }

    /// `items` grouped by the hash slot of their key (`key_of`) in the cluster layout,
    /// where a script's keys must share one slot; one group in the original's layout.
    pub fn group_by_slot<T>(&self, items: impl IntoIterator<Item = T>, key_of: impl Fn(&T) -> String) -> Vec<Vec<T>> {
        if !self.cluster {
            return vec![items.into_iter().collect()];
        }
        let mut groups: std::collections::BTreeMap<String, Vec<T>> = std::collections::BTreeMap::new();
        for item in items {
            groups.entry(hash_tag(&key_of(&item)).to_string()).or_default().push(item);
        }
        groups.into_values().collect()
    }

    /// Whether `key` matches [`user_key_pattern`](Self::user_key_pattern).
    pub fn is_user_key(&self, key: &str) -> bool {
        key.len() >= self.user_prefix.len() + USER_SUFFIX.len()
            && key.starts_with(self.user_prefix.as_str())
            && key.ends_with(USER_SUFFIX)
    }

    /// Whether `key` is a rid key of this layout.
    pub fn is_rid_key(&self, key: &str) -> bool {
        key.starts_with(self.rid_prefix.as_str())
    }
}

/// A user's tag without `cfg.cluster.tagSecret`: the first 16 hex digits of SHA-1 of the
/// userId (as `redis.sha1hex` gives them in the scripts).
pub fn user_tag(user_id: &str) -> String {
    let mut digest = sha1_smol::Sha1::from(user_id).digest().to_string();
    digest.truncate(TAG_LEN);
    digest
}

/// The tag a cluster-layout rid starts with.
fn rid_tag(rid: &str) -> Option<&str> {
    let (tag, rest) = rid.split_at_checked(TAG_LEN)?;
    (is_tag(tag) && rest.len() > 1 && rest.starts_with('.')).then_some(tag)
}

fn is_tag(tag: &str) -> bool {
    tag.len() == TAG_LEN && tag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The hash tag of a key (what Redis Cluster hashes), or the whole key without one.
pub fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        if let Some(len) = key[open + 1..].find('}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// Escapes the characters SCAN's MATCH treats as glob syntax.
pub fn escape_glob(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_matches_the_original() {
        let l = KeyLayout::new("auth");
        assert_eq!(l.rid_key("r1"), "auth:rid:r1");
        assert_eq!(l.user_key("u1"), "auth:user:u1:rids");
        assert_eq!(l.device_key("u1", "d1"), "auth:device:u1:d1");
        assert_eq!(l.script_args(), ["auth:rid:", "auth:user:", ":rids", "auth:device:", "standalone"]);
        assert_eq!(l.rid_of_key("auth:rid:r1").as_deref(), Some("r1"));
        assert_eq!(l.rid_of_key("auth:rid:"), None);
        assert_eq!(l.rid_of_key("other:rid:r1"), None);
        // A rid here never carries a user's tag, whatever it looks like.
        let tagged_looking = "0123456789abcdef.r1";
        assert_eq!(l.user_key_of_rid(tagged_looking), None);
        assert_eq!(l.device_key_of_rid(tagged_looking, "d"), None);
        assert_eq!(l.fence_key_of_rid(tagged_looking), None);
        assert_eq!(l.audit_key_of_rid(tagged_looking), None);
    }

    #[test]
    fn cluster_layout_puts_a_user_in_one_slot() {
        let l = KeyLayout::cluster("auth");
        // SHA-1("u1") = 4c4d3e3f...; the tag is its first 16 hex digits.
        let tag = user_tag("u1");
        assert_eq!(tag.len(), TAG_LEN);
        let rid = l.new_rid("u1");
        assert!(rid.starts_with(&format!("{tag}.")), "{rid}");
        assert!(!rid.contains("u1"));
        let key = l.rid_key(&rid);
        assert_eq!(hash_tag(&key), tag);
        assert_eq!(hash_tag(&l.user_key("u1")), tag);
        assert_eq!(hash_tag(&l.device_key("u1", "d{x}")), tag);
        assert_eq!(l.user_key_of_rid(&rid), Some(l.user_key("u1")));
        assert_eq!(l.device_key_of_rid(&rid, "d"), Some(l.device_key("u1", "d")));
        assert_eq!(l.fence_key_of_rid(&rid), Some(l.fence_key("u1")));
        assert_eq!(hash_tag(&l.fence_key("u1")), tag);
        assert_eq!(l.rid_of_key(&key), Some(rid.clone()));
        assert_eq!(hash_tag(&l.rid_key(&l.child_rid(&rid))), tag);
        // A rid of another layout routes to a slot of its own and is never a session.
        assert_eq!(
            l.rid_key("550e8400-e29b-41d4-a716-446655440000"),
            "auth:rid:{550e8400-e29b-41d4-a716-446655440000}"
        );
        assert_eq!(l.rid_of_key("auth:rid:{550e8400}"), None);
        assert_eq!(l.user_key_of_rid("nope"), None);
    }

    #[test]
    fn glob_characters_in_the_prefix_are_escaped() {
        let l = KeyLayout::new("a*b?[c]");
        assert_eq!(l.rid_key_pattern(), r"a\*b\?\[c\]:rid:*");
        assert_eq!(l.user_key_pattern(), r"a\*b\?\[c\]:user:*:rids");
        assert_eq!(l.device_key_pattern(), r"a\*b\?\[c\]:device:*");
        assert_eq!(l.key_pattern(), r"a\*b\?\[c\]:*");
    }

    #[test]
    fn user_keys_are_told_as_their_scan_pattern_matches_them() {
        let l = KeyLayout::new("auth");
        assert!(l.is_user_key(&l.user_key("u1")));
        assert!(l.is_user_key("auth:user::rids"));
        assert!(!l.is_user_key("auth:user:rids"));
        assert!(!l.is_user_key("auth:user:u1:fence"));
        assert!(!l.is_user_key("auth:rid:x:rids"));
        let c = KeyLayout::cluster("auth");
        assert!(c.is_user_key(&c.user_key("u1")));
        assert!(!c.is_user_key(&c.fence_key("u1")));
    }
}

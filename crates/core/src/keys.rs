//! The Redis key layout, in one place. Scripts receive the layout's parts as their
//! first arguments (see `lua/prelude.lua`) instead of hard-coding key shapes.

/// The default layout, byte-compatible with the original package:
/// `{prefix}:rid:{rid}`, `{prefix}:user:{userId}:rids`, `{prefix}:device:{userId}:{deviceId}`.
#[derive(Debug, Clone)]
pub struct KeyLayout {
    rid_prefix: String,
    user_prefix: String,
    device_prefix: String,
}

const USER_SUFFIX: &str = ":rids";

impl KeyLayout {
    pub fn new(prefix: &str) -> Self {
        KeyLayout {
            rid_prefix: format!("{prefix}:rid:"),
            user_prefix: format!("{prefix}:user:"),
            device_prefix: format!("{prefix}:device:"),
        }
    }

    pub fn rid_key(&self, rid: &str) -> String {
        format!("{}{rid}", self.rid_prefix)
    }

    pub fn user_key(&self, user_id: &str) -> String {
        format!("{}{user_id}{USER_SUFFIX}", self.user_prefix)
    }

    pub fn device_key(&self, user_id: &str, device_id: &str) -> String {
        format!("{}{user_id}:{device_id}", self.device_prefix)
    }

    /// The four leading script arguments that describe this layout.
    pub fn script_args(&self) -> [&str; 4] {
        [&self.rid_prefix, &self.user_prefix, USER_SUFFIX, &self.device_prefix]
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
    pub fn rid_of_key<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(self.rid_prefix.as_str()).filter(|rid| !rid.is_empty())
    }
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
        assert_eq!(l.script_args(), ["auth:rid:", "auth:user:", ":rids", "auth:device:"]);
        assert_eq!(l.rid_of_key("auth:rid:r1"), Some("r1"));
        assert_eq!(l.rid_of_key("auth:rid:"), None);
        assert_eq!(l.rid_of_key("other:rid:r1"), None);
    }

    #[test]
    fn glob_characters_in_the_prefix_are_escaped() {
        let l = KeyLayout::new("a*b?[c]");
        assert_eq!(l.rid_key_pattern(), r"a\*b\?\[c\]:rid:*");
        assert_eq!(l.user_key_pattern(), r"a\*b\?\[c\]:user:*:rids");
        assert_eq!(l.device_key_pattern(), r"a\*b\?\[c\]:device:*");
    }
}

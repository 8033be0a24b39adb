//! Refresh tokens and the names sessions are stored under.
//!
//! A token is what a client holds; a session's *stored name* is what Redis sees (in key
//! names, index members, device key values, `parentRid`/`childRid` and audit entries).
//! Three forms of token body (the part after the cluster layout's `<tag>.`):
//!
//! - a UUID v4 with dashes, what the original package and `tokenStorage: 'plain'` issue:
//!   stored under its own text, as the original does;
//! - 32 lowercase hex digits (a UUID v4 without dashes), what `tokenStorage: 'sha256'`
//!   issues: stored as `#` and SHA-256 of the whole token in unpadded base64url (43
//!   characters: a stored name, tag included, stays within the 64 bytes up to which Redis
//!   keeps a small hash or set in its compact encoding, so hashing costs no memory). The form
//!   alone decides, in either mode, so such a token is never sent to Redis as it is, and
//!   turning the option off again leaves these sessions working;
//! - a body starting with `#` is a stored name, never a token: presented as a rid it is
//!   unknown without asking Redis, so what a keyspace reader sees cannot be used as one.
//!
//! A body of any other form is looked up under its own text (a client can send anything;
//! the original's behaviour for unknown rids is kept).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How a store issues tokens (`cfg.tokenStorage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenStorage {
    /// The original's: a UUID v4, stored as it is.
    #[default]
    Plain,
    /// A UUID v4 as 32 hex digits, stored as its SHA-256.
    Sha256,
}

/// Hex digits in the body of a token issued with `'sha256'` (16 random bytes).
const HASHED_BODY_LEN: usize = 32;
/// What starts a stored name that is a digest.
pub const DIGEST_MARK: char = '#';
/// Hex digits of a session id (80 bits of a SHA-256: unique among any user's lineages).
const SESSION_ID_LEN: usize = 20;

/// A fresh token body in the form `storage` issues.
pub fn new_body(storage: TokenStorage) -> String {
    let uuid = uuid::Uuid::new_v4();
    match storage {
        TokenStorage::Plain => uuid.hyphenated().to_string(),
        TokenStorage::Sha256 => uuid.simple().to_string(),
    }
}

/// Whether a token body is of the form stored hashed.
fn is_hashed_body(body: &str) -> bool {
    body.len() == HASHED_BODY_LEN && body.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The stored body for a token whose body is `body` (`whole` is the whole token, tag
/// included); `None` when the body is a stored name and so cannot be a token.
pub fn stored_body(whole: &str, body: &str) -> Option<String> {
    if body.starts_with(DIGEST_MARK) {
        return None;
    }
    if is_hashed_body(body) {
        return Some(digest_name(whole));
    }
    Some(whole.to_string())
}

/// Whether a stored name's body is a digest (the session was issued with `'sha256'`).
pub fn is_digest_body(body: &str) -> bool {
    body.starts_with(DIGEST_MARK)
}

/// A session's id: derived from the stored name of its lineage's first session, so it
/// stays the same across rotations. One-way: it gives neither a token nor a stored name,
/// and as a rid it names nothing.
pub fn session_id(root_name: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"session-id\0");
    digest.update(root_name.as_bytes());
    hex(&digest.finalize()[..SESSION_ID_LEN])
}

/// The key sealing the child a rotation of `parent` (a token) issued, for the grace window.
fn seal_key(parent: &str) -> [u8; 16] {
    let mut mac = Hmac::<Sha256>::new_from_slice(parent.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"grace-child");
    let mut key = [0u8; 16];
    key.copy_from_slice(&mac.finalize().into_bytes()[..16]);
    key
}

/// The child's body sealed for whoever holds `parent`: readable only with the parent
/// token. `None` when the child's body is not of the hashed form (it is then stored as it
/// is anyway).
pub fn seal(parent: &str, child_body: &str) -> Option<String> {
    let bytes = unhex(child_body).filter(|b| b.len() == 16)?;
    let key = seal_key(parent);
    Some(hex(&std::array::from_fn::<u8, 16, _>(|i| bytes[i] ^ key[i])))
}

/// The child body sealed by [`seal`], opened with the parent token (sealing is a XOR,
/// its own inverse).
pub fn open(parent: &str, sealed: &str) -> Option<String> {
    seal(parent, sealed)
}

/// Whether two stored names are equal, in constant time.
pub fn same_name(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The name a view shows for a stored name: with `'sha256'`, a session still stored under
/// its token (issued before the switch) is shown by the digest name it would have, so no
/// returned field holds a live token.
pub fn shown_body(storage: TokenStorage, whole: &str, body: &str) -> String {
    if storage == TokenStorage::Plain || is_digest_body(body) || body.is_empty() {
        return whole.to_string();
    }
    digest_name(whole)
}

/// `#` and the unpadded base64url SHA-256 of a whole token.
fn digest_name(whole: &str) -> String {
    format!("{DIGEST_MARK}{}", URL_SAFE_NO_PAD.encode(Sha256::digest(whole.as_bytes())))
}

/// HMAC-SHA256 of `message` under `key`, as hex.
pub fn hmac_hex(key: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_issues_its_form() {
        let plain = new_body(TokenStorage::Plain);
        assert_eq!(plain.len(), 36);
        assert_eq!(stored_body(&plain, &plain).as_deref(), Some(plain.as_str()));
        let hashed = new_body(TokenStorage::Sha256);
        let stored = stored_body(&hashed, &hashed).unwrap();
        assert!(stored.starts_with('#') && stored.len() == 44, "{stored}");
        // With the cluster layout's tag (16 hex digits and a dot) in front, a stored name
        // stays within the 64 bytes Redis keeps small hashes and sets compact for.
        assert!(format!("0123456789abcdef.{stored}").len() <= 64);
        assert!(!stored.contains(&hashed));
        // A stored name is never a token, whatever the mode.
        assert_eq!(stored_body(&stored, &stored), None);
        // The tag is part of what is hashed.
        assert_ne!(stored_body(&format!("t.{hashed}"), &hashed), Some(stored));
    }

    #[test]
    fn the_seal_opens_only_with_the_parent() {
        let (parent, child) = (new_body(TokenStorage::Sha256), new_body(TokenStorage::Sha256));
        let sealed = seal(&parent, &child).unwrap();
        assert_ne!(sealed, child);
        assert_eq!(open(&parent, &sealed).as_deref(), Some(child.as_str()));
        assert_ne!(open(&new_body(TokenStorage::Sha256), &sealed).as_deref(), Some(child.as_str()));
        assert_eq!(seal(&parent, &new_body(TokenStorage::Plain)), None);
    }

    #[test]
    fn session_ids_are_not_tokens() {
        let id = session_id("#abc");
        assert_eq!(id.len(), 40);
        assert_eq!(stored_body(&id, &id).as_deref(), Some(id.as_str()));
        assert_ne!(session_id("#abd"), id);
    }

    #[test]
    fn views_hide_plain_names_only_with_sha256() {
        let plain = new_body(TokenStorage::Plain);
        assert_eq!(shown_body(TokenStorage::Plain, &plain, &plain), plain);
        let shown = shown_body(TokenStorage::Sha256, &plain, &plain);
        assert!(shown.starts_with('#') && !shown.contains(&plain));
        assert_eq!(shown_body(TokenStorage::Sha256, "#d", "#d"), "#d");
    }
}

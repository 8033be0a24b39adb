//! Value strategies the property tests share.

use proptest::prelude::*;

/// Strings of any characters, lengths around the 1024-byte limit included.
pub fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        ".{0,40}",
        "[:*?\\[\\]{}\\\\^\\- \n\r\t\u{0}a-z😀é]{0,40}",
        (1020usize..1030).prop_map(|n| "x".repeat(n)),
        (250usize..260).prop_map(|n| "😀".repeat(n)),
        (510usize..515).prop_map(|n| "é".repeat(n)),
    ]
}

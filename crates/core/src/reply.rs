//! Reading the values inside Redis replies the store decodes by hand.

use redis::Value;

/// A string reply's text; `None` for any other kind of value.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// A non-negative integer reply; `None` for any other value.
pub(crate) fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) if *n >= 0 => Some(*n as u64),
        _ => None,
    }
}

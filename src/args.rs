//! JavaScript values in: each becomes the core's [`Arg`], which the core's rules check.

use napi::bindgen_prelude::*;
use napi::{JsValue, ValueType};
use session_store_core::input::{self, Arg};

/// Reads a JavaScript value; for a plain object, only the named properties. Objects and
/// arrays inside it are read the same way, a few levels deep (enough for every option;
/// a cyclic object cannot recurse forever).
pub(crate) fn to_arg(value: Unknown<'_>, fields: &[&'static str]) -> Result<Arg> {
    to_arg_within(value, fields, 3)
}

fn to_arg_within(value: Unknown<'_>, fields: &[&'static str], depth: u8) -> Result<Arg> {
    Ok(match value.get_type()? {
        ValueType::Undefined => Arg::Undefined,
        ValueType::Null => Arg::Null,
        ValueType::Boolean => Arg::Bool(bool::from_unknown(value)?),
        ValueType::Number => Arg::Number(f64::from_unknown(value)?),
        ValueType::String => string_arg(value)?,
        ValueType::Function => Arg::Function,
        ValueType::Object if depth == 0 => Arg::Other("deeply nested object"),
        ValueType::Object if value.is_array()? => {
            let array = Array::from_unknown(value)?;
            // Only option lists are arrays: elements are read where properties are
            // (not for method arguments), and only so many.
            let len = if fields.is_empty() { 0 } else { array.len().min(MAX_ARRAY_ITEMS) };
            let mut items = Vec::with_capacity(len as usize);
            for i in 0..len {
                items.push(match array.get::<Unknown>(i)? {
                    Some(item) => to_arg_within(item, fields, depth - 1)?,
                    None => Arg::Undefined,
                });
            }
            Arg::Array(items)
        }
        ValueType::Object => {
            let object = Object::from_unknown(value)?;
            let mut read = Vec::with_capacity(fields.len());
            for &name in fields {
                read.push((name, to_arg_within(object.get_named_property::<Unknown>(name)?, fields, depth - 1)?));
            }
            Arg::Object(read)
        }
        ValueType::Symbol => Arg::Other("symbol"),
        ValueType::BigInt => Arg::Other("bigint"),
        _ => Arg::Other("external"),
    })
}

/// A string argument. Node-API turns a lone surrogate into U+FFFD on the way to UTF-8, so
/// two different JavaScript strings (`'a\uD800'`, `'a\uDFFF'`) would become one id; a
/// string whose UTF-8 form holds U+FFFD is read again as UTF-16 to tell a real U+FFFD
/// from a lone surrogate, which no rule accepts.
fn string_arg(value: Unknown<'_>) -> Result<Arg> {
    let text = String::from_unknown(value)?;
    if text.contains('\u{FFFD}') && String::from_utf16(&Utf16String::from_unknown(value)?).is_err() {
        return Ok(Arg::IllFormedString);
    }
    Ok(Arg::String(text))
}

/// The most elements read from an array option.
const MAX_ARRAY_ITEMS: u32 = 1024;

/// A required id argument (`rid`, `userId`, `deviceId`), checked by the core.
pub(crate) fn id_arg(name: &str, value: Unknown<'_>) -> Result<session_store_core::Result<String>> {
    Ok(input::id(name, &to_arg(value, &[])?))
}

/// Two required id arguments, each checked by the core.
pub(crate) fn id_pair(
    names: [&str; 2],
    first: Unknown<'_>,
    second: Unknown<'_>,
) -> Result<session_store_core::Result<(String, String)>> {
    let (first, second) = (id_arg(names[0], first)?, id_arg(names[1], second)?);
    Ok(first.and_then(|a| second.map(|b| (a, b))))
}

/// `logoutDevice`'s arguments.
pub(crate) fn user_device_args(
    user_id: Unknown<'_>,
    device_id: Unknown<'_>,
) -> Result<session_store_core::Result<(String, String)>> {
    id_pair(["userId", "deviceId"], user_id, device_id)
}

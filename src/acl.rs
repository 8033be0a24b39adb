//! The least-privilege ACL rules, from the core's one list of commands.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use session_store_core::{commands, input, StoreError};

use crate::args::to_arg;
use crate::errors::to_js_error;

/// One feature's Redis commands, as ACL rule items.
#[napi(object)]
pub struct AclFeature {
    /// The name `aclRule()` takes.
    pub name: String,
    /// `command` or `command|subcommand`, as an ACL rule names them.
    pub commands: Vec<String>,
    /// When the store needs them.
    pub needed_for: String,
}

/// The Redis commands the store needs, by feature: `store` for every method, the others
/// for the options and views that add to it.
#[napi]
pub fn acl_features() -> Vec<AclFeature> {
    commands::FEATURES
        .iter()
        .map(|f| AclFeature {
            name: f.name.into(),
            commands: f.commands.iter().map(|c| c.to_string()).collect(),
            needed_for: f.needed_for.into(),
        })
        .collect()
}

/// The least-privilege ACL rule for a store under `prefix` (what follows
/// `ACL SETUSER <user> on ><password>`): keys under the prefix, the store's commands and
/// those of each feature named (see `aclFeatures()`). Throws a `TypeError` for an unknown
/// feature or an empty prefix.
#[napi]
pub fn acl_rule(env: Env, prefix: Unknown<'_>, features: Option<Vec<String>>) -> Result<String> {
    let prefix = input::id("prefix", &to_arg(prefix, &[])?).map_err(|e| to_js_error(&env, e))?;
    let names: Vec<&str> = features.iter().flatten().map(String::as_str).collect();
    commands::acl_rule(&prefix, &names).map_err(|unknown| {
        let known = commands::feature_names().join(", ");
        to_js_error(&env, StoreError::invalid("features", &format!("names among {known}"), &format!("{unknown:?}")))
    })
}

/// The ACL rule for the user the store logs in to the Sentinels with.
#[napi]
pub fn sentinel_user_rule() -> &'static str {
    commands::SENTINEL_USER_RULE
}

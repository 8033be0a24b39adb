//! The Lua scripts, embedded at compile time, each behind the shared prelude. They run
//! with EVALSHA; redis-rs reloads a script transparently when the server answers
//! NOSCRIPT (after a restart or a SCRIPT FLUSH), and when the cache is flushed again
//! before its retry, the store sends the source with EVAL ([`StoreScript::source`]).

use std::ops::Deref;
use std::sync::LazyLock;

use redis::Script;

/// A script with its full source: run with EVALSHA, and with EVAL (the source) when the
/// server's script cache keeps being flushed (see `SessionStore::run`).
pub struct StoreScript {
    pub source: &'static str,
    /// Whether the script walks lineages through parent links: in the cluster layout,
    /// when it asks for a rid key, the store declares the parent chain behind it too.
    pub walks_lineage: bool,
    script: Script,
}

impl Deref for StoreScript {
    type Target = Script;

    fn deref(&self) -> &Script {
        &self.script
    }
}

macro_rules! scripts {
    (@walks) => { false };
    (@walks walks_lineage) => { true };
    ($($name:ident => $file:literal $(, $flag:ident)?;)*) => {
        $(pub static $name: LazyLock<StoreScript> = LazyLock::new(|| {
            let source = concat!(include_str!("../../../lua/prelude.lua"), include_str!(concat!("../../../lua/", $file)));
            StoreScript { source, walks_lineage: scripts!(@walks $($flag)?), script: Script::new(source) }
        });)*
    };
}

scripts! {
    ISSUE => "issue.lua";
    ROTATE => "rotate.lua", walks_lineage;
    LOGOUT => "logout.lua";
    LOGOUT_DEVICE => "logout_device.lua";
    LOGOUT_ALL => "logout_all.lua";
    TOMBSTONE_LINEAGE => "tombstone_lineage.lua", walks_lineage;
    SCAN_RIDS => "scan_rids.lua";
    GC_INDEX => "gc_index.lua";
    GC_RIDS => "gc_rids.lua";
    ADMIN_LOAD => "admin_load.lua";
    LIST_SESSIONS => "list_sessions.lua", walks_lineage;
    IMPORT_SESSION => "import_session.lua";
}

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
    /// Whether the script changes state (with replicated writes, a WAIT follows it).
    pub writes: bool,
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
    (@writes) => { true };
    (@reads) => { false };
    (@walks) => { false };
    (@walks walks_lineage) => { true };
    ($($name:ident => $file:literal, $access:ident $(, $walks:ident)?;)*) => {
        $(pub static $name: LazyLock<StoreScript> = LazyLock::new(|| {
            let source = concat!(include_str!("../../../lua/prelude.lua"), include_str!(concat!("../../../lua/", $file)));
            StoreScript {
                source,
                writes: scripts!(@$access),
                walks_lineage: scripts!(@walks $($walks)?),
                script: Script::new(source),
            }
        });)*
    };
}

scripts! {
    ISSUE => "issue.lua", writes;
    ROTATE => "rotate.lua", writes, walks_lineage;
    LOGOUT => "logout.lua", writes;
    LOGOUT_DEVICE => "logout_device.lua", writes;
    LOGOUT_ALL => "logout_all.lua", writes;
    TOMBSTONE_LINEAGE => "tombstone_lineage.lua", writes, walks_lineage;
    SCAN_RIDS => "scan_rids.lua", reads;
    // The gc scripts write unless given dry run; gc says which (see `gc::run_per_slot`).
    GC_INDEX => "gc_index.lua", writes;
    GC_RIDS => "gc_rids.lua", writes;
    LOAD_HASHES => "load_hashes.lua", reads;
    LIST_SESSIONS => "list_sessions.lua", reads, walks_lineage;
    IMPORT_SESSION => "import_session.lua", writes;
}

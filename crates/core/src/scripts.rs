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
    ($($name:ident => $file:literal, $writes:ident),* $(,)?) => {
        $(pub static $name: LazyLock<StoreScript> = LazyLock::new(|| {
            let source = concat!(include_str!("../../../lua/prelude.lua"), include_str!(concat!("../../../lua/", $file)));
            StoreScript { source, writes: scripts!(@$writes), script: Script::new(source) }
        });)*
    };
}

scripts! {
    ISSUE => "issue.lua", writes,
    ROTATE => "rotate.lua", writes,
    LOGOUT => "logout.lua", writes,
    LOGOUT_DEVICE => "logout_device.lua", writes,
    LOGOUT_ALL => "logout_all.lua", writes,
    TOMBSTONE_LINEAGE => "tombstone_lineage.lua", writes,
    SCAN_RIDS => "scan_rids.lua", reads,
    // The gc scripts write unless given dry run; gc says which (see `gc::run_per_slot`).
    GC_INDEX => "gc_index.lua", writes,
    GC_RIDS => "gc_rids.lua", writes,
    ADMIN_LOAD => "admin_load.lua", reads,
}

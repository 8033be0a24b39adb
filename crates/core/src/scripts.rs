//! The Lua scripts, embedded at compile time, each behind the shared prelude. They run
//! with EVALSHA; redis-rs reloads a script transparently when the server answers
//! NOSCRIPT (after a restart or a SCRIPT FLUSH), and when the cache is flushed again
//! before its retry, the store sends the source with EVAL ([`source_of`]).

use std::sync::LazyLock;

use redis::Script;

macro_rules! source {
    ($file:literal) => {
        concat!(include_str!("../../../lua/prelude.lua"), include_str!(concat!("../../../lua/", $file)))
    };
}

/// Declares each script as a `Script` static, and keeps every source for [`source_of`].
macro_rules! scripts {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(pub static $name: LazyLock<Script> = LazyLock::new(|| Script::new(source!($file)));)*

        /// Every script's full source, for EVAL when the server's script cache keeps
        /// being flushed (see `SessionStore::run`).
        static SOURCES: &[&str] = &[$(source!($file)),*];
    };
}

/// The source of one of the scripts, found by its SHA1.
pub fn source_of(script: &Script) -> Option<&'static str> {
    SOURCES.iter().copied().find(|source| Script::new(source).get_hash() == script.get_hash())
}

scripts! {
    ISSUE => "issue.lua",
    ROTATE => "rotate.lua",
    LOGOUT => "logout.lua",
    LOGOUT_DEVICE => "logout_device.lua",
    LOGOUT_ALL => "logout_all.lua",
    TOMBSTONE_LINEAGE => "tombstone_lineage.lua",
    SCAN_RIDS => "scan_rids.lua",
    GC_INDEX => "gc_index.lua",
    GC_RIDS => "gc_rids.lua",
    ADMIN_LOAD => "admin_load.lua",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_has_its_source() {
        for script in [&ISSUE, &ROTATE, &LOGOUT, &LOGOUT_DEVICE, &LOGOUT_ALL, &TOMBSTONE_LINEAGE, &SCAN_RIDS, &GC_INDEX, &GC_RIDS, &ADMIN_LOAD] {
            let source = source_of(script).expect("source");
            assert_eq!(Script::new(source).get_hash(), script.get_hash());
        }
        assert_eq!(source_of(&Script::new("return 1")), None);
    }
}

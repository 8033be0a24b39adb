//! The Lua scripts, embedded at compile time, each behind the shared prelude. They run
//! with EVALSHA; redis-rs reloads a script transparently when the server answers
//! NOSCRIPT (after a restart or a SCRIPT FLUSH).

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(include_str!("../../../lua/prelude.lua"), include_str!(concat!("../../../lua/", $file))))
        });
    };
}

script!(ISSUE, "issue.lua");
script!(ROTATE, "rotate.lua");
script!(LOGOUT, "logout.lua");
script!(LOGOUT_DEVICE, "logout_device.lua");
script!(LOGOUT_ALL, "logout_all.lua");
script!(TOMBSTONE_LINEAGE, "tombstone_lineage.lua");
script!(SCAN_RIDS, "scan_rids.lua");
script!(GC_INDEX, "gc_index.lua");
script!(GC_RIDS, "gc_rids.lua");
script!(ADMIN_LOAD, "admin_load.lua");

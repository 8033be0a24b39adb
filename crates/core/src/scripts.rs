//! The Lua scripts, embedded at compile time, each behind the shared prelude, packaged two
//! ways:
//! - as one function library ([`LIBRARY`]), loaded once per server with `FUNCTION LOAD`
//!   and called with `FCALL` on servers that have functions (Redis 7, Valkey): the
//!   prelude's functions are then defined once, not on every call;
//! - as plain scripts ([`StoreScript::source`]) run with EVALSHA, on Redis 6.2 or when
//!   the server refuses functions to this user. redis-rs reloads a script transparently
//!   when the server answers NOSCRIPT (after a restart or a SCRIPT FLUSH), and when the
//!   cache is flushed again before its retry, the store sends the source with EVAL.
//!
//! Both run the same text: the prelude, `begin(KEYS, ARGV)`, then the script's body.

use std::ops::Deref;
use std::sync::LazyLock;

use redis::Script;

const PRELUDE: &str = include_str!("../../../lua/prelude.lua");

/// One script: its source for EVAL/EVALSHA and the name of its function in the library.
pub struct StoreScript {
    pub source: String,
    /// The function the library registers for this script (`FCALL` name).
    pub function: String,
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

/// A script's file, as the macro below lists it.
struct Body {
    name: &'static str,
    text: &'static str,
    writes: bool,
    walks_lineage: bool,
}

/// The library: every script as a function, the prelude defined once ahead of them.
pub struct Library {
    /// `rss_` and the first 12 hex digits of SHA-1 of the library's text: a new version of
    /// the scripts is a new library, so two versions of the store can share a server.
    pub name: String,
    /// What `FUNCTION LOAD` is given.
    pub code: String,
}

impl Library {
    fn build(bodies: &[Body]) -> Library {
        // Named after its whole text (with the name left out), so that any change to the
        // scripts or to how they are registered makes a library of another name, which a
        // server holding the old one loads next to it instead of calling the old code.
        let digest = sha1_smol::Sha1::from(Self::code(bodies, "rss")).digest().to_string();
        let name = format!("rss_{}", &digest[..12]);
        Library { code: Self::code(bodies, &name), name }
    }

    fn code(bodies: &[Body], name: &str) -> String {
        let mut code = format!("#!lua name={name}\n{PRELUDE}\n");
        for body in bodies {
            // Read-only scripts say so, which lets them run while the server is at its
            // memory limit.
            let flags = if body.writes { "" } else { ", flags = { 'no-writes' }" };
            code.push_str(&format!(
                "redis.register_function{{ function_name = '{name}_{}', callback = function(KEYS, ARGV)\nbegin(KEYS, ARGV)\n{}\nend{flags} }}\n",
                body.name, body.text
            ));
        }
        code
    }
}

fn plain_script(body: &Body) -> StoreScript {
    let source = format!("{PRELUDE}\nbegin(KEYS, ARGV)\n{}", body.text);
    StoreScript {
        script: Script::new(&source),
        source,
        function: format!("{}_{}", LIBRARY.name, body.name),
        writes: body.writes,
        walks_lineage: body.walks_lineage,
    }
}

macro_rules! scripts {
    (@writes) => { true };
    (@reads) => { false };
    (@walks) => { false };
    (@walks walks_lineage) => { true };
    ($($name:ident => $file:literal, $access:ident $(, $walks:ident)?;)*) => {
        const BODIES: &[Body] = &[$(Body {
            name: $file,
            text: include_str!(concat!("../../../lua/", $file, ".lua")),
            writes: scripts!(@$access),
            walks_lineage: scripts!(@walks $($walks)?),
        }),*];

        $(pub static $name: LazyLock<StoreScript> =
            LazyLock::new(|| plain_script(BODIES.iter().find(|b| b.name == $file).expect("listed in BODIES")));)*
    };
}

// Each script is `lua/<name>.lua`.
scripts! {
    ISSUE => "issue", writes;
    ROTATE => "rotate", writes, walks_lineage;
    LOGOUT_DEVICE => "logout_device", writes;
    LOGOUT_ALL => "logout_all", writes;
    TOMBSTONE_LINEAGE => "tombstone_lineage", writes, walks_lineage;
    SCAN_RIDS => "scan_rids", reads;
    // The gc scripts write unless given dry run; gc says which (see `gc::run_per_slot`).
    GC_INDEX => "gc_index", writes;
    GC_RIDS => "gc_rids", writes;
    LOAD_HASHES => "load_hashes", reads;
    LIST_SESSIONS => "list_sessions", reads, walks_lineage;
    INSPECT_LINEAGE => "inspect_lineage", reads, walks_lineage;
    IMPORT_SESSION => "import_session", writes;
    LOGOUT_SESSIONS => "logout_sessions", writes, walks_lineage;
}

/// Every Lua text: the prelude, then each script's body, by name.
pub fn lua_texts() -> impl Iterator<Item = (&'static str, &'static str)> {
    std::iter::once(("prelude", PRELUDE)).chain(BODIES.iter().map(|b| (b.name, b.text)))
}

pub static LIBRARY: LazyLock<Library> = LazyLock::new(|| Library::build(BODIES));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_script_is_a_function_of_the_library_and_runs_begin_first() {
        for script in [&*ISSUE, &*ROTATE, &*GC_RIDS, &*INSPECT_LINEAGE] {
            let name = script.function.strip_prefix(&format!("{}_", LIBRARY.name)).expect("library prefix");
            assert!(LIBRARY.code.contains(&format!("function_name = '{}'", script.function)), "{name}");
            assert!(script.source.starts_with(PRELUDE));
            assert!(script.source[PRELUDE.len()..].trim_start().starts_with("begin(KEYS, ARGV)"), "{name}");
        }
        assert_eq!(ROTATE.function, format!("{}_rotate", LIBRARY.name));
        assert!(LIBRARY.code.starts_with(&format!("#!lua name={}\n", LIBRARY.name)));
        assert_eq!(LIBRARY.code.matches("redis.register_function").count(), BODIES.len());
        assert_eq!(
            LIBRARY.code.matches("flags = { 'no-writes' }").count(),
            BODIES.iter().filter(|b| !b.writes).count()
        );
    }
}

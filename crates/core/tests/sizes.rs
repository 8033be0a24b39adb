//! Every Rust source of the repository stays small enough to read whole: no file over
//! `MAX_FILE_LINES` lines, and no function over `MAX_FN_LINES` unless a comment directly
//! above it, starting `// one piece:`, says why it cannot be split.

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 450;
const MAX_FN_LINES: usize = 80;
const JUSTIFICATION: &str = "// one piece:";

/// The repository's Rust sources: both crates' sources and tests, and the build script.
fn rust_sources(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let mut found = vec![root.join("build.rs")];
    for dir in ["src", "crates/core/src", "crates/core/tests"] {
        walk(&root.join(dir), &mut found);
    }
    found.sort();
    found
}

/// Whether a line opens a function: `fn name` after its qualifiers.
fn opens_fn(line: &str) -> bool {
    let mut rest = line.trim_start();
    for qualifier in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async ", "unsafe ", "extern \"C\" "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    rest.starts_with("fn ")
}

/// The faults of one source: its length, then each function too long and not justified.
/// A function ends at the first `}` at its own indentation (rustfmt's layout).
fn faults(name: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut faults = Vec::new();
    if lines.len() > MAX_FILE_LINES {
        faults.push(format!("{name}: {} lines, over {MAX_FILE_LINES}", lines.len()));
    }
    for (at, line) in lines.iter().enumerate() {
        if !opens_fn(line) || line.trim_end().ends_with(';') || line.trim_end().ends_with('}') {
            continue;
        }
        let indent = &line[..line.len() - line.trim_start().len()];
        let closing = format!("{indent}}}");
        let Some(end) = lines[at + 1..].iter().position(|l| l.trim_end() == closing) else { continue };
        let length = end + 2;
        let justified = lines[..at]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with("//") || l.trim_start().starts_with("#["))
            .any(|l| l.trim_start().starts_with(JUSTIFICATION));
        if length > MAX_FN_LINES && !justified {
            let fn_name = line.trim_start().split("fn ").nth(1).unwrap_or("").split(['(', '<']).next().unwrap_or("");
            faults.push(format!("{name}:{}: fn {fn_name} is {length} lines, over {MAX_FN_LINES}", at + 1));
        }
    }
    faults
}

#[test]
fn no_rust_source_or_function_is_too_long() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut found = Vec::new();
    for path in rust_sources(&root) {
        let name = path.strip_prefix(&root).unwrap().display().to_string();
        found.extend(faults(&name, &std::fs::read_to_string(&path).unwrap()));
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_check_finds_a_long_file_and_an_unjustified_long_function() {
    let body = |n: usize| "        step();\n".repeat(n);
    let long_fn = format!("impl X {{\n    pub fn long(&self) {{\n{}    }}\n}}\n", body(MAX_FN_LINES));
    assert_eq!(faults("x.rs", &long_fn), vec![format!("x.rs:2: fn long is {} lines, over 80", MAX_FN_LINES + 2)]);

    let justified =
        format!("/// Runs.\n{JUSTIFICATION} the steps share one borrow.\nfn long() {{\n{}}}\n", body(MAX_FN_LINES));
    assert_eq!(faults("x.rs", &justified), Vec::<String>::new());

    let short = format!("fn short() {{\n{}}}\nfn decl();\nfn one() {{ x }}\n", body(MAX_FN_LINES - 2));
    assert_eq!(faults("x.rs", &short), Vec::<String>::new());

    let long_file = "// a line\n".repeat(MAX_FILE_LINES + 1);
    assert_eq!(faults("x.rs", &long_file), vec![format!("x.rs: {} lines, over 450", MAX_FILE_LINES + 1)]);
}

//! The modules of both crates stand in layers with no circle: a module refers (through
//! `crate::`) only to modules of its own layer or of a layer below, and no chain of such
//! references comes back to where it started. The tables below are the layers, bottom
//! up; the README's module diagram (drawn top down) must list the same ones. A new
//! module must be placed in a layer before this test passes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Layers = &'static [(&'static str, &'static [&'static str])];

/// `crates/core/src`, bottom up.
const CORE_LAYERS: Layers = &[
    ("leaf rules", &["error", "limits", "input", "token", "reply"]),
    ("keys and scripts", &["keys", "scripts", "commands"]),
    ("configuration", &["config"]),
    ("transport", &["sentinel", "connection", "server", "store", "scan"]),
    ("operations", &["sessions", "logouts", "lineage"]),
    ("operator side", &["views", "stats", "gc", "audit", "migrate"]),
];

/// `src/` (the napi crate), bottom up.
const NAPI_LAYERS: Layers = &[
    ("conversion", &["args", "errors", "results", "settle"]),
    ("native store", &["store"]),
    ("methods", &["operator", "acl"]),
];

/// Each top-level module's source: `name.rs`, or every file under `name/`. The crate
/// root (`lib.rs`) only declares the modules and is left out.
fn read_modules(dir: &Path) -> BTreeMap<String, String> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()).collect();
            files.sort();
            files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect::<Vec<_>>().join("\n")
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            std::fs::read_to_string(&path).unwrap()
        } else {
            continue;
        };
        modules.insert(name, text);
    }
    modules
}

/// The modules a source names through `crate::`, in `crate::a::b` and in
/// `crate::{a, b::c}`; comment lines are left out.
fn referenced(text: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let code: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
    let code = code.join("\n");
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The first name of each part at the group's own depth.
            let mut depth = 0;
            let mut part_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => part_start = true,
                    c if part_start && !c.is_whitespace() => {
                        found.push(ident(&group[i..]));
                        part_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(ident(rest));
        }
    }
    found
}

/// What breaks the layers: a module no layer names (or a layer naming a module that does
/// not exist), a reference to something that is no module, an arrow to a higher layer,
/// or a circle.
fn faults(modules: &BTreeMap<String, String>, layers: Layers) -> Vec<String> {
    let layer_of = |name: &str| layers.iter().position(|(_, members)| members.contains(&name));
    let mut faults = Vec::new();
    for (_, members) in layers {
        faults.extend(members.iter().filter(|m| !modules.contains_key(**m)).map(|m| format!("no module {m}")));
    }
    let mut arrows: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, text) in modules {
        let Some(from) = layer_of(name) else {
            faults.push(format!("{name} is in no layer"));
            continue;
        };
        let mut targets = referenced(text);
        targets.sort();
        targets.dedup();
        targets.retain(|t| t != name);
        for target in &targets {
            match layer_of(target) {
                None => faults.push(format!("{name} refers to crate::{target}, which is no module of a layer")),
                Some(to) if to > from => {
                    faults.push(format!("{name} ({}) uses {target} ({}), a layer above", layers[from].0, layers[to].0))
                }
                Some(_) => {}
            }
        }
        arrows.insert(name, targets);
    }
    faults.extend(circles(&arrows));
    faults
}

/// Every circle a depth-first walk of the arrows meets, as `a -> b -> a`.
fn circles(arrows: &BTreeMap<&str, Vec<String>>) -> Vec<String> {
    fn walk<'a>(
        node: &'a str,
        arrows: &'a BTreeMap<&str, Vec<String>>,
        path: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
        found: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|n| *n == node) {
            found.push(format!("circle: {} -> {node}", path[at..].join(" -> ")));
            return;
        }
        if done.contains(&node) {
            return;
        }
        path.push(node);
        for next in arrows.get(node).into_iter().flatten() {
            walk(next, arrows, path, done, found);
        }
        path.pop();
        done.push(node);
    }
    let (mut done, mut found) = (Vec::new(), Vec::new());
    for node in arrows.keys() {
        walk(node, arrows, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

/// The README's diagram line of each layer: the layer's name, then its modules in order.
fn readme_faults(section: &str, layers: Layers) -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md")).unwrap();
    let Some(start) = readme.find(section) else { return vec![format!("README has no {section:?}")] };
    let diagram = &readme[start..];
    let diagram = &diagram[..diagram.find("```\n\n").unwrap_or(diagram.len())];
    layers
        .iter()
        .filter(|(name, members)| {
            !diagram.lines().any(|line| {
                line.trim().strip_prefix(name).is_some_and(|rest| rest.split_whitespace().eq(members.iter().copied()))
            })
        })
        .map(|(name, members)| format!("README's {section:?} lacks the line `{name}  {}`", members.join("  ")))
        .collect()
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_core_modules_stand_in_layers_without_a_circle() {
    let faults = faults(&read_modules(&manifest_dir().join("src")), CORE_LAYERS);
    assert!(faults.is_empty(), "{faults:#?}");
}

#[test]
fn the_napi_modules_stand_in_layers_without_a_circle() {
    let faults = faults(&read_modules(&manifest_dir().join("../../src")), NAPI_LAYERS);
    assert!(faults.is_empty(), "{faults:#?}");
}

#[test]
fn the_readme_diagram_shows_these_layers() {
    let mut faults = readme_faults("crates/core/src, top down", CORE_LAYERS);
    faults.extend(readme_faults("src/ (the napi crate), top down", NAPI_LAYERS));
    assert!(faults.is_empty(), "{faults:#?}");
}

#[test]
fn the_check_finds_a_circle_an_upward_arrow_and_an_unplaced_module() {
    let modules = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect()
    };
    const ONE: Layers = &[("one", &["a", "b", "c"])];
    let circle = modules(&[
        ("a", "use crate::b::X;"),
        ("b", "use crate::{\n    c::{f, g},\n    d::e,\n};"),
        ("c", "x(crate::a::f())"),
    ]);
    let found = faults(&circle, ONE);
    assert!(found.iter().any(|f| f == "circle: a -> b -> c -> a"), "{found:#?}");
    assert!(found.iter().any(|f| f.contains("crate::d")), "{found:#?}");
    assert!(!found.iter().any(|f| f.contains("crate::g")), "a name inside a nested group is no module: {found:#?}");

    const TWO: Layers = &[("low", &["a"]), ("high", &["b"])];
    let upward = modules(&[("a", "use crate::b::Y;"), ("b", "// crate::a in a comment is no arrow")]);
    assert_eq!(faults(&upward, TWO), vec!["a (low) uses b (high), a layer above".to_string()]);
    let downward = modules(&[("a", ""), ("b", "use crate::a::Z;")]);
    assert_eq!(faults(&downward, TWO), Vec::<String>::new());

    let unplaced = modules(&[("a", ""), ("b", ""), ("z", "")]);
    assert_eq!(faults(&unplaced, TWO), vec!["z is in no layer".to_string()]);
}

//! The layers of the crate (README, "Architecture"): which module may import which. Reads every
//! file under `src/`, collects what it names through `crate::` (grouped `use` lists included)
//! and `super::`, and fails on an import the layering forbids, on a cycle between the
//! top-level modules, or on a cycle between the modules of one folder (`graphql/`, `http/`,
//! ...).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// (importer, imported): imports that would point a layer the wrong way.
const FORBIDDEN: &[(&str, &[&str])] = &[
    // The schema and its pipeline know nothing of transports or of how the server starts.
    ("graphql", &["http", "startup"]),
    // Auth takes keys, a denylist and a clock, never the whole state or configuration.
    (
        "auth",
        &[
            "state", "config", "graphql", "http", "startup", "accounts", "recipes",
        ],
    ),
    // Data access knows nothing above it.
    (
        "db",
        &[
            "graphql", "auth", "http", "startup", "accounts", "recipes", "state", "config",
        ],
    ),
    // The domain rules know nothing of GraphQL or HTTP.
    ("accounts", &["graphql", "http", "startup"]),
    ("recipes", &["graphql", "http", "startup"]),
    ("validate", &["graphql", "http", "startup", "state"]),
    ("recovery", &["graphql", "http", "startup"]),
    ("introspection", &["graphql", "http", "startup"]),
    // Mail is a service: it knows the outbox, not who writes to it.
    (
        "mail",
        &[
            "graphql", "http", "startup", "state", "accounts", "recipes", "recovery",
        ],
    ),
    // A transport may use the pipeline, not start the server.
    ("http", &["startup", "db"]),
    ("state", &["graphql", "http", "startup"]),
    // The leaves every layer may use import nothing of ours but each other.
    (
        "error",
        &[
            "graphql", "http", "startup", "auth", "db", "state", "config", "accounts",
        ],
    ),
    (
        "request",
        &[
            "graphql", "http", "startup", "auth", "db", "state", "config",
        ],
    ),
    (
        "time",
        &[
            "graphql", "http", "startup", "auth", "db", "state", "config",
        ],
    ),
    (
        "tasks",
        &[
            "graphql", "http", "startup", "auth", "db", "state", "config",
        ],
    ),
    (
        "lifecycle",
        &[
            "graphql", "http", "startup", "auth", "db", "state", "config",
        ],
    ),
    (
        "config",
        &["graphql", "http", "startup", "auth", "db", "state"],
    ),
    // Logs and traces know the configuration's log format and nothing of what they observe.
    (
        "telemetry",
        &[
            "graphql", "http", "startup", "auth", "db", "state", "accounts", "recipes", "mail",
        ],
    ),
    // Metrics are recorded from every layer, so they import none of them (error codes and
    // the like are handed in as `&'static str`).
    (
        "observe",
        &[
            "accounts",
            "auth",
            "config",
            "db",
            "error",
            "events",
            "graphql",
            "http",
            "introspection",
            "lifecycle",
            "mail",
            "recipes",
            "recovery",
            "request",
            "seed",
            "startup",
            "state",
            "tasks",
            "telemetry",
            "time",
            "validate",
        ],
    ),
];

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The module path of a file: `src/graphql/limits.rs` is `[graphql, limits]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.first().is_some_and(|p| p == "lib" || p == "main") {
        parts.clear();
    }
    parts
}

/// The code of a file without its comments (doc links name modules without importing them).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every path a `crate::{...}` group names, at its top level.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(group[start..i].to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    heads.push(group[start..].to_owned());
    heads
        .iter()
        .filter_map(|h| {
            let head = h.trim().split("::").next()?.trim();
            (!head.is_empty() && head != "self").then(|| head.to_owned())
        })
        .collect()
}

/// The top-level modules a file's code names.
fn imports(code: &str, path: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_heads(group_text(group)));
        } else {
            found.insert(ident(rest));
        }
    }
    // `super::x` from a module directly under the root names the top-level module `x`.
    if path.len() == 1 {
        for (at, _) in code.match_indices("super::") {
            found.insert(ident(&code[at + "super::".len()..]));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

/// Modules of one folder allowed to import each other, and why: the schema's object types
/// reference each other as the graph does (a recipe has an author, an author has recipes, a
/// page holds recipes), and each lives with its own fields.
const ALLOWED_CYCLES: &[(&str, &[&str])] = &[("graphql", &["connection", "recipe", "user"])];

/// The modules of folder `folder` (by their name in it) and which of each other they import,
/// through `super::x` (from a file directly in the folder) or `crate::folder::x`.
fn folder_dependencies(folder: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join(folder), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let path = module_path(&src, &file);
        let Some(module) = path.get(1).cloned() else {
            continue; // the folder's mod.rs composes its modules
        };
        let code = code(&fs::read_to_string(&file).expect("readable file"));
        let mut names = BTreeSet::new();
        let mut heads = |prefix: &str, code: &str| {
            for (at, _) in code.match_indices(prefix) {
                let rest = &code[at + prefix.len()..];
                match rest.strip_prefix('{') {
                    Some(group) => names.extend(group_heads(group_text(group))),
                    None => names.extend(group_heads(first_path(rest))),
                }
            }
        };
        if path.len() == 2 {
            heads("super::", &code);
        }
        heads(&format!("crate::{folder}::"), &code);
        names.remove(&module);
        graph.entry(module).or_default().extend(names);
    }
    let known: BTreeSet<String> = graph.keys().cloned().collect();
    for names in graph.values_mut() {
        names.retain(|n| known.contains(n));
    }
    graph
}

/// The text of a `{...}` group, `group` starting just after its `{`.
fn group_text(group: &str) -> &str {
    let mut depth = 1;
    let end = group
        .char_indices()
        .find(|&(_, c)| {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
            depth == 0
        })
        .map_or(group.len(), |(i, _)| i);
    &group[..end]
}

/// The path at the start of `rest`, up to the end of the `use` or expression.
fn first_path(rest: &str) -> &str {
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(rest.len());
    &rest[..end]
}

fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let path = module_path(&src, &file);
        let Some(top) = path.first().cloned() else {
            continue; // lib.rs and main.rs compose everything.
        };
        let text = fs::read_to_string(&file).expect("readable file");
        let mut names = imports(&code(&text), &path);
        names.remove(&top);
        graph.entry(top).or_default().extend(names);
    }
    graph
}

#[test]
fn no_module_imports_what_its_layer_forbids() {
    let graph = dependencies();
    let mut wrong = Vec::new();
    for (from, forbidden) in FORBIDDEN {
        let imported = graph.get(*from).cloned().unwrap_or_default();
        for to in forbidden.iter().filter(|to| imported.contains(**to)) {
            wrong.push(format!("{from} imports {to}"));
        }
    }
    assert!(wrong.is_empty(), "forbidden imports: {wrong:?}\n{graph:#?}");
}

/// A cycle in `graph`, if any (a depth-first search for a back edge).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[at..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_top_level_modules_import_each_other_without_cycles() {
    if let Some(cycle) = cycle(&dependencies()) {
        panic!("a cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_modules_of_each_folder_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let folders = fs::read_dir(&src)
        .expect("readable src")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let name = path.file_name()?.to_string_lossy().into_owned();
            path.is_dir().then_some(name)
        });
    let mut checked = 0;
    for folder in folders {
        let mut graph = folder_dependencies(&folder);
        // An allowed group counts as one module: edges inside it are dropped.
        for (_, group) in ALLOWED_CYCLES.iter().filter(|(f, _)| *f == folder) {
            for (module, names) in graph.iter_mut() {
                if group.contains(&module.as_str()) {
                    names.retain(|n| !group.contains(&n.as_str()));
                }
            }
        }
        if let Some(cycle) = cycle(&graph) {
            panic!("a cycle in src/{folder}/: {}", cycle.join(" -> "));
        }
        checked += 1;
    }
    assert!(checked >= 4, "the folders were not found");
}

#[test]
fn the_folder_check_sees_imports_between_siblings() {
    let graph = folder_dependencies("http");
    assert!(
        graph["graphql"].contains("ws") && graph["ws"].contains("endpoint"),
        "{graph:#?}"
    );
}

#[test]
fn the_check_sees_grouped_and_relative_imports() {
    let text = "use crate::{\n    auth::guard::Auth,\n    error::{Refusal, RequestError},\n};\nuse super::db;\n// crate::http in a comment\nlet x = crate::time::now();";
    let found = imports(&code(text), &["graphql".to_owned()]);
    let expected: BTreeSet<String> = ["auth", "db", "error", "time"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(found, expected);
}

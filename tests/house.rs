//! The layout ARCHITECTURE.md describes, held against the code: modules
//! depend on each other one way, never in a loop.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What each file in `dir` (with extension `ext`) imports of its siblings,
/// as `imports` finds it in the file's text.
fn graph(
    dir: &str,
    ext: &str,
    imports: impl Fn(&str, &BTreeSet<String>) -> BTreeSet<String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let names: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(&format!(".{ext}")).map(str::to_string)
        })
        .collect();
    names
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap();
            let mut deps = imports(&text, &names);
            deps.remove(name);
            (name.clone(), deps)
        })
        .collect()
}

/// The loops of `graph` (its strongly connected parts of more than one node),
/// leaving out every edge that starts or ends at one of `skip`.
fn loops(graph: &BTreeMap<String, BTreeSet<String>>, skip: &[&str]) -> Vec<BTreeSet<String>> {
    let edge = |from: &String, to: &String| {
        !skip.contains(&from.as_str()) && !skip.contains(&to.as_str()) && graph[from].contains(to)
    };
    // Two nodes are in one loop when each reaches the other.
    let reach = |start: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.clone()];
        while let Some(node) = todo.pop() {
            for next in graph.keys().filter(|next| edge(&node, next)) {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|node| (node, reach(node))).collect();
    let mut found: Vec<BTreeSet<String>> = Vec::new();
    for (node, reaches) in &reached {
        let part: BTreeSet<String> = reaches
            .iter()
            .filter(|other| reached[other].contains(*node))
            .cloned()
            .collect();
        if part.len() > 1 && !found.contains(&part) {
            found.push(part);
        }
    }
    found
}

/// The host modules a Rust file names as `crate::module`, outside comments
/// and its test module.
fn rust_imports(text: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    code.lines()
        .map(|line| line.split("//").next().unwrap())
        .flat_map(|line| line.split("crate::").skip(1))
        .map(|rest| {
            rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                .unwrap()
        })
        .filter(|module| names.contains(*module))
        .map(str::to_string)
        .collect()
}

/// The sibling modules a JavaScript file imports or re-exports
/// (`from './name.js'`), outside line comments.
fn js_imports(text: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| line.split("from './").skip(1))
        .filter_map(|rest| rest.split(".js'").next())
        .filter(|module| names.contains(*module))
        .map(str::to_string)
        .collect()
}

#[test]
fn host_modules_depend_one_way_but_for_the_bindings_with_mapping() {
    let host = graph("host/src", "rs", rust_imports);
    assert!(host["socket_task"].contains("handshake"), "{host:?}");
    // `lib.rs` declares every module; the bindings' `with:` names the two
    // resources' types, as wasmtime-wasi-http's do.
    assert_eq!(
        loops(&host, &["lib", "bindings"]),
        Vec::<BTreeSet<_>>::new()
    );
    // Without the exceptions the check finds that loop.
    assert!(!loops(&host, &["lib"]).is_empty());
}

#[test]
fn js_sdk_modules_import_each_other_without_loops() {
    let js = graph("guest/js", "js", js_imports);
    assert!(js["websocket-stream"].contains("event-loop"), "{js:?}");
    assert_eq!(loops(&js, &[]), Vec::<BTreeSet<_>>::new());
}

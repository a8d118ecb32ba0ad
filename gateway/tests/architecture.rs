//! The shape `ARCHITECTURE.md` promises, checked on the source tree: no two rooms of
//! `gateway/src` import each other, the lowest rooms import nothing above them, the proxy
//! stays a dispatcher, and the production build carries no test fixture.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's code without comments and without its `#[cfg(test)]` modules.
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping_tests = false;
    let mut depth = 0i32;
    let mut pending_cfg_test = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if skipping_tests {
            depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
            if depth <= 0 {
                skipping_tests = false;
            }
            continue;
        }
        if trimmed.starts_with("#[cfg(test)]") {
            pending_cfg_test = true;
            continue;
        }
        let module = trimmed.starts_with("mod ") || trimmed.starts_with("pub(crate) mod ");
        if pending_cfg_test && module {
            pending_cfg_test = false;
            if trimmed.ends_with(';') {
                continue;
            }
            skipping_tests = true;
            depth = line.matches('{').count() as i32 - line.matches('}').count() as i32;
            continue;
        }
        pending_cfg_test = false;
        let without_comment = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(without_comment);
        out.push('\n');
    }
    out
}

/// Each room of `gateway/src` (a top-level module) → the rooms it names as `crate::<room>`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&root).expect("under src");
        let first = rel
            .components()
            .next()
            .expect("a component")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if first == "main" || first == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable");
        let deps = graph.entry(first.clone()).or_default();
        let code = code(&text);
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != first {
                deps.insert(name);
            }
        }
    }
    graph
}

#[test]
fn no_two_rooms_import_each_other() {
    let graph = imports();
    let mut cycles = Vec::new();
    for (room, deps) in &graph {
        for dep in deps {
            if room < dep && graph.get(dep).is_some_and(|d| d.contains(room)) {
                cycles.push(format!("{room} <-> {dep}"));
            }
        }
    }
    assert!(cycles.is_empty(), "rooms importing each other: {cycles:?}");
}

#[test]
fn the_lowest_rooms_import_nothing_above_them() {
    let graph = imports();
    for (room, allowed) in [
        ("client_address", &[][..]),
        ("certificates", &[][..]),
        ("config", &["certificates", "client_address"][..]),
        ("lang", &[][..]),
        ("response", &["lang"][..]),
        ("request_id", &[][..]),
        ("ip_text", &[][..]),
        ("content_length", &[][..]),
        ("private_file", &[][..]),
        ("kv", &["config"][..]),
        ("telemetry", &["config", "ip_text", "private_file"][..]),
        ("chain", &["config", "content_length"][..]),
    ] {
        let deps = graph.get(room).cloned().unwrap_or_default();
        let extra: Vec<&String> = deps
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(extra.is_empty(), "{room} imports {extra:?}");
    }
}

#[test]
fn the_proxy_stays_a_dispatcher_under_400_lines() {
    let text = std::fs::read_to_string(src().join("proxy.rs")).expect("proxy.rs");
    let lines = text.lines().count();
    assert!(
        lines < 400,
        "proxy.rs has {lines} lines: a step lives in the wrong room"
    );
}

#[test]
fn the_production_build_carries_no_test_fixture() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "egov-gateway",
            "--no-default-features",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        tree.contains("egov-adapters"),
        "not a dependency tree: {tree}"
    );
    for fixture in ["egov-estate", "egov-devidp"] {
        assert!(
            !tree.contains(fixture),
            "{fixture} is in the production build"
        );
    }
}

//! The master's layers depend one way (ARCHITECTURE.md, "Layers"):
//!
//! ```text
//! state, clock, config → raft → metrics → node → exactly_once → control
//!     → dispatcher → {gateway, grpc, housekeeping} → server
//! ```
//!
//! A module may use modules of lower layers and its own; never one above it or a peer of its
//! layer. This test reads every source file of the crate and fails on any `crate::…` path (in
//! code, not comments) that breaks the rule, naming the file, the line and the layers.

use std::path::{Path, PathBuf};

/// Each top-level module and its layer; higher layers build on lower ones.
const LAYERS: &[(&str, u32)] = &[
    ("state", 0),
    ("clock", 0),
    ("config", 0),
    ("http_tls", 0),
    ("raft", 1),
    ("metrics", 2),
    ("node", 3),
    ("exactly_once", 4),
    ("control", 5),
    ("dispatcher", 6),
    ("gateway", 7),
    ("grpc", 7),
    ("housekeeping", 7),
    ("rollout_engine", 7),
    ("certificates", 7),
    ("dns", 7),
    ("server", 8),
    ("restore", 8),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a line of code names with `crate::`.
fn used_modules(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(at, _)| {
            // `helios_crate::` or `some_crate::` are other paths, not `crate::`.
            !code[..*at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Every broken rule in the crate's sources under `src`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let first = rel
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default()
            .trim_end_matches(".rs")
            .to_string();
        if matches!(first.as_str(), "lib" | "main") {
            continue;
        }
        let own = layer(&first)
            .unwrap_or_else(|| panic!("module {first} has no layer: add it to LAYERS"));
        let text = std::fs::read_to_string(&file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            for used in used_modules(line) {
                if used == first {
                    continue;
                }
                let Some(theirs) = layer(&used) else { continue };
                if theirs >= own {
                    found.push(format!(
                        "{}:{}: {first} (layer {own}) uses crate::{used} (layer {theirs})",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn no_module_uses_a_layer_above_it_or_a_peer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "dependencies must run one way:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control = dir.path().join("control");
    std::fs::create_dir(&control).expect("mkdir");
    std::fs::write(
        control.join("mod.rs"),
        "//! crate::gateway in a comment is fine\nuse crate::gateway::ApiError;\nuse crate::node::Node;\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("node.rs"), "use crate::state::State;\n").expect("write");
    let found = violations(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("control/mod.rs:2"), "{found:?}");
    assert!(found[0].contains("crate::gateway"), "{found:?}");
}

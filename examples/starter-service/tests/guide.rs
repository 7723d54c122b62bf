//! docs/guide.md shows this example's files: its blocks marked `<!-- file: PATH -->` must be
//! those files, byte for byte (a file's blocks joined by a blank line). scripts/check-outside.sh
//! builds the same blocks in a crate of their own.

use std::collections::BTreeMap;
use std::path::Path;

const GUIDE: &str = include_str!("../../../docs/guide.md");
const MARK: &str = "<!-- file: ";

/// The guide's files: each marked block's lines, by path, in order.
fn guide_files() -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut lines = GUIDE.lines();
    while let Some(line) = lines.next() {
        let Some(path) = line.strip_prefix(MARK).and_then(|l| l.strip_suffix(" -->")) else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert!(fence.starts_with("```"), "no code block after {line}");
        let mut block = String::new();
        for l in lines.by_ref().take_while(|l| !l.starts_with("```")) {
            block.push_str(l);
            block.push('\n');
        }
        let file = files.entry(path.to_string()).or_default();
        if !file.is_empty() {
            file.push('\n');
        }
        file.push_str(&block);
    }
    files
}

fn example_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

#[test]
fn the_guide_shows_the_example_files_as_they_are() {
    let files = guide_files();
    for path in [
        "src/lib.rs",
        "src/main.rs",
        "tests/service.rs",
        "Dockerfile",
    ] {
        let shown = files
            .get(path)
            .unwrap_or_else(|| panic!("the guide shows no {path}"));
        let actual = example_file(path);
        if *shown != actual {
            let at = shown.lines().zip(actual.lines()).position(|(a, b)| a != b);
            panic!(
                "docs/guide.md's {path} differs from examples/starter-service/{path} \
                 (first at line {}): update the guide",
                at.map_or("end".to_string(), |n| (n + 1).to_string())
            );
        }
    }
}

/// The dependency names of one section of a manifest (`[dependencies]`, …).
fn dependencies(manifest: &str, section: &str) -> Vec<String> {
    let mut names: Vec<String> = manifest
        .lines()
        .skip_while(|l| l.trim() != section)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split(['=', '.']).next())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty() && !name.starts_with('#'))
        // The workspace names the core crate by its library's name.
        .map(|name| {
            if name == "hydra-core" {
                "hydra-rs-core".into()
            } else {
                name
            }
        })
        .collect();
    names.sort();
    names
}

#[test]
fn the_guide_manifest_has_the_example_dependencies() {
    let files = guide_files();
    let shown = files
        .get("Cargo.toml")
        .expect("the guide shows no Cargo.toml");
    let actual = example_file("Cargo.toml");
    for section in ["[dependencies]", "[dev-dependencies]"] {
        assert_eq!(
            dependencies(shown, section),
            dependencies(&actual, section),
            "{section}"
        );
    }
}

//! The maps against the tree: `docs/layout.md` names every file under `src/` (a folder's
//! `mod.rs` aside), `src/lib.rs` and each folder's `mod.rs` name every module they declare, and
//! every relative link of the README and `docs/` points at a file that exists.

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// The modules a file declares (`mod x;` / `pub mod x;`, any visibility).
fn declared(source: &str) -> Vec<String> {
    source
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            let l = l.strip_prefix("pub ").unwrap_or(l);
            let l = l.strip_prefix("pub(crate) ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

/// The file's opening doc comment (`//!` lines).
fn module_doc(source: &str) -> String {
    source
        .lines()
        .take_while(|l| l.starts_with("//!") || l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_layout_names_every_file_under_src() {
    let layout = fs::read_to_string(root().join("docs/layout.md")).unwrap();
    let listed: Vec<&str> = layout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut missing: Vec<String> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "mod.rs"))
        .map(|f| relative(f))
        .filter(|f| !listed.contains(&f.as_str()))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "docs/layout.md does not list {missing:?}"
    );
    // And it lists nothing that is gone.
    let gone: Vec<&&str> = listed
        .iter()
        .filter(|p| p.starts_with("src/") && p.ends_with(".rs"))
        .filter(|p| !root().join(p).exists())
        .collect();
    assert!(
        gone.is_empty(),
        "docs/layout.md lists files that do not exist: {gone:?}"
    );
}

#[test]
fn each_module_map_names_every_module_it_declares() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let maps = files
        .iter()
        .filter(|f| f.ends_with("lib.rs") || f.file_name().is_some_and(|n| n == "mod.rs"));
    let mut missing = Vec::new();
    for map in maps {
        let source = fs::read_to_string(map).unwrap();
        let doc = module_doc(&source);
        for module in declared(&source) {
            let named = [format!("[`{module}`]"), format!("`{module}`")];
            if !named.iter().any(|n| doc.contains(n.as_str())) {
                missing.push(format!("{}: {module}", relative(map)));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "modules the map does not name: {missing:?}"
    );
}

#[test]
fn every_relative_link_of_the_docs_points_at_a_file() {
    let mut pages = vec![root().join("README.md")];
    for entry in fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut broken = Vec::new();
    for page in &pages {
        let text = fs::read_to_string(page).unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = rest[..end].split('#').next().unwrap_or("");
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let path = page.parent().unwrap().join(target);
            if !path.exists() {
                broken.push(format!("{}: {target}", relative(page)));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:?}");
}

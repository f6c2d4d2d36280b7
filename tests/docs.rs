//! The README and docs/ link to each other and to the repository's files: every relative link
//! resolves (the file exists, and an `#anchor` names a heading of it), and every page of docs/ is
//! reachable from the README.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files to check: the README and every page of docs/.
fn pages() -> Vec<PathBuf> {
    let mut v = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    v.extend(docs);
    v
}

/// The text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            code = !code;
            continue;
        }
        if !code {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `[text](target)` targets.
fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(p) = text[i..].find("](") {
        let start = i + p + 2;
        let Some(end) = text[start..].find(')') else {
            break;
        };
        let target = &text[start..start + end];
        if !target.contains(' ') && !target.is_empty() {
            out.push(target.to_string());
        }
        i = start;
    }
    out
}

/// GitHub's anchor of a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(file: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    prose(&text)
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_link_resolves_and_every_page_is_reachable() {
    let mut broken = Vec::new();
    let mut reached = BTreeSet::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for link in links(&prose(&text)) {
            if link.starts_with("http://")
                || link.starts_with("https://")
                || link.starts_with("mailto:")
            {
                continue;
            }
            let (path, anchor) = match link.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                page.clone()
            } else {
                dir.join(path)
            };
            // `../shared/...` is the workspace's contract, outside this repository.
            if path.starts_with("../shared/") || path.starts_with("../../shared/") {
                continue;
            }
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", page.display()));
                continue;
            }
            if let Some(a) = anchor {
                if !anchors(&target).contains(a) {
                    broken.push(format!("{}: {link} (no such heading)", page.display()));
                }
            }
            if let Ok(canonical) = target.canonicalize() {
                reached.insert(canonical);
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    for page in pages().into_iter().skip(1) {
        assert!(
            reached.contains(&page.canonicalize().unwrap()),
            "{} is linked from nowhere",
            page.display()
        );
    }
}

#[test]
fn the_checker_sees_a_broken_link() {
    assert_eq!(
        links("see [a](docs/x.md#y) and [b](https://e.com)"),
        ["docs/x.md#y", "https://e.com"]
    );
    assert_eq!(
        slug("Being told: notifications"),
        "being-told-notifications"
    );
    assert!(prose("a\n```\n[x](nowhere.md)\n```\n")
        .find("nowhere")
        .is_none());
}

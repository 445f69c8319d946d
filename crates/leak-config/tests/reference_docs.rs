//! The reference stays complete and self-contained: every key of the
//! commented example config (config/leak.toml, commented-out keys included)
//! is documented in docs/reference/config.md as `` `section.key` ``, and no
//! document sends the reader outside the repository.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `section.key` for every `key = …` or `# key = …` line of the example,
/// under the `[section]` / `[[section]]` / `# [section]` header above it.
fn example_keys() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("config/leak.toml")).unwrap();
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        let is_header = line.starts_with('[') && line.ends_with(']') && !line.contains(' ');
        if is_header {
            section = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let is_key = !key.is_empty()
            && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && !section.is_empty();
        if is_key && section != "anonymizer.categories" {
            keys.push(format!("{section}.{key}"));
        }
    }
    keys
}

#[test]
fn every_example_key_is_in_the_config_reference() {
    let reference = std::fs::read_to_string(root().join("docs/reference/config.md")).unwrap();
    let keys = example_keys();
    assert!(keys.len() > 30, "the example config was not read: {keys:?}");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|key| !reference.contains(&format!("`{key}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/reference/config.md lacks {missing:?}"
    );
}

#[test]
fn docs_never_point_outside_the_repository() {
    let mut documents = vec![root().join("README.md")];
    let mut folders = vec![root().join("docs")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                documents.push(path);
            }
        }
    }
    for document in documents {
        let text = std::fs::read_to_string(&document).unwrap();
        for needle in ["../shared", "CONTRACT.md"] {
            assert!(
                !text.contains(needle),
                "{} mentions {needle}",
                document.display()
            );
        }
    }
}

//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use leak_store::{QueuedMessage, Recipient};

/// A plausible fresh envelope.
pub fn message(id: &str, created: u64) -> QueuedMessage {
    QueuedMessage {
        id: id.to_string(),
        created,
        size: 0,
        account: "alice".to_string(),
        notify: Some("alice@example.net".to_string()),
        return_path: format!("bounce-{id}@anon.example"),
        held: false,
        hold_reason: None,
        is_report: false,
        recipients: vec![
            Recipient::new("bob@example.org", created),
            Recipient::new("carol@example.com", created),
        ],
        history: vec![],
        stamped: None,
    }
}

/// A body that differs per id and per length, so a mix-up is visible.
pub fn body_for(id: &str, len: usize) -> Vec<u8> {
    id.bytes()
        .cycle()
        .take(len)
        .enumerate()
        .map(|(i, b)| b ^ (i as u8))
        .collect()
}

/// Every segment file, sorted by name.
pub fn segment_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join("segments"))
        .expect("segments dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

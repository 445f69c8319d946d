//! `kill -9` loses nothing that was acknowledged.
//!
//! The test re-runs its own test binary as a child (selected by an environment
//! variable) that enqueues from several tasks and prints each acknowledged id;
//! the parent SIGKILLs it mid-stream, reopens the store and checks every
//! acknowledged message is there with its exact body. Three rounds share one
//! data directory, so later rounds also reopen after earlier crashes.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::body_for;
use leak_store::{new_message_id, SledStore, Store, StoreOptions};

/// Set in the child: the data directory to write to.
const CHILD_ENV: &str = "LEAK_STORE_CRASH_CHILD_DIR";
const TEST_NAME: &str = "kill_9_loses_no_acknowledged_enqueue";

/// Small segments, so crashes also land around segment rolls.
fn options() -> StoreOptions {
    StoreOptions {
        segment_size: 512 * 1024,
        ..StoreOptions::default()
    }
}

fn body_len(id: &str) -> usize {
    // 1 byte to ~80 KB, derived from the id so the parent can recompute it.
    usize::from_str_radix(&id[..5], 16).unwrap() % 80_000 + 1
}

/// What the child acknowledged before it died.
#[derive(Default)]
struct Acks {
    enqueued: Vec<String>,
    held: Vec<String>,
}

#[test]
fn kill_9_loses_no_acknowledged_enqueue() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        run_child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut acks = Acks::default();
    for kill_after in [3, 40, 150] {
        let round = run_and_kill(dir.path(), kill_after);
        assert!(round.enqueued.len() >= kill_after, "child stopped early");
        acks.enqueued.extend(round.enqueued);
        acks.held.extend(round.held);

        let store = SledStore::open_with(dir.path(), options()).expect("opens after kill -9");
        assert!(store.damaged().is_empty(), "{:?}", store.damaged());
        for id in &acks.enqueued {
            let body = store
                .body(id)
                .unwrap_or_else(|e| panic!("acked {id} lost: {e}"));
            assert_eq!(body, body_for(id, body_len(id)), "body of {id}");
        }
        for id in &acks.held {
            assert!(
                store.get(id).unwrap().unwrap().held,
                "acked hold of {id} lost"
            );
        }
        eprintln!(
            "killed after {kill_after} acks: {} acked so far, {} in store",
            acks.enqueued.len(),
            store.list().unwrap().len()
        );
    }
}

/// Starts the child, SIGKILLs it once it has acknowledged `kill_after`
/// enqueues, and returns everything it acknowledged.
fn run_and_kill(dir: &Path, kill_after: usize) -> Acks {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut acks = Acks::default();
    let mut killed = false;
    loop {
        let line = match received.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                child.kill().unwrap();
                panic!("child went silent");
            }
        };
        match line.split_once(' ') {
            Some(("ACK", id)) => acks.enqueued.push(id.to_string()),
            Some(("HELD", id)) => acks.held.push(id.to_string()),
            _ => {}
        }
        if !killed && acks.enqueued.len() >= kill_after {
            child.kill().unwrap(); // SIGKILL
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(
        killed && !status.success(),
        "child was not killed: {status}"
    );
    acks
}

/// The child: enqueues (and holds the previous message) from several tasks
/// until killed, printing each acknowledgement. Bounded in case no one kills it.
fn run_child(dir: &Path) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = std::sync::Arc::new(SledStore::open_with(dir, options()).unwrap());
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut previous: Option<String> = None;
                    for n in 0..2_000u64 {
                        let id = new_message_id();
                        let body = body_for(&id, body_len(&id));
                        store.enqueue(common::message(&id, n), body).await.unwrap();
                        println!("ACK {id}");
                        if let Some(prev) = previous.replace(id) {
                            store
                                .modify(&prev, Box::new(|m| m.held = true))
                                .await
                                .unwrap();
                            println!("HELD {prev}");
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    std::process::exit(0)
}

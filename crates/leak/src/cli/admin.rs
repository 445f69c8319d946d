//! `leak queue`, `leak optout` and `leak status`: talk to the running daemon
//! over `server.admin_socket` with `leak_admin::AdminClient`, and print what
//! it answers with `leak_admin::render` (tables for people, CONTRACT.md JSON
//! for scripts). A daemon that cannot be reached is exit 2; an unknown id or
//! a bad address is exit 1.

use crate::{CliResult, Failure};
use clap::Subcommand;
use leak_admin::{render, AdminClient, ClientError, Target};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Subcommand)]
pub enum QueueCommand {
    /// Every message in the queue.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One message: envelope, per-recipient state, history of attempts.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the stored message exactly as the recipient would receive it.
    Cat { id: String },
    /// Make deferred recipients due now.
    Retry {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Never attempt a message until it is released.
    Hold { id: String },
    /// Release a held message.
    Release { id: String },
    /// Remove messages without delivering them (no failure report).
    Delete {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
pub enum OptoutCommand {
    /// Refuse anonymous mail to this address from now on.
    Add { address: String },
    /// Accept anonymous mail to this address again.
    Remove { address: String },
    /// Every opted-out address.
    List,
}

pub fn queue(config: &Path, command: QueueCommand) -> CliResult {
    with_client(config, |mut client| async move {
        match command {
            QueueCommand::List { json } => {
                let messages = client.list().await.map_err(failure)?;
                if json {
                    print_json(&render::list_json(&messages))
                } else {
                    print(&render::list_table(&messages, now()))
                }
            }
            QueueCommand::Show { id, json } => {
                let message = client.show(&id).await.map_err(failure)?;
                if json {
                    print_json(&render::show_json(&message))
                } else {
                    print(&render::show_text(&message, now()))
                }
            }
            QueueCommand::Cat { id } => {
                let body = client.cat(&id).await.map_err(failure)?;
                print_bytes(&body)
            }
            QueueCommand::Retry { id, all } => {
                let retried = client.retry(target(id, all)).await.map_err(failure)?;
                let mut line = format!(
                    "{} message{}, {} recipient{} due now",
                    retried.messages,
                    plural(retried.messages),
                    retried.recipients,
                    plural(retried.recipients),
                );
                if retried.held > 0 {
                    line.push_str(&format!(
                        " ({} held: `leak queue release ID` to deliver)",
                        retried.held
                    ));
                }
                print(&format!("{line}\n"))
            }
            QueueCommand::Hold { id } => {
                let changed = client.hold(&id).await.map_err(failure)?;
                let verb = if changed { "held" } else { "was already held" };
                print(&format!("message {id} {verb}\n"))
            }
            QueueCommand::Release { id } => {
                let changed = client.release(&id).await.map_err(failure)?;
                let verb = if changed { "released" } else { "was not held" };
                print(&format!("message {id} {verb}\n"))
            }
            QueueCommand::Delete { id, all } => {
                let one = id.clone();
                let deleted = client.delete(target(id, all)).await.map_err(failure)?;
                match one {
                    Some(id) => print(&format!("message {id} deleted\n")),
                    None => print(&format!("{deleted} message{} deleted\n", plural(deleted))),
                }
            }
        }
    })
}

pub fn optout(config: &Path, command: OptoutCommand) -> CliResult {
    with_client(config, |mut client| async move {
        match command {
            OptoutCommand::Add { address } => {
                let (hash, added) = client.optout_add(&address).await.map_err(failure)?;
                if !added {
                    eprintln!("leak: {address} was already on the opt-out list");
                }
                print(&format!("{hash}\n"))
            }
            OptoutCommand::Remove { address } => {
                let hash = client.optout_remove(&address).await.map_err(failure)?;
                print(&format!("removed {hash}\n"))
            }
            OptoutCommand::List => {
                let entries = client.optout_list().await.map_err(failure)?;
                if entries.is_empty() {
                    eprintln!("leak: the opt-out list is empty");
                }
                print(&render::optout_lines(&entries))
            }
        }
    })
}

pub fn status(config: &Path, json: bool) -> CliResult {
    with_client(config, |mut client| async move {
        let report = client.status().await.map_err(failure)?;
        if json {
            print_json(&render::status_json(&report))
        } else {
            print(&render::status_text(&report))
        }
    })
}

/// Reads `server.admin_socket` from the config, connects, and runs `work`
/// on a small single-threaded runtime.
pub(crate) fn with_client<F, Fut>(config: &Path, work: F) -> CliResult
where
    F: FnOnce(AdminClient) -> Fut,
    Fut: Future<Output = CliResult>,
{
    let socket: PathBuf = super::parse_config(config)?.server.admin_socket;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::environment(anyhow::anyhow!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let client = AdminClient::connect(&socket).await.map_err(failure)?;
        work(client).await
    })
}

/// Exit 1 when the operator's input was refused, exit 2 when the daemon
/// could not be reached or failed.
pub(crate) fn failure(error: ClientError) -> Failure {
    if error.is_refusal() {
        Failure::refused(error)
    } else {
        Failure::environment(error)
    }
}

fn target(id: Option<String>, all: bool) -> Target {
    match id {
        Some(id) if !all => Target::One(id),
        _ => Target::All,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes to stdout; a closed pipe (`leak queue list | head`) is not an error.
pub(crate) fn print(text: &str) -> CliResult {
    print_bytes(text.as_bytes())
}

/// Writes bytes to stdout as they are.
fn print_bytes(bytes: &[u8]) -> CliResult {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::environment(
            anyhow::anyhow!("cannot write to standard output: {e}"),
        )),
        _ => Ok(()),
    }
}

fn print_json(value: &impl serde::Serialize) -> CliResult {
    let mut text = serde_json::to_string(value)
        .map_err(|e| Failure::environment(anyhow::anyhow!("cannot encode JSON: {e}")))?;
    text.push('\n');
    print(&text)
}

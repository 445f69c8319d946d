//! `leak queue`, `leak optout`, `leak status` and `leak reload`: talk to the running daemon
//! over `server.admin_socket` with `leak_admin::AdminClient`, and print what
//! it answers with `leak_admin::render` (tables for people, CONTRACT.md JSON
//! for scripts). A daemon that cannot be reached is exit 2; an unknown id or
//! a bad address is exit 1.

use super::queue_filter::{for_each_matching, matching, selection, FilterArgs, Selection};
use crate::{CliResult, Failure};
use clap::Subcommand;
use leak_admin::{render, AdminClient, ClientError, Target};
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Subcommand)]
pub enum QueueCommand {
    /// Every message in the queue, or those the filters select.
    List {
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Pending recipients per destination domain, by age (like Postfix's qshape).
    Summary,
    /// One message: envelope, per-recipient state, history of attempts.
    Show {
        /// The queue id (as `leak queue list` prints it).
        id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the stored message exactly as the recipient would receive it.
    Cat {
        /// The queue id of the message to print.
        id: String,
    },
    /// Make deferred recipients due now.
    Retry {
        /// The queue id of the message to retry.
        id: Option<String>,
        /// Every message in the queue.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Never attempt a message until it is released.
    Hold {
        /// The queue id of the message to hold.
        id: String,
    },
    /// Release a held message.
    Release {
        /// The queue id of the held message.
        id: String,
    },
    /// Remove messages without delivering them (no failure report).
    Delete {
        /// The queue id of the message to delete.
        id: Option<String>,
        /// Every message in the queue.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
}

#[derive(Subcommand)]
pub enum OptoutCommand {
    /// Refuse anonymous mail to this address from now on, however it is
    /// written (case, +tag, Gmail dots).
    Add {
        /// The recipient's address.
        address: String,
    },
    /// Accept anonymous mail to this address again (any form of it; also
    /// lifts a bounce or complaint entry).
    Remove {
        /// The recipient's address, in any form.
        address: String,
    },
    /// Every suppressed address: its key, date, source (cli, web, mail,
    /// bounce, complaint, legacy) and reason.
    List,
}

pub fn queue(config: &Path, command: QueueCommand) -> CliResult {
    // Checked before connecting, so a bad selection is exit 1 even with no daemon.
    let selected = match &command {
        QueueCommand::Retry { id, all, filter } | QueueCommand::Delete { id, all, filter } => {
            Some(selection(id.clone(), *all, filter)?)
        }
        _ => None,
    };
    with_client(config, |mut client| async move {
        match command {
            QueueCommand::List { json, filter } => {
                let messages = matching(&mut client, &filter.filter(), now())
                    .await
                    .map_err(failure)?;
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
            QueueCommand::Summary => {
                let messages = client.list().await.map_err(failure)?;
                let shape = leak_admin::filter::summarize(&messages, now());
                print(&render::summary_table(&shape))
            }
            QueueCommand::Retry { .. } => {
                let target = match selected {
                    Some(Selection::Filter(filter)) => {
                        return for_each_matching(
                            &mut client,
                            &filter,
                            now(),
                            "due now",
                            async |c, id| c.retry(Target::One(id)).await.map(|_| ()),
                        )
                        .await;
                    }
                    Some(Selection::Target(target)) => target,
                    None => unreachable!("retry always has a selection"),
                };
                let retried = client.retry(target).await.map_err(failure)?;
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
            QueueCommand::Delete { .. } => {
                let target = match selected {
                    Some(Selection::Filter(filter)) => {
                        return for_each_matching(
                            &mut client,
                            &filter,
                            now(),
                            "deleted",
                            async |c, id| c.delete(Target::One(id)).await.map(|_| ()),
                        )
                        .await;
                    }
                    Some(Selection::Target(target)) => target,
                    None => unreachable!("delete always has a selection"),
                };
                let deleted = client.delete(target.clone()).await.map_err(failure)?;
                match target {
                    Target::One(id) => print(&format!("message {id} deleted\n")),
                    Target::All => {
                        print(&format!("{deleted} message{} deleted\n", plural(deleted)))
                    }
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

/// `leak reload`: the daemon's report, one line per item; exit 1 when it
/// refused the config (or could not swap a part).
pub fn reload(config: &Path) -> CliResult {
    with_client(config, |mut client| async move {
        let report = client.reload().await.map_err(failure)?;
        let mut text = String::new();
        for item in &report.changed {
            text.push_str(&format!("changed: {item}\n"));
        }
        for key in &report.needs_restart {
            text.push_str(&format!("needs restart: {key}\n"));
        }
        if report.accepted && report.changed.is_empty() && report.failed.is_empty() {
            text.push_str("nothing changed\n");
        }
        print(&text)?;
        for problem in &report.failed {
            eprintln!("failed: {problem}");
        }
        match (report.accepted, report.failed.len()) {
            (true, 0) => Ok(()),
            (true, n) => Err(Failure::refused(anyhow::anyhow!(
                "reload done, but {n} part(s) could not be swapped"
            ))),
            (false, _) => Err(Failure::refused(anyhow::anyhow!(
                "config refused; the daemon keeps its previous config"
            ))),
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

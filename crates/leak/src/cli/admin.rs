//! `leak queue`, `leak optout` and `leak status`: talk to the running daemon
//! over `server.admin_socket`.

use crate::CliResult;
use clap::Subcommand;
use std::path::Path;

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
    let _ = (config, command);
    Err(crate::Failure::environment(anyhow::anyhow!(
        "queue: not wired yet"
    )))
}

pub fn optout(config: &Path, command: OptoutCommand) -> CliResult {
    let _ = (config, command);
    Err(crate::Failure::environment(anyhow::anyhow!(
        "optout: not wired yet"
    )))
}

pub fn status(config: &Path, json: bool) -> CliResult {
    let _ = (config, json);
    Err(crate::Failure::environment(anyhow::anyhow!(
        "status: not wired yet"
    )))
}

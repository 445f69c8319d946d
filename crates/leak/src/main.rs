//! `leak`: the one binary. `serve` runs the daemon; every other subcommand is
//! an operator tool. docs/reference/commands.md documents the command surface.
//!
//! # Layout
//!
//! - `main.rs`: the clap command tree and exit codes.
//! - `man.rs`: the man pages in docs/man, generated from this command tree.
//! - `cli/`: one file per operator command group (`check_config`, `user`,
//!   `dkim`, `moderation`, `admin` for queue/optout/status/reload over the socket),
//!   `exposure.rs`, the warnings about readable secrets, and
//!   `deliverability.rs`, those about a non-FQDN hostname or no RSA key.
//! - `process.rs`: the umask of `serve` and the SIGPIPE of the other commands.
//! - `serve/`: the daemon: `mod.rs` starts everything and handles signals,
//!   `pipeline.rs` is the SMTP backend (anonymize → moderate → sign → store),
//!   `limits.rs` the durable rate counters and their reservations,
//!   `transactions.rs` the slots each open SMTP transaction holds,
//!   `replies.rs` the limits' bilingual refusals, `reload.rs` SIGHUP and
//!   `leak reload`, `metrics.rs` the Prometheus endpoint, `settings.rs`
//!   maps the config onto each crate's settings.

mod cli;
mod man;
mod process;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// A self-hosted outbound mail server with a built-in anonymizer.
#[derive(Parser)]
#[command(name = "leak", version, about)]
struct Cli {
    /// The config file [default: $LEAK_CONFIG, else /etc/leak/leak.toml]
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon in the foreground.
    Serve,
    /// Validate the config and every file it names.
    CheckConfig,
    /// DKIM keys and the DNS records to publish.
    #[command(subcommand)]
    Dkim(cli::dkim::DkimCommand),
    /// The DNS records to publish for the anonymizer domain, and a check of them.
    #[command(subcommand)]
    Dns(cli::dns::DnsCommand),
    /// Submission accounts.
    #[command(subcommand)]
    User(cli::user::UserCommand),
    /// Inspect and manage the queue of the running daemon.
    #[command(subcommand)]
    Queue(cli::admin::QueueCommand),
    /// Recipients who refuse anonymous mail.
    #[command(subcommand)]
    Optout(cli::admin::OptoutCommand),
    /// The policy state shared by several nodes (`[cluster]`).
    #[command(subcommand)]
    Cluster(cli::cluster::ClusterCommand),
    /// The running daemon's version, uptime, listeners, queue counts, policy
    /// store (embedded or PostgreSQL, with its health and TLS) and whether
    /// automatic DANE applies.
    Status {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Ask the running daemon to reload its config (as SIGHUP does) and print
    /// what changed, what failed and what needs a restart.
    Reload,
    /// Test the moderation classifier.
    #[command(subcommand)]
    Moderation(cli::moderation::ModerationCommand),
}

/// Exit status 1: bad input or a refused operation.
pub const EXIT_REFUSED: u8 = 1;
/// Exit status 2: the daemon cannot be reached or the environment is broken.
pub const EXIT_ENVIRONMENT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config_path = cli
        .config
        .or_else(|| std::env::var_os("LEAK_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/etc/leak/leak.toml"));
    match cli.command {
        Command::Serve => process::private_umask(),
        _ => process::default_sigpipe(),
    }
    let result = match cli.command {
        Command::Serve => serve::run(&config_path),
        Command::CheckConfig => cli::check_config::run(&config_path),
        Command::Dkim(command) => cli::dkim::run(&config_path, command),
        Command::Dns(command) => cli::dns::run(&config_path, command),
        Command::User(command) => cli::user::run(&config_path, command),
        Command::Queue(command) => cli::admin::queue(&config_path, command),
        Command::Optout(command) => cli::admin::optout(&config_path, command),
        Command::Cluster(command) => cli::cluster::run(&config_path, command),
        Command::Status { json } => cli::admin::status(&config_path, json),
        Command::Reload => cli::admin::reload(&config_path),
        Command::Moderation(command) => cli::moderation::run(&config_path, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("leak: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

/// An error and the exit status it maps to.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    /// Bad input or a refused operation (exit 1).
    pub fn refused(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: EXIT_REFUSED,
            error: error.into(),
        }
    }

    /// Unreachable daemon or broken environment (exit 2).
    pub fn environment(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: EXIT_ENVIRONMENT,
            error: error.into(),
        }
    }
}

pub type CliResult = Result<(), Failure>;

//! `leak-bench`: the load generator behind `scripts/bench.sh`.
//!
//! Postfix's `smtp-source` measures throughput but not the latency of each
//! submission. This binary drives the same kind of load (N messages of S bytes
//! over C parallel SMTP sessions, each session kept open and reused, no
//! pipelining) and times every transaction from `MAIL FROM` to the reply after
//! the final `.`, so the script can print p50/p99 submission latency for leak
//! and for Postfix alike, and separately the wait from the final `.` to its
//! reply (the server's end-of-DATA work). `leak-bench session` measures what
//! mail clients do instead: one connection per message, with STARTTLS and
//! AUTH. Each prints one JSON object on stdout.
//!
//! # Layout
//!
//! - `main.rs`: the command line.
//! - `client.rs`: a minimal SMTP client (replies, commands, DATA) generic over
//!   `AsyncRead + AsyncWrite`.
//! - `message.rs`: the generated test message.
//! - `load.rs`: the sessions sharing one message counter, and the run summary.
//! - `session.rs`: the session mode (TLS + AUTH + one message per session).
//! - `tls.rs`: the TLS client for it (certificate not checked: benchmark only).
//! - `stats.rs`: latency percentiles.

mod client;
mod load;
mod message;
mod session;
mod stats;
mod tls;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::time::Duration;

/// The command line.
#[derive(Parser)]
#[command(name = "leak-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Submit messages over parallel SMTP sessions and print a JSON summary
    /// (accepted msgs/s, refusals, latency percentiles).
    Load(LoadArgs),
    /// One message per session, as mail clients send: connect, EHLO,
    /// STARTTLS, EHLO, AUTH PLAIN, MAIL/RCPT/DATA, QUIT. Prints sessions/s
    /// and time-to-250 percentiles as JSON.
    Session(SessionArgs),
}

/// What `leak-bench session` runs, and where.
#[derive(clap::Args, Clone, Debug)]
pub struct SessionArgs {
    /// The SMTP server (a STARTTLS listener), e.g. 127.0.0.1:587.
    #[arg(long)]
    pub server: SocketAddr,
    /// Sessions in total, one message each.
    #[arg(long, default_value_t = 2_000)]
    pub sessions: usize,
    /// Sessions open at once.
    #[arg(long, default_value_t = 20)]
    pub concurrency: usize,
    /// The account to log in as.
    #[arg(long)]
    pub user: String,
    /// Its password (a benchmark account's: it shows in the process list).
    #[arg(long)]
    pub password: String,
    /// Body size of each message in bytes.
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// MAIL FROM address.
    #[arg(long, default_value = "someone@bench.test")]
    pub from: String,
    /// RCPT TO address.
    #[arg(long, default_value = "rcpt@sink.test")]
    pub to: String,
    /// Name sent in EHLO.
    #[arg(long, default_value = "leak-bench.test")]
    pub helo: String,
    /// Longest wait for any one server reply, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

/// What `leak-bench load` sends, and where.
#[derive(clap::Args, Clone, Debug)]
pub struct LoadArgs {
    /// The SMTP server, e.g. 127.0.0.1:2525.
    #[arg(long)]
    pub server: SocketAddr,
    /// How many messages in total.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Body size of each message in bytes (headers not counted, as smtp-source -l).
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// Parallel SMTP sessions, each reused for many messages.
    #[arg(long, default_value_t = 20)]
    pub sessions: usize,
    /// MAIL FROM address.
    #[arg(long, default_value = "someone@bench.test")]
    pub from: String,
    /// RCPT TO address.
    #[arg(long, default_value = "rcpt@sink.test")]
    pub to: String,
    /// Name sent in EHLO.
    #[arg(long, default_value = "leak-bench.test")]
    pub helo: String,
    /// Longest wait for any one server reply, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

impl LoadArgs {
    fn reply_timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Load(args) => {
            anyhow::ensure!(args.sessions > 0, "--sessions must be at least 1");
            let summary = runtime.block_on(load::run(args))?;
            println!("{}", summary.to_json());
            anyhow::ensure!(
                summary.accepted > 0 || summary.sent == 0,
                "no message was accepted: {}",
                summary
                    .first_error
                    .as_deref()
                    .unwrap_or("no error recorded")
            );
        }
        Command::Session(args) => {
            anyhow::ensure!(args.concurrency > 0, "--concurrency must be at least 1");
            let summary = runtime.block_on(session::run(args))?;
            println!("{}", summary.to_json());
            anyhow::ensure!(
                summary.completed > 0 || summary.started == 0,
                "no session completed: {}",
                summary
                    .first_error
                    .as_deref()
                    .unwrap_or("no error recorded")
            );
        }
    }
    Ok(())
}

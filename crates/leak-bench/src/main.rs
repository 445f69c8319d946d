//! `leak-bench`: the load generator behind `scripts/bench.sh`.
//!
//! Postfix's `smtp-source` measures throughput but not the latency of each
//! submission. This binary drives the same kind of load (N messages of S bytes
//! over C parallel SMTP sessions, each session kept open and reused, no
//! pipelining) and times every transaction from `MAIL FROM` to the reply after
//! the final `.`, so the script can print p50/p99 submission latency for leak
//! and for Postfix alike. It prints one JSON object on stdout.
//!
//! # Layout
//!
//! - `main.rs`: the command line.
//! - `client.rs`: a minimal SMTP client (replies, commands, DATA) generic over
//!   `AsyncRead + AsyncWrite`.
//! - `message.rs`: the generated test message.
//! - `load.rs`: the sessions sharing one message counter, and the run summary.
//! - `stats.rs`: latency percentiles.

mod client;
mod load;
mod message;
mod stats;

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
    }
    Ok(())
}

//! The selection flags shared by `leak queue list`, `retry` and `delete`
//! (`--held`, `--domain`, `--state`, `--older-than`), and the filtered
//! retry/delete that act on each matching message in turn.

use crate::{CliResult, Failure};
use clap::{Args, ValueEnum};
use leak_admin::filter::QueueFilter;
use leak_admin::{AdminClient, ClientError, Target};
use leak_store::{QueuedMessage, RecipientStatus};
use std::time::Duration;

/// Which messages a command acts on.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only held messages.
    #[arg(long)]
    pub held: bool,
    /// Only messages with a recipient at this domain.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Only messages with a recipient in this state.
    #[arg(long, value_enum, value_name = "STATE")]
    pub state: Option<StateArg>,
    /// Only messages accepted at least this long ago (e.g. "2h", "3d").
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub older_than: Option<Duration>,
}

/// A recipient state as `queue list` prints it.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum StateArg {
    Queued,
    Deferred,
    Delivered,
    Failed,
}

impl FilterArgs {
    pub fn filter(&self) -> QueueFilter {
        QueueFilter {
            held: self.held,
            domain: self.domain.clone(),
            state: self.state.map(|state| match state {
                StateArg::Queued => RecipientStatus::Queued,
                StateArg::Deferred => RecipientStatus::Deferred,
                StateArg::Delivered => RecipientStatus::Delivered,
                StateArg::Failed => RecipientStatus::Failed,
            }),
            older_than: self.older_than.map(|d| d.as_secs()),
        }
    }
}

/// The messages of the queue that `filter` selects, oldest first.
pub async fn matching(
    client: &mut AdminClient,
    filter: &QueueFilter,
    now: u64,
) -> Result<Vec<QueuedMessage>, ClientError> {
    let mut messages = client.list().await?;
    messages.retain(|m| filter.matches(m, now));
    Ok(messages)
}

/// What `retry`/`delete` were asked to act on: one id, `--all`, or a
/// filter; exactly one of them.
pub enum Selection {
    Target(Target),
    Filter(QueueFilter),
}

pub fn selection(id: Option<String>, all: bool, filter: &FilterArgs) -> Result<Selection, Failure> {
    let filter = filter.filter();
    match (id, all, filter.is_empty()) {
        (Some(id), false, true) => Ok(Selection::Target(Target::One(id))),
        (None, true, true) => Ok(Selection::Target(Target::All)),
        (None, false, false) => Ok(Selection::Filter(filter)),
        (None, false, true) => Err(Failure::refused(anyhow::anyhow!(
            "name a message ID, --all, or a filter (--held, --domain, --state, --older-than)"
        ))),
        _ => Err(Failure::refused(anyhow::anyhow!(
            "give either a message ID, --all, or filters, not several"
        ))),
    }
}

/// Runs `act` on every message the filter selects; prints one line per
/// message and a total. A message that left the queue meanwhile is skipped.
pub async fn for_each_matching<F>(
    client: &mut AdminClient,
    filter: &QueueFilter,
    now: u64,
    verb: &str,
    mut act: F,
) -> CliResult
where
    F: AsyncFnMut(&mut AdminClient, String) -> Result<(), ClientError>,
{
    let ids: Vec<String> = matching(client, filter, now)
        .await
        .map_err(super::admin::failure)?
        .into_iter()
        .map(|m| m.id)
        .collect();
    let mut done = 0usize;
    for id in ids {
        match act(client, id.clone()).await {
            Ok(()) => {
                done += 1;
                super::admin::print(&format!("message {id} {verb}\n"))?;
            }
            Err(error) if error.is_refusal() => continue,
            Err(error) => return Err(super::admin::failure(error)),
        }
    }
    let plural = if done == 1 { "" } else { "s" };
    super::admin::print(&format!("{done} message{plural} {verb}\n"))
}

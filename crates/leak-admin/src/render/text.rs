//! Human output: aligned tables (comfy-table, no borders, like `docker ps`)
//! and short key/value blocks. Scripts use `--json` instead.

use std::fmt::Write as _;

use comfy_table::{presets, Cell, CellAlignment, Table};
use leak_store::{QueuedMessage, Recipient, RecipientStatus, UnixTime};

use super::{compact_duration, human_size, rfc3339};
use crate::protocol::{OptoutEntry, StatusReport};

/// Longest last error shown in the list table; `queue show` has the whole text.
const ERROR_WIDTH: usize = 60;

/// A borderless table with upper-case headers and two spaces between columns.
fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_header(header.to_vec());
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

/// `leak queue list`: one row per message.
pub fn list_table(messages: &[QueuedMessage], now: UnixTime) -> String {
    if messages.is_empty() {
        return "the queue is empty\n".to_string();
    }
    let mut table = table(&[
        "ID",
        "AGE",
        "SIZE",
        "RECIPIENTS",
        "NEXT ATTEMPT",
        "LAST ERROR",
    ]);
    for m in messages {
        let id = if m.held {
            format!("{} (held)", m.id)
        } else {
            m.id.clone()
        };
        table.add_row(vec![
            Cell::new(id),
            Cell::new(compact_duration(now.saturating_sub(m.created))),
            Cell::new(human_size(m.size)).set_alignment(CellAlignment::Right),
            Cell::new(domains_and_states(&m.recipients)),
            Cell::new(next_attempt(m, now)),
            Cell::new(last_error(&m.recipients).map(truncate).unwrap_or_default()),
        ]);
    }
    let held = messages.iter().filter(|m| m.held).count();
    let pending: usize = messages
        .iter()
        .map(|m| m.recipients.iter().filter(|r| !r.status.is_final()).count())
        .sum();
    format!(
        "{}\n{} message{} ({held} held), {pending} recipient{} pending\n",
        table.trim_fmt(),
        messages.len(),
        plural(messages.len()),
        plural(pending),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// One line per (domain, state), in recipient order: `example.org: 2 deferred`.
/// Domains are compared and shown lowercased, as DNS treats them.
fn domains_and_states(recipients: &[Recipient]) -> String {
    let mut groups: Vec<(String, RecipientStatus, usize)> = Vec::new();
    for r in recipients {
        let domain = r
            .address
            .rsplit_once('@')
            .map_or(r.address.as_str(), |(_, d)| d)
            .to_lowercase();
        match groups
            .iter_mut()
            .find(|(d, s, _)| *d == domain && *s == r.status)
        {
            Some(group) => group.2 += 1,
            None => groups.push((domain, r.status, 1)),
        }
    }
    let lines: Vec<String> = groups
        .into_iter()
        .map(|(domain, status, n)| match n {
            1 => format!("{domain}: {}", status.as_str()),
            n => format!("{domain}: {n} {}", status.as_str()),
        })
        .collect();
    lines.join("\n")
}

/// The earliest due time of a pending recipient, or why there is none.
fn next_attempt(message: &QueuedMessage, now: UnixTime) -> String {
    if message.held {
        return "held".to_string();
    }
    let due = message
        .recipients
        .iter()
        .filter(|r| !r.status.is_final())
        .filter_map(|r| r.next_attempt)
        .min();
    match due {
        None => "-".to_string(),
        Some(at) if at <= now => format!("{} (due)", rfc3339(at)),
        Some(at) => format!("{} (in {})", rfc3339(at), compact_duration(at - now)),
    }
}

/// The error most worth showing: a pending recipient's first, else any.
fn last_error(recipients: &[Recipient]) -> Option<&str> {
    let pending = recipients.iter().filter(|r| !r.status.is_final());
    pending
        .chain(recipients.iter())
        .find_map(|r| r.last_error.as_deref())
}

fn truncate(text: &str) -> String {
    let one_line = text.replace(['\r', '\n'], " ");
    if one_line.chars().count() <= ERROR_WIDTH {
        return one_line;
    }
    let cut: String = one_line.chars().take(ERROR_WIDTH - 1).collect();
    format!("{cut}…")
}

fn or_dash(value: Option<&str>) -> &str {
    value.filter(|v| !v.is_empty()).unwrap_or("-")
}

/// `leak queue show`: the envelope, each recipient, and every attempt.
pub fn show_text(m: &QueuedMessage, now: UnixTime) -> String {
    let mut out = String::new();
    let held = match (m.held, m.hold_reason.as_deref()) {
        (false, _) => "no".to_string(),
        (true, Some(reason)) => format!("yes ({reason})"),
        (true, None) => "yes".to_string(),
    };
    let age = compact_duration(now.saturating_sub(m.created));
    let fields = [
        ("id", m.id.clone()),
        ("created", format!("{} ({age} ago)", rfc3339(m.created))),
        ("size", format!("{} bytes", m.size)),
        ("held", held),
        ("return path", m.return_path.clone()),
        ("account", or_dash(Some(&m.account)).to_string()),
        ("notify", or_dash(m.notify.as_deref()).to_string()),
        ("report", if m.is_report { "yes" } else { "no" }.to_string()),
    ];
    for (key, value) in fields {
        let _ = writeln!(out, "{:<13}{value}", format!("{key}:"));
    }
    let mut recipients = table(&[
        "RECIPIENT",
        "STATE",
        "ATTEMPTS",
        "NEXT ATTEMPT",
        "LAST ERROR",
    ]);
    for r in &m.recipients {
        recipients.add_row(vec![
            Cell::new(&r.address),
            Cell::new(r.status.as_str()),
            Cell::new(r.attempts).set_alignment(CellAlignment::Right),
            Cell::new(r.next_attempt.map_or("-".to_string(), rfc3339)),
            Cell::new(or_dash(r.last_error.as_deref())),
        ]);
    }
    let _ = writeln!(out, "\n{}", recipients.trim_fmt());
    if m.history.is_empty() {
        out.push_str("\nno delivery attempt yet\n");
    } else {
        let mut history = table(&["AT", "RECIPIENT", "MX", "RESULT"]);
        for a in &m.history {
            history.add_row(vec![
                rfc3339(a.at),
                a.recipient.clone(),
                or_dash(a.mx.as_deref()).to_string(),
                a.result.clone(),
            ]);
        }
        let _ = writeln!(out, "\n{}", history.trim_fmt());
    }
    out
}

/// `leak status`.
pub fn status_text(report: &StatusReport) -> String {
    let q = &report.queue;
    let uptime = compact_duration(report.now.saturating_sub(report.started));
    let listeners = if report.listeners.is_empty() {
        "none".to_string()
    } else {
        report.listeners.join(", ")
    };
    format!(
        "leak {version}, up {uptime} (since {started})\n\
         listeners:     {listeners}\n\
         sessions open: {sessions}\n\
         policy store:  {policy_store}\n\
         dane:          {dane}\n\
         queue:         {messages} message{s} ({held} held)\n\
         recipients:    {queued} queued, {deferred} deferred, {delivered} delivered, {failed} failed\n",
        version = report.version,
        started = rfc3339(report.started),
        sessions = report.sessions_open,
        policy_store = report.policy_store,
        dane = report.dane,
        messages = q.messages,
        s = plural(q.messages),
        held = q.held,
        queued = q.queued,
        deferred = q.deferred,
        delivered = q.delivered,
        failed = q.failed,
    )
}

/// `leak optout list`: one `<hash>  <added>  <source>[  <reason>]` line per
/// entry (`-` for an unknown date).
pub fn optout_lines(entries: &[OptoutEntry]) -> String {
    entries
        .iter()
        .map(|e| {
            let added = e.added.map_or_else(|| "-".to_string(), rfc3339);
            let source = e.source.as_deref().unwrap_or("legacy");
            match &e.reason {
                Some(reason) => format!("{}  {added}  {source}  {reason}\n", e.hash),
                None => format!("{}  {added}  {source}\n", e.hash),
            }
        })
        .collect()
}

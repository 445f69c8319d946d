//! Which messages an operator means: the filters of `leak queue list`,
//! `retry` and `delete` (`--held`, `--domain`, `--state`, `--older-than`),
//! and `leak queue summary`'s per-domain counts by age, in the manner of
//! Postfix's qshape.
//!
//! Filtering happens on the CLI's side over the pages the daemon sends, so
//! the admin protocol stays as small as it was and a filter can never make
//! the daemon hold more of the queue than one page.

use leak_store::{QueuedMessage, RecipientStatus, UnixTime};
use std::collections::BTreeMap;

/// Every condition given must hold (an empty filter matches everything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// Only held messages.
    pub held: bool,
    /// Only messages with a recipient at this domain (case-insensitive).
    pub domain: Option<String>,
    /// Only messages with a recipient in this state.
    pub state: Option<RecipientStatus>,
    /// Only messages accepted at least this many seconds ago.
    pub older_than: Option<u64>,
}

impl QueueFilter {
    /// Whether no condition is set.
    pub fn is_empty(&self) -> bool {
        *self == QueueFilter::default()
    }

    /// Whether `message` passes every condition at time `now`.
    pub fn matches(&self, message: &QueuedMessage, now: UnixTime) -> bool {
        let domain_ok = self.domain.as_deref().is_none_or(|want| {
            message
                .recipients
                .iter()
                .any(|r| domain_of(&r.address).eq_ignore_ascii_case(want.trim_end_matches('.')))
        });
        let state_ok = self
            .state
            .is_none_or(|want| message.recipients.iter().any(|r| r.status == want));
        let age_ok = self
            .older_than
            .is_none_or(|age| now.saturating_sub(message.created) >= age);
        (!self.held || message.held) && domain_ok && state_ok && age_ok
    }
}

/// The domain of an address (after the last `@`), lowercased.
fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map_or("", |(_, domain)| domain)
        .to_ascii_lowercase()
}

/// qshape's age buckets, in minutes: a message falls in the first bucket
/// whose bound it is younger than, else in the last ("older").
pub const AGE_BUCKETS_MINUTES: [u64; 9] = [5, 10, 20, 40, 80, 160, 320, 640, 1280];

/// Pending recipients of one destination domain, by age of their message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DomainShape {
    pub total: usize,
    /// One count per [`AGE_BUCKETS_MINUTES`] bound, then one for older.
    pub by_age: [usize; AGE_BUCKETS_MINUTES.len() + 1],
}

/// Pending (queued or deferred) recipients per destination domain, with a
/// `TOTAL` row computed by the caller from the values.
pub fn summarize(messages: &[QueuedMessage], now: UnixTime) -> BTreeMap<String, DomainShape> {
    let mut shape: BTreeMap<String, DomainShape> = BTreeMap::new();
    for message in messages {
        let minutes = now.saturating_sub(message.created) / 60;
        let bucket = AGE_BUCKETS_MINUTES
            .iter()
            .position(|&bound| minutes < bound)
            .unwrap_or(AGE_BUCKETS_MINUTES.len());
        for recipient in message.recipients.iter().filter(|r| !r.status.is_final()) {
            let row = shape.entry(domain_of(&recipient.address)).or_default();
            row.total += 1;
            row.by_age[bucket] += 1;
        }
    }
    shape
}

#[cfg(test)]
mod tests {
    use super::*;
    use leak_store::Recipient;

    fn message(
        id: &str,
        created: u64,
        held: bool,
        recipients: &[(&str, RecipientStatus)],
    ) -> QueuedMessage {
        QueuedMessage {
            id: id.into(),
            created,
            size: 10,
            account: String::new(),
            notify: None,
            return_path: String::new(),
            held,
            hold_reason: None,
            is_report: false,
            recipients: recipients
                .iter()
                .map(|(address, status)| {
                    let mut r = Recipient::new(address.to_string(), created);
                    r.status = *status;
                    r
                })
                .collect(),
            history: Vec::new(),
            stamped: None,
        }
    }

    #[test]
    fn every_condition_must_hold() {
        let m = message(
            "a",
            1_000,
            true,
            &[("bob@Example.TEST", RecipientStatus::Deferred)],
        );
        let now = 1_000 + 3_600;
        assert!(QueueFilter::default().matches(&m, now));
        let filter = QueueFilter {
            held: true,
            domain: Some("example.test".into()),
            state: Some(RecipientStatus::Deferred),
            older_than: Some(3_600),
        };
        assert!(filter.matches(&m, now));
        for wrong in [
            QueueFilter {
                domain: Some("other.test".into()),
                ..filter.clone()
            },
            QueueFilter {
                state: Some(RecipientStatus::Queued),
                ..filter.clone()
            },
            QueueFilter {
                older_than: Some(3_601),
                ..filter.clone()
            },
        ] {
            assert!(!wrong.matches(&m, now), "{wrong:?}");
        }
        let not_held = message(
            "b",
            1_000,
            false,
            &[("bob@example.test", RecipientStatus::Deferred)],
        );
        assert!(!filter.matches(&not_held, now));
    }

    #[test]
    fn summary_counts_pending_recipients_by_domain_and_age() {
        let now = 1_000_000;
        let messages = [
            message(
                "a",
                now - 60,
                false,
                &[
                    ("x@a.test", RecipientStatus::Queued),
                    ("y@a.test", RecipientStatus::Delivered),
                    ("z@b.test", RecipientStatus::Deferred),
                ],
            ),
            message(
                "b",
                now - 30 * 60,
                false,
                &[("x@A.test", RecipientStatus::Deferred)],
            ),
            message(
                "c",
                now - 5 * 86_400,
                false,
                &[("x@a.test", RecipientStatus::Deferred)],
            ),
        ];
        let shape = summarize(&messages, now);
        let a = &shape["a.test"];
        assert_eq!(a.total, 3);
        assert_eq!(a.by_age[0], 1); // 1 minute: under 5
        assert_eq!(a.by_age[3], 1); // 30 minutes: under 40
        assert_eq!(a.by_age[AGE_BUCKETS_MINUTES.len()], 1); // 5 days: older
        assert_eq!(shape["b.test"].total, 1);
    }
}

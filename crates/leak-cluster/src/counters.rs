//! Counter windows: messages per account (or trusted client address) per
//! clock hour, anonymous messages per recipient per UTC day.
//!
//! The key names the window by its number (`now / 3600` or `now / 86400`),
//! so a restart finds the same window and a new window starts from zero.
//! Recipient and client keys are hashed, so no store holds an address;
//! recipients are normalised first (`leak_consent::normalize_address`) so
//! that `Bob@`, `bob+x@` and `bob@` share one counter.

use sha2::{Digest, Sha256};

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// One counter window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Counter {
    /// `h/<hour>/<account>`, `h/<hour>/@client/<sha256>` or `d/<day>/<sha256>`.
    pub key: String,
    /// When the window is over (unix seconds): the counter may go then.
    pub expires: u64,
}

impl Counter {
    /// An account's messages of the hour of `now`.
    pub fn account(account: &str, now: u64) -> Counter {
        Counter::hourly(now, account)
    }

    /// A trusted client's (no account) messages of the hour, by address;
    /// after `@client/`, which no account name contains.
    pub fn client(ip: std::net::IpAddr, now: u64) -> Counter {
        let digest = hex::encode(Sha256::digest(ip.to_string().as_bytes()));
        Counter::hourly(now, &format!("@client/{digest}"))
    }

    /// A recipient's anonymous messages of the UTC day of `now`.
    pub fn recipient(recipient: &str, now: u64) -> Counter {
        let normalized = leak_consent::normalize_address(recipient);
        let digest = hex::encode(Sha256::digest(normalized.as_bytes()));
        Counter {
            key: format!("d/{}/{digest}", now / DAY),
            expires: (now / DAY + 1) * DAY,
        }
    }

    /// The counter a stored key names, if its window is still open at
    /// `now` (`leak cluster import` carries only those).
    pub fn live(key: &[u8], now: u64) -> Option<Counter> {
        if is_stale(key, now) {
            return None;
        }
        let key = std::str::from_utf8(key).ok()?;
        let mut parts = key.splitn(3, '/');
        let (kind, bucket) = (parts.next()?, parts.next()?.parse::<u64>().ok()?);
        let span = if kind == "h" { HOUR } else { DAY };
        Some(Counter {
            key: key.to_owned(),
            expires: bucket.checked_add(1)?.checked_mul(span)?,
        })
    }

    fn hourly(now: u64, name: &str) -> Counter {
        Counter {
            key: format!("h/{}/{name}", now / HOUR),
            expires: (now / HOUR + 1) * HOUR,
        }
    }
}

/// Whether a stored key's window is over at `now` (unknown keys are).
pub(crate) fn is_stale(key: &[u8], now: u64) -> bool {
    let text = String::from_utf8_lossy(key);
    let mut parts = text.splitn(3, '/');
    match (
        parts.next(),
        parts.next().and_then(|b| b.parse::<u64>().ok()),
    ) {
        (Some("h"), Some(bucket)) => bucket < now / HOUR,
        (Some("d"), Some(bucket)) => bucket < now / DAY,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_go_stale_and_recipients_are_normalised() {
        let now = 10 * DAY + 5;
        let key = |c: Counter| c.key.into_bytes();
        assert!(!is_stale(&key(Counter::account("alice", now)), now));
        assert!(is_stale(&key(Counter::account("alice", now - HOUR)), now));
        assert!(!is_stale(
            &key(Counter::recipient("Bob@Example.test", now)),
            now
        ));
        assert!(is_stale(
            &key(Counter::recipient("bob@example.test", now - DAY)),
            now
        ));
        assert_eq!(
            Counter::recipient("Bob+x@EXAMPLE.test", now),
            Counter::recipient("bob@example.test", now)
        );
        assert_eq!(Counter::account("a", now).expires, 10 * DAY + HOUR);
        assert_eq!(Counter::recipient("a@b.test", now).expires, 11 * DAY);
        for counter in [
            Counter::account("alice", now),
            Counter::recipient("a@b.test", now),
        ] {
            assert_eq!(Counter::live(counter.key.as_bytes(), now), Some(counter));
        }
        let old = Counter::account("alice", now - HOUR);
        assert_eq!(Counter::live(old.key.as_bytes(), now), None);
        assert_eq!(Counter::live(b"x/1/y", now), None);
    }
}

//! Traffic shaping for a young sending IP, keyed by the MX host set: all
//! domains whose MX hosts are the same (every Google-hosted domain, say)
//! share one reputation at the receiver, so they share one set of limits.
//!
//! - at most `max_per_mx` transactions at once to a host set;
//! - at most `messages_per_minute` transactions a minute, spaced evenly
//!   (each reserves the next free slot; one that would wait longer than
//!   [`MAX_RATE_WAIT`] is deferred to its slot instead, without counting an
//!   attempt);
//! - during the warm-up ([`crate::Warmup`]), at most the day's cap of
//!   transactions per host set; the rest wait for the next UTC day (not
//!   counted as attempts). Counts are kept in memory: a restart forgets
//!   the day's count;
//! - after a throttling reply ([`is_throttling`]) the whole host set is
//!   suspended for `throttle_suspend`: its recipients are deferred until
//!   then, also without counting an attempt.
//!
//! State lives in memory: after a restart a suspended destination is tried
//! again once, which answers with another throttling reply at worst.

use crate::dns::MxTarget;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Longest a transaction waits in memory for its rate slot; beyond that it
/// is deferred to the slot (so tasks do not pile up asleep).
pub(crate) const MAX_RATE_WAIT: Duration = Duration::from_secs(60);

/// The limits and their per-host-set state.
pub(crate) struct Shaper {
    max_per_mx: usize,
    /// Time between two transactions to one host set; `None`: no rate limit.
    spacing: Option<Duration>,
    suspend: Duration,
    warmup: Option<crate::Warmup>,
    state: Mutex<HashMap<String, HostSet>>,
}

#[derive(Default)]
struct HostSet {
    connections: Option<Arc<Semaphore>>,
    next_slot: Option<Instant>,
    /// Unix second until which the host set is left alone.
    suspended_until: u64,
    /// Warm-up: (day number, transactions that day).
    today: (u64, u32),
}

/// What the rate limit says about one transaction.
pub(crate) enum Slot {
    /// Send after this wait.
    After(Duration),
    /// Too far ahead: defer the recipients to this Unix second.
    DeferUntil(u64),
}

impl Shaper {
    pub fn new(max_per_mx: usize, messages_per_minute: u32, suspend: Duration) -> Shaper {
        Shaper {
            max_per_mx,
            spacing: (messages_per_minute > 0)
                .then(|| Duration::from_secs(60) / messages_per_minute),
            suspend,
            warmup: None,
            state: Mutex::default(),
        }
    }

    pub fn with_warmup(mut self, warmup: Option<crate::Warmup>) -> Shaper {
        self.warmup = warmup;
        self
    }

    /// Counts one transaction against the day's warm-up cap; `Err` with the
    /// start of the next UTC day when the cap is reached.
    pub fn warmup_allows(&self, key: &str, now: u64) -> Result<(), u64> {
        let Some(warmup) = &self.warmup else {
            return Ok(());
        };
        let day = now.saturating_sub(warmup.start) / 86_400;
        let Some(&cap) = usize::try_from(day).ok().and_then(|d| warmup.daily.get(d)) else {
            return Ok(());
        };
        self.with(key, |h| {
            if h.today.0 != day {
                h.today = (day, 0);
            }
            if h.today.1 >= cap {
                return Err((now / 86_400 + 1) * 86_400);
            }
            h.today.1 += 1;
            Ok(())
        })
    }

    fn with<T>(&self, key: &str, f: impl FnOnce(&mut HostSet) -> T) -> T {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(state.entry(key.to_owned()).or_default())
    }

    /// Until when the host set is suspended, if it is at `now`.
    pub fn suspended(&self, key: &str, now: u64) -> Option<u64> {
        self.with(key, |h| {
            (h.suspended_until > now).then_some(h.suspended_until)
        })
    }

    /// Suspends the host set after a throttling reply; returns until when.
    pub fn suspend(&self, key: &str, now: u64) -> u64 {
        let until = now + self.suspend.as_secs().max(1);
        self.with(key, |h| {
            h.suspended_until = h.suspended_until.max(until);
            h.suspended_until
        })
    }

    /// Waits for one of the host set's connection slots (none to wait for
    /// without a limit).
    pub async fn connection(&self, key: &str) -> Option<OwnedSemaphorePermit> {
        if self.max_per_mx == 0 {
            return None;
        }
        let semaphore = self.with(key, |h| {
            h.connections
                .get_or_insert_with(|| Arc::new(Semaphore::new(self.max_per_mx)))
                .clone()
        });
        semaphore.acquire_owned().await.ok()
    }

    /// Reserves the host set's next transaction slot at `now` (Unix `unix_now`).
    pub fn reserve(&self, key: &str, now: Instant, unix_now: u64) -> Slot {
        let Some(spacing) = self.spacing else {
            return Slot::After(Duration::ZERO);
        };
        self.with(key, |h| {
            let slot = h.next_slot.map_or(now, |next| next.max(now));
            let wait = slot - now;
            if wait > MAX_RATE_WAIT {
                return Slot::DeferUntil(unix_now + wait.as_secs());
            }
            h.next_slot = Some(slot + spacing);
            Slot::After(wait)
        })
    }
}

/// The host set's key: its MX host names, lowercased and sorted.
pub(crate) fn key(targets: &[MxTarget]) -> String {
    let mut hosts: Vec<String> = targets
        .iter()
        .map(|t| t.host.to_ascii_lowercase())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts.join(",")
}

/// Whether a reply (or leak's summary quoting one) says the receiver is
/// throttling us: enhanced status `4.7.0` or `4.7.28` on a 4xx reply (what
/// Gmail, Outlook and Yahoo send to senders going too fast), or a `421`
/// without an enhanced code telling otherwise.
pub(crate) fn is_throttling(reply: &str) -> bool {
    let words: Vec<&str> = reply.split_whitespace().collect();
    words.windows(2).any(|w| {
        let code = w[0].trim_start_matches("last:");
        code.len() == 3
            && code.starts_with('4')
            && code.bytes().all(|b| b.is_ascii_digit())
            && (matches!(w[1], "4.7.0" | "4.7.28") || (code == "421" && !w[1].starts_with("4.")))
    })
}

/// `base` drawn within ± `jitter` (a fraction) of itself, from the OS's
/// random source, so retries of many messages do not arrive in lockstep.
pub(crate) fn jittered(base: Duration, jitter: f64) -> Duration {
    use rand::Rng;
    if jitter <= 0.0 || base.is_zero() {
        return base;
    }
    let factor = rand::rngs::OsRng.gen_range((1.0 - jitter)..=(1.0 + jitter));
    base.mul_f64(factor.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let base = Duration::from_secs(600);
        let draws: Vec<u64> = (0..500).map(|_| jittered(base, 0.1).as_secs()).collect();
        assert!(draws.iter().all(|d| (540..=660).contains(d)), "{draws:?}");
        let distinct: std::collections::HashSet<_> = draws.iter().collect();
        assert!(distinct.len() > 50, "{distinct:?}");
        assert!(draws.iter().any(|&d| d < 580) && draws.iter().any(|&d| d > 620));
        assert_eq!(jittered(base, 0.0), base);
    }

    #[test]
    fn throttling_replies() {
        assert!(is_throttling(
            "421 4.7.0 Try again later, closing connection"
        ));
        assert!(is_throttling(
            "451 4.4.1 no MX host accepted the session; last: 421 4.7.28 unusual rate"
        ));
        assert!(is_throttling("450 4.7.28 rate limited"));
        assert!(is_throttling("421 Too many connections"));
        assert!(!is_throttling("421 4.3.2 shutting down"));
        assert!(!is_throttling("451 4.3.0 try again later"));
        assert!(!is_throttling("550 5.7.0 policy"));
    }

    #[test]
    fn rate_slots_are_spaced_and_far_ones_deferred() {
        let shaper = Shaper::new(0, 60, Duration::from_secs(900));
        let now = Instant::now();
        let waits: Vec<Duration> = (0..3)
            .map(|_| match shaper.reserve("mx", now, 1000) {
                Slot::After(wait) => wait,
                Slot::DeferUntil(_) => panic!("deferred"),
            })
            .collect();
        assert_eq!(waits, [0, 1, 2].map(Duration::from_secs));
        // Another host set has its own rate.
        assert!(matches!(shaper.reserve("other", now, 1000), Slot::After(w) if w.is_zero()));
        for _ in 3..=60 {
            shaper.reserve("mx", now, 1000);
        }
        assert!(matches!(shaper.reserve("mx", now, 1000), Slot::DeferUntil(t) if t > 1060));
    }

    #[test]
    fn warmup_caps_grow_by_day_then_stop() {
        let start = 10 * 86_400;
        let shaper = Shaper::new(0, 0, Duration::from_secs(900)).with_warmup(Some(crate::Warmup {
            start,
            daily: vec![2, 3],
        }));
        let day = |n: u64| start + n * 86_400 + 100;
        assert_eq!(shaper.warmup_allows("a", day(0)), Ok(()));
        assert_eq!(shaper.warmup_allows("a", day(0)), Ok(()));
        assert_eq!(shaper.warmup_allows("a", day(0)), Err(start + 86_400));
        assert_eq!(shaper.warmup_allows("b", day(0)), Ok(()), "per host set");
        for _ in 0..3 {
            assert_eq!(shaper.warmup_allows("a", day(1)), Ok(()));
        }
        assert!(shaper.warmup_allows("a", day(1)).is_err());
        for _ in 0..100 {
            assert_eq!(shaper.warmup_allows("a", day(2)), Ok(()));
        }
    }

    #[test]
    fn suspension_and_keys() {
        let shaper = Shaper::new(2, 0, Duration::from_secs(900));
        assert_eq!(shaper.suspended("a", 100), None);
        assert_eq!(shaper.suspend("a", 100), 1000);
        assert_eq!(shaper.suspended("a", 999), Some(1000));
        assert_eq!(shaper.suspended("a", 1000), None);
        let t = |h: &str| MxTarget {
            host: h.into(),
            addrs: Vec::new(),
        };
        assert_eq!(key(&[t("B.mx"), t("a.mx")]), key(&[t("a.mx"), t("b.mx")]));
    }
}

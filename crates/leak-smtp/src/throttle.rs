//! AUTH brute-force protection shared by all sessions: each failure from an
//! address slows its next answer, and an address with too many recent failures
//! is refused outright for a while.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures from one address within [`WINDOW`] after which AUTH is refused.
const BLOCK_AFTER: u32 = 10;
/// How long failures are remembered.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Longest delay before answering a failed AUTH.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Bound on remembered addresses, so a flood of sources cannot grow memory.
const MAX_TRACKED: usize = 100_000;

/// Recent AUTH failures per client address.
#[derive(Default)]
pub(crate) struct AuthThrottle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    /// Delay per failure; one second in production, shorter in unit tests.
    step: Duration,
}

impl AuthThrottle {
    pub fn new(step: Duration) -> Self {
        AuthThrottle {
            failures: Mutex::default(),
            step,
        }
    }

    /// Whether this address has failed too often recently.
    pub fn is_blocked(&self, ip: IpAddr) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        matches!(failures.get(&ip), Some((count, since)) if *count >= BLOCK_AFTER && since.elapsed() < WINDOW)
    }

    /// Records a failure and returns how long to wait before answering.
    pub fn record_failure(&self, ip: IpAddr) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
        (self.step * entry.0).min(MAX_DELAY)
    }

    /// A success clears the address's record.
    pub fn record_success(&self, ip: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_address_is_blocked() {
        let throttle = AuthThrottle::new(Duration::from_secs(1));
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        assert_eq!(throttle.record_failure(ip), Duration::from_secs(1));
        assert_eq!(throttle.record_failure(ip), Duration::from_secs(2));
        assert!(!throttle.is_blocked(ip));
        for _ in 2..BLOCK_AFTER {
            assert!(throttle.record_failure(ip) <= MAX_DELAY);
        }
        assert!(throttle.is_blocked(ip));
        throttle.record_success(ip);
        assert!(!throttle.is_blocked(ip));
    }
}

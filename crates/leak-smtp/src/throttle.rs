//! AUTH brute-force protection shared by all sessions.
//!
//! Failures are counted per client (an IPv4 address or an IPv6 /64) and per
//! attempted username, over two 15-minute buckets (the current and the one
//! before). Past [`CLIENT_BLOCK_AFTER`] failures the client, and past
//! [`USER_BLOCK_AFTER`] the username, is refused AUTH until the buckets age
//! out. A success neither clears nor lowers anyone's count: an attacker with an
//! account of their own must not be able to wash an address clean.
//!
//! Every attempt is counted *before* the password is verified (a
//! reservation, turned into a failure or given back once the answer is
//! known), so parallel attempts cannot race past a block. Failures are
//! written through an [`AuthLedger`] so a restart forgets nothing, and each
//! refusal is logged at WARN on one line in a fixed format that the
//! fail2ban filter in `contrib/fail2ban` matches:
//!
//! `AUTH blocked: client=<ip> user=<name> reason=<client|user>`

use crate::anvil::ClientKey;
use crate::gate::Lane;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Failures from one client after which its AUTH is refused.
pub const CLIENT_BLOCK_AFTER: u32 = 10;
/// Failures against one username, from all clients together, after which
/// AUTH for that name is refused (a distributed guess at one account).
pub const USER_BLOCK_AFTER: u32 = 30;
/// Length of a counting bucket; a count lives for one to two buckets.
pub const BUCKET_SECONDS: u64 = 15 * 60;
/// Longest delay before answering a failed AUTH.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Bound on remembered keys, so a flood of names cannot grow memory.
const MAX_TRACKED: usize = 100_000;

/// Where failures are kept across restarts. `add` must not block: it is
/// called from the session, and may finish in the background.
pub trait AuthLedger: Send + Sync {
    /// Every remembered `(key, bucket, failures)`.
    fn load(&self) -> Vec<(String, u64, u32)>;
    /// Counts one failure of `key` in `bucket`.
    fn add(&self, key: &str, bucket: u64);
}

/// Why an attempt was refused without verifying the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    Client,
    User,
}

/// One key's failures in its two live buckets, and attempts in flight.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    bucket: u64,
    current: u32,
    previous: u32,
    reserved: u32,
    /// Attempts turned away unverified (full queue) this bucket: they make
    /// the client a suspect but do not count toward a block.
    turned_away: u32,
}

impl Counts {
    /// Moves the buckets forward to `bucket`.
    fn roll(&mut self, bucket: u64) {
        if bucket == self.bucket + 1 {
            self.previous = self.current;
        } else if bucket != self.bucket {
            self.previous = 0;
        }
        if bucket != self.bucket {
            self.current = 0;
            self.turned_away = 0;
            self.bucket = bucket;
        }
    }

    fn failures(&self) -> u32 {
        self.current + self.previous
    }

    fn is_stale(&self, bucket: u64) -> bool {
        self.reserved == 0 && self.bucket + 1 < bucket
    }
}

/// Clients remembered per username as having logged into it.
const KNOWN_CLIENTS: usize = 8;

/// Failure counts per client and per username.
pub(crate) struct AuthThrottle {
    counts: Mutex<HashMap<String, Counts>>,
    /// Per username, the last clients that logged into it. They are exempt
    /// from that username's block, so an attack on an account does not lock
    /// its owner out (the owner's client is still under its own limit).
    known: Mutex<HashMap<String, Vec<String>>>,
    /// Clients with a successful login, and the bucket of the last one.
    good: Mutex<HashMap<String, u64>>,
    /// Delay per failure; one second in production, shorter in tests.
    step: Duration,
    ledger: Option<Arc<dyn AuthLedger>>,
}

/// A counted attempt. Dropping it without [`AuthThrottle::finish`] (the
/// client went away mid-verification) gives the reservation back.
pub(crate) struct Attempt<'a> {
    throttle: &'a AuthThrottle,
    keys: [String; 2],
    done: bool,
}

impl AuthThrottle {
    pub fn new(step: Duration, ledger: Option<Arc<dyn AuthLedger>>) -> Self {
        let mut counts: HashMap<String, Counts> = HashMap::new();
        let now = bucket_now();
        for (key, bucket, failures) in ledger.iter().flat_map(|l| l.load()) {
            if bucket + 1 < now || bucket > now {
                continue;
            }
            let entry = counts.entry(key).or_default();
            if bucket == now {
                entry.current += failures;
            } else {
                entry.previous += failures;
            }
            entry.bucket = now;
        }
        AuthThrottle {
            counts: Mutex::new(counts),
            known: Mutex::default(),
            good: Mutex::default(),
            step,
            ledger,
        }
    }

    /// The verification queue for this client: known (logged in lately and
    /// clean since), suspect (failed, turned away or in flight lately) or
    /// fresh.
    pub fn lane(&self, ip: IpAddr) -> Lane {
        let bucket = bucket_now();
        let key = client_key(ip);
        let suspect = self.lock().get_mut(&key).is_some_and(|c| {
            c.roll(bucket);
            c.failures() + c.turned_away > 0
        });
        if suspect {
            return Lane::Suspect;
        }
        let good = self.good.lock().unwrap_or_else(|e| e.into_inner());
        match good.get(&key) {
            Some(&last) if last + 1 >= bucket => Lane::Known,
            _ => Lane::Fresh,
        }
    }

    /// The attempt was not verified (the queue was full): its reservation
    /// is given back, and its client becomes a suspect.
    pub fn turned_away(&self, mut attempt: Attempt<'_>) {
        attempt.done = true;
        let mut counts = self.lock();
        for key in &attempt.keys {
            if let Some(c) = counts.get_mut(key) {
                c.reserved = c.reserved.saturating_sub(1);
                c.turned_away += 1;
            }
        }
    }

    /// Counts an attempt before its password is verified, or refuses it.
    pub fn begin(&self, ip: IpAddr, username: &str) -> Result<Attempt<'_>, Blocked> {
        let bucket = bucket_now();
        let keys = [client_key(ip), user_key(username)];
        let known = self.is_known(&keys);
        let mut counts = self.lock();
        if counts.len() + 2 > MAX_TRACKED {
            counts.retain(|_, c| !c.is_stale(bucket));
        }
        let limits = [CLIENT_BLOCK_AFTER, USER_BLOCK_AFTER];
        for (key, limit) in keys.iter().zip(limits) {
            if known && limit == USER_BLOCK_AFTER {
                continue;
            }
            if let Some(c) = counts.get_mut(key) {
                c.roll(bucket);
                if c.failures() + c.reserved >= limit {
                    drop(counts);
                    let blocked = if limit == CLIENT_BLOCK_AFTER {
                        Blocked::Client
                    } else {
                        Blocked::User
                    };
                    log_block(ip, username, blocked);
                    return Err(blocked);
                }
            }
        }
        for key in &keys {
            // When the map is full of live keys, new ones go untracked
            // rather than refusing everyone.
            if counts.len() < MAX_TRACKED || counts.contains_key(key) {
                let c = counts.entry(key.clone()).or_default();
                c.roll(bucket);
                c.reserved += 1;
            }
        }
        Ok(Attempt {
            throttle: self,
            keys,
            done: false,
        })
    }

    /// Turns the reservation into a failure (or gives it back on success),
    /// and returns how long to wait before answering a failure.
    pub fn finish(
        &self,
        mut attempt: Attempt<'_>,
        success: bool,
        username: &str,
        ip: IpAddr,
    ) -> Duration {
        attempt.done = true;
        let bucket = bucket_now();
        let mut counts = self.lock();
        let mut client_failures = 0;
        for (index, key) in attempt.keys.iter().enumerate() {
            let Some(c) = counts.get_mut(key) else {
                continue;
            };
            c.reserved = c.reserved.saturating_sub(1);
            if success {
                continue;
            }
            c.roll(bucket);
            c.current += 1;
            if index == 0 {
                client_failures = c.failures();
            }
            if let Some(ledger) = &self.ledger {
                ledger.add(key, bucket);
            }
        }
        drop(counts);
        if success {
            self.remember(&attempt.keys, bucket);
            return Duration::ZERO;
        }
        if client_failures == CLIENT_BLOCK_AFTER {
            log_block(ip, username, Blocked::Client);
        }
        (self.step * client_failures.max(1)).min(MAX_DELAY)
    }

    /// Whether `[client, user]`'s client has logged into that user before.
    fn is_known(&self, keys: &[String; 2]) -> bool {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get(&keys[1])
            .is_some_and(|clients| clients.contains(&keys[0]))
    }

    fn remember(&self, keys: &[String; 2], bucket: u64) {
        let mut good = self.good.lock().unwrap_or_else(|e| e.into_inner());
        if good.len() >= MAX_TRACKED {
            good.retain(|_, last| *last + 1 >= bucket);
        }
        if good.len() < MAX_TRACKED {
            good.insert(keys[0].clone(), bucket);
        }
        drop(good);
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= MAX_TRACKED && !known.contains_key(&keys[1]) {
            return;
        }
        let clients = known.entry(keys[1].clone()).or_default();
        if !clients.contains(&keys[0]) {
            if clients.len() >= KNOWN_CLIENTS {
                clients.remove(0);
            }
            clients.push(keys[0].clone());
        }
    }

    fn release(&self, keys: &[String; 2]) {
        let mut counts = self.lock();
        for key in keys {
            if let Some(c) = counts.get_mut(key) {
                c.reserved = c.reserved.saturating_sub(1);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Counts>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.throttle.release(&self.keys);
        }
    }
}

/// The one-line WARN record fail2ban matches. The username is attacker
/// supplied, so it is reduced to printable ASCII without spaces.
fn log_block(ip: IpAddr, username: &str, blocked: Blocked) {
    let user = crate::session::printable(username);
    let user = if user.is_empty() { "-".into() } else { user };
    let reason = match blocked {
        Blocked::Client => "client",
        Blocked::User => "user",
    };
    let ip = crate::logged_ip(ip);
    tracing::warn!("AUTH blocked: client={ip} user={user} reason={reason}");
}

fn client_key(ip: IpAddr) -> String {
    format!("c/{}", ClientKey::of(ip))
}

/// Usernames compare case-insensitively, bounded in length.
fn user_key(username: &str) -> String {
    let name: String = username.to_lowercase().chars().take(128).collect();
    format!("u/{name}")
}

fn bucket_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        / BUCKET_SECONDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn delays_grow_then_client_is_blocked_and_successes_do_not_clear_it() {
        let throttle = AuthThrottle::new(Duration::from_secs(1), None);
        let bad = ip("127.0.0.9");
        let attempt = throttle.begin(bad, "alice").unwrap();
        assert_eq!(
            throttle.finish(attempt, false, "alice", bad),
            Duration::from_secs(1)
        );
        let attempt = throttle.begin(bad, "alice").unwrap();
        assert_eq!(
            throttle.finish(attempt, false, "alice", bad),
            Duration::from_secs(2)
        );
        // The attacker logs into an account of their own: nothing is cleared.
        let own = throttle.begin(bad, "mallory").unwrap();
        throttle.finish(own, true, "mallory", bad);
        assert_eq!(
            throttle.lane(bad),
            Lane::Suspect,
            "failures outrank the success"
        );
        let owner = ip("127.0.0.20");
        assert_eq!(throttle.lane(owner), Lane::Fresh);
        let login = throttle.begin(owner, "bob").unwrap();
        throttle.finish(login, true, "bob", owner);
        assert_eq!(throttle.lane(owner), Lane::Known);
        for _ in 2..CLIENT_BLOCK_AFTER {
            let attempt = throttle.begin(bad, "alice").unwrap();
            assert!(throttle.finish(attempt, false, "alice", bad) <= MAX_DELAY);
        }
        assert_eq!(throttle.begin(bad, "mallory").err(), Some(Blocked::Client));
        assert!(throttle.begin(ip("127.0.0.10"), "bob").is_ok());
    }

    #[test]
    fn parallel_attempts_are_counted_before_verification() {
        let throttle = AuthThrottle::new(Duration::ZERO, None);
        let bad = ip("2001:db8::1");
        let in_flight: Vec<_> = (0..CLIENT_BLOCK_AFTER)
            .map(|_| throttle.begin(bad, "alice").unwrap())
            .collect();
        // Same /64, other address: blocked as well while ten are in flight.
        assert_eq!(
            throttle.begin(ip("2001:db8::2"), "alice").err(),
            Some(Blocked::Client)
        );
        drop(in_flight);
        assert!(
            throttle.begin(bad, "alice").is_ok(),
            "abandoned attempts are given back"
        );
    }

    #[test]
    fn one_username_is_protected_across_clients_except_its_owners() {
        let throttle = AuthThrottle::new(Duration::ZERO, None);
        let owner = ip("192.0.2.50");
        let login = throttle.begin(owner, "alice").unwrap();
        throttle.finish(login, true, "alice", owner);
        for n in 0..USER_BLOCK_AFTER {
            let client = ip(&format!("10.0.{}.{}", n / 200, n % 200));
            let attempt = throttle.begin(client, "Alice").unwrap();
            throttle.finish(attempt, false, "Alice", client);
        }
        assert_eq!(
            throttle.begin(ip("10.9.9.9"), "alice").err(),
            Some(Blocked::User)
        );
        assert!(throttle.begin(ip("10.9.9.9"), "bob").is_ok());
        assert!(
            throttle.begin(owner, "alice").is_ok(),
            "the owner still gets in"
        );
    }

    #[derive(Default)]
    struct Memory(Mutex<Vec<(String, u64)>>);

    impl AuthLedger for Memory {
        fn load(&self) -> Vec<(String, u64, u32)> {
            let mut out: HashMap<(String, u64), u32> = HashMap::new();
            for (key, bucket) in self.0.lock().unwrap().iter() {
                *out.entry((key.clone(), *bucket)).or_default() += 1;
            }
            out.into_iter().map(|((k, b), n)| (k, b, n)).collect()
        }
        fn add(&self, key: &str, bucket: u64) {
            self.0.lock().unwrap().push((key.to_owned(), bucket));
        }
    }

    #[test]
    fn failures_survive_a_restart_through_the_ledger() {
        let ledger = Arc::new(Memory::default());
        let bad = ip("127.0.0.9");
        let throttle = AuthThrottle::new(Duration::ZERO, Some(ledger.clone()));
        for _ in 0..CLIENT_BLOCK_AFTER {
            let attempt = throttle.begin(bad, "alice").unwrap();
            throttle.finish(attempt, false, "alice", bad);
        }
        let restarted = AuthThrottle::new(Duration::ZERO, Some(ledger));
        assert_eq!(restarted.begin(bad, "alice").err(), Some(Blocked::Client));
    }
}

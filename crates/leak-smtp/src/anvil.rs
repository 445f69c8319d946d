//! Per-client limits, after Postfix's anvil: how many connections one client
//! holds at once, and how many connections, messages, recipients and AUTH
//! attempts it may start per minute. A client is an IPv4 address or an IPv6
//! /64 (one customer's usual allocation, so hopping inside it gains nothing).
//!
//! Rates use one-minute fixed windows: cheap, bounded, and precise enough to
//! stop a single client from taking the server for itself. Addresses in
//! `auth.trusted_networks` are exempt, as Postfix exempts `$mynetworks`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Length of a rate window.
const WINDOW: Duration = Duration::from_secs(60);
/// Bound on remembered clients, so a flood of sources cannot grow memory.
const MAX_TRACKED: usize = 100_000;

/// What one client may do. Zero means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Connections open at once.
    pub max_connections: u32,
    /// New connections per minute.
    pub connection_rate: u32,
    /// MAIL FROM commands per minute.
    pub message_rate: u32,
    /// RCPT TO commands per minute.
    pub recipient_rate: u32,
    /// AUTH commands per minute.
    pub auth_rate: u32,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            max_connections: 20,
            connection_rate: 120,
            message_rate: 60,
            recipient_rate: 300,
            auth_rate: 30,
        }
    }
}

/// The identity limits are counted under: an IPv4 address or an IPv6 /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(_) => ClientKey(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Which per-client limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Message,
    Recipient,
    Auth,
}

/// A fixed-window counter.
#[derive(Debug, Clone, Copy)]
struct Rate {
    start: Instant,
    count: u32,
}

impl Rate {
    fn new(now: Instant) -> Rate {
        Rate {
            start: now,
            count: 0,
        }
    }

    /// Counts one event; false when that would exceed `limit` this window.
    fn take(&mut self, limit: u32, now: Instant) -> bool {
        if now.duration_since(self.start) >= WINDOW {
            *self = Rate::new(now);
        }
        if limit != 0 && self.count >= limit {
            return false;
        }
        self.count += 1;
        true
    }

    fn is_stale(&self, now: Instant) -> bool {
        now.duration_since(self.start) >= WINDOW
    }
}

/// One client's counters.
struct Client {
    open: u32,
    connections: Rate,
    messages: Rate,
    recipients: Rate,
    auths: Rate,
}

impl Client {
    fn new(now: Instant) -> Client {
        Client {
            open: 0,
            connections: Rate::new(now),
            messages: Rate::new(now),
            recipients: Rate::new(now),
            auths: Rate::new(now),
        }
    }

    fn is_idle(&self, now: Instant) -> bool {
        self.open == 0
            && self.connections.is_stale(now)
            && self.messages.is_stale(now)
            && self.recipients.is_stale(now)
            && self.auths.is_stale(now)
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    TooManyOpen,
    TooFast,
}

/// The counters of every client, shared by all listeners.
pub(crate) struct Anvil {
    limits: ClientLimits,
    clients: Mutex<HashMap<ClientKey, Client>>,
}

impl Anvil {
    pub fn new(limits: ClientLimits) -> Arc<Anvil> {
        Arc::new(Anvil {
            limits,
            clients: Mutex::default(),
        })
    }

    /// Counts a new connection; the guard gives the slot back when dropped.
    pub fn connect(self: &Arc<Self>, key: ClientKey) -> Result<ClientGuard, Refused> {
        let now = Instant::now();
        let mut clients = self.lock();
        if clients.len() >= MAX_TRACKED && !clients.contains_key(&key) {
            clients.retain(|_, client| !client.is_idle(now));
        }
        let client = clients.entry(key).or_insert_with(|| Client::new(now));
        let max = self.limits.max_connections;
        if max != 0 && client.open >= max {
            return Err(Refused::TooManyOpen);
        }
        if !client.connections.take(self.limits.connection_rate, now) {
            return Err(Refused::TooFast);
        }
        client.open += 1;
        Ok(ClientGuard {
            anvil: self.clone(),
            key,
        })
    }

    /// Counts one event; false when the client is over its rate.
    pub fn allow(&self, key: ClientKey, event: Event) -> bool {
        let now = Instant::now();
        let mut clients = self.lock();
        let Some(client) = clients.get_mut(&key) else {
            // Only connected clients ask, and they are tracked.
            return true;
        };
        match event {
            Event::Message => client.messages.take(self.limits.message_rate, now),
            Event::Recipient => client.recipients.take(self.limits.recipient_rate, now),
            Event::Auth => client.auths.take(self.limits.auth_rate, now),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, Client>> {
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One counted connection; dropping it frees the slot.
pub(crate) struct ClientGuard {
    anvil: Arc<Anvil>,
    key: ClientKey,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        if let Some(client) = self.anvil.lock().get_mut(&self.key) {
            client.open = client.open.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_is_grouped_per_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2:aaaa::1")),
            ClientKey::of(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            ClientKey::of(ip("2001:db8:1:2::1")),
            ClientKey::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            ClientKey::of(ip("::ffff:192.0.2.1")),
            ClientKey::of(ip("192.0.2.1"))
        );
        assert_eq!(
            ClientKey::of(ip("2001:db8:1:2::1")).to_string(),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn open_connections_are_capped_and_freed_on_drop() {
        let anvil = Anvil::new(ClientLimits {
            max_connections: 2,
            connection_rate: 0,
            ..ClientLimits::default()
        });
        let key = ClientKey::of(ip("192.0.2.7"));
        let first = anvil.connect(key).unwrap();
        let _second = anvil.connect(key).unwrap();
        assert_eq!(anvil.connect(key).err(), Some(Refused::TooManyOpen));
        let other = ClientKey::of(ip("192.0.2.8"));
        assert!(
            anvil.connect(other).is_ok(),
            "another client is not affected"
        );
        drop(first);
        assert!(anvil.connect(key).is_ok());
    }

    #[test]
    fn rates_are_per_window() {
        let anvil = Anvil::new(ClientLimits {
            max_connections: 0,
            connection_rate: 3,
            message_rate: 1,
            ..ClientLimits::default()
        });
        let key = ClientKey::of(ip("192.0.2.7"));
        let guards: Vec<_> = (0..3).map(|_| anvil.connect(key).unwrap()).collect();
        assert_eq!(anvil.connect(key).err(), Some(Refused::TooFast));
        assert!(anvil.allow(key, Event::Message));
        assert!(!anvil.allow(key, Event::Message));
        drop(guards);
        let mut rate = Rate::new(Instant::now() - WINDOW);
        rate.count = 99;
        assert!(rate.take(1, Instant::now()), "a new window starts afresh");
    }
}

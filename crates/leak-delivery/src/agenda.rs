//! The scheduler's in-memory plan: when each message is next worth reading,
//! and which messages wait for a free connection slot. The store stays the
//! truth; the agenda only saves the scheduler from rereading the whole queue
//! after every event. A periodic full rescan rebuilds it, so a lost hint
//! delays a message by at most one poll interval.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

#[derive(Debug, Default)]
pub(crate) struct Agenda {
    /// (due time, message id), earliest first.
    due: BTreeSet<(u64, String)>,
    /// Each scheduled message's due time, to keep one entry per message.
    when: HashMap<String, u64>,
    /// Per recipient domain, messages with due recipients that found every
    /// slot taken, oldest first.
    waiting: BTreeMap<String, VecDeque<String>>,
    /// Membership of `waiting`, so a message waits once per domain.
    waiting_keys: HashSet<(String, String)>,
}

impl Agenda {
    /// Look at `id` at `at` (Unix seconds), or earlier if already planned earlier.
    pub fn at(&mut self, id: &str, at: u64) {
        match self.when.get(id) {
            Some(&planned) if planned <= at => {}
            Some(&planned) => {
                self.due.remove(&(planned, id.to_owned()));
                self.insert(id, at);
            }
            None => self.insert(id, at),
        }
    }

    fn insert(&mut self, id: &str, at: u64) {
        self.due.insert((at, id.to_owned()));
        self.when.insert(id.to_owned(), at);
    }

    /// Removes and returns every message due at `now`.
    pub fn take_due(&mut self, now: u64) -> Vec<String> {
        let mut taken = Vec::new();
        while let Some(first) = self.due.first() {
            if first.0 > now {
                break;
            }
            let (_, id) = self.due.pop_first().expect("first exists");
            self.when.remove(&id);
            taken.push(id);
        }
        taken
    }

    /// When the next planned message is due.
    pub fn next(&self) -> Option<u64> {
        self.due.first().map(|(at, _)| *at)
    }

    /// `id` has due recipients at `domain` but no slot was free.
    pub fn wait_for_slot(&mut self, domain: &str, id: &str) {
        if self.waiting_keys.insert((domain.to_owned(), id.to_owned())) {
            self.waiting
                .entry(domain.to_owned())
                .or_default()
                .push_back(id.to_owned());
        }
    }

    /// A slot was freed by a task for `domain`: the message that has waited
    /// longest for that domain, else for any domain `may_start` allows.
    pub fn slot_freed(&mut self, domain: &str, may_start: impl Fn(&str) -> bool) -> Option<String> {
        if let Some(id) = self.pop_waiting(domain) {
            return Some(id);
        }
        let other = self
            .waiting
            .iter()
            .find(|(d, queue)| !queue.is_empty() && may_start(d))
            .map(|(d, _)| d.clone())?;
        self.pop_waiting(&other)
    }

    fn pop_waiting(&mut self, domain: &str) -> Option<String> {
        let queue = self.waiting.get_mut(domain)?;
        let id = queue.pop_front();
        if queue.is_empty() {
            self.waiting.remove(domain);
        }
        if let Some(id) = &id {
            self.waiting_keys.remove(&(domain.to_owned(), id.clone()));
        }
        id
    }

    /// Forgets everything, before a full rescan rebuilds the plan.
    pub fn clear(&mut self) {
        *self = Agenda::default();
    }

    /// Messages planned or waiting.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.due.len() + self.waiting_keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_plan_wins_and_due_messages_come_out_in_order() {
        let mut agenda = Agenda::default();
        agenda.at("b", 20);
        agenda.at("a", 10);
        agenda.at("b", 30); // later: ignored
        agenda.at("c", 50);
        agenda.at("c", 5); // earlier: replaces
        assert_eq!(agenda.next(), Some(5));
        assert_eq!(agenda.take_due(20), ["c", "a", "b"]);
        assert_eq!(agenda.take_due(100), Vec::<String>::new());
        assert_eq!(agenda.len(), 0);
    }

    #[test]
    fn waiting_messages_get_freed_slots_own_domain_first() {
        let mut agenda = Agenda::default();
        agenda.wait_for_slot("x.test", "m1");
        agenda.wait_for_slot("x.test", "m1"); // once per domain
        agenda.wait_for_slot("y.test", "m2");
        agenda.wait_for_slot("x.test", "m3");
        assert_eq!(agenda.len(), 3);
        assert_eq!(agenda.slot_freed("x.test", |_| true).as_deref(), Some("m1"));
        assert_eq!(agenda.slot_freed("x.test", |_| true).as_deref(), Some("m3"));
        assert_eq!(agenda.slot_freed("x.test", |d| d != "y.test"), None);
        assert_eq!(agenda.slot_freed("x.test", |_| true).as_deref(), Some("m2"));
        assert_eq!(agenda.len(), 0);
    }
}

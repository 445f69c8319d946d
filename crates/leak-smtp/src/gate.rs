//! The password-verification gate: at most `workers` verifications at once
//! (each argon2id costs ~19 MiB and a core for ~20 ms), with bounded queues.
//!
//! Three queues, served in order: clients that logged in successfully
//! recently and have not failed since (`Known`, the people who own
//! accounts), clients never seen (`Fresh`), and clients with recent
//! failures (`Suspect`). With two or more workers, fresh and suspect
//! clients together may use all but one of them, so a known client finds a
//! free slot however large a flood is. A full queue is answered at once with
//! a temporary failure instead of growing.
//!
//! Written by hand because it is ~100 lines over tokio's `oneshot`, and no
//! maintained crate offers a prioritised, bounded admission queue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Which queue a verification waits in, highest priority first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Logged in successfully recently, no failure since.
    Known = 0,
    /// No recent history.
    Fresh = 1,
    /// Failed, or was turned away, recently.
    Suspect = 2,
}

const LANES: [Lane; 3] = [Lane::Known, Lane::Fresh, Lane::Suspect];

/// The queue is full: answer with a temporary failure.
#[derive(Debug)]
pub(crate) struct Full;

struct State {
    running: usize,
    /// Waiters per lane, indexed by `Lane as usize`.
    queues: [VecDeque<oneshot::Sender<Permit>>; 3],
}

impl State {
    /// Whether nobody of this lane's priority or higher is waiting.
    fn nobody_ahead(&self, lane: Lane) -> bool {
        self.queues[..=lane as usize].iter().all(VecDeque::is_empty)
    }
}

struct Inner {
    workers: usize,
    queue_limit: usize,
    state: Mutex<State>,
}

/// Admission to password verification.
#[derive(Clone)]
pub(crate) struct Gate {
    inner: Arc<Inner>,
}

/// A running verification; dropping it lets the next one in.
pub(crate) struct Permit {
    inner: Arc<Inner>,
    /// False for a permit handed back by a waiter that gave up: the count
    /// was already undone, so dropping it must do nothing.
    armed: bool,
}

impl Gate {
    /// `workers` verifications at once; `queue_limit` waiting per lane.
    pub fn new(workers: usize, queue_limit: usize) -> Gate {
        Gate {
            inner: Arc::new(Inner {
                workers: workers.max(1),
                queue_limit,
                state: Mutex::new(State {
                    running: 0,
                    queues: Default::default(),
                }),
            }),
        }
    }

    /// Waits for a verification slot, or refuses at once if the lane's queue
    /// is full.
    pub async fn enter(&self, lane: Lane) -> Result<Permit, Full> {
        let waiting = {
            let mut state = self.inner.lock();
            if state.nobody_ahead(lane) && state.running < self.inner.limit(lane) {
                state.running += 1;
                return Ok(Permit {
                    inner: self.inner.clone(),
                    armed: true,
                });
            }
            let queue = &mut state.queues[lane as usize];
            queue.retain(|waiter| !waiter.is_closed());
            if queue.len() >= self.inner.queue_limit {
                return Err(Full);
            }
            let (sender, receiver) = oneshot::channel();
            queue.push_back(sender);
            receiver
        };
        // The sender side only drops after handing over a permit or when the
        // gate is gone; either way a closed channel means "no slot".
        waiting.await.map_err(|_| Full)
    }
}

impl Inner {
    /// Slots a lane may use: unknown clients leave one free for known ones.
    fn limit(&self, lane: Lane) -> usize {
        match lane {
            Lane::Known => self.workers,
            Lane::Fresh | Lane::Suspect => (self.workers - 1).max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.inner.lock();
        state.running -= 1;
        loop {
            let running = state.running;
            let lane = LANES.into_iter().find(|&lane| {
                !state.queues[lane as usize].is_empty() && running < self.inner.limit(lane)
            });
            let Some(lane) = lane else { return };
            let Some(waiter) = state.queues[lane as usize].pop_front() else {
                return;
            };
            state.running += 1;
            let permit = Permit {
                inner: self.inner.clone(),
                armed: true,
            };
            match waiter.send(permit) {
                Ok(()) => return,
                // That waiter gave up: undo the count here (its drop must not
                // take the lock held now) and try the next one.
                Err(mut permit) => {
                    permit.armed = false;
                    state.running -= 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn waiter(gate: &Gate, lane: Lane) -> tokio::task::JoinHandle<Result<(), Full>> {
        let gate = gate.clone();
        tokio::spawn(async move { gate.enter(lane).await.map(|_| ()) })
    }

    #[tokio::test]
    async fn known_clients_keep_a_slot_and_go_first() {
        let gate = Gate::new(2, 2);
        let busy = gate.enter(Lane::Suspect).await.unwrap();
        // Unknown clients may use only one of two slots: these queue...
        let suspect = waiter(&gate, Lane::Suspect);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let fresh = waiter(&gate, Lane::Fresh);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!suspect.is_finished() && !fresh.is_finished());
        // ...while a known client gets the reserved slot at once.
        let known = tokio::time::timeout(Duration::from_millis(100), gate.enter(Lane::Known))
            .await
            .expect("a known client does not wait behind the others")
            .unwrap();
        drop(known);
        drop(busy);
        // The fresh one goes before the suspect that queued earlier.
        fresh.await.unwrap().unwrap();
        suspect.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_full_queue_refuses_instead_of_growing() {
        let gate = Gate::new(1, 1);
        let running = gate.enter(Lane::Suspect).await.unwrap();
        let waiting = waiter(&gate, Lane::Suspect);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(gate.enter(Lane::Suspect).await.is_err());
        waiting.abort();
        let _ = waiting.await;
        // The abandoned waiter holds neither its place nor a slot.
        drop(running);
        let again = tokio::time::timeout(Duration::from_millis(100), gate.enter(Lane::Suspect))
            .await
            .unwrap();
        assert!(again.is_ok());
    }
}

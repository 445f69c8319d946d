//! The password-verification gate: at most `workers` verifications at once
//! (each argon2id costs ~19 MiB and a core for ~20 ms), with bounded queues.
//!
//! Two queues: one for clients with no recent AUTH failure (the people who
//! own accounts), one for everyone else. Waiting clean clients always go
//! first, and with two or more workers the failing queue may use all but one
//! of them, so a login keeps a free slot however large a flood is. A full
//! queue is answered at once with a temporary failure instead of growing.
//!
//! Written by hand because it is ~100 lines over tokio's `oneshot`, and no
//! maintained crate offers a two-lane bounded admission queue.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Which queue a verification waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// The client has no recent AUTH failure.
    Clean,
    /// The client has failed recently: it may wait, and may be turned away.
    Suspect,
}

/// The queue is full: answer with a temporary failure.
#[derive(Debug)]
pub(crate) struct Full;

struct State {
    running: usize,
    clean: VecDeque<oneshot::Sender<Permit>>,
    suspect: VecDeque<oneshot::Sender<Permit>>,
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
                    clean: VecDeque::new(),
                    suspect: VecDeque::new(),
                }),
            }),
        }
    }

    /// Waits for a verification slot, or refuses at once if the lane's queue
    /// is full.
    pub async fn enter(&self, lane: Lane) -> Result<Permit, Full> {
        let waiting = {
            let mut state = self.inner.lock();
            let queue_empty = match lane {
                Lane::Clean => state.clean.is_empty(),
                Lane::Suspect => state.clean.is_empty() && state.suspect.is_empty(),
            };
            if queue_empty && state.running < self.inner.limit(lane) {
                state.running += 1;
                return Ok(Permit {
                    inner: self.inner.clone(),
                    armed: true,
                });
            }
            let queue = match lane {
                Lane::Clean => &mut state.clean,
                Lane::Suspect => &mut state.suspect,
            };
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
    /// Slots a lane may use: suspects leave one free for clean clients.
    fn limit(&self, lane: Lane) -> usize {
        match lane {
            Lane::Clean => self.workers,
            Lane::Suspect => (self.workers - 1).max(1),
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
            let waiter = if !state.clean.is_empty() {
                state.clean.pop_front()
            } else if state.running < self.inner.limit(Lane::Suspect) {
                state.suspect.pop_front()
            } else {
                None
            };
            let Some(waiter) = waiter else { return };
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

    #[tokio::test]
    async fn clean_clients_keep_a_slot_and_go_first() {
        let gate = Gate::new(2, 2);
        let busy = gate.enter(Lane::Suspect).await.unwrap();
        // Suspects may use only one of two slots: the next one queues...
        let queued = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(Lane::Suspect).await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!queued.is_finished());
        // ...while a clean client gets the reserved slot at once.
        let clean = tokio::time::timeout(Duration::from_millis(100), gate.enter(Lane::Clean))
            .await
            .expect("a clean client does not wait behind suspects")
            .unwrap();
        drop(clean);
        drop(busy);
        queued.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_full_queue_refuses_instead_of_growing() {
        let gate = Gate::new(1, 1);
        let _running = gate.enter(Lane::Suspect).await.unwrap();
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter(Lane::Suspect).await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(gate.enter(Lane::Suspect).await.is_err());
        waiting.abort();
        let _ = waiting.await;
        // The abandoned waiter does not hold its place or a slot.
        drop(_running);
        let again = tokio::time::timeout(Duration::from_millis(100), gate.enter(Lane::Suspect))
            .await
            .unwrap();
        assert!(again.is_ok());
    }
}

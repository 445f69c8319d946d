//! The group commit: one writer thread owns every mutation.
//!
//! It takes every request waiting in its channel as one batch and:
//! 1. appends the batch's bodies to the active segment and fdatasyncs it once;
//! 2. applies every envelope and kv change to sled, in arrival order (so a
//!    `modify` runs its closure against the latest envelope: being the only
//!    writer makes it atomic against every other mutation);
//! 3. flushes sled once;
//! 4. deletes segments that no envelope references any more, then answers
//!    every request of the batch.
//!
//! Nothing is answered `Ok` before the flush that covers it, with one
//! exception: a [`Op::ModifyOrRemove`] that removed its (finished) message is
//! answered as soon as the removal is applied in step 2. The removal is
//! still flushed with its batch; a crash before that flush only brings the
//! message back as it was, to be delivered again (see
//! [`crate::Store::modify_or_remove`]).

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::{io, thread};

use tokio::sync::oneshot;

use crate::damage::kv_record_name;
use crate::record::{self, BodyRef};
use crate::segments::Segments;
use crate::sled_store::{db_error, Shared};
use crate::{MessageChange, QueuedMessage, Result, Settled, StoreError};

/// Where the writer sends a request's outcome.
pub(crate) type Reply<T> = oneshot::Sender<Result<T>>;

/// Most requests committed together; bounds the latency of one batch.
const MAX_BATCH: usize = 512;

/// One mutation request.
pub(crate) enum Op {
    Enqueue {
        message: QueuedMessage,
        body: Vec<u8>,
        reply: Reply<()>,
    },
    Update {
        message: QueuedMessage,
        reply: Reply<()>,
    },
    Modify {
        id: String,
        change: MessageChange,
        reply: Reply<QueuedMessage>,
    },
    Remove {
        id: String,
        reply: Reply<()>,
    },
    ModifyOrRemove {
        id: String,
        change: MessageChange,
        reply: Reply<Settled>,
    },
    KvPut {
        tree: String,
        key: Vec<u8>,
        value: Vec<u8>,
        reply: Reply<()>,
    },
    KvRemove {
        tree: String,
        key: Vec<u8>,
        reply: Reply<bool>,
    },
    KvAdd {
        tree: String,
        key: Vec<u8>,
        delta: u64,
        reply: Reply<u64>,
    },
    Flush {
        reply: Reply<()>,
    },
}

/// A request after step 1: an enqueue knows where its body went.
enum Staged {
    Enqueue {
        message: QueuedMessage,
        at: Result<BodyRef>,
        reply: Reply<()>,
    },
    Other(Op),
}

/// A request's outcome, held until the batch's flush is done.
enum Answer {
    Unit(Reply<()>, Result<()>),
    Message(Reply<QueuedMessage>, Result<QueuedMessage>),
    Bool(Reply<bool>, Result<bool>),
    Count(Reply<u64>, Result<u64>),
    Settled(Reply<Settled>, Result<Settled>),
}

impl Answer {
    /// Whether this request changed sled (and so needs the flush).
    fn changed(&self) -> bool {
        match self {
            Answer::Unit(_, r) => r.is_ok(),
            Answer::Message(_, r) => r.is_ok(),
            Answer::Bool(_, r) => r.is_ok(),
            Answer::Count(_, r) => r.is_ok(),
            Answer::Settled(_, r) => r.is_ok(),
        }
    }

    /// Sends the answer now if it need not wait for the flush (a removed
    /// finished message); otherwise gives it back.
    fn send_early(self) -> Option<Answer> {
        match self {
            Answer::Settled(reply, Ok(Settled::Removed)) => {
                let _ = reply.send(Ok(Settled::Removed));
                None
            }
            other => Some(other),
        }
    }

    /// Answers the caller; a failed flush turns success into an error.
    fn send(self, flush_error: Option<&str>) {
        fn finish<T>(reply: Reply<T>, result: Result<T>, flush_error: Option<&str>) {
            let result = match (result, flush_error) {
                (Ok(_), Some(reason)) => Err(StoreError::Database(format!(
                    "flush failed, change not durable: {reason}"
                ))),
                (result, _) => result,
            };
            // The caller may have stopped waiting; the change stands anyway.
            let _ = reply.send(result);
        }
        match self {
            Answer::Unit(reply, r) => finish(reply, r, flush_error),
            Answer::Message(reply, r) => finish(reply, r, flush_error),
            Answer::Bool(reply, r) => finish(reply, r, flush_error),
            Answer::Count(reply, r) => finish(reply, r, flush_error),
            Answer::Settled(reply, r) => finish(reply, r, flush_error),
        }
    }
}

/// The writer thread's state.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    segments: Segments,
}

impl Writer {
    /// Starts the writer thread; it stops once every sender is dropped and
    /// the requests already sent are answered.
    pub(crate) fn spawn(
        shared: Arc<Shared>,
        segments: Segments,
        requests: Receiver<Op>,
    ) -> io::Result<JoinHandle<()>> {
        let writer = Writer { shared, segments };
        thread::Builder::new()
            .name("leak-store-writer".to_string())
            .spawn(move || writer.run(requests))
    }

    fn run(mut self, requests: Receiver<Op>) {
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match requests.try_recv() {
                    Ok(op) => batch.push(op),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
    }

    /// Runs one group commit (steps 1 to 4 of the module docs).
    fn commit(&mut self, batch: Vec<Op>) {
        self.shared.stats.count_batch(batch.len());
        let staged = self.write_bodies(batch);
        let mut new_ids = Vec::new();
        let mut must_flush = false;
        let mut answers = Vec::with_capacity(staged.len());
        for request in staged {
            if matches!(request, Staged::Other(Op::Flush { .. })) {
                must_flush = true;
            }
            let answer = self.apply(request, &mut new_ids);
            must_flush |= answer.changed();
            answers.extend(answer.send_early());
        }
        let mut flush_error = None;
        if must_flush {
            if let Err(e) = self.shared.flush_db() {
                tracing::error!("store flush failed: {e}");
                flush_error = Some(e.to_string());
            }
        }
        if !new_ids.is_empty() {
            let mut pending = self.shared.lock_pending();
            for id in &new_ids {
                pending.remove(id);
            }
        }
        if flush_error.is_none() {
            self.segments.delete_unreferenced();
        }
        for answer in answers {
            answer.send(flush_error.as_deref());
        }
    }

    /// Step 1: append every body, then one fdatasync.
    fn write_bodies(&mut self, batch: Vec<Op>) -> Vec<Staged> {
        let mut staged: Vec<Staged> = batch
            .into_iter()
            .map(|op| match op {
                Op::Enqueue {
                    message,
                    body,
                    reply,
                } => {
                    let at = self.segments.append(&message.id, &body).map_err(Into::into);
                    Staged::Enqueue { message, at, reply }
                }
                other => Staged::Other(other),
            })
            .collect();
        if let Err(e) = self.segments.sync() {
            tracing::error!("segment fdatasync failed: {e}");
            for request in &mut staged {
                if let Staged::Enqueue { at, .. } = request {
                    if at.is_ok() {
                        *at = Err(io::Error::new(e.kind(), e.to_string()).into());
                    }
                }
            }
        }
        staged
    }

    /// Step 2 for one request.
    fn apply(&mut self, request: Staged, new_ids: &mut Vec<String>) -> Answer {
        let op = match request {
            Staged::Enqueue { message, at, reply } => {
                let result = at.and_then(|at| self.insert_new(message, at, new_ids));
                return Answer::Unit(reply, result);
            }
            Staged::Other(op) => op,
        };
        match op {
            Op::Enqueue { .. } => unreachable!("enqueues are staged in step 1"),
            Op::Update { message, reply } => Answer::Unit(reply, self.update(message)),
            Op::Modify { id, change, reply } => Answer::Message(reply, self.modify(&id, change)),
            Op::Remove { id, reply } => Answer::Unit(reply, self.remove(&id)),
            Op::ModifyOrRemove { id, change, reply } => {
                Answer::Settled(reply, self.modify_or_remove(&id, change))
            }
            Op::KvPut {
                tree,
                key,
                value,
                reply,
            } => Answer::Unit(reply, self.kv_put(&tree, &key, &value)),
            Op::KvRemove { tree, key, reply } => Answer::Bool(reply, self.kv_remove(&tree, &key)),
            Op::KvAdd {
                tree,
                key,
                delta,
                reply,
            } => Answer::Count(reply, self.kv_add(&tree, &key, delta)),
            Op::Flush { reply } => Answer::Unit(reply, Ok(())),
        }
    }

    fn insert_new(
        &mut self,
        message: QueuedMessage,
        at: BodyRef,
        new_ids: &mut Vec<String>,
    ) -> Result<()> {
        let id = message.id.clone();
        // This thread is the only writer, so the check cannot go stale.
        if self
            .shared
            .envelopes
            .contains_key(id.as_bytes())
            .map_err(db_error)?
        {
            return Err(StoreError::Database(format!(
                "message id {id} is already queued"
            )));
        }
        // Hidden from readers until the flush that makes it durable.
        self.shared.lock_pending().insert(id.clone());
        new_ids.push(id.clone());
        let value = record::encode_envelope(&at, &message);
        self.shared
            .envelopes
            .insert(id.as_bytes(), value)
            .map_err(db_error)?;
        self.segments.add_ref(at.segment);
        Ok(())
    }

    /// The current envelope of `id`.
    fn read(&self, id: &str) -> Result<(BodyRef, QueuedMessage)> {
        let bytes = self
            .shared
            .envelopes
            .get(id.as_bytes())
            .map_err(db_error)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        self.shared.decode_envelope(id, &bytes)
    }

    fn write(&self, at: &BodyRef, message: &QueuedMessage) -> Result<()> {
        let value = record::encode_envelope(at, message);
        self.shared
            .envelopes
            .insert(message.id.as_bytes(), value)
            .map_err(db_error)?;
        Ok(())
    }

    fn update(&mut self, message: QueuedMessage) -> Result<()> {
        let (at, _) = self.read(&message.id)?;
        self.write(&at, &message)
    }

    fn modify(&mut self, id: &str, change: MessageChange) -> Result<QueuedMessage> {
        let (at, mut message) = self.read(id)?;
        if catch_unwind(AssertUnwindSafe(|| change(&mut message))).is_err() {
            return Err(StoreError::Database(format!(
                "the change to message {id} panicked; nothing written"
            )));
        }
        if message.id != id {
            return Err(StoreError::Database(format!(
                "a change may not alter the id of message {id}"
            )));
        }
        self.write(&at, &message)?;
        Ok(message)
    }

    fn modify_or_remove(&mut self, id: &str, change: MessageChange) -> Result<Settled> {
        let message = self.modify(id, change)?;
        if !message.is_done() {
            return Ok(Settled::Kept(Box::new(message)));
        }
        match self.remove(id) {
            Ok(()) => Ok(Settled::Removed),
            // The change stands (and is flushed with the batch): the
            // message stays, finished, for the scheduler's next look.
            Err(e) => {
                tracing::warn!(queue_id = %id, error = %e, "cannot remove finished message");
                Ok(Settled::Kept(Box::new(message)))
            }
        }
    }

    fn remove(&mut self, id: &str) -> Result<()> {
        let old = self
            .shared
            .envelopes
            .remove(id.as_bytes())
            .map_err(db_error)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        if let Ok((at, _)) = record::decode_envelope(&old) {
            self.segments.release(at.segment);
        }
        self.shared.damage.forget(id);
        Ok(())
    }

    fn kv_put(&mut self, tree: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.shared
            .kv_tree(tree)?
            .insert(key, record::seal(value))
            .map_err(db_error)?;
        self.shared.damage.forget(&kv_record_name(tree, key));
        Ok(())
    }

    fn kv_remove(&mut self, tree: &str, key: &[u8]) -> Result<bool> {
        let old = self.shared.kv_tree(tree)?.remove(key).map_err(db_error)?;
        if old.is_some() {
            self.shared.damage.forget(&kv_record_name(tree, key));
        }
        Ok(old.is_some())
    }

    fn kv_add(&mut self, tree: &str, key: &[u8], delta: u64) -> Result<u64> {
        let kv = self.shared.kv_tree(tree)?;
        let current = match kv.get(key).map_err(db_error)? {
            None => 0,
            Some(bytes) => {
                let value = self.shared.unseal_kv(tree, key, &bytes)?;
                let counter: [u8; 8] = value.as_slice().try_into().map_err(|_| {
                    let reason = format!("counter is {} bytes, not 8", value.len());
                    self.shared
                        .damage
                        .report(&kv_record_name(tree, key), &reason);
                    StoreError::Damaged {
                        key: kv_record_name(tree, key),
                        reason,
                    }
                })?;
                u64::from_be_bytes(counter)
            }
        };
        let next = current.checked_add(delta).ok_or_else(|| {
            StoreError::Database(format!(
                "counter {} would overflow",
                kv_record_name(tree, key)
            ))
        })?;
        kv.insert(key, record::seal(&next.to_be_bytes()))
            .map_err(db_error)?;
        Ok(next)
    }
}

/// Ids of messages inserted but not yet flushed.
pub(crate) type Pending = HashSet<String>;

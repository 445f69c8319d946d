//! What each [`Request`] does to the store. The socket plumbing is in
//! `server.rs`; this file only knows the store and the scheduler's bell.
//!
//! Hold, release and retry go through [`Store::modify`], the same atomic
//! read-change-write the delivery scheduler uses, so an operator's change and
//! a finishing delivery attempt never overwrite each other. The scheduler
//! keeps `held` as the operator last set it (OpenSMTPD #793: a message held
//! while being delivered must not come back).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use leak_store::{QueuedMessage, RecipientStatus, Store, StoreError, UnixTime};
use tokio::task::JoinSet;

use crate::optout;
use crate::protocol::{ErrorKind, QueueCounts, Request, Response, StatusReport, Target};
use crate::server::AdminContext;

/// The hold reason recorded when an operator holds a message.
pub const OPERATOR_HOLD_REASON: &str = "held by operator";

/// How many store mutations `--all` keeps in flight, so the store's group
/// commit can batch them into few fsyncs without unbounded task counts.
const BULK_IN_FLIGHT: usize = 256;

/// The current time in unix seconds.
pub(crate) fn now() -> UnixTime {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answers one request. Never panics on bad input: every failure is a [`Response::Error`].
pub(crate) async fn handle(ctx: &AdminContext, request: Request) -> Response {
    let store = &ctx.store;
    let result = match request {
        Request::QueueList { after } => list_page(store, after).await,
        Request::QueueShow { id } => show(store.as_ref(), &id),
        Request::QueueCat { id } => cat(store, id, ctx.render_outgoing.clone()).await,
        Request::QueueRetry { target } => retry(store, target).await,
        Request::QueueHold { id } => hold(store.as_ref(), &id).await,
        Request::QueueRelease { id } => release(store.as_ref(), &id).await,
        Request::QueueDelete { target } => delete(store, target).await,
        Request::OptoutAdd { address } => optout_add(&ctx.suppression, &address).await,
        Request::OptoutRemove { address } => optout_remove(&ctx.suppression, &address).await,
        Request::OptoutList => optout::list(&ctx.suppression)
            .map(|entries| Response::Optouts { entries })
            .map_err(store_error),
        Request::Status => status(ctx).await,
        Request::Reload => reload(ctx).await,
    };
    let response = result.unwrap_or_else(|(kind, message)| Response::Error { kind, message });
    if wakes_scheduler(&response) {
        ctx.wake_scheduler.notify_one();
    }
    response
}

/// Whether the scheduler has new work: recipients made due, or a message released.
fn wakes_scheduler(response: &Response) -> bool {
    match response {
        Response::Retried { messages, .. } => *messages > 0,
        Response::Released { changed, .. } => *changed,
        _ => false,
    }
}

type OpResult = Result<Response, (ErrorKind, String)>;

fn store_error(error: StoreError) -> (ErrorKind, String) {
    match error {
        StoreError::NotFound(id) => not_found(&id),
        other => (ErrorKind::Store, other.to_string()),
    }
}

fn not_found(id: &str) -> (ErrorKind, String) {
    (
        ErrorKind::NotFound,
        format!("no message with id {id:?} in the queue"),
    )
}

/// Runs a read of the queue on a blocking thread: walking 100,000 envelopes
/// is real work.
async fn read_queue<T: Send + 'static>(
    store: &Arc<dyn Store>,
    read: impl FnOnce(&dyn Store) -> leak_store::Result<T> + Send + 'static,
) -> Result<T, (ErrorKind, String)> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || read(store.as_ref()))
        .await
        .map_err(|e| (ErrorKind::Store, format!("reading the queue failed: {e}")))?
        .map_err(store_error)
}

/// One page of `queue list`, without the attempt histories (`queue show`
/// has them), so a page stays small.
async fn list_page(store: &Arc<dyn Store>, after: Option<String>) -> OpResult {
    let mut messages = read_queue(store, move |store| {
        store.page(after.as_deref(), leak_store::LIST_PAGE)
    })
    .await?;
    messages.iter_mut().for_each(|m| m.history = Vec::new());
    Ok(Response::Messages { messages })
}

/// The ids of every message `keep` selects, read page by page.
async fn select_ids(
    store: &Arc<dyn Store>,
    keep: impl Fn(&QueuedMessage) -> bool + Send + 'static,
) -> Result<Vec<String>, (ErrorKind, String)> {
    read_queue(store, move |store| {
        let mut ids = Vec::new();
        store.for_each_message(&mut |m| {
            if keep(&m) {
                ids.push(m.id);
            }
        })?;
        Ok(ids)
    })
    .await
}

/// The queue's size by state, read page by page.
async fn queue_counts(store: &Arc<dyn Store>) -> Result<QueueCounts, (ErrorKind, String)> {
    read_queue(store, QueueCounts::of_store).await
}

fn show(store: &dyn Store, id: &str) -> OpResult {
    match store.get(id).map_err(store_error)? {
        Some(message) => Ok(Response::Message { message }),
        None => Err(not_found(id)),
    }
}

/// One message as the recipient would receive it (read and rendered on a
/// blocking thread: up to 25 MB, and an RSA signature).
async fn cat(
    store: &Arc<dyn Store>,
    id: String,
    render: crate::server::RenderOutgoing,
) -> OpResult {
    use base64::Engine;
    let wanted = id.clone();
    let body = read_queue(store, move |store| match store.get(&wanted)? {
        Some(message) => store
            .body(&wanted)
            .map(|body| Some(render(&message, &body))),
        None => Ok(None),
    })
    .await?;
    match body {
        Some(body) => Ok(Response::Body {
            base64: base64::engine::general_purpose::STANDARD.encode(body),
            id,
        }),
        None => Err(not_found(&id)),
    }
}

/// Whether a retry would change this message: some pending recipient not yet due.
fn needs_retry(message: &QueuedMessage, now: UnixTime) -> bool {
    message
        .recipients
        .iter()
        .any(|r| !r.status.is_final() && r.next_attempt.is_none_or(|due| due > now))
}

/// Makes every queued or deferred recipient of one message due at `now`.
async fn retry_message(
    store: &dyn Store,
    id: &str,
    now: UnixTime,
) -> Result<QueuedMessage, StoreError> {
    store
        .modify(
            id,
            Box::new(move |message| {
                for r in &mut message.recipients {
                    if matches!(
                        r.status,
                        RecipientStatus::Queued | RecipientStatus::Deferred
                    ) {
                        r.next_attempt = Some(r.next_attempt.map_or(now, |due| due.min(now)));
                    }
                }
            }),
        )
        .await
}

async fn retry(store: &Arc<dyn Store>, target: Target) -> OpResult {
    let now = now();
    let ids = match target {
        Target::One(id) => vec![id],
        Target::All => select_ids(store, move |m| needs_retry(m, now)).await?,
    };
    let single = ids.len() == 1;
    let outcomes = for_each_bulk(store, ids, move |store, id| async move {
        retry_message(store.as_ref(), &id, now).await
    })
    .await;
    let (mut messages, mut recipients, mut held) = (0, 0, 0);
    for outcome in outcomes {
        match outcome {
            Ok(message) => {
                messages += 1;
                held += usize::from(message.held);
                recipients += message
                    .recipients
                    .iter()
                    .filter(|r| !r.status.is_final())
                    .count();
            }
            // With --all, a message delivered or deleted meanwhile is simply gone.
            Err(StoreError::NotFound(id)) if !single => tracing::debug!(%id, "retry: message gone"),
            Err(e) => return Err(store_error(e)),
        }
    }
    Ok(Response::Retried {
        messages,
        recipients,
        held,
    })
}

async fn hold(store: &dyn Store, id: &str) -> OpResult {
    let changed = set_held(store, id, true).await?;
    tracing::info!(%id, "queue: message held by operator");
    Ok(Response::Held {
        id: id.to_string(),
        changed,
    })
}

async fn release(store: &dyn Store, id: &str) -> OpResult {
    let changed = set_held(store, id, false).await?;
    tracing::info!(%id, "queue: message released by operator");
    Ok(Response::Released {
        id: id.to_string(),
        changed,
    })
}

/// Holds or releases one message atomically (through `Store::modify`, so a
/// delivery attempt finishing meanwhile keeps the operator's choice).
/// Returns whether the flag changed.
async fn set_held(store: &dyn Store, id: &str, held: bool) -> Result<bool, (ErrorKind, String)> {
    let changed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&changed);
    store
        .modify(
            id,
            Box::new(move |message| {
                // An already held message keeps its reason (moderation, say).
                if message.held != held {
                    flag.store(true, Ordering::Relaxed);
                    message.held = held;
                    message.hold_reason = held.then(|| OPERATOR_HOLD_REASON.to_string());
                }
            }),
        )
        .await
        .map_err(store_error)?;
    Ok(changed.load(Ordering::Relaxed))
}

async fn delete(store: &Arc<dyn Store>, target: Target) -> OpResult {
    let (ids, single) = match target {
        Target::One(id) => (vec![id], true),
        Target::All => (select_ids(store, |_| true).await?, false),
    };
    let outcomes = for_each_bulk(store, ids, |store, id| async move {
        store.remove(&id).await.map(|()| id)
    })
    .await;
    let mut messages = 0;
    for outcome in outcomes {
        match outcome {
            Ok(id) => {
                messages += 1;
                tracing::info!(%id, "queue: message deleted by operator");
            }
            Err(StoreError::NotFound(id)) if !single => {
                tracing::debug!(%id, "delete: message gone")
            }
            Err(e) => return Err(store_error(e)),
        }
    }
    Ok(Response::Deleted { messages })
}

/// Runs `op` on every id with at most [`BULK_IN_FLIGHT`] running at once,
/// so concurrent store mutations share fsyncs. Outcomes come back unordered.
async fn for_each_bulk<T, F, Fut>(
    store: &Arc<dyn Store>,
    ids: Vec<String>,
    op: F,
) -> Vec<Result<T, StoreError>>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Store>, String) -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
{
    let mut outcomes = Vec::with_capacity(ids.len());
    let mut tasks = JoinSet::new();
    for id in ids {
        if tasks.len() >= BULK_IN_FLIGHT {
            if let Some(done) = tasks.join_next().await {
                outcomes.push(flatten(done));
            }
        }
        tasks.spawn(op(Arc::clone(store), id));
    }
    while let Some(done) = tasks.join_next().await {
        outcomes.push(flatten(done));
    }
    outcomes
}

fn flatten<T>(
    joined: Result<Result<T, StoreError>, tokio::task::JoinError>,
) -> Result<T, StoreError> {
    joined.unwrap_or_else(|e| Err(StoreError::Database(format!("store task failed: {e}"))))
}

async fn optout_add(list: &leak_consent::Suppression, address: &str) -> OpResult {
    let normalized =
        optout::validate(address).map_err(|e| (ErrorKind::BadRequest, e.to_string()))?;
    let (hash, changed) = optout::add(list, &normalized, now())
        .await
        .map_err(store_error)?;
    if changed {
        tracing::info!(%hash, "opt-out: address added");
    }
    Ok(Response::OptoutAdded { hash, changed })
}

async fn optout_remove(list: &leak_consent::Suppression, address: &str) -> OpResult {
    let normalized =
        optout::validate(address).map_err(|e| (ErrorKind::BadRequest, e.to_string()))?;
    match list.remove(address).await.map_err(store_error)? {
        Some(hash) => {
            tracing::info!(%hash, "opt-out: address removed");
            Ok(Response::OptoutRemoved { hash })
        }
        None => Err((
            ErrorKind::NotFound,
            format!("{normalized} is not on the opt-out list"),
        )),
    }
}

async fn status(ctx: &AdminContext) -> OpResult {
    let queue = queue_counts(&ctx.store).await?;
    let info = (ctx.status)();
    Ok(Response::Status(StatusReport {
        version: info.version,
        started: info.started,
        now: now(),
        listeners: info.listeners,
        sessions_open: info.sessions_open,
        policy_store: info.policy_store,
        dane: info.dane,
        dane_active: info.dane_active,
        queue,
    }))
}

/// Runs the daemon's reload off the executor: it reads files and parses keys.
async fn reload(ctx: &AdminContext) -> OpResult {
    let reload = ctx.reload.clone();
    tokio::task::spawn_blocking(move || reload())
        .await
        .map(Response::Reloaded)
        .map_err(|e| (ErrorKind::Store, format!("reload failed: {e}")))
}

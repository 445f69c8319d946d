//! The scheduler: one loop that plans when each message is due (the
//! [`Agenda`], rebuilt from the store at start, after an operator's change and
//! every `poll_interval`) and spawns one task per (message, recipient domain),
//! within a global and a per-domain limit. New mail is named to it through a
//! [`QueueHint`], so it never rereads the whole queue per message. Each task
//! records its attempt in the store, resolves, delivers, and records the
//! results; the loop sleeps until the next due time, a hint, a poke on the
//! waker (`queue retry`, `release`), a finished task, or shutdown.
//! `policy.rs` holds what each attempt passes through between the MX
//! lookup and the transaction (TLS policy, shaping, throttling replies).

mod policy;
mod reload;
mod results;

pub use reload::Reloader;

use crate::agenda::Agenda;
use crate::client::{self, DomainResult, Outcome, SmtpConfig, Transaction};
use crate::dane::Dane;
use crate::dane_probe::{self, DaneStatus, DaneWatch, Prober};
use crate::dns::MxResolver;
use crate::mta_sts::MtaSts;
use crate::sessions::SessionCache;
use crate::shaping::{self, Shaper};
use crate::tlsrpt::TlsReporter;
use crate::{stamp, tls, DeliveryCounters, DeliveryError, DeliverySettings, RandomDelay};
use leak_dkim::Signer;
use leak_store::{QueuePages, QueuedMessage, Recipient, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::{Id, JoinSet};

/// Delivers the queue. Build it with [`Scheduler::new`], keep [`Scheduler::waker`]
/// for whoever adds mail or changes the queue, then `run` it until shutdown.
pub struct Scheduler {
    inner: Arc<Inner>,
    waker: Arc<Notify>,
    /// Ids of newly queued messages (see [`QueueHint`]).
    hints: mpsc::UnboundedReceiver<String>,
}

/// Tells the scheduler that a message was just queued, so it looks at that
/// message alone instead of rereading the queue; and says when a new
/// message's first attempt is due. Cheap to clone.
#[derive(Debug, Clone)]
pub struct QueueHint {
    sender: mpsc::UnboundedSender<String>,
    /// Shared with the scheduler, so a reload's new delay applies at once.
    random_delay: Arc<RwLock<RandomDelay>>,
}

impl QueueHint {
    pub fn queued(&self, id: &str) {
        // The scheduler gone means shutdown: the message is safe in the store.
        let _ = self.sender.send(id.to_owned());
    }

    /// When a message queued at `now` is first attempted: after a fresh
    /// draw of `random_delay`, the same for all its recipients. Stored as the
    /// recipients' `next_attempt`, so it survives restarts; drawn at random
    /// (not derived from the queue id, which the recipient sees in the
    /// envelope sender) so nothing the recipient has predicts it.
    pub fn first_due(&self, now: u64) -> u64 {
        let delay = *self.random_delay.read().unwrap_or_else(|e| e.into_inner());
        now + delay.draw().as_secs()
    }
}

/// What every delivery task shares.
struct Inner {
    /// Swapped whole by a reload ([`Reloader`]); read through [`Inner::settings`].
    settings: RwLock<Arc<DeliverySettings>>,
    store: Arc<dyn Store>,
    /// Swapped by a reload (DKIM key rotation); read through [`Inner::signer`].
    signer: RwLock<Arc<Signer>>,
    resolver: MxResolver,
    smtp: SmtpConfig,
    /// For the failure reports the scheduler queues itself.
    hint: QueueHint,
    counters: Arc<DeliveryCounters>,
    /// Limits and suspensions per MX host set.
    shaper: Shaper,
    /// MTA-STS policies, when enabled.
    mta_sts: Option<MtaSts>,
    /// TLS-RPT entries and reports, unless `tls_report_interval` is zero.
    tlsrpt: Option<TlsReporter>,
    /// The validating resolver for DANE (automatic with `delivery.dane`,
    /// or for domains whose policy is `dane`).
    dane: Option<Dane>,
    /// Whether automatic DANE applies now (`dane_probe.rs`).
    dane_status: watch::Sender<DaneStatus>,
    /// With `dane = "auto"`: the probe, and its poke for a reload.
    dane_prober: Option<Arc<Prober>>,
    dane_reprobe: Arc<Notify>,
}

/// One running task's key: the message and the recipient domain.
type TaskKey = (String, String);

/// The loop's bookkeeping of running tasks.
#[derive(Default)]
struct Running {
    tasks: JoinSet<()>,
    keys: HashMap<Id, TaskKey>,
    per_domain: HashMap<String, usize>,
}

impl Running {
    fn contains(&self, id: &str, domain: &str) -> bool {
        self.keys.values().any(|(i, d)| i == id && d == domain)
    }

    fn finished(&mut self, task: Id) -> Option<TaskKey> {
        let key = self.keys.remove(&task)?;
        if let Some(n) = self.per_domain.get_mut(&key.1) {
            *n = n.saturating_sub(1);
        }
        Some(key)
    }
}

impl Scheduler {
    /// Checks the settings and sets up DNS and TLS. `signer` signs every
    /// message at delivery time.
    pub fn new(
        settings: DeliverySettings,
        store: Arc<dyn Store>,
        signer: Arc<Signer>,
    ) -> Result<Self, DeliveryError> {
        if settings.retry_intervals.is_empty() {
            return Err(DeliveryError::Settings("retry_intervals is empty".into()));
        }
        if settings.max_concurrent == 0 || settings.max_per_domain == 0 {
            return Err(DeliveryError::Settings(
                "concurrency limits must be at least 1".into(),
            ));
        }
        let resolver = MxResolver::new(&settings.nameservers, settings.dns_timeout)
            .map_err(|e| DeliveryError::Resolver(e.to_string()))?;
        let smtp = SmtpConfig {
            hostname: settings.hostname.clone(),
            port: settings.mx_port,
            tls: settings.tls,
            connector: tls::connector()?,
            verifying: tls::verifying_connector(settings.tls_ca_file.as_deref())?,
            webpki: tls::webpki_verifier(settings.tls_ca_file.as_deref())?,
            connect_timeout: settings.connect_timeout,
            command_timeout: settings.command_timeout,
            data_timeout: settings.data_timeout,
            sessions: Arc::new(SessionCache::new(settings.max_per_domain)),
            per_connection: settings.messages_per_connection,
            ip_family: settings.ip_family,
            source_ipv4: settings.source_ipv4,
            source_ipv6: settings.source_ipv6,
        };
        let mta_sts = if settings.mta_sts {
            let resolver = crate::dns::build_resolver(&settings.nameservers, settings.dns_timeout)
                .map_err(|e| DeliveryError::Resolver(e.to_string()))?;
            Some(MtaSts::new(
                resolver,
                tls::verifying_connector(settings.tls_ca_file.as_deref())?,
                settings.mta_sts_port,
                settings.connect_timeout,
            ))
        } else {
            None
        };
        let dane_wanted = settings.dane != crate::DaneMode::Never
            || settings
                .domain_tls
                .values()
                .any(|p| *p == crate::TlsPolicy::Dane);
        let dane = if dane_wanted {
            Some(Dane::new(
                &settings.nameservers,
                settings.dns_timeout,
                settings.dnssec_trust_anchor.as_deref(),
            )?)
        } else {
            None
        };
        let dane_prober =
            (settings.dane == crate::DaneMode::Auto).then(|| Arc::new(Prober::new(&settings)));
        let (dane_status, _) = watch::channel(DaneStatus::initial(settings.dane));
        let tlsrpt = if settings.tls_report_interval.is_zero() {
            None
        } else {
            let resolver = crate::dns::build_resolver(&settings.nameservers, settings.dns_timeout)
                .map_err(|e| DeliveryError::Resolver(e.to_string()))?;
            Some(TlsReporter::new(
                store.clone(),
                resolver,
                tls::verifying_connector(settings.tls_ca_file.as_deref())?,
                settings.connect_timeout,
            ))
        };
        let shaper = Shaper::new(
            settings.max_per_mx,
            settings.messages_per_minute,
            settings.throttle_suspend,
        )
        .with_warmup(settings.warmup.clone());
        let waker = Arc::new(Notify::new());
        let (sender, hints) = mpsc::unbounded_channel();
        let hint = QueueHint {
            sender,
            random_delay: Arc::new(RwLock::new(settings.random_delay)),
        };
        let inner = Inner {
            settings: RwLock::new(Arc::new(settings)),
            store,
            signer: RwLock::new(signer),
            resolver,
            smtp,
            hint,
            counters: Arc::default(),
            shaper,
            mta_sts,
            dane,
            tlsrpt,
            dane_status,
            dane_prober,
            dane_reprobe: Arc::default(),
        };
        Ok(Scheduler {
            inner: Arc::new(inner),
            waker,
            hints,
        })
    }

    /// Call `notify_one()` on this after an operator changes the queue
    /// (retry, release): the scheduler rereads the whole queue at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.waker.clone()
    }

    /// For whoever queues new mail: names each new message to the scheduler.
    pub fn hint(&self) -> QueueHint {
        self.inner.hint.clone()
    }

    /// Delivery outcome totals, for the metrics endpoint.
    pub fn counters(&self) -> Arc<DeliveryCounters> {
        self.inner.counters.clone()
    }

    /// Whether automatic DANE applies now, for `leak status` and the metrics.
    pub fn dane_watch(&self) -> DaneWatch {
        DaneWatch(self.inner.dane_status.subscribe())
    }

    /// Runs until `shutdown` becomes `true`; then lets running attempts finish
    /// for up to `shutdown_grace` and aborts the rest (they are retried after
    /// restart, as the store already says they are due).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let Scheduler {
            inner,
            waker,
            mut hints,
        } = self;
        let mut running = Running::default();
        let mut agenda = Agenda::default();
        let poll = inner.settings().poll_interval;
        let mut rescan_at = Instant::now();
        let reports = tokio::spawn(inner.clone().tls_reports(shutdown.clone()));
        let probes = inner.dane_prober.clone().map(|prober| {
            tokio::spawn(dane_probe::run(
                prober,
                inner.dane_status.clone(),
                inner.dane_reprobe.clone(),
                shutdown.clone(),
            ))
        });
        tracing::info!("delivery scheduler started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            while let Some(done) = running.tasks.try_join_next_with_id() {
                inner.task_done(task_id(&done), &mut running, &mut agenda);
            }
            let now = unix_now();
            if Instant::now() >= rescan_at {
                inner.rescan(&mut running, &mut agenda, now).await;
                rescan_at = Instant::now() + poll;
            }
            for id in agenda.take_due(now) {
                inner.examine_id(&id, &mut running, &mut agenda, now).await;
            }
            let wait = agenda
                .next()
                .map_or(poll, until)
                .min(rescan_at.saturating_duration_since(Instant::now()));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = waker.notified() => rescan_at = Instant::now(),
                Some(id) = hints.recv() => {
                    agenda.at(&id, 0);
                    while let Ok(id) = hints.try_recv() {
                        agenda.at(&id, 0);
                    }
                }
                Some(done) = running.tasks.join_next_with_id(), if !running.tasks.is_empty() => {
                    inner.task_done(task_id(&done), &mut running, &mut agenda);
                }
                _ = shutdown.changed() => {}
            }
        }
        let grace = inner.settings().shutdown_grace;
        let drain = async { while running.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, drain).await.is_err() {
            tracing::warn!(
                tasks = running.tasks.len(),
                "aborting delivery attempts still running at shutdown"
            );
            running.tasks.shutdown().await;
        }
        reports.abort();
        if let Some(probes) = probes {
            probes.abort();
        }
        tracing::info!("delivery scheduler stopped");
    }
}

/// What one message needs now: recipients past their lifetime, due
/// recipients per domain, and when the others are due.
struct Plan {
    expired: Vec<String>,
    due: BTreeMap<String, Vec<String>>,
    next_due: Option<u64>,
}

impl Inner {
    /// Reads the whole queue, a page at a time, and plans every message (at
    /// start, after an operator's change, and every `poll_interval` as a
    /// safety net).
    async fn rescan(self: &Arc<Self>, running: &mut Running, agenda: &mut Agenda, now: u64) {
        agenda.clear();
        let mut pages = QueuePages::default();
        loop {
            match pages.next(self.store.as_ref()) {
                Ok(Some(page)) => {
                    for msg in page {
                        self.examine(msg, running, agenda, now).await;
                    }
                }
                Ok(None) => return,
                Err(e) => return tracing::error!(error = %e, "cannot list the queue"),
            }
        }
    }

    /// A task ended: look at its message again (other domains, retries,
    /// removal) and give its slot to a message waiting for one.
    fn task_done(&self, task: Id, running: &mut Running, agenda: &mut Agenda) {
        let Some((id, domain)) = running.finished(task) else {
            return;
        };
        agenda.at(&id, 0);
        let settings = self.settings();
        if running.tasks.len() < settings.max_concurrent {
            let may_start =
                |d: &str| running.per_domain.get(d).copied().unwrap_or(0) < settings.max_per_domain;
            if let Some(next) = agenda.slot_freed(&domain, may_start) {
                agenda.at(&next, 0);
            }
        }
    }

    async fn examine_id(
        self: &Arc<Self>,
        id: &str,
        running: &mut Running,
        agenda: &mut Agenda,
        now: u64,
    ) {
        match self.store.get(id) {
            Ok(Some(msg)) => self.examine(msg, running, agenda, now).await,
            Ok(None) => {}
            Err(e) => tracing::warn!(queue_id = %id, error = %e, "cannot read queued message"),
        }
    }

    /// Settles leftovers, expires, starts due attempts within the limits, and
    /// plans the message's next look.
    async fn examine(
        self: &Arc<Self>,
        msg: QueuedMessage,
        running: &mut Running,
        agenda: &mut Agenda,
        now: u64,
    ) {
        if msg.held {
            return; // a release asks for a rescan
        }
        // Reports left pending by a crash (or a failed enqueue), for
        // recipients whose domain has no attempt running (a running one
        // settles its own), and finished messages left by a crash between
        // the last result and the removal.
        let settled_elsewhere = |r: &Recipient| running.contains(&msg.id, &domain_of(&r.address));
        if msg
            .recipients
            .iter()
            .any(|r| r.report_pending && !settled_elsewhere(r))
            || (msg.is_finished() && !msg.recipients.iter().any(|r| r.report_pending))
        {
            let select = |r: &Recipient| !settled_elsewhere(r);
            self.settle(msg.clone(), select, now).await;
        }
        if msg.is_finished() {
            return;
        }
        let plan = self.plan(&msg, running, now);
        if !plan.expired.is_empty() {
            self.expire(&msg.id, plan.expired, now).await;
        }
        for (domain, rcpts) in plan.due {
            let busy = running.per_domain.get(&domain).copied().unwrap_or(0);
            if running.tasks.len() >= self.settings().max_concurrent
                || busy >= self.settings().max_per_domain
            {
                agenda.wait_for_slot(&domain, &msg.id);
                continue;
            }
            self.spawn(&msg.id, domain, rcpts, running);
        }
        if let Some(at) = plan.next_due {
            agenda.at(&msg.id, at);
        }
    }

    fn plan(&self, msg: &QueuedMessage, running: &Running, now: u64) -> Plan {
        let settings = self.settings();
        let expires = msg
            .created
            .saturating_add(settings.queue_lifetime.as_secs());
        let mut plan = Plan {
            expired: Vec::new(),
            due: BTreeMap::new(),
            next_due: None,
        };
        for r in msg.recipients.iter().filter(|r| !r.status.is_final()) {
            let domain = domain_of(&r.address);
            if running.contains(&msg.id, &domain) {
                continue;
            }
            if now >= expires {
                plan.expired.push(r.address.clone());
                continue;
            }
            let at = r.next_attempt.unwrap_or(0);
            if at <= now {
                plan.due.entry(domain).or_default().push(r.address.clone());
            } else {
                let at = at.min(expires);
                plan.next_due = Some(plan.next_due.map_or(at, |n| n.min(at)));
            }
        }
        plan
    }

    fn spawn(
        self: &Arc<Self>,
        id: &str,
        domain: String,
        rcpts: Vec<String>,
        running: &mut Running,
    ) {
        let inner = self.clone();
        let key = (id.to_owned(), domain.clone());
        let handle = running.tasks.spawn(async move {
            inner.attempt(key.0, key.1, rcpts).await;
        });
        running
            .keys
            .insert(handle.id(), (id.to_owned(), domain.clone()));
        *running.per_domain.entry(domain).or_default() += 1;
    }
}

impl Inner {
    /// One attempt for the recipients `rcpts` of message `id` at `domain`.
    async fn attempt(&self, id: String, domain: String, rcpts: Vec<String>) {
        let started = unix_now();
        let Some(msg) = self.claim(&id, &rcpts, started).await else {
            return;
        };
        let rcpts: Vec<String> = msg
            .recipients
            .iter()
            .filter(|r| !r.status.is_final() && rcpts.contains(&r.address))
            .map(|r| r.address.clone())
            .collect();
        let result = match self.store.body(&id) {
            Ok(body) => self.deliver(&msg, &domain, &rcpts, body).await,
            Err(e) => {
                tracing::error!(queue_id = %id, error = %e, "cannot read message body");
                let reply = "451 4.3.0 local error reading the queued message".to_string();
                DomainResult {
                    mx: None,
                    results: deferred_all(&rcpts, &reply),
                    retry_at: None,
                    ..Default::default()
                }
            }
        };
        for r in &result.results {
            tracing::info!(
                queue_id = %id,
                domain = %domain,
                mx = result.mx.as_deref().unwrap_or("-"),
                result = ?r.outcome,
                reply = %r.reply.get(..3).unwrap_or(&r.reply),
                "delivery attempt"
            );
            tracing::debug!(queue_id = %id, recipient = %r.address, reply = %r.reply, "recipient result");
        }
        self.record(&id, result, unix_now()).await;
    }

    /// Records the start of an attempt: one more attempt, the next retry
    /// time, and at the message's first attempt its stamp (see `stamp.rs`).
    /// `None` when the message is gone or held (then nothing is attempted).
    async fn claim(&self, id: &str, rcpts: &[String], now: u64) -> Option<QueuedMessage> {
        let claimed = rcpts.to_vec();
        let settings = self.settings();
        let change = Box::new(move |m: &mut QueuedMessage| {
            if m.held {
                return;
            }
            if m.stamped.is_none() {
                m.stamped = Some(stamp::stamp_time(now, settings.date_rounding));
            }
            for r in m.recipients.iter_mut() {
                if !r.status.is_final() && claimed.contains(&r.address) {
                    r.attempts += 1;
                    r.next_attempt =
                        Some(now + settings.jittered_retry_delay(r.attempts).as_secs());
                }
            }
        });
        match self.store.modify(id, change).await {
            Ok(m) if m.held => None,
            Ok(m) => Some(m),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => {
                tracing::error!(queue_id = %id, error = %e, "cannot record delivery attempt");
                None
            }
        }
    }

    async fn deliver(
        &self,
        msg: &QueuedMessage,
        domain: &str,
        rcpts: &[String],
        body: Vec<u8>,
    ) -> DomainResult {
        if !domain.is_ascii() {
            // Not a valid internationalized domain name: no ASCII form to look up.
            let reply = "553 5.1.2 invalid internationalized domain name";
            return DomainResult {
                mx: None,
                results: all_with(rcpts, Outcome::Failed, reply),
                retry_at: None,
                ..Default::default()
            };
        }
        let resolved = self.resolver.resolve(domain).await;
        self.counters.resolved(resolved.is_ok());
        let targets = match resolved {
            Ok(t) => t,
            Err(failure) => {
                let outcome = if failure.is_permanent() {
                    Outcome::Failed
                } else {
                    Outcome::Deferred
                };
                let reply = failure.to_string();
                let results = rcpts
                    .iter()
                    .map(|a| client::RecipientResult {
                        address: a.clone(),
                        outcome,
                        reply: reply.clone(),
                    })
                    .collect();
                return DomainResult {
                    mx: None,
                    results,
                    retry_at: None,
                    ..Default::default()
                };
            }
        };
        let routing = match self.tls_policy(domain, targets).await {
            Ok(routing) => routing,
            Err(refused) => {
                let result = DomainResult {
                    results: deferred_all(rcpts, &refused.reply),
                    tls_failures: refused.failures,
                    ..Default::default()
                };
                self.tls_outcome(refused.policy.as_ref(), &result).await;
                return result;
            }
        };
        let routes = &routing.routes;
        let targets: Vec<_> = routes.iter().map(|r| r.target.clone()).collect();
        let key = shaping::key(&targets);
        let _connection = match self.shape(&key, rcpts).await {
            Ok(permit) => permit,
            Err(deferred) => return deferred,
        };
        let now = unix_now();
        let (settings, signer) = (self.settings(), self.signer());
        let stamp = msg
            .stamped
            .unwrap_or_else(|| stamp::stamp_time(now, settings.date_rounding));
        // x= from the attempt's rounded time: it dates nothing more
        // precisely than the arrival itself.
        let expires = settings
            .dkim_expiry
            .map(|e| stamp::stamp_time(now, settings.date_rounding) + e.as_secs());
        let hostname = &settings.hostname;
        // One signature per attempt (for all this domain's recipients), on
        // the worker: RSA-2048 takes about 0.3 ms with aws-lc-rs, less than
        // handing the worker's core to another thread (`block_in_place`) and
        // back cost in thread switches (issue 19).
        let signed = stamp::outgoing(body, stamp, hostname, &signer, expires);
        let body = match signed {
            Ok(signed) => client::canonical_body(signed),
            Err(e) => {
                tracing::error!(queue_id = %msg.id, error = %e, "DKIM signing failed");
                let reply = "451 4.3.0 local error signing the message";
                return DomainResult {
                    mx: None,
                    results: deferred_all(rcpts, reply),
                    retry_at: None,
                    ..Default::default()
                };
            }
        };
        let tx = Transaction {
            from: &msg.return_path,
            recipients: rcpts,
            body: &body,
            // A failure report never shares a connection with other mail: the
            // notify address's mail system must not see it arrive on the
            // session that carried (or was refused) the message it reports.
            own_session: msg.is_report,
        };
        let mut result = client::deliver(&self.smtp, routes, &tx).await;
        result.tls_failures.splice(0..0, routing.failures);
        self.tls_outcome(routing.policy.as_ref(), &result).await;
        self.after_throttling(&key, result)
    }
}

fn deferred_all(rcpts: &[String], reply: &str) -> Vec<client::RecipientResult> {
    all_with(rcpts, Outcome::Deferred, reply)
}

fn all_with(rcpts: &[String], outcome: Outcome, reply: &str) -> Vec<client::RecipientResult> {
    rcpts
        .iter()
        .map(|a| client::RecipientResult {
            address: a.clone(),
            outcome,
            reply: reply.to_string(),
        })
        .collect()
}

fn task_id(done: &Result<(Id, ()), tokio::task::JoinError>) -> Id {
    match done {
        Ok((id, ())) => *id,
        Err(e) => {
            tracing::error!(error = %e, "delivery task failed");
            e.id()
        }
    }
}

/// The recipient domain in its ASCII form (A-labels, lowercased: RFC 5321
/// domains are case-insensitive, and `bücher.example` is
/// `xn--bcher-kva.example` in DNS). A domain that is not a valid IDN stays
/// as written (lowercased) and fails its lookup.
pub(crate) fn domain_of(address: &str) -> String {
    let domain = address
        .rsplit_once('@')
        .map_or(address, |(_, d)| d)
        .trim_end_matches('.');
    crate::intl::ascii_domain(domain).unwrap_or_else(|| domain.to_lowercase())
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Time from now until the Unix second `at`.
fn until(at: u64) -> Duration {
    (UNIX_EPOCH + Duration::from_secs(at))
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_lowercased_and_bare() {
        assert_eq!(domain_of("Bob@Example.TEST"), "example.test");
        assert_eq!(domain_of("a@b@c.test."), "c.test");
        assert_eq!(domain_of("jörg@Bücher.Example"), "xn--bcher-kva.example");
    }
}

//! What stands between a resolved domain and the SMTP transaction: the TLS
//! policy (`[[delivery.domain]]`, else DANE, else MTA-STS), the shaping gate (host set
//! suspended, connection slot, rate slot, warm-up cap), and the reaction to
//! a throttling reply; the TLS-RPT bookkeeping after an attempt and the
//! periodic report task.

use super::{deferred_all, unix_now, until, Inner};
use crate::client::{DomainResult, Outcome};
use crate::dane::{MxProof, TlsaLookup};
use crate::dane_probe::DaneStatus;
use crate::mta_sts;
use crate::shaping::{self, Slot};
use crate::tls::TlsUsed;
use crate::tls::{HostTls, Route, TlsFailure};
use crate::tlsrpt::PolicyType;
use crate::tlsrpt::Submitter;
use crate::TlsPolicy;
use mail_auth::report::tlsrpt::PolicyDetails;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio::sync::watch;
use tokio::sync::OwnedSemaphorePermit;

impl Inner {
    /// Waits for the host set's connection and rate slots; `Err` with the
    /// recipients deferred (the attempt uncounted) when the host set is
    /// suspended, its rate slot is far ahead, or the warm-up cap is reached.
    pub(super) async fn shape(
        &self,
        key: &str,
        rcpts: &[String],
    ) -> Result<Option<OwnedSemaphorePermit>, DomainResult> {
        if let Some(until) = self.shaper.suspended(key, unix_now()) {
            let reply = "451 4.7.0 destination suspended after a throttling reply";
            return Err(shaped(rcpts, reply, until));
        }
        let permit = self.shaper.connection(key).await;
        match self.shaper.reserve(key, Instant::now(), unix_now()) {
            Slot::After(wait) => {
                // Counted only for a transaction that will be sent.
                if let Err(next_day) = self.shaper.warmup_allows(key, unix_now()) {
                    let reply = "451 4.7.0 warm-up: today's cap for this destination is reached";
                    return Err(shaped(rcpts, reply, next_day));
                }
                tokio::time::sleep(wait).await;
                Ok(permit)
            }
            Slot::DeferUntil(at) => {
                let reply = "451 4.7.0 message rate limit for this destination";
                Err(shaped(rcpts, reply, at))
            }
        }
    }

    /// After a throttling reply, suspends the host set; when nothing was
    /// delivered, the recipients wait for the suspension's end and the
    /// attempt does not count against them.
    pub(super) fn after_throttling(&self, key: &str, mut result: DomainResult) -> DomainResult {
        let throttle = result
            .results
            .iter()
            .find(|r| r.outcome == Outcome::Deferred && shaping::is_throttling(&r.reply));
        if let Some(throttle) = throttle {
            let until = self.shaper.suspend(key, unix_now());
            tracing::warn!(mx = %key, until, reply = %throttle.reply, "throttled: destination suspended");
            if result
                .results
                .iter()
                .all(|r| r.outcome != Outcome::Delivered)
            {
                result.retry_at = Some(until);
            }
        }
        result
    }

    /// The MX hosts to try, each with the authentication it must pass: the
    /// domain's `[[delivery.domain]]` policy; else DANE when it applies
    /// (`dane = true`, or `"auto"` with a validating resolver) and the
    /// domain's MX hosts publish validated TLSA records (RFC 7672 takes
    /// precedence over MTA-STS, RFC 8461 §2); else its MTA-STS policy
    /// (`enforce`: hosts outside its `mx` patterns dropped; `testing`:
    /// noted only); else opportunistic. With the routes, the policy TLS-RPT
    /// reports on (DANE, MTA-STS, or an MTA-STS policy that could not be
    /// had). `Err` with the deferral reply and the TLS-RPT failures when no
    /// host is left.
    pub(super) async fn tls_policy(
        &self,
        domain: &str,
        targets: Vec<crate::MxTarget>,
    ) -> Result<Routing, Refused> {
        match self.settings().domain_tls.get(domain) {
            Some(TlsPolicy::Opportunistic) => {
                return Ok(Routing::plain(routes(targets, HostTls::Opportunistic)))
            }
            Some(TlsPolicy::Verify) => return Ok(Routing::plain(routes(targets, HostTls::Verify))),
            Some(TlsPolicy::Dane) => {
                return match self.dane_routes(domain, targets, true).await {
                    Some(routing) => routing,
                    None => Err(Refused::new(
                        "451 4.7.5 the domain's policy requires DANE",
                        None,
                    )),
                }
            }
            None => {}
        }
        let targets = if self.dane_applies().await {
            match self.dane_routes(domain, targets.clone(), false).await {
                Some(routing) => return routing,
                None => targets,
            }
        } else {
            targets
        };
        self.mta_sts_routes(domain, targets).await
    }

    /// Whether automatic DANE applies: `dane = true`, or `"auto"` and the
    /// last probe validated. Before the first probe's answer, waits for it
    /// (at most its bound; then not).
    async fn dane_applies(&self) -> bool {
        if let Some(prober) = &self.dane_prober {
            let mut status = self.dane_status.subscribe();
            let known = status.wait_for(|s| *s != DaneStatus::Probing);
            let _ = tokio::time::timeout(prober.bound(), known).await;
        }
        self.dane_status.borrow().active()
    }

    /// The routes under the domain's MTA-STS policy, if any: `enforce`
    /// keeps the listed MX hosts, verified; `testing` tries every host as
    /// without a policy and reports what `enforce` would have refused; a
    /// policy that could not be fetched is reported, the mail delivered as
    /// without one (RFC 8461 §5).
    async fn mta_sts_routes(
        &self,
        domain: &str,
        mut targets: Vec<crate::MxTarget>,
    ) -> Result<Routing, Refused> {
        let Some(sts) = &self.mta_sts else {
            return Ok(Routing::plain(routes(targets, HostTls::Opportunistic)));
        };
        let policy = match sts.policy(domain).await {
            mta_sts::StsLookup::Policy(policy) => policy,
            mta_sts::StsLookup::None => {
                return Ok(Routing::plain(routes(targets, HostTls::Opportunistic)))
            }
            mta_sts::StsLookup::Failed(failure) => {
                return Ok(Routing {
                    routes: routes(targets, HostTls::Opportunistic),
                    policy: Some(PolicyDetails::new(PolicyType::Sts, domain)),
                    failures: vec![(String::new(), failure)],
                })
            }
        };
        match policy.mode {
            mta_sts::Mode::Enforce => {
                let report = sts_details(domain, &policy);
                targets.retain(|t| policy.allows(&t.host));
                if targets.is_empty() {
                    let reply = "451 4.7.5 no MX host matches the domain's MTA-STS policy";
                    let mut refused = Refused::new(reply, Some(TlsFailure::ValidationFailure));
                    refused.policy = Some(report);
                    return Err(refused);
                }
                Ok(Routing {
                    routes: routes(targets, HostTls::MtaSts),
                    policy: Some(report),
                    failures: Vec::new(),
                })
            }
            mta_sts::Mode::Testing => {
                if targets.iter().any(|t| !policy.allows(&t.host)) {
                    tracing::info!(%domain, "MTA-STS (testing): an MX host is outside the policy");
                }
                let route = |target: crate::MxTarget| Route {
                    tls: HostTls::StsTesting {
                        listed: policy.allows(&target.host),
                    },
                    target,
                };
                Ok(Routing {
                    routes: targets.into_iter().map(route).collect(),
                    policy: Some(sts_details(domain, &policy)),
                    failures: Vec::new(),
                })
            }
            mta_sts::Mode::None => Ok(Routing::plain(routes(targets, HostTls::Opportunistic))),
        }
    }

    /// DANE's routes (RFC 7672 §2.2): `None` when DANE does not apply (MX
    /// RRset unsigned, or no host publishes TLSA records) and `required` is
    /// false. A bogus or failed validation defers; so does a host whose
    /// TLSA records are bogus, unusable or cannot be looked up; hosts
    /// without TLSA records are used opportunistically beside DANE hosts
    /// (unless `required`).
    async fn dane_routes(
        &self,
        domain: &str,
        mut targets: Vec<crate::MxTarget>,
        required: bool,
    ) -> Option<Result<Routing, Refused>> {
        let dane = self.dane.as_ref()?;
        let mut report = PolicyDetails::new(PolicyType::Tlsa, domain);
        let refuse = |reply: &str, failure: Option<TlsFailure>, report: &PolicyDetails| {
            let mut refused = Refused::new(reply, failure);
            refused.policy = Some(report.clone());
            Some(Err(refused))
        };
        match dane.mx_proof(domain).await {
            MxProof::Secure(hosts) => {
                // The validated MX set decides which hosts may be tried.
                if !hosts.is_empty() {
                    targets.retain(|t| hosts.iter().any(|h| h.eq_ignore_ascii_case(&t.host)));
                }
            }
            MxProof::Insecure if !required => return None,
            MxProof::Insecure => {
                let reply =
                    "451 4.7.5 the domain's MX records are not DNSSEC-signed (DANE required)";
                return refuse(reply, Some(TlsFailure::DaneRequired), &report);
            }
            MxProof::Bogus => {
                let reply = "451 4.7.5 DNSSEC validation of the domain's MX records failed";
                return refuse(reply, Some(TlsFailure::DnssecInvalid), &report);
            }
            MxProof::Failed(e) => {
                tracing::warn!(%domain, error = %e, "DANE: validated MX lookup failed");
                return refuse("451 4.4.3 validated MX lookup failed", None, &report);
            }
        }
        let mut routes = Vec::new();
        let mut failures = Vec::new();
        let mut any_tlsa = false;
        for target in targets {
            let failure = match dane.tlsa(&target.host).await {
                TlsaLookup::Usable(set) => {
                    any_tlsa = true;
                    report.mx_host.push(target.host.clone());
                    let records = set.0.iter().map(|t| t.to_string());
                    report.policy_string.extend(records);
                    let tls = HostTls::Dane(set);
                    routes.push(Route { target, tls });
                    continue;
                }
                TlsaLookup::Absent if required => TlsFailure::DaneRequired,
                TlsaLookup::Absent => {
                    let tls = HostTls::Opportunistic;
                    routes.push(Route { target, tls });
                    continue;
                }
                TlsaLookup::Unusable => TlsFailure::TlsaInvalid,
                TlsaLookup::Bogus => TlsFailure::DnssecInvalid,
                TlsaLookup::Failed(e) => {
                    tracing::warn!(mx = %target.host, error = %e, "DANE: TLSA lookup failed");
                    TlsFailure::DnssecInvalid
                }
            };
            any_tlsa = true;
            tracing::info!(mx = %target.host, failure = failure.as_str(), "DANE: MX host unusable");
            failures.push((target.host.clone(), failure));
        }
        if !any_tlsa && !required {
            return None;
        }
        if routes.is_empty() {
            let reply = match failures.last() {
                Some((_, failure)) => {
                    format!("451 4.7.5 no MX host passed DANE ({})", failure.as_str())
                }
                None => "451 4.7.5 no MX host passed DANE".to_string(),
            };
            return Some(Err(Refused {
                reply,
                failures,
                policy: Some(report),
            }));
        }
        // Hosts refused before any session count as failed sessions too.
        Some(Ok(Routing {
            routes,
            policy: Some(report),
            failures,
        }))
    }
}

impl Inner {
    /// Sends the TLS-RPT reports each `tls_report_interval` after the
    /// period's first result (kept in the store, so restarts do not
    /// postpone them), until shutdown.
    pub(super) async fn tls_reports(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(reporter) = &self.tlsrpt else {
            return;
        };
        loop {
            let interval = self.settings().tls_report_interval;
            let idle = Duration::from_secs(300)
                .min(interval)
                .max(Duration::from_secs(1));
            let wait = match reporter.period_start() {
                Some(start) if !interval.is_zero() => until(start + interval.as_secs()),
                _ => idle,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            let due = reporter.period_start().is_some_and(|start| {
                !interval.is_zero() && start + interval.as_secs() <= unix_now()
            });
            if !due {
                continue;
            }
            let settings = self.settings();
            let from = Submitter {
                hostname: &settings.hostname,
                domain: &settings.return_domain,
            };
            for id in reporter.send_due(&from, unix_now()).await {
                self.hint.queued(&id);
            }
        }
    }

    /// Counts how the attempt went under its TLS policy (metrics) and adds
    /// it to the policy's TLS-RPT entry.
    pub(super) async fn tls_outcome(&self, policy: Option<&PolicyDetails>, result: &DomainResult) {
        let delivered = result
            .results
            .iter()
            .filter(|r| r.outcome == Outcome::Delivered)
            .count();
        if let Some(mode) = result.tls_used {
            self.counters.tls_delivered(mode, delivered as u64);
        }
        for (_, failure) in &result.tls_failures {
            self.counters.tls_failed(*failure);
        }
        if let (Some(policy), Some(reporter)) = (policy, &self.tlsrpt) {
            let success = matches!(result.tls_used, Some(TlsUsed::Dane | TlsUsed::MtaSts));
            reporter
                .record(policy, success, &result.tls_failures, unix_now())
                .await;
        }
    }
}

/// An MTA-STS policy as TLS-RPT names it (RFC 8460 §4.4: its text, line
/// by line, and its `mx` patterns).
fn sts_details(domain: &str, policy: &mta_sts::Policy) -> PolicyDetails {
    let mode = match policy.mode {
        mta_sts::Mode::Enforce => "enforce",
        mta_sts::Mode::Testing => "testing",
        mta_sts::Mode::None => "none",
    };
    let mut report = PolicyDetails::new(PolicyType::Sts, domain);
    report.policy_string = vec!["version: STSv1".into(), format!("mode: {mode}")];
    let mx = policy.mx.iter().map(|mx| format!("mx: {mx}"));
    report.policy_string.extend(mx);
    report
        .policy_string
        .push(format!("max_age: {}", policy.max_age));
    report.mx_host = policy.mx.clone();
    report
}

/// Every target with the same authentication.
fn routes(targets: Vec<crate::MxTarget>, tls: HostTls) -> Vec<Route> {
    let route = |target| Route {
        target,
        tls: tls.clone(),
    };
    targets.into_iter().map(route).collect()
}

/// Why no MX host may be tried: the deferral reply and the hosts that
/// failed the policy (for TLS-RPT and the metrics).
pub(super) struct Refused {
    pub reply: String,
    pub failures: Vec<(String, TlsFailure)>,
    /// The policy refused under, for TLS-RPT.
    pub policy: Option<PolicyDetails>,
}

/// The routes; the policy they follow when TLS-RPT reports on it; hosts
/// the policy refused before any session.
pub(super) struct Routing {
    pub routes: Vec<Route>,
    pub policy: Option<PolicyDetails>,
    pub failures: Vec<(String, TlsFailure)>,
}

impl Routing {
    fn plain(routes: Vec<Route>) -> Routing {
        Routing {
            routes,
            policy: None,
            failures: Vec::new(),
        }
    }
}

impl Refused {
    fn new(reply: &str, failure: Option<TlsFailure>) -> Refused {
        Refused {
            reply: reply.to_string(),
            failures: failure.map(|f| (String::new(), f)).into_iter().collect(),
            policy: None,
        }
    }
}

/// Every recipient deferred by shaping until `until`, the attempt uncounted.
fn shaped(rcpts: &[String], reply: &str, until: u64) -> DomainResult {
    DomainResult {
        mx: None,
        results: deferred_all(rcpts, reply),
        retry_at: Some(until),
        ..Default::default()
    }
}

//! What stands between a resolved domain and the SMTP transaction: the TLS
//! policy (`[[delivery.domain]]`, else MTA-STS), the shaping gate (host set
//! suspended, connection slot, rate slot, warm-up cap), and the reaction to
//! a throttling reply.

use super::{deferred_all, unix_now, Inner};
use crate::client::{DomainResult, Outcome};
use crate::mta_sts;
use crate::shaping::{self, Slot};
use std::time::Instant;
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

    /// The MX hosts to try and whether their certificates must be verified:
    /// the domain's `[[delivery.domain]]` policy, else its MTA-STS policy in
    /// `enforce` mode (hosts outside its `mx` patterns dropped), else
    /// opportunistic. `Err` with the deferral reply when no host is left.
    pub(super) async fn tls_policy(
        &self,
        domain: &str,
        mut targets: Vec<crate::MxTarget>,
    ) -> Result<(Vec<crate::MxTarget>, bool), String> {
        if let Some(policy) = self.settings().domain_tls.get(domain) {
            return Ok((targets, *policy == crate::TlsPolicy::Verify));
        }
        let Some(sts) = &self.mta_sts else {
            return Ok((targets, false));
        };
        let Some(policy) = sts.policy(domain).await else {
            return Ok((targets, false));
        };
        match policy.mode {
            mta_sts::Mode::Enforce => {
                targets.retain(|t| policy.allows(&t.host));
                if targets.is_empty() {
                    return Err("451 4.7.5 no MX host matches the domain's MTA-STS policy".into());
                }
                Ok((targets, true))
            }
            mta_sts::Mode::Testing => {
                if targets.iter().any(|t| !policy.allows(&t.host)) {
                    tracing::info!(%domain, "MTA-STS (testing): an MX host is outside the policy");
                }
                Ok((targets, false))
            }
            mta_sts::Mode::None => Ok((targets, false)),
        }
    }
}

/// Every recipient deferred by shaping until `until`, the attempt uncounted.
fn shaped(rcpts: &[String], reply: &str, until: u64) -> DomainResult {
    DomainResult {
        mx: None,
        results: deferred_all(rcpts, reply),
        retry_at: Some(until),
    }
}

//! `delivery.dane = "auto"`: DANE applies while DNSSEC validation works
//! through `dns.nameservers`, and not otherwise.
//!
//! DANE fails closed: behind a resolver that strips DNSSEC records (RRSIG,
//! DNSKEY, NSEC), every validated lookup is bogus, so `dane = true` would
//! defer all mail. The probe asks a fresh validating resolver (nothing
//! cached) for the SOA of zones that must validate when the resolver passes
//! DNSSEC on: the zone of every key of `dns.dnssec_trust_anchor`, and the
//! root (the IANA keys built into hickory). One secure answer → DANE active,
//! exactly as with `dane = true`; none → inactive, as with `dane = false`
//! (MTA-STS and opportunistic TLS go on), with a WARN saying why and what
//! to do. It runs at start, every [`PROBE_INTERVAL`] and on reload; the
//! zones are asked at once, each within [`Prober::bound`]; attempts that
//! need the answer before the first probe ends wait for it (as long at
//! most). `tls = "dane"` domains do not depend on it.
//!
//! - [`DaneStatus`] (off, on, probing, active, inactive) and [`DaneWatch`],
//!   its read side for `leak status` and the `leak_dane_active` metric.
//! - [`decide`]: the zones' answers → the status (pure, unit-tested).
//! - [`Prober`] runs one probe; [`run`] repeats it until shutdown.

use crate::dane::{anchor_zones, Dane};
use crate::{DaneMode, DeliverySettings};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How often the probe runs again (besides start and reloads).
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_secs(3600);

/// Whether automatic DANE applies now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaneStatus {
    /// `delivery.dane = false`.
    Off,
    /// `delivery.dane = true`.
    On,
    /// `"auto"`, before the first probe's answer.
    Probing,
    /// `"auto"`: this zone's SOA validated.
    Active { zone: String },
    /// `"auto"`: no zone validated, for this reason.
    Inactive { reason: String },
}

impl DaneStatus {
    /// The status a scheduler starts with.
    pub(crate) fn initial(mode: DaneMode) -> DaneStatus {
        match mode {
            DaneMode::Never => DaneStatus::Off,
            DaneMode::Always => DaneStatus::On,
            DaneMode::Auto => DaneStatus::Probing,
        }
    }

    /// Whether domains without an explicit policy get DANE now.
    pub fn active(&self) -> bool {
        matches!(self, DaneStatus::On | DaneStatus::Active { .. })
    }

    /// One line for `leak status`.
    pub fn describe(&self) -> String {
        match self {
            DaneStatus::Off => "off (delivery.dane = false)".into(),
            DaneStatus::On => "on (delivery.dane = true)".into(),
            DaneStatus::Probing => {
                "auto, probing whether DNSSEC validation works through dns.nameservers".into()
            }
            DaneStatus::Active { zone } => format!(
                "active (auto: DNSSEC validation works through dns.nameservers; \
                 the SOA of {} validated)",
                zone_name(zone)
            ),
            DaneStatus::Inactive { reason } => format!(
                "inactive (auto: DNSSEC validation does not work through dns.nameservers: \
                 {reason})"
            ),
        }
    }
}

/// The read side of the status, for `leak status` and the metrics.
#[derive(Debug, Clone)]
pub struct DaneWatch(pub(crate) watch::Receiver<DaneStatus>);

impl DaneWatch {
    pub fn status(&self) -> DaneStatus {
        self.0.borrow().clone()
    }
}

/// What the validating resolver said about one zone's SOA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ZoneProof {
    Secure,
    /// Records without signatures: the resolver strips them.
    Insecure,
    Bogus,
    Failed(String),
}

impl ZoneProof {
    fn describe(&self) -> String {
        match self {
            ZoneProof::Secure => "validated".into(),
            ZoneProof::Insecure => "answered without DNSSEC signatures".into(),
            ZoneProof::Bogus => "DNSSEC validation failed (signatures missing or wrong)".into(),
            ZoneProof::Failed(e) => format!("lookup failed: {e}"),
        }
    }
}

/// Active when any zone validated (the first in probe order is named);
/// otherwise inactive with every zone's answer as the reason.
pub(crate) fn decide(answers: &[(String, ZoneProof)]) -> DaneStatus {
    if let Some((zone, _)) = answers.iter().find(|(_, p)| *p == ZoneProof::Secure) {
        return DaneStatus::Active { zone: zone.clone() };
    }
    if answers.is_empty() {
        let reason = "no zone to probe".to_string();
        return DaneStatus::Inactive { reason };
    }
    let reason = answers
        .iter()
        .map(|(zone, proof)| format!("{}: {}", zone_name(zone), proof.describe()))
        .collect::<Vec<_>>()
        .join("; ");
    DaneStatus::Inactive { reason }
}

/// `.` as words, for logs and `leak status`.
fn zone_name(zone: &str) -> &str {
    if zone == "." {
        "the root zone"
    } else {
        zone
    }
}

/// Runs one probe: the settings it needs, and the zones it asks.
pub(crate) struct Prober {
    nameservers: Vec<SocketAddr>,
    dns_timeout: Duration,
    anchors: Option<PathBuf>,
    /// The trust anchor file's zones, then the root.
    zones: Vec<String>,
}

impl Prober {
    pub fn new(settings: &DeliverySettings) -> Prober {
        let anchors = settings.dnssec_trust_anchor.clone();
        let mut zones = anchors.as_deref().map(anchor_zones).unwrap_or_default();
        zones.retain(|z| z != ".");
        zones.push(".".into());
        Prober {
            nameservers: settings.nameservers.clone(),
            dns_timeout: settings.dns_timeout,
            anchors,
            zones,
        }
    }

    /// The longest one probe takes: a validated SOA needs the zone's
    /// DNSKEY first, each query within `dns.timeout`, plus a margin.
    pub fn bound(&self) -> Duration {
        self.dns_timeout * 3
    }

    /// Asks every zone at once, through a fresh validating resolver.
    pub async fn probe(&self) -> DaneStatus {
        let dane = match Dane::new(&self.nameservers, self.dns_timeout, self.anchors.as_deref()) {
            Ok(dane) => Arc::new(dane),
            Err(e) => {
                let reason = e.to_string();
                return DaneStatus::Inactive { reason };
            }
        };
        let mut lookups = tokio::task::JoinSet::new();
        for (i, zone) in self.zones.iter().cloned().enumerate() {
            let (dane, bound) = (dane.clone(), self.bound());
            lookups.spawn(async move {
                let proof = tokio::time::timeout(bound, dane.zone_proof(&zone))
                    .await
                    .unwrap_or_else(|_| {
                        ZoneProof::Failed(format!("no answer within {}s", bound.as_secs()))
                    });
                (i, zone, proof)
            });
        }
        let mut answers: Vec<_> = lookups.join_all().await;
        answers.sort_by_key(|(i, _, _)| *i);
        let answers: Vec<_> = answers.into_iter().map(|(_, z, p)| (z, p)).collect();
        decide(&answers)
    }
}

/// Probes at once, then every [`PROBE_INTERVAL`] and whenever `again` is
/// notified (a reload), publishing each result, until shutdown.
pub(crate) async fn run(
    prober: Arc<Prober>,
    status: watch::Sender<DaneStatus>,
    again: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let result = tokio::select! {
            result = prober.probe() => result,
            _ = shutdown.changed() => return,
        };
        log(&status.borrow(), &result);
        status.send_replace(result);
        tokio::select! {
            _ = tokio::time::sleep(PROBE_INTERVAL) => {}
            _ = again.notified() => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// INFO when DANE becomes active; WARN at every probe that finds it
/// cannot be (at most hourly, and on reload), with what to do.
fn log(before: &DaneStatus, now: &DaneStatus) {
    match now {
        DaneStatus::Active { zone } if before != now => tracing::info!(
            %zone,
            "DANE active: DNSSEC validation works through dns.nameservers"
        ),
        DaneStatus::Inactive { reason } => tracing::warn!(
            %reason,
            "DANE inactive: DNSSEC validation does not work through dns.nameservers, so mail \
             goes without DANE (MTA-STS or opportunistic TLS); use a resolver that passes \
             DNSSEC records on (e.g. a local unbound), or set delivery.dane = true to defer \
             mail instead"
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(list: &[(&str, ZoneProof)]) -> Vec<(String, ZoneProof)> {
        list.iter()
            .map(|(z, p)| (z.to_string(), p.clone()))
            .collect()
    }

    #[test]
    fn one_validated_zone_turns_dane_on() {
        let status = decide(&answers(&[
            ("dane.test.", ZoneProof::Secure),
            (".", ZoneProof::Failed("REFUSED".into())),
        ]));
        assert_eq!(
            status,
            DaneStatus::Active {
                zone: "dane.test.".into()
            }
        );
        assert!(status.active());
        let root_only = decide(&answers(&[
            ("private.test.", ZoneProof::Bogus),
            (".", ZoneProof::Secure),
        ]));
        assert_eq!(root_only, DaneStatus::Active { zone: ".".into() });
    }

    #[test]
    fn stripped_bogus_or_failed_answers_turn_dane_off_and_say_why() {
        let status = decide(&answers(&[
            ("dane.test.", ZoneProof::Insecure),
            (".", ZoneProof::Bogus),
        ]));
        assert!(!status.active());
        let DaneStatus::Inactive { reason } = &status else {
            panic!("{status:?}")
        };
        assert!(
            reason.contains("dane.test.: answered without DNSSEC signatures"),
            "{reason}"
        );
        assert!(
            reason.contains("; the root zone: DNSSEC validation failed"),
            "{reason}"
        );
        assert!(status.describe().starts_with("inactive (auto: "));
        let failed = decide(&answers(&[(".", ZoneProof::Failed("timed out".into()))]));
        assert_eq!(
            failed,
            DaneStatus::Inactive {
                reason: "the root zone: lookup failed: timed out".into()
            }
        );
        assert!(!decide(&[]).active());
    }

    #[test]
    fn modes_start_as_configured() {
        assert!(DaneStatus::initial(DaneMode::Always).active());
        assert!(!DaneStatus::initial(DaneMode::Never).active());
        // Auto waits for its first probe: not active before it.
        assert_eq!(DaneStatus::initial(DaneMode::Auto), DaneStatus::Probing);
        assert!(!DaneStatus::Probing.active());
    }

    #[test]
    fn probe_zones_are_the_anchor_zones_then_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anchors.keys");
        // Two keys of one zone (as dnssec-keygen writes them), one of another.
        let key = "BuqpCg0szIXYGSgfOZ63qUhwf+si0Uln6E6qXv0NwLJPV4Vl332xRrAR+obSSP9gqO3uJICbtP+jxRjFj0wmqQ==";
        std::fs::write(
            &path,
            format!(
                "private.test. 3600 IN DNSKEY 257 3 13 {key}\n\
                 private.test. 3600 IN DNSKEY 256 3 13 {key}\n\
                 other.test. 3600 IN DNSKEY 257 3 13 {key}\n"
            ),
        )
        .unwrap();
        let settings = DeliverySettings {
            dnssec_trust_anchor: Some(path),
            ..Default::default()
        };
        assert_eq!(
            Prober::new(&settings).zones,
            ["private.test.", "other.test.", "."]
        );
        assert_eq!(Prober::new(&DeliverySettings::default()).zones, ["."]);
    }
}

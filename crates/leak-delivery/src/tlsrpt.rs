//! TLS-RPT (RFC 8460): daily aggregate reports, to the domains that publish
//! a `_smtp._tls` record, of how leak's sessions to them fared under their
//! DANE or MTA-STS policy.
//!
//! - Recording ([`TlsReporter::record`]): after each attempt to a domain
//!   with a policy, one successful session or the failed ones (with their
//!   RFC 8460 result type and MX host) are added to the domain's
//!   `mail_auth` [`Policy`] entry, kept as JSON in the store's `tlsrpt` kv
//!   tree (so a restart loses nothing), under `<domain>\0<tlsa|sts>`; the
//!   period's start is under `\0start`.
//! - Sending ([`TlsReporter::send_due`], every `delivery.tls_report_interval`):
//!   the entries are taken out of the store; for each domain the TXT record
//!   `_smtp._tls.<domain>` is looked up and parsed by mail-auth; a report
//!   (mail-auth's [`TlsReport`], its JSON gzipped) goes to every `mailto:`
//!   address through the normal queue — from `mailer-daemon@<anonymizer
//!   domain>`, null envelope sender, marked as a report (never reported
//!   on itself), DKIM-signed at delivery like all leak mail, with the
//!   `TLS-Report-Domain`/`TLS-Report-Submitter` headers and subject of
//!   RFC 8460 §5.3 (mail-auth's) — and is POSTed to every `https:` one
//!   (`application/tlsrpt+gzip`, certificate verified). A domain without
//!   a record gets nothing; its entry is dropped.
//!
//! A report says how many sessions leak opened to the domain in the period
//! and nothing about messages, senders or recipients; it names no sending
//! IP. Reports for the period a crash interrupts are not sent twice: the
//! entries are removed before the reports are queued.

use crate::tls::TlsFailure;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use leak_store::{QueuedMessage, Recipient, Store};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::mta_sts::{ReportUri, TlsRpt};
use mail_auth::report::tlsrpt::{
    DateRange, FailureDetails, Policy, PolicyDetails, ResultType, Summary, TlsReport,
};
use rustls_pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub(crate) use mail_auth::report::tlsrpt::PolicyType;

/// The kv tree of the entries.
const TREE: &str = "tlsrpt";
/// Where the current period's start (Unix seconds, big-endian) is kept.
const START_KEY: &[u8] = b"\0start";

/// Who the reports come from.
pub(crate) struct Submitter<'a> {
    /// `server.hostname`: the organization name.
    pub hostname: &'a str,
    /// The anonymizer domain: the submitter and the From domain.
    pub domain: &'a str,
}

/// Records results and sends the reports.
pub(crate) struct TlsReporter {
    store: Arc<dyn Store>,
    resolver: TokioResolver,
    /// For `https:` report URIs.
    https: TlsConnector,
    timeout: Duration,
    /// Serialises the read-modify-write of entries (and the take-out).
    lock: tokio::sync::Mutex<()>,
}

impl TlsReporter {
    pub fn new(
        store: Arc<dyn Store>,
        resolver: TokioResolver,
        https: TlsConnector,
        timeout: Duration,
    ) -> TlsReporter {
        TlsReporter {
            store,
            resolver,
            https,
            timeout,
            lock: tokio::sync::Mutex::default(),
        }
    }

    /// Adds one attempt's sessions to `policy`'s entry: a success, or one
    /// failed session per `(mx host, failure)`.
    pub async fn record(
        &self,
        policy: &PolicyDetails,
        success: bool,
        failures: &[(String, TlsFailure)],
        now: u64,
    ) {
        if !success && failures.is_empty() {
            return;
        }
        let _guard = self.lock.lock().await;
        let key = entry_key(policy);
        let mut entry = match self.store.kv_get(TREE, &key) {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            _ => None,
        }
        .unwrap_or_else(|| Policy {
            policy: policy.clone(),
            summary: Summary {
                total_success: 0,
                total_failure: 0,
            },
            failure_details: Vec::new(),
        });
        add(&mut entry, success, failures);
        let Ok(bytes) = serde_json::to_vec(&entry) else {
            return;
        };
        if let Ok(None) = self.store.kv_get(TREE, START_KEY) {
            let _ = self
                .store
                .kv_put(TREE, START_KEY, now.to_be_bytes().to_vec())
                .await;
        }
        if let Err(e) = self.store.kv_put(TREE, &key, bytes).await {
            tracing::warn!(error = %e, "cannot record a TLS-RPT result");
        }
    }

    /// When the current period began (its first result), if any.
    pub fn period_start(&self) -> Option<u64> {
        let bytes = self.store.kv_get(TREE, START_KEY).ok()??;
        bytes.try_into().ok().map(u64::from_be_bytes)
    }

    /// Takes every entry out of the store and sends each domain's report;
    /// returns the queued report messages' ids (for the scheduler's hint).
    pub async fn send_due(&self, from: &Submitter<'_>, now: u64) -> Vec<String> {
        let (start, entries) = match self.take().await {
            Some(taken) => taken,
            None => return Vec::new(),
        };
        let mut by_domain: std::collections::BTreeMap<String, Vec<Policy>> = Default::default();
        for entry in entries {
            by_domain
                .entry(entry.policy.policy_domain.clone())
                .or_default()
                .push(entry);
        }
        let mut queued = Vec::new();
        for (domain, policies) in by_domain {
            let Some(rua) = self.rua(&domain).await else {
                tracing::debug!(%domain, "no TLS-RPT record: no report");
                continue;
            };
            let report = TlsReport {
                organization_name: Some(from.hostname.to_string()),
                date_range: DateRange::from_timestamps(start as i64, now as i64),
                contact_info: Some(format!("mailer-daemon@{}", from.domain)),
                report_id: format!("{start}.{domain}@{}", from.hostname),
                policies,
            };
            match self.deliver(from, &domain, &report, &rua, now).await {
                Ok(Some(id)) => queued.push(id),
                Ok(None) => {}
                Err(e) => tracing::warn!(%domain, error = %e, "TLS report not sent"),
            }
        }
        queued
    }

    /// The entries and the period start, removed from the store.
    async fn take(&self) -> Option<(u64, Vec<Policy>)> {
        let _guard = self.lock.lock().await;
        let records = self.store.kv_scan(TREE).ok()?;
        let mut start = None;
        let mut entries = Vec::new();
        for (key, value) in records {
            if key == START_KEY {
                start = value.try_into().ok().map(u64::from_be_bytes);
            } else if let Ok(entry) = serde_json::from_slice::<Policy>(&value) {
                entries.push(entry);
            }
            if let Err(e) = self.store.kv_remove(TREE, &key).await {
                tracing::warn!(error = %e, "cannot clear a TLS-RPT entry");
            }
        }
        Some((start?, entries)).filter(|(_, e)| !e.is_empty())
    }

    /// The report URIs of `_smtp._tls.<domain>`, if it has one valid record.
    async fn rua(&self, domain: &str) -> Option<Vec<ReportUri>> {
        let name = format!("_smtp._tls.{domain}.");
        let lookup = self
            .resolver
            .lookup(name.as_str(), RecordType::TXT)
            .await
            .ok()?;
        let records: Vec<TlsRpt> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(txt.txt_data.concat()),
                _ => None,
            })
            .filter_map(|text| TlsRpt::parse(&text).ok())
            .collect();
        match records.as_slice() {
            [one] if !one.rua.is_empty() => Some(one.rua.clone()),
            _ => None, // none, or several: no reports (RFC 8460 §3)
        }
    }

    /// Queues the mail report (when there are `mailto:` addresses) and
    /// POSTs to the `https:` ones.
    async fn deliver(
        &self,
        from: &Submitter<'_>,
        domain: &str,
        report: &TlsReport,
        rua: &[ReportUri],
        now: u64,
    ) -> Result<Option<String>, String> {
        let json = report.to_json();
        let gzipped = gzip(json.as_bytes()).map_err(|e| e.to_string())?;
        for uri in rua {
            if let ReportUri::Http(url) = uri {
                match tokio::time::timeout(self.timeout, self.post(url, gzipped.clone())).await {
                    Ok(Ok(())) => tracing::info!(%domain, "TLS report posted"),
                    Ok(Err(e)) => tracing::warn!(%domain, error = %e, "TLS report POST failed"),
                    Err(_) => tracing::warn!(%domain, "TLS report POST timed out"),
                }
            }
        }
        let mailboxes: Vec<&str> = rua
            .iter()
            .filter_map(|uri| match uri {
                ReportUri::Mail(address) => Some(address.as_str()),
                ReportUri::Http(_) => None,
            })
            .collect();
        if mailboxes.is_empty() {
            return Ok(None);
        }
        let sender = format!("mailer-daemon@{}", from.domain);
        let mut message = Vec::new();
        report
            .write_rfc5322_from_bytes(
                domain,
                from.domain,
                ("TLS reports", sender.as_str()),
                mailboxes.iter().copied(),
                &gzipped,
                &mut message,
            )
            .map_err(|e| e.to_string())?;
        let message = crate::report::without_date(message);
        let id = leak_store::new_message_id();
        let queued = QueuedMessage {
            id: id.clone(),
            created: now,
            size: message.len() as u64,
            account: String::new(),
            notify: None,
            return_path: String::new(),
            held: false,
            hold_reason: None,
            is_report: true,
            recipients: mailboxes
                .iter()
                .map(|m| Recipient::new(m.to_string(), now))
                .collect(),
            history: Vec::new(),
            stamped: None,
        };
        self.store
            .enqueue(queued, message)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(%domain, report_id = %id, "TLS report queued");
        Ok(Some(id))
    }

    /// `POST` of the gzipped report to an `https:` URI (RFC 8460 §3).
    async fn post(&self, url: &str, body: Vec<u8>) -> Result<(), String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let host = uri.host().ok_or("no host")?.to_string();
        let port = uri.port_u16().unwrap_or(443);
        let addr = self
            .resolver
            .lookup_ip(format!("{host}.").as_str())
            .await
            .map_err(|e| format!("{host}: {e}"))?
            .iter()
            .next()
            .ok_or_else(|| format!("{host}: no address"))?;
        let tcp = TcpStream::connect(SocketAddr::new(addr, port))
            .await
            .map_err(|e| format!("{host}: {e}"))?;
        let name = ServerName::try_from(host.clone()).map_err(|e| e.to_string())?;
        let tls = self
            .https
            .connect(name, tcp)
            .await
            .map_err(|e| format!("{host}: certificate not verified: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        let driver = tokio::spawn(connection);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, &host)
            .header(hyper::header::CONTENT_TYPE, "application/tlsrpt+gzip")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let _ = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await;
        driver.abort();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("HTTP {status}"))
        }
    }
}

/// `<domain>\0<type>`: one entry per policy domain and type.
fn entry_key(policy: &PolicyDetails) -> Vec<u8> {
    let kind = match policy.policy_type {
        PolicyType::Tlsa => "tlsa",
        PolicyType::Sts => "sts",
        _ => "other",
    };
    format!("{}\0{kind}", policy.policy_domain).into_bytes()
}

/// Adds a success or the failures to an entry.
fn add(entry: &mut Policy, success: bool, failures: &[(String, TlsFailure)]) {
    if success {
        entry.summary.total_success += 1;
    }
    for (mx, failure) in failures {
        entry.summary.total_failure += 1;
        let result_type = result_type(*failure);
        let mx = Some(mx.clone()).filter(|m| !m.is_empty());
        match entry
            .failure_details
            .iter_mut()
            .find(|d| d.result_type == result_type && d.receiving_mx_hostname == mx)
        {
            Some(detail) => detail.failed_session_count += 1,
            None => entry.failure_details.push(FailureDetails {
                receiving_mx_hostname: mx,
                failed_session_count: 1,
                ..FailureDetails::new(result_type)
            }),
        }
    }
}

fn result_type(failure: TlsFailure) -> ResultType {
    match failure {
        TlsFailure::StarttlsNotSupported => ResultType::StartTlsNotSupported,
        TlsFailure::CertificateNotTrusted => ResultType::CertificateNotTrusted,
        TlsFailure::TlsaInvalid => ResultType::TlsaInvalid,
        TlsFailure::DnssecInvalid => ResultType::DnssecInvalid,
        TlsFailure::DaneRequired => ResultType::DaneRequired,
        TlsFailure::StsPolicyFetchError => ResultType::StsPolicyFetchError,
        TlsFailure::StsPolicyInvalid => ResultType::StsPolicyInvalid,
        TlsFailure::StsWebpkiInvalid => ResultType::StsWebpkiInvalid,
        TlsFailure::ValidationFailure => ResultType::ValidationFailure,
    }
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_counted_per_type_and_host() {
        let mut entry = Policy {
            policy: PolicyDetails::new(PolicyType::Tlsa, "example.test"),
            summary: Summary {
                total_success: 0,
                total_failure: 0,
            },
            failure_details: Vec::new(),
        };
        add(&mut entry, true, &[]);
        let mismatch = ("mx.example.test".to_string(), TlsFailure::ValidationFailure);
        add(&mut entry, false, std::slice::from_ref(&mismatch));
        add(
            &mut entry,
            false,
            &[mismatch, ("".into(), TlsFailure::DnssecInvalid)],
        );
        assert_eq!(entry.summary.total_success, 1);
        assert_eq!(entry.summary.total_failure, 3);
        let json: serde_json::Value = serde_json::to_value(&entry).unwrap();
        let details = json["failure-details"].as_array().unwrap();
        assert_eq!(details.len(), 2);
        assert_eq!(details[0]["result-type"], "validation-failure");
        assert_eq!(details[0]["receiving-mx-hostname"], "mx.example.test");
        assert_eq!(details[0]["failed-session-count"], 2);
        assert_eq!(details[1]["result-type"], "dnssec-invalid");
        assert!(details[1]["receiving-mx-hostname"].is_null());
        assert_eq!(json["policy"]["policy-type"], "tlsa");
    }
}

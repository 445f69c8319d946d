//! Reload (SIGHUP and `leak reload`): the whole new config is inspected as
//! `check-config` does and every part built before anything is swapped; a
//! config with problems, or a part that cannot be built, leaves everything as
//! it was. Then the users file, the TLS certificate, the DKIM signer, the
//! limits, the anonymizer and moderation policy and the delivery timing are
//! swapped (and the credential cache emptied); keys that only a restart applies (listeners, data dir, sockets,
//! …) are reported, in the log and to `leak reload`.
//!
//! What changed is found by comparing each part's *fingerprint*: the config
//! values it is built from (their `Debug` form: the config types derive no
//! `PartialEq`, and the form changes exactly when a value does) plus a hash
//! of the files it reads, so a re-issued certificate or an edited word list
//! counts as a change although the config did not move.

use super::pipeline::Pipeline;
use super::settings;
use leak_admin::ReloadReport;
use leak_config::Config;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Everything a reload swaps, and the configs it compares with.
pub struct Reloader {
    path: PathBuf,
    pipeline: Arc<Pipeline>,
    tls: Option<Arc<leak_smtp::TlsProvider>>,
    delivery: leak_delivery::Reloader,
    /// The config the daemon started with: restart-only keys are compared
    /// with it, since their old values stay in force until a restart.
    started: Config,
    /// The fingerprints of the parts in force (serializes reloads, too).
    current: Mutex<BTreeMap<&'static str, String>>,
}

/// The parts of a new config, all built before any is swapped.
struct Built {
    users: leak_accounts::Users,
    signer: leak_dkim::Signer,
    policy: super::pipeline::Policy,
    delivery: leak_delivery::DeliverySettings,
}

impl Reloader {
    pub fn new(
        path: &Path,
        config: &Config,
        pipeline: Arc<Pipeline>,
        tls: Option<Arc<leak_smtp::TlsProvider>>,
        delivery: leak_delivery::Reloader,
    ) -> Reloader {
        Reloader {
            path: path.to_owned(),
            pipeline,
            tls,
            delivery,
            started: config.clone(),
            current: Mutex::new(fingerprints(config)),
        }
    }

    /// Reloads, logs what happened, and says it for `leak reload`.
    pub fn reload(&self) -> ReloadReport {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let report = self.try_reload(&mut current);
        log(&report);
        report
    }

    fn try_reload(&self, current: &mut BTreeMap<&'static str, String>) -> ReloadReport {
        let config = match crate::cli::check_config::inspect(&self.path) {
            (Some(config), problems) if problems.is_empty() => config,
            (_, problems) => return refused(problems.iter().map(|p| p.to_string()).collect()),
        };
        let mut config = config;
        let needs_restart = restart_only(&self.started, &config);
        // Restart-only values keep their old value in what is swapped.
        config.anonymizer.domain = self.started.anonymizer.domain.clone();
        config.server.hostname = self.started.server.hostname.clone();
        let built = match build(&config) {
            Ok(built) => built,
            Err(failed) => return refused(failed),
        };
        let mut failed = Vec::new();
        if let (Some(provider), Some(files)) = (&self.tls, &config.tls) {
            // `check-config` loaded the pair already; this swaps it.
            if let Err(error) = provider.reload(&files.cert, &files.key) {
                failed.push(format!("tls: {error}; the previous certificate stays"));
            }
        }
        let accounts = built.users.users.len();
        self.pipeline
            .replace_users(built.users, config.limits.auth_cache_ttl);
        self.pipeline.replace_policy(built.policy);
        self.pipeline.limits.set(
            config.limits.messages_per_hour,
            config.limits.per_recipient_per_day,
        );
        self.delivery.replace_signer(built.signer);
        self.delivery.replace_timing(&built.delivery);
        self.delivery.reprobe_dane();

        let new = fingerprints(&config);
        let mut changed: Vec<String> = new
            .iter()
            .filter(|(part, print)| current.get(*part) != Some(*print))
            .filter(|(part, _)| !failed.iter().any(|f| f.starts_with(*part)))
            .map(|(part, _)| match *part {
                "auth.users_file" => format!("auth.users_file ({accounts} accounts)"),
                "dkim" => format!("dkim (selectors: {})", selectors(&config)),
                part => part.to_owned(),
            })
            .collect();
        changed.sort();
        *current = new;
        ReloadReport {
            accepted: true,
            changed,
            failed,
            needs_restart,
        }
    }
}

/// Builds every part of `config` that a reload swaps; `Err` lists what failed.
fn build(config: &Config) -> Result<Built, Vec<String>> {
    // A cluster's accounts are in its database: no users file is read.
    let users = match config.cluster {
        Some(_) => Ok(leak_accounts::Users::default()),
        None => leak_accounts::Users::load(&config.auth.users_file)
            .map_err(|e| format!("auth.users_file: {e}")),
    };
    let signer = settings::dkim_signer(config).map_err(|e| format!("dkim: {e}"));
    let policy = settings::policy(config).map_err(|e| format!("moderation: {e:#}"));
    match (users, signer, policy) {
        (Ok(users), Ok(signer), Ok(policy)) => Ok(Built {
            users,
            signer,
            policy,
            delivery: settings::delivery_settings(config),
        }),
        (users, signer, policy) => Err([users.err(), signer.err(), policy.err()]
            .into_iter()
            .flatten()
            .collect()),
    }
}

fn refused(failed: Vec<String>) -> ReloadReport {
    ReloadReport {
        accepted: false,
        failed,
        ..ReloadReport::default()
    }
}

fn log(report: &ReloadReport) {
    if !report.accepted {
        for problem in &report.failed {
            tracing::error!("reload: config refused: {problem}");
        }
        tracing::error!("reload refused: the previous config stays in force");
        return;
    }
    for problem in &report.failed {
        tracing::error!("reload: {problem}");
    }
    for key in &report.needs_restart {
        tracing::warn!("reload: {key} changed; takes effect after a restart");
    }
    match report.changed.is_empty() {
        true => tracing::info!("reload: nothing changed"),
        false => tracing::info!("reload: now in force: {}", report.changed.join(", ")),
    }
}

fn selectors(config: &Config) -> String {
    let names: Vec<&str> = config
        .dkim
        .keys
        .iter()
        .map(|k| k.selector.as_str())
        .collect();
    names.join(", ")
}

/// The swappable parts of `config`, each with its fingerprint.
fn fingerprints(config: &Config) -> BTreeMap<&'static str, String> {
    let (limits, delivery) = (&config.limits, &config.delivery);
    let dkim_files: Vec<&Path> = config.dkim.keys.iter().map(|k| &*k.private_key).collect();
    let words = [
        &config.moderation.block_words_file,
        &config.moderation.allow_words_file,
    ];
    let word_files: Vec<&Path> = words.iter().filter_map(|p| p.as_deref()).collect();
    let tls_files: Vec<&Path> = config
        .tls
        .iter()
        .flat_map(|t| [&*t.cert, &*t.key])
        .collect();
    let mut prints = BTreeMap::from([
        (
            "auth.users_file",
            print(&config.auth.users_file, &[&config.auth.users_file]),
        ),
        ("tls", print(&config.tls, &tls_files)),
        ("dkim", print(&config.dkim, &dkim_files)),
        (
            "limits.messages_per_hour",
            limits.messages_per_hour.to_string(),
        ),
        (
            "limits.per_recipient_per_day",
            limits.per_recipient_per_day.to_string(),
        ),
        (
            "limits.auth_cache_ttl",
            format!("{:?}", limits.auth_cache_ttl),
        ),
        ("anonymizer", format!("{:?}", config.anonymizer)),
        ("moderation", print(&config.moderation, &word_files)),
        (
            "delivery (retry_intervals, retry_jitter, queue_lifetime, random_delay, report_delay, date_rounding)",
            format!(
                "{:?}",
                (
                    &delivery.retry_intervals,
                    delivery.retry_jitter,
                    delivery.queue_lifetime,
                    delivery.random_delay,
                    delivery.report_delay,
                    delivery.date_rounding,
                )
            ),
        ),
    ]);
    // A cluster does not read the users file: its changes are no news.
    if config.cluster.is_some() {
        prints.remove("auth.users_file");
    }
    prints
}

/// Config values and the hashes of the files they name.
fn print(value: &impl std::fmt::Debug, files: &[&Path]) -> String {
    let mut out = format!("{value:?}");
    for file in files {
        let hash = std::fs::read(file).map(|bytes| hex::encode(Sha256::digest(bytes)));
        out.push_str(&format!(" {}", hash.unwrap_or_default()));
    }
    out
}

/// The parts whose new value differs from the one the daemon started with
/// and that only a restart applies: what the listeners, the SMTP server, the
/// delivery client, the resolver and the other listeners were built with.
/// Compared section by section with the swappable keys blanked out, so that
/// a key added to a section later is a restart until reload learns it.
fn restart_only(started: &Config, new: &Config) -> Vec<String> {
    let (old, now) = (restart_view(started), restart_view(new));
    let mut keys = Vec::new();
    macro_rules! compare {
        ($($name:literal => $field:ident),* $(,)?) => {
            $(
                if format!("{:?}", old.$field) != format!("{:?}", now.$field) {
                    keys.push($name.to_owned());
                }
            )*
        };
    }
    compare![
        "server" => server,
        "listeners" => listeners,
        "auth (other than users_file)" => auth,
        "limits (other than messages_per_hour, per_recipient_per_day, auth_cache_ttl)" => limits,
        "delivery (other than retry_intervals, retry_jitter, queue_lifetime, random_delay, report_delay, date_rounding)" => delivery,
        "dns" => dns,
        "metrics" => metrics,
        "web" => web,
        "log" => log,
    ];
    if started.cluster != new.cluster {
        keys.push("cluster".to_owned());
    }
    if started.tls.is_some() != new.tls.is_some() {
        keys.push("tls (added or removed)".to_owned());
    }
    if started.anonymizer.domain != new.anonymizer.domain {
        keys.push("anonymizer.domain".to_owned());
    }
    // The review deadline's sweep is started (or not) with the daemon.
    let sweep = |c: &Config| (c.moderation.enabled, c.moderation.review_deadline);
    if sweep(started) != sweep(new) {
        keys.push("moderation.review_deadline (and its sweep, with moderation.enabled)".to_owned());
    }
    keys
}

/// `config` with every key a reload swaps set to a fixed value.
fn restart_view(config: &Config) -> Config {
    let mut view = config.clone();
    view.auth.users_file = Default::default();
    view.limits.messages_per_hour = 0;
    view.limits.per_recipient_per_day = 0;
    view.limits.auth_cache_ttl = Default::default();
    let delivery = &mut view.delivery;
    delivery.retry_intervals = Vec::new();
    delivery.retry_jitter = 0.0;
    delivery.queue_lifetime = Default::default();
    delivery.random_delay = Default::default();
    delivery.report_delay = Default::default();
    delivery.date_rounding = Default::default();
    view
}

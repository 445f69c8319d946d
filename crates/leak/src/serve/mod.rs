//! `leak serve`: the daemon. Loads and checks the config, opens the store,
//! starts the listeners, the delivery scheduler and the admin socket, tells
//! systemd it is ready, then handles signals: SIGHUP reloads the config
//! (`reload.rs`, also asked for by `leak reload`), SIGTERM/SIGINT stop it
//! gracefully.

mod auth_ledger;
mod consent;
mod limits;
mod memory;
mod metrics;
mod pipeline;
mod reload;
mod replies;
pub mod settings;
mod transactions;
mod unsubscribe;

pub use consent::secret_path;
pub use pipeline::unix_now;

use crate::{CliResult, Failure};
use anyhow::Context;
use leak_config::Config;
use leak_store::Store;
use pipeline::Pipeline;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How long in-flight SMTP sessions may go on after a stop is requested.
const SESSION_GRACE: Duration = Duration::from_secs(20);

pub fn run(config_path: &Path) -> CliResult {
    memory::limit_malloc_arenas();
    memory::return_large_blocks();
    // Problems with the config go to stderr as plain lines, before logging
    // is set up (its format is in the config).
    let config = load_checked(config_path)?;
    init_logging(&config.log);
    for warning in crate::cli::exposure::warnings(&config) {
        tracing::warn!(key = %warning.key, "{}", warning.message);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::environment)?;
    runtime.block_on(daemon(config_path, config))
}

/// `[log]`: text or JSON lines on stderr (journald adds its own time
/// stamps and fields), or native journald entries, and how client addresses
/// appear (`leak_smtp::logged_peer`).
fn init_logging(log: &leak_config::LogConfig) {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr);
    match log.format {
        leak_config::LogFormat::Json => builder.json().init(),
        leak_config::LogFormat::Journald => match journald_layer() {
            Ok(journald) => {
                use tracing_subscriber::layer::SubscriberExt;
                use tracing_subscriber::util::SubscriberInitExt;
                tracing_subscriber::registry()
                    .with(filter())
                    .with(journald)
                    .init();
            }
            // No journal (not under systemd): the text lines on stderr,
            // and the reason, rather than no log at all.
            Err(error) => {
                builder.with_ansi(false).init();
                tracing::warn!(%error, "log.format = \"journald\" but the journal socket cannot be opened; logging text to stderr");
            }
        },
        // Colours only on a terminal: journald and log files get plain text.
        leak_config::LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    leak_smtp::log_client_ips(match log.client_ip {
        leak_config::ClientIpLog::Full => leak_smtp::ClientIpLog::Full,
        leak_config::ClientIpLog::Hashed => leak_smtp::ClientIpLog::Hashed,
        leak_config::ClientIpLog::None => leak_smtp::ClientIpLog::Hidden,
    });
}

/// journald's native protocol: fields prefixed `LEAK_`, identifier `leak`.
fn journald_layer() -> std::io::Result<tracing_journald::Layer> {
    Ok(tracing_journald::layer()?
        .with_field_prefix(Some("LEAK".to_owned()))
        .with_syslog_identifier("leak".to_owned()))
}

/// The config with every check `check-config` does; all problems are printed.
fn load_checked(path: &Path) -> Result<Config, Failure> {
    match crate::cli::check_config::inspect(path) {
        (Some(config), problems) if problems.is_empty() => Ok(config),
        (_, problems) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            Err(Failure::refused(leak_config::ConfigError {
                path: path.display().to_string(),
                problems,
            }))
        }
    }
}

async fn daemon(config_path: &Path, config: Config) -> CliResult {
    let started = pipeline::unix_now();
    // Installed first, so a signal that arrives right after "ready" is handled.
    let signals = Signals::install().map_err(Failure::environment)?;
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("cannot create {}", config.server.data_dir.display()))
        .map_err(Failure::environment)?;
    let store: Arc<dyn Store> = Arc::new(
        leak_store::SledStore::open(&config.server.data_dir)
            .with_context(|| {
                format!(
                    "cannot open the store in {}",
                    config.server.data_dir.display()
                )
            })
            .map_err(Failure::environment)?,
    );
    for damaged in store.damaged() {
        tracing::warn!(key = %damaged.key, reason = %damaged.reason, "damaged queue record skipped");
    }
    let signer = Arc::new(settings::dkim_signer(&config).map_err(Failure::refused)?);
    let tls = match &config.tls {
        Some(tls) => Some(Arc::new(
            leak_smtp::TlsProvider::load(&tls.cert, &tls.key).map_err(Failure::refused)?,
        )),
        None => None,
    };
    let scheduler = leak_delivery::Scheduler::new(
        settings::delivery_settings(&config),
        store.clone(),
        signer.clone(),
    )
    .map_err(Failure::environment)?;
    let secret = consent::secret(&config).map_err(Failure::environment)?;
    let shared = policy_store(&config, store.clone(), &secret).await?;
    let suppression = consent::suppression(store.clone(), &secret, shared.opt_outs());
    let pipeline = Arc::new(Pipeline {
        shared: shared.clone(),
        auth_cache: Arc::new(leak_accounts::CredentialCache::new(
            config.limits.auth_cache_ttl,
        )),
        store: store.clone(),
        limits: limits::Limits::new(
            shared.clone(),
            config.limits.messages_per_hour,
            config.limits.per_recipient_per_day,
        ),
        transactions: Default::default(),
        policy: RwLock::new(Arc::new(
            settings::policy(&config).map_err(Failure::refused)?,
        )),
        scheduler: scheduler.hint(),
        metrics: Arc::default(),
        unsubscribe: consent::unsubscribe(&config, &suppression),
        suppression: suppression.clone(),
    });
    let ledger = Arc::new(auth_ledger::StoreLedger::new(store.clone()));
    let inbound_counters = Arc::new(leak_inbound::Counters::default());
    let inbound_server = leak_smtp::Server::new(
        consent::inbound_smtp_settings(&config),
        Arc::new(consent::inbound(
            &config,
            suppression.clone(),
            store.clone(),
            consent::Outbox {
                store: store.clone(),
                scheduler: scheduler.hint(),
            },
            inbound_counters.clone(),
        )),
        tls.clone(),
    );
    let server = leak_smtp::Server::with_ledger(
        settings::smtp_settings(&config),
        pipeline.clone(),
        tls.clone(),
        Some(ledger.clone()),
    );
    let reloader = Arc::new(reload::Reloader::new(
        config_path,
        &config,
        pipeline.clone(),
        tls.clone(),
        scheduler.reloader(),
    ));
    let (stop, shutdown) = watch::channel(false);

    let mut listener_names = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut autoconfig = leak_web::Autoconfig {
        domain: config.anonymizer.domain.clone(),
        hostname: config.server.hostname.clone(),
        implicit_ports: Vec::new(),
        starttls_ports: Vec::new(),
    };
    for listener in &config.listeners {
        let socket = TcpListener::bind(&listener.bind)
            .await
            .with_context(|| format!("cannot listen on {}", listener.bind))
            .map_err(Failure::environment)?;
        let address = socket.local_addr().map_err(Failure::environment)?;
        let mode = settings::listener_mode(listener.tls);
        tracing::info!(tls = ?listener.tls, role = ?listener.role, "listening on {address}");
        let inbound = listener.role == leak_config::ListenerRole::Inbound;
        match (inbound, listener.tls) {
            (false, leak_config::ListenerTls::Implicit) => {
                autoconfig.implicit_ports.push(address.port())
            }
            (false, leak_config::ListenerTls::Starttls) => {
                autoconfig.starttls_ports.push(address.port())
            }
            _ => {}
        }
        let role = if inbound { ", inbound" } else { "" };
        listener_names.push(format!("{address} ({}{role})", tls_name(listener.tls)));
        let server = if inbound { &inbound_server } else { &server };
        let (server, shutdown) = (server.clone(), shutdown.clone());
        tasks.spawn(async move { server.serve(socket, mode, shutdown).await });
    }

    let admin = leak_admin::AdminServer::bind(&config.server.admin_socket)
        .with_context(|| {
            format!(
                "cannot create admin socket {}",
                config.server.admin_socket.display()
            )
        })
        .map_err(Failure::environment)?;
    tracing::info!("admin socket at {}", config.server.admin_socket.display());
    let status_server = server.clone();
    let status_shared = shared.clone();
    let status_dane = scheduler.dane_watch();
    let context = leak_admin::AdminContext {
        store: store.clone(),
        suppression: suppression.clone(),
        wake_scheduler: scheduler.waker(),
        status: Arc::new(move || leak_admin::StatusInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            started,
            listeners: listener_names.clone(),
            sessions_open: status_server.open_sessions(),
            policy_store: status_shared.health(),
            dane: status_dane.status().describe(),
            dane_active: status_dane.status().active(),
        }),
        reload: {
            let reloader = reloader.clone();
            Arc::new(move || reloader.reload())
        },
        render_outgoing: outgoing_renderer(scheduler.reloader()),
    };
    let admin_task = tokio::spawn(admin.run(context, shutdown.clone()));
    if let Some(metrics) = &config.metrics {
        let socket = TcpListener::bind(&metrics.bind)
            .await
            .with_context(|| format!("cannot serve metrics on {}", metrics.bind))
            .map_err(Failure::environment)?;
        let address = socket.local_addr().map_err(Failure::environment)?;
        tracing::info!("metrics endpoint at http://{address}/metrics");
        let (list, counters) = (suppression.clone(), inbound_counters.clone());
        let consent: metrics::Extra = Box::new(move || consent::metric_families(&list, &counters));
        let render = metrics_renderer(&pipeline, &scheduler, &server, consent);
        tasks.spawn(metrics::serve(socket, render, shutdown.clone()));
    }
    if let Some(web) = &config.web {
        let socket = TcpListener::bind(&web.bind)
            .await
            .with_context(|| format!("cannot serve the opt-out pages on {}", web.bind))
            .map_err(Failure::environment)?;
        let address = socket.local_addr().map_err(Failure::environment)?;
        tracing::info!("opt-out pages at http://{address}/optout/");
        let (list, shutdown) = (suppression.clone(), shutdown.clone());
        tasks.spawn(async move {
            if let Err(error) = leak_web::serve(socket, list, autoconfig, shutdown).await {
                tracing::error!(%error, "web listener failed");
            }
        });
    }
    if config.moderation.enabled {
        let sweep = leak_delivery::ReviewDeadline {
            store: store.clone(),
            hint: scheduler.hint(),
            return_domain: config.anonymizer.domain.clone(),
            deadline: config.moderation.review_deadline,
        };
        tokio::spawn(sweep.run(shutdown.clone()));
    }
    let delivery = tokio::spawn(scheduler.run(shutdown.clone()));
    tokio::spawn(prune_counters(pipeline.clone(), ledger, shutdown.clone()));

    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!("leak {} ready", env!("CARGO_PKG_VERSION"));

    signals.wait_for_stop(&reloader).await;

    tracing::info!("stopping: no new connections, finishing sessions");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop.send(true);
    let (submission_done, inbound_done) = tokio::join!(
        server.drain(SESSION_GRACE),
        inbound_server.drain(SESSION_GRACE)
    );
    if !(submission_done && inbound_done) {
        tracing::warn!("some sessions did not finish in time and were aborted");
    }
    tasks.abort_all();
    // The admin socket finishes the requests it is answering, then closes.
    if tokio::time::timeout(Duration::from_secs(5), admin_task)
        .await
        .is_err()
    {
        tracing::warn!("admin socket did not close in time");
    }
    let _ = delivery.await;
    store.flush().await.map_err(Failure::environment)?;
    tracing::info!("stopped");
    Ok(())
}

/// Accounts, opt-outs and counters: the cluster's PostgreSQL when
/// `[cluster]` is set, else this node's users file and store. A cluster
/// node whose database is down at start starts anyway (it answers
/// temporary errors until the database is back, see `leak_cluster`); one
/// whose consent secret is not the cluster's refuses to start.
async fn policy_store(
    config: &Config,
    store: Arc<dyn Store>,
    secret: &leak_consent::Secret,
) -> Result<Arc<dyn leak_cluster::PolicyStore>, Failure> {
    let Some(cluster) = &config.cluster else {
        let users_file = config.auth.users_file.clone();
        let embedded = leak_cluster::Embedded::open(store, users_file).map_err(Failure::refused)?;
        return Ok(Arc::new(embedded));
    };
    let postgres = leak_cluster::Postgres::start(&cluster.database, secret.fingerprint())
        .map_err(Failure::refused)?;
    let ready = postgres.wait_ready(Duration::from_secs(5)).await;
    let secret_file = consent::secret_path(config);
    let ready = ready
        .with_context(|| format!("consent secret {}", secret_file.display()))
        .map_err(Failure::refused)?;
    if !ready {
        tracing::warn!("cluster database not reachable yet: opt-outs, limits and unknown accounts answer temporary errors until it is");
    }
    Ok(postgres)
}

/// The signals the daemon acts on.
struct Signals {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            hangup: signal(SignalKind::hangup())?,
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Handles SIGHUP (reload) until SIGTERM or SIGINT arrives.
    async fn wait_for_stop(mut self, reloader: &Arc<reload::Reloader>) {
        loop {
            tokio::select! {
                _ = self.hangup.recv() => {
                    let reloader = reloader.clone();
                    // Reading files and parsing keys: off the executor.
                    let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
                }
                _ = self.terminate.recv() => return,
                _ = self.interrupt.recv() => return,
            }
        }
    }
}

/// What a scrape reports (`metrics.rs`): the pipeline's counters and
/// timings, delivery outcomes, the queue by state and open sessions.
fn metrics_renderer(
    pipeline: &Arc<Pipeline>,
    scheduler: &leak_delivery::Scheduler,
    server: &leak_smtp::Server,
    consent: metrics::Extra,
) -> metrics::Render {
    let live = metrics::Live {
        delivery: scheduler.counters(),
        dane: scheduler.dane_watch(),
        server: server.clone(),
        queue: metrics::QueueCache::new(pipeline.store.clone()),
        extra: vec![consent],
    };
    let registry = pipeline.metrics.registry(live);
    Arc::new(move || metrics::render(&registry))
}

/// Drops stale rate counters and AUTH failure counts once an hour.
async fn prune_counters(
    pipeline: Arc<Pipeline>,
    ledger: Arc<auth_ledger::StoreLedger>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if let Err(error) = pipeline.limits.prune(pipeline::unix_now()).await {
            tracing::warn!(%error, "pruning rate counters failed");
        }
        if let Err(error) = ledger.prune(pipeline::unix_now()).await {
            tracing::warn!(%error, "pruning AUTH failure counts failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

fn tls_name(tls: leak_config::ListenerTls) -> &'static str {
    match tls {
        leak_config::ListenerTls::Starttls => "starttls",
        leak_config::ListenerTls::Implicit => "implicit",
        leak_config::ListenerTls::None => "none",
    }
}

/// `leak queue cat`: the stored message dated, stamped and signed as the
/// delivery scheduler would send it now (a message already attempted keeps
/// the stamp of its first attempt).
fn outgoing_renderer(delivery_now: leak_delivery::Reloader) -> leak_admin::RenderOutgoing {
    Arc::new(move |message, body| {
        // The settings and keys in force now: a reload may have changed the
        // date rounding, the DKIM expiry or rotated the keys.
        let delivery = delivery_now.settings();
        let now = pipeline::unix_now();
        let rounded = leak_delivery::stamp_time(now, delivery.date_rounding);
        let stamp = message.stamped.unwrap_or(rounded);
        let expires = delivery.dkim_expiry.map(|e| rounded + e.as_secs());
        let signer = delivery_now.signer();
        leak_delivery::outgoing(body.to_vec(), stamp, &delivery.hostname, &signer, expires)
            .unwrap_or_else(|_| body.to_vec())
    })
}

//! Maps the config file onto each crate's own settings, in one place.

use leak_config::{Config, DeliveryTls, DkimAlgorithm, DkimKeyConfig, ListenerTls};
use std::time::Duration;

/// One `[[dkim.key]]` as leak-dkim describes a key.
pub fn dkim_key(key: &DkimKeyConfig) -> leak_dkim::KeySpec {
    leak_dkim::KeySpec {
        selector: key.selector.clone(),
        algorithm: match key.algorithm {
            DkimAlgorithm::Ed25519 => leak_dkim::Algorithm::Ed25519,
            DkimAlgorithm::Rsa => leak_dkim::Algorithm::Rsa,
        },
        private_key: key.private_key.clone(),
    }
}

/// The signer holding every configured key.
pub fn dkim_signer(config: &Config) -> Result<leak_dkim::Signer, leak_dkim::DkimError> {
    let keys: Vec<_> = config.dkim.keys.iter().map(dkim_key).collect();
    leak_dkim::Signer::load(&config.anonymizer.domain, &keys)
}

/// `[anonymizer]` and `server.hostname` as the anonymizer's options. An
/// absent `notice` means leak's default; `""` means none.
pub fn anonymizer_options(config: &Config) -> leak_anonymizer::Options {
    let anonymizer = &config.anonymizer;
    let notice = match &anonymizer.notice {
        None => Some(leak_anonymizer::DEFAULT_NOTICE.to_owned()),
        Some(text) if text.trim().is_empty() => None,
        Some(text) => Some(text.clone()),
    };
    leak_anonymizer::Options {
        domain: anonymizer.domain.clone(),
        hostname: config.server.hostname.clone(),
        default_category: anonymizer.default_category.clone(),
        categories: anonymizer.categories.clone(),
        allow_custom_pseudonyms: anonymizer.allow_custom_pseudonyms,
        notice,
        optout_address: anonymizer.optout_address.clone(),
        attachments: match anonymizer.attachments {
            leak_config::AttachmentsPolicy::Clean => leak_anonymizer::AttachmentPolicy::Clean,
            leak_config::AttachmentsPolicy::Images => leak_anonymizer::AttachmentPolicy::Images,
            leak_config::AttachmentsPolicy::None => leak_anonymizer::AttachmentPolicy::None,
        },
    }
}

/// What the pipeline does with a message: anonymizer options, and the
/// classifier when moderation is enabled.
pub fn policy(config: &Config) -> anyhow::Result<super::pipeline::Policy> {
    Ok(super::pipeline::Policy {
        anonymizer: anonymizer_options(config),
        classifier: match config.moderation.enabled {
            true => Some(classifier(config)?),
            false => None,
        },
        moderation_action: config.moderation.action,
        moderation_review: config.moderation.review,
    })
}

/// The classifier with the operator's word lists.
pub fn classifier(config: &Config) -> anyhow::Result<leak_moderation::Classifier> {
    let read = |path: &Option<std::path::PathBuf>| -> anyhow::Result<Vec<String>> {
        match path {
            None => Ok(Vec::new()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                Ok(leak_moderation::parse_word_list(&text))
            }
        }
    };
    let block = read(&config.moderation.block_words_file)?;
    let allow = read(&config.moderation.allow_words_file)?;
    Ok(leak_moderation::Classifier::new(&block, &allow))
}

/// `[limits]`, `[auth]` and `server.hostname` as the SMTP server's settings.
pub fn smtp_settings(config: &Config) -> leak_smtp::Settings {
    let limits = &config.limits;
    let auth_workers = match limits.auth_workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let auth_queue = match limits.auth_queue {
        0 => 4 * auth_workers,
        n => n,
    };
    leak_smtp::Settings {
        hostname: config.server.hostname.clone(),
        max_message_size: config.limits.max_message_size.bytes() as usize,
        max_recipients: config.limits.max_recipients,
        command_timeout: config.limits.command_timeout,
        data_timeout: config.limits.data_timeout,
        max_auth_failures: config.auth.max_auth_failures,
        trusted_networks: config
            .auth
            .trusted_networks
            .iter()
            .filter_map(|n| leak_config::parse_network(n))
            .collect(),
        accept_without_auth: false,
        max_connections: config.limits.max_connections,
        auth_failure_delay: config.auth.failure_delay,
        client_limits: leak_smtp::ClientLimits {
            max_connections: limits.max_connections_per_client,
            connection_rate: limits.connection_rate_per_client,
            message_rate: limits.message_rate_per_client,
            recipient_rate: limits.recipient_rate_per_client,
            auth_rate: limits.auth_rate_per_client,
        },
        max_session_duration: limits.max_session_duration,
        max_junk_commands: limits.max_junk_commands,
        tls_handshake_timeout: limits.tls_handshake_timeout,
        auth_workers,
        auth_queue,
    }
}

pub fn listener_mode(tls: ListenerTls) -> leak_smtp::ListenerMode {
    match tls {
        ListenerTls::Starttls => leak_smtp::ListenerMode::StartTls,
        ListenerTls::Implicit => leak_smtp::ListenerMode::Implicit,
        ListenerTls::None => leak_smtp::ListenerMode::Plain,
    }
}

/// `[delivery]`, `[dns]` and the names delivery uses.
pub fn delivery_settings(config: &Config) -> leak_delivery::DeliverySettings {
    let delivery = &config.delivery;
    leak_delivery::DeliverySettings {
        hostname: config.server.hostname.clone(),
        mx_port: delivery.mx_port,
        retry_intervals: delivery.retry_intervals.clone(),
        queue_lifetime: delivery.queue_lifetime,
        tls: match delivery.tls {
            DeliveryTls::Opportunistic => leak_delivery::TlsMode::Opportunistic,
            DeliveryTls::Required => leak_delivery::TlsMode::Required,
        },
        random_delay: random_delay(delivery.random_delay),
        report_delay: random_delay(delivery.report_delay),
        date_rounding: delivery.date_rounding,
        max_concurrent: delivery.max_concurrent,
        max_per_domain: delivery.max_per_domain,
        nameservers: config
            .dns
            .nameservers
            .iter()
            .filter_map(|n| leak_config::parse_nameserver(n))
            .collect(),
        return_domain: config.anonymizer.domain.clone(),
        connect_timeout: delivery.timeout.min(Duration::from_secs(30)),
        command_timeout: delivery.timeout,
        data_timeout: delivery.timeout.max(Duration::from_secs(600)),
        dkim_expiry: Some(config.dkim.expiry).filter(|e| !e.is_zero()),
        retry_jitter: delivery.retry_jitter,
        max_per_mx: delivery.max_per_mx,
        messages_per_minute: delivery.messages_per_minute,
        messages_per_connection: delivery.messages_per_connection,
        throttle_suspend: delivery.throttle_suspend,
        source_ipv4: delivery.source_ipv4,
        source_ipv6: delivery.source_ipv6,
        ip_family: match delivery.ip_family {
            leak_config::IpFamily::Any => leak_delivery::IpFamily::Any,
            leak_config::IpFamily::Ipv4 => leak_delivery::IpFamily::Ipv4,
            leak_config::IpFamily::Ipv6 => leak_delivery::IpFamily::Ipv6,
        },
        domain_tls: delivery
            .domains
            .iter()
            .map(|d| {
                let name =
                    leak_delivery::ascii_domain(&d.name).unwrap_or_else(|| d.name.to_lowercase());
                let policy = match d.tls {
                    leak_config::DomainTls::Opportunistic => {
                        leak_delivery::TlsPolicy::Opportunistic
                    }
                    leak_config::DomainTls::Verify => leak_delivery::TlsPolicy::Verify,
                    leak_config::DomainTls::Dane => leak_delivery::TlsPolicy::Dane,
                };
                (name, policy)
            })
            .collect(),
        tls_ca_file: delivery.tls_ca_file.clone(),
        mta_sts: delivery.mta_sts,
        mta_sts_port: delivery.mta_sts_port,
        dane: match delivery.dane {
            leak_config::DaneSetting::Auto => leak_delivery::DaneMode::Auto,
            leak_config::DaneSetting::Always => leak_delivery::DaneMode::Always,
            leak_config::DaneSetting::Never => leak_delivery::DaneMode::Never,
        },
        tls_report_interval: delivery.tls_report_interval,
        dnssec_trust_anchor: config.dns.dnssec_trust_anchor.clone(),
        warmup: delivery.warmup_start.map(|start| leak_delivery::Warmup {
            start: start
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            daily: delivery.warmup_daily.clone(),
        }),
        ..leak_delivery::DeliverySettings::default()
    }
}

fn random_delay(range: leak_config::DelayRange) -> leak_delivery::RandomDelay {
    leak_delivery::RandomDelay {
        min: range.min,
        max: range.max,
    }
}

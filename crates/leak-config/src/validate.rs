//! Checks serde cannot express: required values, ranges, references between
//! keys, addresses that must parse and files that must exist.

use crate::model::{Config, ListenerTls};
use crate::Problem;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// Every problem with an already-parsed config (empty when it is fine).
pub fn validate(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    server(config, &mut problems);
    listeners(config, &mut problems);
    auth(config, &mut problems);
    limits(config, &mut problems);
    anonymizer(config, &mut problems);
    moderation(config, &mut problems);
    dkim(config, &mut problems);
    delivery(config, &mut problems);
    dns_and_metrics(config, &mut problems);
    web(config, &mut problems);
    cluster(config, &mut problems);
    problems
}

fn server(config: &Config, problems: &mut Vec<Problem>) {
    if !is_domain_name(&config.server.hostname) {
        problems.push(Problem::new(
            "server.hostname",
            "must be set to this server's fully qualified host name (e.g. \"mail.anon.example\")",
        ));
    }
    if config.server.data_dir.as_os_str().is_empty() {
        problems.push(Problem::new("server.data_dir", "must not be empty"));
    }
    if config.server.admin_socket.as_os_str().is_empty() {
        problems.push(Problem::new("server.admin_socket", "must not be empty"));
    }
}

fn listeners(config: &Config, problems: &mut Vec<Problem>) {
    if config.listeners.is_empty() {
        problems.push(Problem::new(
            "listener",
            "at least one [[listener]] is needed",
        ));
    }
    for (index, listener) in config.listeners.iter().enumerate() {
        if listener.bind.parse::<SocketAddr>().is_err() {
            problems.push(Problem::new(
                format!("listener[{index}].bind"),
                format!(
                    "`{}` is not an ip:port address such as \"0.0.0.0:587\"",
                    listener.bind
                ),
            ));
        }
        if listener.tls != ListenerTls::None && config.tls.is_none() {
            problems.push(Problem::new(
                format!("listener[{index}].tls"),
                "needs a [tls] section with cert and key",
            ));
        }
    }
    if let Some(tls) = &config.tls {
        must_be_readable_file(&tls.cert, "tls.cert", problems);
        must_be_readable_file(&tls.key, "tls.key", problems);
    }
}

fn auth(config: &Config, problems: &mut Vec<Problem>) {
    for (index, network) in config.auth.trusted_networks.iter().enumerate() {
        if parse_network(network).is_none() {
            problems.push(Problem::new(
                format!("auth.trusted_networks[{index}]"),
                format!("`{network}` is not a network such as \"127.0.0.1/32\""),
            ));
        }
    }
    // A cluster keeps its accounts in the database: no users file is read.
    if config.cluster.is_none() && config.auth.users_file.as_os_str().is_empty() {
        problems.push(Problem::new("auth.users_file", "must not be empty"));
    }
}

/// Parses `"10.0.0.0/8"` or a bare address (a single host).
pub fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

fn limits(config: &Config, problems: &mut Vec<Problem>) {
    let limits = &config.limits;
    let positive = [
        (
            "limits.max_message_size",
            limits.max_message_size.0 as usize,
        ),
        ("limits.max_recipients", limits.max_recipients),
        (
            "limits.messages_per_hour",
            limits.messages_per_hour as usize,
        ),
        (
            "limits.per_recipient_per_day",
            limits.per_recipient_per_day as usize,
        ),
        ("limits.max_connections", limits.max_connections),
    ];
    for (key, value) in positive {
        if value == 0 {
            problems.push(Problem::new(key, "must be greater than 0"));
        }
    }
    for (key, value) in [
        ("limits.command_timeout", limits.command_timeout),
        ("limits.data_timeout", limits.data_timeout),
        ("limits.max_session_duration", limits.max_session_duration),
        ("limits.tls_handshake_timeout", limits.tls_handshake_timeout),
    ] {
        if value.is_zero() {
            problems.push(Problem::new(key, "must be greater than 0"));
        }
    }
}

fn anonymizer(config: &Config, problems: &mut Vec<Problem>) {
    let anonymizer = &config.anonymizer;
    if !is_domain_name(&anonymizer.domain) {
        problems.push(Problem::new(
            "anonymizer.domain",
            "must be set to the domain pseudonymous mail is sent from (e.g. \"anon.example\")",
        ));
    }
    if anonymizer.categories.is_empty() {
        problems.push(Problem::new(
            "anonymizer.categories",
            "at least one category is needed",
        ));
    } else if !anonymizer
        .categories
        .contains_key(&anonymizer.default_category)
    {
        problems.push(Problem::new(
            "anonymizer.default_category",
            format!(
                "`{}` is not a key of [anonymizer.categories]",
                anonymizer.default_category
            ),
        ));
    }
    for (key, label) in &anonymizer.categories {
        let local_part_ok = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !local_part_ok {
            problems.push(Problem::new(
                format!("anonymizer.categories.{key}"),
                "a category key becomes an address local part: use letters, digits, '-', '_' or '.'",
            ));
        }
        if label.trim().is_empty() || label.chars().any(|c| c.is_control() || c == '"') {
            problems.push(Problem::new(
                format!("anonymizer.categories.{key}"),
                "the label must be non-empty, without quotes or control characters",
            ));
        }
    }
    if let Some(address) = &anonymizer.optout_address {
        if !looks_like_address(address) {
            problems.push(Problem::new(
                "anonymizer.optout_address",
                format!("`{address}` is not an e-mail address"),
            ));
        }
    }
}

fn moderation(config: &Config, problems: &mut Vec<Problem>) {
    if let Some(path) = &config.moderation.block_words_file {
        must_be_readable_file(path, "moderation.block_words_file", problems);
    }
    if let Some(path) = &config.moderation.allow_words_file {
        must_be_readable_file(path, "moderation.allow_words_file", problems);
    }
    let deadline = config.moderation.review_deadline;
    if deadline.is_zero() {
        problems.push(Problem::new(
            "moderation.review_deadline",
            "must be longer than zero",
        ));
    } else if deadline >= config.delivery.queue_lifetime {
        // The queue lifetime counts from submission: a message released at
        // the deadline would expire at its first look.
        problems.push(Problem::new(
            "moderation.review_deadline",
            "must be shorter than delivery.queue_lifetime (a message released then would expire at once)",
        ));
    }
}

/// Whether `selector` can name a DKIM key: dot-separated DNS labels of 1 to
/// 63 letters, digits and hyphens, no label starting or ending with a hyphen.
/// It is pasted into a DNS record and into every `DKIM-Signature`, so
/// anything else (spaces, quotes, semicolons) would corrupt both.
pub fn is_valid_selector(selector: &str) -> bool {
    !selector.is_empty()
        && selector.len() <= 253
        && selector.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn dkim(config: &Config, problems: &mut Vec<Problem>) {
    if config.dkim.keys.is_empty() {
        problems.push(Problem::new(
            "dkim.key",
            "at least one [[dkim.key]] is needed: leak signs all mail (create one with `leak dkim generate`)",
        ));
    }
    let mut selectors = std::collections::HashSet::new();
    for (index, key) in config.dkim.keys.iter().enumerate() {
        if !is_valid_selector(&key.selector) {
            problems.push(Problem::new(
                format!("dkim.key[{index}].selector"),
                "must be a DNS label such as \"leak-ed\"",
            ));
        } else if !selectors.insert(key.selector.as_str()) {
            problems.push(Problem::new(
                format!("dkim.key[{index}].selector"),
                format!("selector `{}` is used twice", key.selector),
            ));
        }
        if key.private_key.as_os_str().is_empty() {
            problems.push(Problem::new(
                format!("dkim.key[{index}].private_key"),
                "must be set",
            ));
        } else {
            must_be_readable_file(
                &key.private_key,
                &format!("dkim.key[{index}].private_key"),
                problems,
            );
        }
    }
}

fn delivery(config: &Config, problems: &mut Vec<Problem>) {
    let delivery = &config.delivery;
    if delivery.mx_port == 0 {
        problems.push(Problem::new("delivery.mx_port", "must not be 0"));
    }
    if delivery.retry_intervals.is_empty() {
        problems.push(Problem::new(
            "delivery.retry_intervals",
            "at least one interval is needed",
        ));
    }
    if delivery.retry_intervals.iter().any(|d| d.is_zero()) {
        problems.push(Problem::new(
            "delivery.retry_intervals",
            "intervals must be greater than 0",
        ));
    }
    if delivery.queue_lifetime.is_zero() {
        problems.push(Problem::new(
            "delivery.queue_lifetime",
            "must be greater than 0",
        ));
    }
    if delivery.max_concurrent == 0 {
        problems.push(Problem::new(
            "delivery.max_concurrent",
            "must be greater than 0",
        ));
    }
    if delivery.max_per_domain == 0 {
        problems.push(Problem::new(
            "delivery.max_per_domain",
            "must be greater than 0",
        ));
    }
    if delivery.date_rounding.as_secs() == 0 || delivery.date_rounding.as_secs() > 3600 {
        problems.push(Problem::new(
            "delivery.date_rounding",
            "must be between 1s and 1h",
        ));
    }
    if !(0.0..=0.5).contains(&delivery.retry_jitter) {
        problems.push(Problem::new(
            "delivery.retry_jitter",
            "must be between 0 and 0.5 (a fraction of each retry interval)",
        ));
    }
    for (index, domain) in delivery.domains.iter().enumerate() {
        if domain.name.trim().is_empty() || domain.name.contains(['@', ' ']) {
            problems.push(Problem::new(
                format!("delivery.domain[{index}].name"),
                "must be a domain name such as \"example.org\"",
            ));
        }
    }
    if delivery.warmup_start.is_some() == delivery.warmup_daily.is_empty() {
        problems.push(Problem::new(
            "delivery.warmup_daily",
            "delivery.warmup_start and delivery.warmup_daily go together",
        ));
    }
    if delivery.warmup_daily.contains(&0) {
        problems.push(Problem::new(
            "delivery.warmup_daily",
            "a day's cap must not be 0",
        ));
    }
    if delivery.throttle_suspend.is_zero() {
        problems.push(Problem::new("delivery.throttle_suspend", "must not be 0"));
    }
    let expiry = config.dkim.expiry;
    if !expiry.is_zero() && expiry < std::time::Duration::from_secs(3600) {
        problems.push(Problem::new(
            "dkim.expiry",
            "must be at least 1h (or \"0s\" for no expiry): receivers may check a signature late",
        ));
    }
    for (key, range) in [
        ("delivery.random_delay", delivery.random_delay),
        ("delivery.report_delay", delivery.report_delay),
    ] {
        if range.min > range.max {
            problems.push(Problem::new(
                key,
                "the first duration must not be longer than the second",
            ));
        }
        if range.max >= delivery.queue_lifetime {
            problems.push(Problem::new(
                key,
                "must be shorter than delivery.queue_lifetime",
            ));
        }
    }
}

fn dns_and_metrics(config: &Config, problems: &mut Vec<Problem>) {
    for (index, server) in config.dns.nameservers.iter().enumerate() {
        if parse_nameserver(server).is_none() {
            problems.push(Problem::new(
                format!("dns.nameservers[{index}]"),
                format!("`{server}` is not an address such as \"127.0.0.1:5353\" or \"9.9.9.9\""),
            ));
        }
    }
    if let Some(metrics) = &config.metrics {
        if metrics.bind.parse::<SocketAddr>().is_err() {
            problems.push(Problem::new(
                "metrics.bind",
                format!("`{}` is not an ip:port address", metrics.bind),
            ));
        }
    }
}

fn web(config: &Config, problems: &mut Vec<Problem>) {
    let Some(web) = &config.web else {
        return;
    };
    if web.bind.parse::<SocketAddr>().is_err() {
        problems.push(Problem::new(
            "web.bind",
            format!("`{}` is not an ip:port address", web.bind),
        ));
    }
    let url = web.public_url.trim_end_matches('/');
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.contains(char::is_whitespace) || url.split("://").nth(1) == Some("") {
        problems.push(Problem::new(
            "web.public_url",
            "must be the public base URL of the opt-out pages, e.g. \"https://anon.example\"",
        ));
    }
}

fn cluster(config: &Config, problems: &mut Vec<Problem>) {
    let Some(cluster) = &config.cluster else {
        return;
    };
    let url = cluster.database.as_str();
    let scheme_ok = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !scheme_ok || url.contains(char::is_whitespace) {
        problems.push(Problem::new(
            "cluster.database",
            "must be a PostgreSQL URL, e.g. \"postgres://leak:password@db.internal:5432/leak\"",
        ));
    }
}

/// Parses `"ip:port"` or `"ip"` (port 53).
pub fn parse_nameserver(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

fn must_be_readable_file(path: &Path, key: &str, problems: &mut Vec<Problem>) {
    if let Err(error) = std::fs::File::open(path) {
        problems.push(Problem::new(
            key,
            format!("cannot read {}: {error}", path.display()),
        ));
    }
}

fn is_domain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn looks_like_address(address: &str) -> bool {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && is_domain_name(domain)
                && !local.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

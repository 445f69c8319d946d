//! The config file as operators write it: the example parses, mistakes are all
//! reported with their key paths.

use std::path::Path;
use std::time::Duration;

#[test]
fn example_config_parses_with_contract_values() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/leak.toml"),
    )
    .unwrap();
    let config = leak_config::parse(&text).expect("example config parses");
    assert_eq!(config.server.hostname, "mail.anon.example");
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(config.limits.max_message_size.0, 25_000_000);
    assert_eq!(
        config.delivery.retry_intervals[3],
        Duration::from_secs(3600)
    );
    assert_eq!(
        config.delivery.queue_lifetime,
        Duration::from_secs(5 * 86400)
    );
    assert_eq!(
        config.anonymizer.categories["family"],
        "Un membre de la famille"
    );
    assert_eq!(
        config.dkim.keys[1].algorithm,
        leak_config::DkimAlgorithm::Rsa
    );
    assert_eq!(
        config.anonymizer.attachments,
        leak_config::AttachmentsPolicy::Clean
    );
    assert!(config.moderation.review);
    assert_eq!(
        config.moderation.review_deadline,
        Duration::from_secs(3 * 86400)
    );
}

#[test]
fn attachment_policy_values() {
    let with = |value: &str| {
        leak_config::parse(&format!(
            "[server]\nhostname = \"m.example\"\n[[listener]]\nbind = \"127.0.0.1:0\"\n\
             [anonymizer]\ndomain = \"anon.example\"\n{value}"
        ))
    };
    assert_eq!(
        with("").unwrap().anonymizer.attachments,
        leak_config::AttachmentsPolicy::Clean
    );
    assert_eq!(
        with("attachments = \"images\"")
            .unwrap()
            .anonymizer
            .attachments,
        leak_config::AttachmentsPolicy::Images
    );
    assert_eq!(
        with("attachments = \"none\"")
            .unwrap()
            .anonymizer
            .attachments,
        leak_config::AttachmentsPolicy::None
    );
    let problems = with("attachments = \"all\"").unwrap_err();
    assert_eq!(problems[0].key, "anonymizer.attachments", "{problems:?}");
}

#[test]
fn three_mistakes_give_three_problems_with_key_paths() {
    let text = r#"
[server]
hostname = "mail.anon.example"
colour = "blue"

[[listener]]
bind = "127.0.0.1:0"
tls = "sometimes"

[limits]
max_message_size = "25 parsecs"

[anonymizer]
domain = "anon.example"
"#;
    let problems = leak_config::parse(text).unwrap_err();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.colour",
            "listener[0].tls",
            "limits.max_message_size"
        ],
        "{problems:?}"
    );
    assert!(problems[0].message.contains("unknown key"));
    assert!(problems[2].message.contains("parsecs"));
}

#[test]
fn semantic_problems_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leak.toml");
    std::fs::write(
        &path,
        r#"
[server]
hostname = ""
data_dir = "data"

[[listener]]
bind = "not-an-address"
tls = "starttls"

[auth]
trusted_networks = ["127.0.0.1/32", "banana"]

[anonymizer]
domain = "anon.example"
default_category = "stranger"

[moderation]
review_deadline = "6d"

[[dkim.key]]
selector = "s1"
private_key = "missing.pem"
"#,
    )
    .unwrap();
    let error = leak_config::load(&path).unwrap_err();
    let keys: Vec<&str> = error.problems.iter().map(|p| p.key.as_str()).collect();
    for expected in [
        "server.hostname",
        "listener[0].bind",
        "listener[0].tls",
        "auth.trusted_networks[1]",
        "anonymizer.default_category",
        "dkim.key[0].private_key",
        "moderation.review_deadline",
    ] {
        assert!(keys.contains(&expected), "{expected} missing from {keys:?}");
    }
    let dkim = error
        .problems
        .iter()
        .find(|p| p.key == "dkim.key[0].private_key")
        .unwrap();
    assert!(
        dkim.message
            .contains(&dir.path().join("missing.pem").display().to_string()),
        "relative path resolved: {dkim}"
    );
}

#[test]
fn not_toml_is_one_clear_problem() {
    let problems = leak_config::parse("[server\nhostname=").unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(problems[0].message.starts_with("not valid TOML"));
}

#[test]
fn inbound_role_and_web_section() {
    let text = r#"
[server]
hostname = "mail.anon.example"

[[listener]]
bind = "127.0.0.1:587"
tls = "none"

[[listener]]
bind = "127.0.0.1:25"
tls = "none"
role = "inbound"

[anonymizer]
domain = "anon.example"

[web]
bind = "127.0.0.1:8080"
public_url = "https://anon.example/"
secret_file = "consent.secret"
"#;
    let mut config = leak_config::parse(text).expect("parses");
    assert_eq!(
        config.listeners[0].role,
        leak_config::ListenerRole::Submission
    );
    assert_eq!(config.listeners[1].role, leak_config::ListenerRole::Inbound);
    leak_config::resolve_paths(&mut config, Path::new("/etc/leak"));
    let web = config.web.as_ref().unwrap();
    assert_eq!(
        web.secret_file.as_deref(),
        Some(Path::new("/etc/leak/consent.secret"))
    );
    let problems = leak_config::validate(&config);
    assert!(
        !problems.iter().any(|p| p.key.starts_with("web")),
        "{problems:?}"
    );

    let bad = text
        .replace("https://anon.example/", "anon.example")
        .replace("127.0.0.1:8080", "localhost");
    let problems = leak_config::validate(&leak_config::parse(&bad).unwrap());
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(
        keys.contains(&"web.bind") && keys.contains(&"web.public_url"),
        "{keys:?}"
    );
    let role = text.replace("\"inbound\"", "\"relay\"");
    let problems = leak_config::parse(&role).unwrap_err();
    assert_eq!(problems[0].key, "listener[1].role");
}

#[test]
fn delays_are_one_duration_or_a_pair_with_modest_defaults() {
    let base =
        "[server]\nhostname = \"mail.anon.example\"\n[anonymizer]\ndomain = \"anon.example\"\n";
    let config = leak_config::parse(base).unwrap();
    let minutes = |m: u64| Duration::from_secs(m * 60);
    assert_eq!(
        config.delivery.random_delay,
        leak_config::DelayRange::up_to(minutes(10))
    );
    assert_eq!(config.delivery.report_delay.min, minutes(10));
    assert_eq!(config.delivery.report_delay.max, minutes(60));

    let text =
        format!("{base}[delivery]\nrandom_delay = \"0s\"\nreport_delay = [\"2s\", \"3s\"]\n");
    let config = leak_config::parse(&text).unwrap();
    assert_eq!(
        config.delivery.random_delay,
        leak_config::DelayRange::default()
    );
    assert_eq!(config.delivery.report_delay.min, Duration::from_secs(2));
    assert_eq!(config.delivery.report_delay.max, Duration::from_secs(3));

    let bad =
        format!("{base}[delivery]\nrandom_delay = [\"1h\", \"1m\"]\nreport_delay = \"soon\"\n");
    let problems = leak_config::parse(&bad).unwrap_err();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["delivery.report_delay"], "{problems:?}");
    let problems = leak_config::validate(
        &leak_config::parse(&format!(
            "{base}[delivery]\nrandom_delay = [\"1h\", \"1m\"]\n"
        ))
        .unwrap(),
    );
    assert!(
        problems.iter().any(|p| p.key == "delivery.random_delay"),
        "{problems:?}"
    );
}

/// The commented hardening keys in the example are exactly the defaults, and
/// they parse once uncommented.
#[test]
fn example_hardening_keys_uncommented_are_the_defaults() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/leak.toml"),
    )
    .unwrap();
    let keys = [
        "max_connections_per_client",
        "connection_rate_per_client",
        "message_rate_per_client",
        "recipient_rate_per_client",
        "auth_rate_per_client",
        "max_session_duration",
        "max_junk_commands",
        "tls_handshake_timeout",
        "auth_workers",
        "auth_queue",
        "auth_cache_ttl",
    ];
    let uncommented: String = text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if keys.iter().any(|k| rest.starts_with(&format!("{k} = "))) => rest,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(uncommented.matches("_per_client = ").count(), 5);
    let config = leak_config::parse(&uncommented).expect("uncommented example parses");
    let defaults = leak_config::parse(&text).unwrap().limits;
    let limits = config.limits;
    assert_eq!(
        limits.max_connections_per_client,
        defaults.max_connections_per_client
    );
    assert_eq!(limits.connection_rate_per_client, 120);
    assert_eq!(
        limits.message_rate_per_client,
        defaults.message_rate_per_client
    );
    assert_eq!(
        limits.recipient_rate_per_client,
        defaults.recipient_rate_per_client
    );
    assert_eq!(limits.auth_rate_per_client, defaults.auth_rate_per_client);
    assert_eq!(limits.max_session_duration, Duration::from_secs(1800));
    assert_eq!(limits.max_session_duration, defaults.max_session_duration);
    assert_eq!(limits.max_junk_commands, defaults.max_junk_commands);
    assert_eq!(limits.tls_handshake_timeout, defaults.tls_handshake_timeout);
    assert_eq!((limits.auth_workers, limits.auth_queue), (0, 0));
    assert_eq!(limits.auth_cache_ttl, Duration::from_secs(300));
    assert_eq!(limits.auth_cache_ttl, defaults.auth_cache_ttl);
    let off = leak_config::parse(
        &uncommented.replace("auth_cache_ttl = \"5m\"", "auth_cache_ttl = \"0s\""),
    )
    .unwrap();
    assert_eq!(off.limits.auth_cache_ttl, Duration::ZERO);
}

#[test]
fn delivery_shaping_tls_and_expiry_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leak.toml");
    let base = r#"
[server]
hostname = "mail.anon.example"
data_dir = "data"

[anonymizer]
domain = "anon.example"

[dkim]
expiry = "EXPIRY"

[delivery]
retry_jitter = JITTER
throttle_suspend = "2m"
ip_family = "ipv4"
source_ipv4 = "192.0.2.25"
tls_ca_file = "ca.pem"

[[delivery.domain]]
name = "bücher.example"
tls = "verify"

[[delivery.domain]]
name = "other.example"
tls = "TLS"
"#;
    let config = |expiry: &str, jitter: &str, tls: &str| {
        let text = base
            .replace("EXPIRY", expiry)
            .replace("JITTER", jitter)
            .replace("TLS", tls);
        std::fs::write(&path, text).unwrap();
        leak_config::load(&path)
    };
    let problems = |expiry, jitter, tls| -> Vec<String> {
        config(expiry, jitter, tls)
            .unwrap_err()
            .problems
            .iter()
            .map(|p| p.key.clone())
            .filter(|k| k.starts_with("delivery") || k.starts_with("dkim.expiry"))
            .collect()
    };
    // Every key parses; the only problems of a good file are elsewhere
    // (no listener, no DKIM key).
    assert_eq!(problems("7d", "0.1", "opportunistic"), Vec::<String>::new());
    assert_eq!(
        problems("10m", "0.9", "dane"),
        ["delivery.retry_jitter", "dkim.expiry"]
    );
    let error = config("7d", "0.1", "opportunistic").unwrap_err();
    assert!(!error.problems.is_empty());
    let text = base
        .replace("EXPIRY", "0s")
        .replace("JITTER", "0.2")
        .replace("TLS", "verify");
    let parsed = leak_config::parse(&text).unwrap();
    let delivery = &parsed.delivery;
    assert_eq!(parsed.dkim.expiry, Duration::ZERO);
    assert_eq!(delivery.ip_family, leak_config::IpFamily::Ipv4);
    assert_eq!(delivery.source_ipv4, Some("192.0.2.25".parse().unwrap()));
    assert_eq!(delivery.domains[0].tls, leak_config::DomainTls::Verify);
    assert_eq!(delivery.throttle_suspend, Duration::from_secs(120));
    let defaults = leak_config::DeliveryConfig::default();
    assert_eq!(
        (
            defaults.max_per_mx,
            defaults.messages_per_minute,
            defaults.messages_per_connection
        ),
        (2, 20, 20)
    );
}

#[test]
fn dane_is_auto_by_default_and_takes_the_old_booleans() {
    let with = |value: &str| {
        leak_config::parse(&format!(
            "[server]\nhostname = \"h.example\"\ndata_dir = \"d\"\n\
             [anonymizer]\ndomain = \"anon.example\"\n[delivery]\n{value}\n"
        ))
        .map(|c| c.delivery.dane)
        .map_err(|problems| format!("{problems:?}"))
    };
    use leak_config::DaneSetting;
    assert_eq!(with("").unwrap(), DaneSetting::Auto);
    assert_eq!(with("dane = \"auto\"").unwrap(), DaneSetting::Auto);
    assert_eq!(with("dane = true").unwrap(), DaneSetting::Always);
    assert_eq!(with("dane = false").unwrap(), DaneSetting::Never);
    for wrong in ["dane = \"yes\"", "dane = 1"] {
        let error = with(wrong).unwrap_err();
        assert!(error.contains("delivery.dane"), "{error}");
        assert!(error.contains("expected true, false or"), "{error}");
    }
}

#[test]
fn cluster_section_is_checked_and_never_prints_its_password() {
    let text = r#"
[server]
hostname = "mail.anon.example"

[[listener]]
bind = "127.0.0.1:587"
tls = "none"

[anonymizer]
domain = "anon.example"

[cluster]
database = "postgres://leak:s3cret@db.internal:5432/leak"
"#;
    let config = leak_config::parse(text).expect("parses");
    let cluster = config.cluster.as_ref().unwrap();
    assert_eq!(
        cluster.database,
        "postgres://leak:s3cret@db.internal:5432/leak"
    );
    let problems = leak_config::validate(&config);
    assert!(
        !problems.iter().any(|p| p.key.starts_with("cluster")),
        "{problems:?}"
    );
    let shown = format!("{config:?}");
    assert!(!shown.contains("s3cret") && shown.contains("leak:***@db.internal"));

    let bad = text.replace("postgres://", "mysql://");
    let problems = leak_config::validate(&leak_config::parse(&bad).unwrap());
    assert!(
        problems.iter().any(|p| p.key == "cluster.database"),
        "{problems:?}"
    );
    let unknown = text.replace("database =", "url =");
    let problems = leak_config::parse(&unknown).unwrap_err();
    assert!(problems[0].key.starts_with("cluster"), "{problems:?}");
    let without = text.split("[cluster]").next().unwrap();
    assert!(leak_config::parse(without).unwrap().cluster.is_none());
}

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
    assert!(config.moderation.review);
    assert_eq!(
        config.moderation.review_deadline,
        Duration::from_secs(3 * 86400)
    );
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

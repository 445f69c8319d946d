//! The config file's structure. Every section and field an operator may write,
//! with its default. Names follow CONTRACT.md exactly.

use crate::units::ByteSize;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The whole config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    /// One entry per listening socket (`[[listener]]`).
    #[serde(default, rename = "listener")]
    pub listeners: Vec<ListenerConfig>,
    /// Certificate and key for `starttls` and `implicit` listeners.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub anonymizer: AnonymizerConfig,
    #[serde(default)]
    pub moderation: ModerationConfig,
    #[serde(default)]
    pub dkim: DkimConfig,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    #[serde(default)]
    pub dns: DnsConfig,
    /// Prometheus metrics endpoint; absent means no metrics listener.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
}

/// `[server]`: who this server is and where it keeps its state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Used in the banner, EHLO, leak's Received line and Message-ID right side.
    #[serde(default)]
    pub hostname: String,
    /// Where the sled store and body segments live.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// The Unix socket `leak queue`, `optout` and `status` talk to.
    #[serde(default = "default_admin_socket")]
    pub admin_socket: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            hostname: String::new(),
            data_dir: default_data_dir(),
            admin_socket: default_admin_socket(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("/var/lib/leak")
}

fn default_admin_socket() -> PathBuf {
    PathBuf::from("/run/leak/admin.sock")
}

/// How a listener speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerTls {
    /// Plaintext first, upgraded by the STARTTLS command (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// Never TLS: for trusted local submitters only, since AUTH needs TLS.
    None,
}

/// `[[listener]]`: one listening socket.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `ip:port`; port 0 picks a free port (logged as `listening on ip:port`).
    #[serde(default)]
    pub bind: String,
    #[serde(default = "default_listener_tls")]
    pub tls: ListenerTls,
}

fn default_listener_tls() -> ListenerTls {
    ListenerTls::Starttls
}

/// `[tls]`: the server certificate for submission listeners.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    #[serde(default)]
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: PathBuf,
}

/// `[auth]`: who may submit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The accounts file managed by `leak user add|remove|list`.
    #[serde(default = "default_users_file")]
    pub users_file: PathBuf,
    /// Networks (`"127.0.0.1/32"`, or a bare address) that may submit without AUTH.
    #[serde(default)]
    pub trusted_networks: Vec<String>,
    /// Failed AUTH attempts allowed per connection before it is closed.
    #[serde(default = "default_max_auth_failures")]
    pub max_auth_failures: u32,
    /// Wait before answering a failed AUTH, multiplied by the address's recent
    /// failures (capped at 5 s); after 10 failures in 15 minutes the address
    /// is refused AUTH altogether.
    #[serde(default = "default_failure_delay", with = "humantime_serde")]
    pub failure_delay: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            users_file: default_users_file(),
            trusted_networks: Vec::new(),
            max_auth_failures: default_max_auth_failures(),
            failure_delay: default_failure_delay(),
        }
    }
}

fn default_users_file() -> PathBuf {
    PathBuf::from("/etc/leak/users.toml")
}

fn default_max_auth_failures() -> u32 {
    3
}

fn default_failure_delay() -> Duration {
    Duration::from_secs(1)
}

/// `[limits]`: protections against floods and hostile clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest message accepted (advertised with SIZE).
    #[serde(default = "default_max_message_size")]
    pub max_message_size: ByteSize,
    /// Recipients per message; more get `452 4.5.3`.
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    /// Messages one account may submit per hour; more get `450 4.7.1` at MAIL FROM.
    #[serde(default = "default_messages_per_hour")]
    pub messages_per_hour: u32,
    /// Anonymous messages one recipient address may receive per day, from all
    /// accounts together; more get `450 4.7.1` at RCPT TO.
    #[serde(default = "default_per_recipient_per_day")]
    pub per_recipient_per_day: u32,
    /// Concurrent SMTP connections; more get `421` and are closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// How long the server waits for a client's next command.
    #[serde(default = "default_command_timeout", with = "humantime_serde")]
    pub command_timeout: Duration,
    /// How long the whole DATA phase may take.
    #[serde(default = "default_data_timeout", with = "humantime_serde")]
    pub data_timeout: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_size: default_max_message_size(),
            max_recipients: default_max_recipients(),
            messages_per_hour: default_messages_per_hour(),
            per_recipient_per_day: default_per_recipient_per_day(),
            max_connections: default_max_connections(),
            command_timeout: default_command_timeout(),
            data_timeout: default_data_timeout(),
        }
    }
}

fn default_max_message_size() -> ByteSize {
    ByteSize(25_000_000)
}
fn default_max_recipients() -> usize {
    50
}
fn default_messages_per_hour() -> u32 {
    60
}
fn default_per_recipient_per_day() -> u32 {
    5
}
fn default_max_connections() -> usize {
    256
}
fn default_command_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_data_timeout() -> Duration {
    Duration::from_secs(600)
}

/// `[anonymizer]`: what the recipient sees instead of the sender.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnonymizerConfig {
    /// The pseudonymous From domain, Message-ID domain and DKIM `d=`.
    #[serde(default)]
    pub domain: String,
    /// The category used when the submitted From names none.
    #[serde(default = "default_category")]
    pub default_category: String,
    /// Whether a display name on a From at `domain` may become the pseudonym.
    #[serde(default = "default_true")]
    pub allow_custom_pseudonyms: bool,
    /// Footer added to every message; `""` adds none. Default: leak's bilingual notice.
    #[serde(default)]
    pub notice: Option<String>,
    /// Address recipients write to so as to refuse further anonymous mail;
    /// also sent as `List-Unsubscribe`.
    #[serde(default)]
    pub optout_address: Option<String>,
    /// Category key → the name the recipient sees.
    #[serde(default = "default_categories")]
    pub categories: BTreeMap<String, String>,
}

impl Default for AnonymizerConfig {
    fn default() -> Self {
        AnonymizerConfig {
            domain: String::new(),
            default_category: default_category(),
            allow_custom_pseudonyms: true,
            notice: None,
            optout_address: None,
            categories: default_categories(),
        }
    }
}

fn default_category() -> String {
    "someone".to_owned()
}

fn default_true() -> bool {
    true
}

fn default_categories() -> BTreeMap<String, String> {
    [
        ("colleague", "Un collègue"),
        ("family", "Un membre de la famille"),
        ("friend", "Un ami"),
        ("someone", "Quelqu'un"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// What moderation does with a message it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModerationAction {
    /// `550 5.7.1` at the end of DATA; nothing is stored.
    Reject,
    /// Accepted and stored held, for an operator to release or delete.
    Hold,
}

/// `[moderation]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModerationConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_moderation_action")]
    pub action: ModerationAction,
    /// Extra words or phrases to refuse, one per line.
    #[serde(default)]
    pub block_words_file: Option<PathBuf>,
    /// Words or phrases never to refuse, one per line.
    #[serde(default)]
    pub allow_words_file: Option<PathBuf>,
    /// Uncertain messages (the model's hold band) are stored held for an
    /// operator's review; false lets them through.
    #[serde(default = "default_true")]
    pub review: bool,
    /// A message held by moderation and not reviewed within this long is
    /// dropped and its sender's notify address told.
    #[serde(default = "default_review_deadline", with = "humantime_serde")]
    pub review_deadline: Duration,
}

impl Default for ModerationConfig {
    fn default() -> Self {
        ModerationConfig {
            enabled: true,
            action: default_moderation_action(),
            block_words_file: None,
            allow_words_file: None,
            review: true,
            review_deadline: default_review_deadline(),
        }
    }
}

fn default_review_deadline() -> Duration {
    Duration::from_secs(3 * 24 * 3600)
}

fn default_moderation_action() -> ModerationAction {
    ModerationAction::Reject
}

/// `[dkim]`: signing keys; every key signs every message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    #[serde(default, rename = "key")]
    pub keys: Vec<DkimKeyConfig>,
}

/// A DKIM key algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DkimAlgorithm {
    Ed25519,
    Rsa,
}

/// `[[dkim.key]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimKeyConfig {
    #[serde(default)]
    pub selector: String,
    #[serde(default = "default_dkim_algorithm")]
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 PEM private key, as written by `leak dkim generate`.
    #[serde(default)]
    pub private_key: PathBuf,
}

fn default_dkim_algorithm() -> DkimAlgorithm {
    DkimAlgorithm::Ed25519
}

/// How outbound delivery uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryTls {
    /// STARTTLS when offered, plaintext otherwise (what MTAs do).
    Opportunistic,
    /// Never deliver without TLS; such recipients are deferred.
    Required,
}

/// `[delivery]`: direct delivery to recipients' MX hosts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// The port used on MX hosts.
    #[serde(default = "default_mx_port")]
    pub mx_port: u16,
    /// Waits between attempts; the last one repeats.
    #[serde(default = "default_retry_intervals", deserialize_with = "durations")]
    pub retry_intervals: Vec<Duration>,
    /// After this long in the queue a recipient fails as expired.
    #[serde(default = "default_queue_lifetime", with = "humantime_serde")]
    pub queue_lifetime: Duration,
    #[serde(default = "default_delivery_tls")]
    pub tls: DeliveryTls,
    /// Random wait before the first attempt, so arrival time does not reveal
    /// when a message was written.
    #[serde(default, with = "humantime_serde")]
    pub random_delay: Duration,
    /// Simultaneous outbound connections in total.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// Simultaneous outbound connections per recipient domain.
    #[serde(default = "default_max_per_domain")]
    pub max_per_domain: usize,
    /// Timeout for connecting to and each reply of an MX host.
    #[serde(default = "default_smtp_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            mx_port: default_mx_port(),
            retry_intervals: default_retry_intervals(),
            queue_lifetime: default_queue_lifetime(),
            tls: default_delivery_tls(),
            random_delay: Duration::ZERO,
            max_concurrent: default_max_concurrent(),
            max_per_domain: default_max_per_domain(),
            timeout: default_smtp_timeout(),
        }
    }
}

/// A list of human-readable durations (`["5m", "1h"]`).
fn durations<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let list: Vec<humantime_serde::Serde<Duration>> = Deserialize::deserialize(deserializer)?;
    Ok(list.into_iter().map(|d| d.into_inner()).collect())
}

fn default_mx_port() -> u16 {
    25
}
fn default_retry_intervals() -> Vec<Duration> {
    [5 * 60, 10 * 60, 30 * 60, 3600, 2 * 3600, 4 * 3600]
        .into_iter()
        .map(Duration::from_secs)
        .collect()
}
fn default_queue_lifetime() -> Duration {
    Duration::from_secs(5 * 86_400)
}
fn default_delivery_tls() -> DeliveryTls {
    DeliveryTls::Opportunistic
}
fn default_max_concurrent() -> usize {
    100
}
fn default_max_per_domain() -> usize {
    20
}
fn default_smtp_timeout() -> Duration {
    Duration::from_secs(120)
}

/// `[dns]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// `"ip:port"` or `"ip"` (port 53); empty uses the system's resolv.conf.
    #[serde(default)]
    pub nameservers: Vec<String>,
}

/// `[metrics]`: Prometheus text exposition over HTTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `ip:port` to serve `/metrics` on.
    #[serde(default)]
    pub bind: String,
}

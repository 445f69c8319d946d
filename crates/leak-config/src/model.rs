//! The config file's structure. Every section and field an operator may write,
//! with its default. Names follow CONTRACT.md exactly.

use crate::units::{ByteSize, DelayRange};
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
    #[serde(default)]
    pub log: LogConfig,
    /// One-click opt-out over HTTP; absent means no web listener and no
    /// HTTPS `List-Unsubscribe` link.
    #[serde(default)]
    pub web: Option<WebConfig>,
    /// Shared policy state for more than one node; absent means this node
    /// keeps accounts, opt-outs and counters itself (the users file and its
    /// store).
    #[serde(default)]
    pub cluster: Option<ClusterConfig>,
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
    /// What the socket is for: submission by accounts, or inbound mail for
    /// `anonymizer.domain` (bounces, complaints, opt-out mail, replies).
    #[serde(default)]
    pub role: ListenerRole,
}

/// What a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerRole {
    /// Authenticated (or trusted) submission of anonymous mail.
    #[default]
    Submission,
    /// Mail *to* `anonymizer.domain` from anyone, never relayed (port 25,
    /// the MX of the anonymizer domain).
    Inbound,
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
    PathBuf::from("/etc/leak/accounts/users.toml")
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
    /// Connections one client (IPv4 address or IPv6 /64) may hold at once;
    /// more get `421 4.7.0`. 0: no limit. Trusted networks are exempt from
    /// every `*_per_client` limit.
    #[serde(default = "default_max_connections_per_client")]
    pub max_connections_per_client: u32,
    /// New connections per minute from one client. 0: no limit.
    #[serde(default = "default_connection_rate_per_client")]
    pub connection_rate_per_client: u32,
    /// MAIL FROM commands per minute from one client (`450 4.7.1`). 0: no limit.
    #[serde(default = "default_message_rate_per_client")]
    pub message_rate_per_client: u32,
    /// RCPT TO commands per minute from one client (`450 4.7.1`). 0: no limit.
    #[serde(default = "default_recipient_rate_per_client")]
    pub recipient_rate_per_client: u32,
    /// AUTH commands per minute from one client (`454 4.7.0`). 0: no limit.
    #[serde(default = "default_auth_rate_per_client")]
    pub auth_rate_per_client: u32,
    /// Longest a connection may last, however busy (`421 4.4.2`).
    #[serde(default = "default_max_session_duration", with = "humantime_serde")]
    pub max_session_duration: Duration,
    /// NOOP, RSET, HELP, VRFY and refused commands tolerated per connection.
    #[serde(default = "default_max_junk_commands")]
    pub max_junk_commands: u32,
    /// How long a client may take over the TLS handshake.
    #[serde(default = "default_tls_handshake_timeout", with = "humantime_serde")]
    pub tls_handshake_timeout: Duration,
    /// Password verifications (argon2id, ~19 MiB each) running at once;
    /// 0 means one per CPU.
    #[serde(default)]
    pub auth_workers: usize,
    /// AUTH attempts waiting for verification per queue before more are
    /// answered `454 4.7.0`; 0 means four per worker.
    #[serde(default)]
    pub auth_queue: usize,
    /// How long a successful login is remembered (a keyed hash of the name
    /// and password, in memory only), so that the same client logging in
    /// again skips argon2id. Failures are never remembered; a reload clears
    /// it. `0s` turns the cache off.
    #[serde(default = "default_auth_cache_ttl", with = "humantime_serde")]
    pub auth_cache_ttl: Duration,
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
            max_connections_per_client: default_max_connections_per_client(),
            connection_rate_per_client: default_connection_rate_per_client(),
            message_rate_per_client: default_message_rate_per_client(),
            recipient_rate_per_client: default_recipient_rate_per_client(),
            auth_rate_per_client: default_auth_rate_per_client(),
            max_session_duration: default_max_session_duration(),
            max_junk_commands: default_max_junk_commands(),
            tls_handshake_timeout: default_tls_handshake_timeout(),
            auth_workers: 0,
            auth_queue: 0,
            auth_cache_ttl: default_auth_cache_ttl(),
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
fn default_max_connections_per_client() -> u32 {
    20
}
fn default_connection_rate_per_client() -> u32 {
    120
}
fn default_message_rate_per_client() -> u32 {
    60
}
fn default_recipient_rate_per_client() -> u32 {
    300
}
fn default_auth_rate_per_client() -> u32 {
    30
}
fn default_auth_cache_ttl() -> Duration {
    Duration::from_secs(300)
}
fn default_max_session_duration() -> Duration {
    Duration::from_secs(30 * 60)
}
fn default_max_junk_commands() -> u32 {
    50
}
fn default_tls_handshake_timeout() -> Duration {
    Duration::from_secs(10)
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
    /// Whether a user may ask for a pseudonym of their own, explicitly: a
    /// `+tag` on a From at `domain` (`friend+Le.Renard@…`) or the
    /// `X-Leak-Pseudonym` header. The From display name never becomes the
    /// pseudonym (clients prefill it with the real name).
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
    /// Which attachments are cleaned and sent; the rest refuse the message.
    #[serde(default)]
    pub attachments: AttachmentsPolicy,
}

/// `anonymizer.attachments`: what leak does with attachments. Whatever is
/// not accepted refuses the whole message (`554 5.6.0`), never passes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentsPolicy {
    /// Clean JPEG, PNG, WebP and GIF images, text files and Office
    /// documents; refuse the rest.
    #[default]
    Clean,
    /// Clean images only; refuse every other attachment.
    Images,
    /// Refuse every attachment.
    None,
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
            attachments: AttachmentsPolicy::default(),
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    #[serde(default, rename = "key")]
    pub keys: Vec<DkimKeyConfig>,
    /// How long a signature stays valid (`x=`), counted from the delivery
    /// attempt's time rounded down to `delivery.date_rounding`; `"0s"`
    /// writes no `x=`.
    #[serde(default = "default_dkim_expiry", with = "humantime_serde")]
    pub expiry: Duration,
}

impl Default for DkimConfig {
    fn default() -> Self {
        DkimConfig {
            keys: Vec::new(),
            expiry: default_dkim_expiry(),
        }
    }
}

/// A week: longer than any delivery and any sane receiver's re-check, short
/// enough that a captured message cannot be replayed for long.
fn default_dkim_expiry() -> Duration {
    Duration::from_secs(7 * 86_400)
}

/// Which address families delivery connects over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    #[default]
    Any,
    Ipv4,
    Ipv6,
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
    /// Random wait before the first attempt, so the time a message reaches
    /// the recipient's MX cannot be matched to the time it was submitted.
    #[serde(default = "default_random_delay")]
    pub random_delay: DelayRange,
    /// Random wait before a failure report is first sent, so the notify
    /// address's mail system cannot pair it with the refused message by time.
    #[serde(default = "default_report_delay")]
    pub report_delay: DelayRange,
    /// `Date` and leak's `Received` line carry the first delivery attempt's
    /// time rounded down to a multiple of this.
    #[serde(default = "default_date_rounding", with = "humantime_serde")]
    pub date_rounding: Duration,
    /// Simultaneous outbound connections in total.
    #[serde(default = "default_max_concurrent")]
    pub max_concurrent: usize,
    /// Simultaneous outbound connections per recipient domain.
    #[serde(default = "default_max_per_domain")]
    pub max_per_domain: usize,
    /// Timeout for connecting to and each reply of an MX host.
    #[serde(default = "default_smtp_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Each retry interval is drawn within ± this fraction of itself.
    #[serde(default = "default_retry_jitter")]
    pub retry_jitter: f64,
    /// Simultaneous connections to one MX host set (domains whose MX hosts
    /// are the same share it); 0 means no limit beyond `max_per_domain`.
    #[serde(default = "default_max_per_mx")]
    pub max_per_mx: usize,
    /// Messages per minute to one MX host set; 0 means no limit.
    #[serde(default = "default_messages_per_minute")]
    pub messages_per_minute: u32,
    /// Messages sent over one connection before it is closed; 0 means no limit.
    #[serde(default = "default_messages_per_connection")]
    pub messages_per_connection: u32,
    /// How long an MX host set that answered with a throttling reply
    /// (`421`, `4.7.0`, `4.7.28`, …) is left alone.
    #[serde(default = "default_throttle_suspend", with = "humantime_serde")]
    pub throttle_suspend: Duration,
    /// Local IPv4 address outbound connections are bound to.
    #[serde(default)]
    pub source_ipv4: Option<std::net::Ipv4Addr>,
    /// Local IPv6 address outbound connections are bound to.
    #[serde(default)]
    pub source_ipv6: Option<std::net::Ipv6Addr>,
    /// Which MX addresses are tried: `any`, `ipv4` or `ipv6`.
    #[serde(default)]
    pub ip_family: IpFamily,
    /// Extra CA certificates (PEM) trusted, besides the webpki roots, when
    /// a domain's TLS policy is `verify` (a private CA, or tests).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// `[[delivery.domain]]`: per-recipient-domain overrides.
    #[serde(default, rename = "domain")]
    pub domains: Vec<DeliveryDomainConfig>,
    /// Look up and apply MTA-STS policies (RFC 8461) for domains without a
    /// `[[delivery.domain]]` policy.
    #[serde(default = "default_true")]
    pub mta_sts: bool,
    /// The HTTPS port MTA-STS policies are fetched from (443; for tests).
    #[serde(default = "default_mta_sts_port")]
    pub mta_sts_port: u16,
    /// DANE (RFC 7672) for domains without a `[[delivery.domain]]` policy:
    /// look up DNSSEC-validated TLSA records of their MX hosts and, when
    /// present, require a matching certificate (before MTA-STS). `"auto"`
    /// (the default): only while a probe shows that DNSSEC validation works
    /// through `dns.nameservers`; `true`: always; `false`: never.
    #[serde(default)]
    pub dane: DaneSetting,
    /// How often TLS-RPT (RFC 8460) aggregate reports are sent to the
    /// domains that ask for them; "0s" records and sends nothing.
    #[serde(default = "default_tls_report_interval", with = "humantime_serde")]
    pub tls_report_interval: Duration,
    /// Warm-up: the first day the IP sends (RFC 3339, UTC).
    #[serde(default, with = "humantime_serde")]
    pub warmup_start: Option<std::time::SystemTime>,
    /// Warm-up: messages per MX host set on day 1, 2, …; no cap after the list.
    #[serde(default)]
    pub warmup_daily: Vec<u32>,
}

fn default_mta_sts_port() -> u16 {
    443
}

/// `[[delivery.domain]]`: how mail to one recipient domain is sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryDomainConfig {
    /// The recipient domain (UTF-8 or A-labels).
    pub name: String,
    /// The TLS policy for this domain.
    pub tls: DomainTls,
}

/// `delivery.dane`: `true`, `false` or `"auto"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DaneSetting {
    /// DANE while DNSSEC validation works through the resolver (probed at
    /// start, hourly and on reload), otherwise none.
    #[default]
    Auto,
    /// `true`: DANE whatever the resolver does (a resolver that strips
    /// DNSSEC then defers mail instead of sending it unauthenticated).
    Always,
    /// `false`: no automatic DANE (`tls = "dane"` domains still get it).
    Never,
}

impl<'de> Deserialize<'de> for DaneSetting {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        let expected = || serde::de::Error::custom("expected true, false or \"auto\"");
        match Raw::deserialize(deserializer).map_err(|_| expected())? {
            Raw::Bool(true) => Ok(DaneSetting::Always),
            Raw::Bool(false) => Ok(DaneSetting::Never),
            Raw::Text(text) if text == "auto" => Ok(DaneSetting::Auto),
            Raw::Text(_) => Err(expected()),
        }
    }
}

/// A per-domain TLS policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainTls {
    /// STARTTLS when offered, any certificate (the global default).
    Opportunistic,
    /// STARTTLS required, and the MX certificate must chain to a trusted
    /// root and name the MX host; otherwise the mail is deferred.
    Verify,
    /// DANE required (RFC 7672): DNSSEC-signed MX records and TLSA
    /// records every MX certificate matches; otherwise deferred.
    Dane,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            mx_port: default_mx_port(),
            retry_intervals: default_retry_intervals(),
            queue_lifetime: default_queue_lifetime(),
            tls: default_delivery_tls(),
            random_delay: default_random_delay(),
            report_delay: default_report_delay(),
            date_rounding: default_date_rounding(),
            max_concurrent: default_max_concurrent(),
            max_per_domain: default_max_per_domain(),
            timeout: default_smtp_timeout(),
            retry_jitter: default_retry_jitter(),
            max_per_mx: default_max_per_mx(),
            messages_per_minute: default_messages_per_minute(),
            messages_per_connection: default_messages_per_connection(),
            throttle_suspend: default_throttle_suspend(),
            source_ipv4: None,
            source_ipv6: None,
            ip_family: IpFamily::Any,
            tls_ca_file: None,
            domains: Vec::new(),
            mta_sts: true,
            mta_sts_port: default_mta_sts_port(),
            dane: DaneSetting::Auto,
            tls_report_interval: default_tls_report_interval(),
            warmup_start: None,
            warmup_daily: Vec::new(),
        }
    }
}

// Shaping defaults for a small, new sender: see docs/operations.md,
// "Delivery to the real Internet".
fn default_retry_jitter() -> f64 {
    0.1
}
fn default_max_per_mx() -> usize {
    2
}
fn default_messages_per_minute() -> u32 {
    20
}
fn default_messages_per_connection() -> u32 {
    20
}
fn default_tls_report_interval() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_throttle_suspend() -> Duration {
    Duration::from_secs(15 * 60)
}

/// A list of human-readable durations (`["5m", "1h"]`).
fn durations<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<Duration>, D::Error> {
    let list: Vec<humantime_serde::Serde<Duration>> = Deserialize::deserialize(deserializer)?;
    Ok(list.into_iter().map(|d| d.into_inner()).collect())
}

/// Up to 10 minutes: see docs/operations.md, "What timing reveals".
fn default_random_delay() -> DelayRange {
    DelayRange::up_to(Duration::from_secs(10 * 60))
}

/// 10 minutes to an hour: see docs/operations.md, "Failure reports".
fn default_report_delay() -> DelayRange {
    DelayRange {
        min: Duration::from_secs(10 * 60),
        max: Duration::from_secs(3600),
    }
}

fn default_date_rounding() -> Duration {
    Duration::from_secs(5 * 60)
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
    /// DNSKEY records (zone-file lines, as `dnssec-keygen` writes them)
    /// trusted for DNSSEC validation besides the IANA root keys: a private
    /// signed zone, or tests.
    #[serde(default)]
    pub dnssec_trust_anchor: Option<PathBuf>,
}

/// `[metrics]`: Prometheus text exposition over HTTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `ip:port` to serve `/metrics` on.
    #[serde(default)]
    pub bind: String,
}

/// `[log]`: how the daemon's log lines look and what they say about clients.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    #[serde(default)]
    pub client_ip: ClientIpLog,
}

/// `log.format`: one human-readable line per event, one JSON object, or
/// native journald entries with each event field as a journal field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
    /// Sent over journald's native socket: `MESSAGE`, `PRIORITY`, and the
    /// event's fields as `LEAK_SESSION`, `LEAK_QUEUE_ID`, … (queryable with
    /// `journalctl LEAK_SESSION=…`).
    Journald,
}

/// `log.client_ip`: how a submission client's address appears in the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientIpLog {
    /// The address and port, as is (what fail2ban needs).
    #[default]
    Full,
    /// A keyed hash of the address, the key random per process: the lines of
    /// one client correlate, but the address cannot be recovered.
    Hashed,
    /// Not at all.
    None,
}

/// `[web]`: the HTTP listener for one-click opt-out (RFC 8058) and health.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// `ip:port` to listen on (usually loopback, behind a reverse proxy).
    #[serde(default)]
    pub bind: String,
    /// The public base URL recipients reach, e.g. `https://anon.example`;
    /// the `List-Unsubscribe` links are `{public_url}/optout/{token}`.
    #[serde(default)]
    pub public_url: String,
    /// The server secret that keys opt-out tokens and suppression entries;
    /// absent: `{data_dir}/consent.secret`, generated at first start.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// `[cluster]`: the PostgreSQL database that several nodes share for
/// accounts, the suppression list and the rate counters (leak-cluster).
/// Read at start only: a change needs a restart.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `postgres://user:password@host:port/database`.
    pub database: String,
}

/// The URL without its password, so that printing a config never shows it.
impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("database", &redacted_url(&self.database))
            .finish()
    }
}

/// `scheme://user:***@host/...`: the URL with any password masked.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

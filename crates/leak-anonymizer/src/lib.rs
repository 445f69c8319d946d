//! leak-anonymizer: rebuilds a submitted message so that nothing in it
//! identifies the sender.
//!
//! Filtering headers is not enough (alias services have leaked their users
//! through quoted text, PGP keys, MIME boundaries and Message-IDs), so
//! [`anonymize`] parses the submission with `mail-parser`, keeps only its
//! decoded content, scrubs that content and builds a brand-new message with
//! `mail-builder`. It is a pure function over bytes: no I/O, no clock (the
//! caller passes the time), no global state.
//!
//! # Layout
//!
//! - `lib.rs`: the public API ([`Options`], [`Submission`], [`Sender`],
//!   [`Anonymized`], [`AnonymizeError`], [`anonymize`] and
//!   [`anonymize_owned`], which takes the DATA buffer to free it early) and
//!   the leak notice.
//! - `identity.rs`: the sender's real names and addresses (whole names with
//!   their variants, never single common words) and their replacement.
//! - `pseudonym.rs`: the category and pseudonym rules, pseudonym sanitising.
//! - `headers.rs`: the top-level header block ([`OUTPUT_HEADERS`] lists
//!   every name it can contain).
//! - `mime.rs`: the walk over the MIME tree that rebuilds every part.
//! - `moderation_text.rs`: the text moderation reads, collected from every
//!   part (large text attachments moved in, not copied).
//! - `text.rs`: plain-text scrubbing (signatures, PGP armour, client
//!   taglines); `quotes.rs`: quoted-reply attributions and forwarded-message
//!   header blocks in the common clients' languages.
//! - `html.rs` (its tokenizer in `html_tokens.rs`, its attribution regions
//!   in `html_regions.rs`), `css.rs`,
//!   `entities.rs`, `resources.rs`: HTML scrubbing (comments, generator
//!   tags, remote resources, client fingerprints, quote headers) and the
//!   `cid:`/`data:` references it may keep.
//! - `attachments/`: the attachment policy: the real type sniffed from the
//!   bytes, images, PDF and text attachments cleaned, everything else
//!   refused.
//! - `limits.rs`: nesting, part-count and header-size limits, checked
//!   without recursion before the MIME tree is walked.

mod attachments;
mod css;
mod entities;
mod headers;
mod html;
mod html_regions;
mod html_tokens;
mod identity;
mod limits;
mod mime;
mod moderation_text;
mod pseudonym;
mod quotes;
mod resources;
mod text;

use std::borrow::Cow;
use std::collections::BTreeMap;

use mail_parser::{Address, HeaderName, Message, MessageParser, MessagePart};
use rand::RngCore;

pub use attachments::{AttachmentPolicy, Reason as RefusalReason, Refusal};
pub use headers::OUTPUT_HEADERS;
pub use pseudonym::PSEUDONYM_HEADER;

use headers::{Envelope, Mailbox};
use identity::{Identity, Sources};
use mime::{Context, Rebuilder};

/// The notice leak adds to every message unless the operator configures
/// another one. `{hostname}` is replaced by the server's host name.
pub const DEFAULT_NOTICE: &str = "This message was sent anonymously through {hostname}: \
the sender's identity is not known to you.\n\
Ce message a été envoyé anonymement via {hostname} : l'identité de l'expéditeur ne vous est pas connue.";

/// Appended to the notice when an opt-out address is configured (unless the
/// notice already mentions `{optout}` itself).
pub const DEFAULT_OPTOUT_NOTICE: &str = "To stop receiving anonymous messages through this \
server, write to {optout}.\n\
Pour ne plus recevoir de messages anonymes via ce serveur, écrivez à {optout}.";

/// What the operator configured for anonymization.
#[derive(Debug, Clone)]
pub struct Options {
    /// `anonymizer.domain`: the domain of every pseudonymous address and of
    /// the Message-ID.
    pub domain: String,
    /// `server.hostname`, named in leak's own `Received` line.
    pub hostname: String,
    /// The category used when the submission names none.
    pub default_category: String,
    /// Category key → label shown as the sender's name ("friend" → "Un ami").
    pub categories: BTreeMap<String, String>,
    /// Whether a pseudonym the user asked for explicitly (a `+tag` on a
    /// `From` address at `domain`, or the `X-Leak-Pseudonym` header) replaces
    /// the category's label. The `From` display name never does.
    pub allow_custom_pseudonyms: bool,
    /// Footer added to the text and HTML bodies (`{hostname}` and `{optout}`
    /// are substituted); `None` adds no footer.
    pub notice: Option<String>,
    /// Where recipients can refuse further anonymous mail: adds a
    /// `List-Unsubscribe` header and a sentence to the notice.
    pub optout_address: Option<String>,
    /// `anonymizer.attachments`: which attachments are cleaned and sent.
    pub attachments: AttachmentPolicy,
}

/// One submitted message and what the SMTP session knows about its sender.
#[derive(Debug, Clone, Copy)]
pub struct Submission<'a> {
    /// The DATA bytes as received (CRLF, already un-dot-stuffed).
    pub data: &'a [u8],
    /// The SMTP `MAIL FROM` address.
    pub mail_from: &'a str,
    /// The authenticated account name (may be empty).
    pub account: &'a str,
    /// Other real names and addresses of the account, to scrub as well.
    pub aliases: &'a [String],
    /// The account's notify address: scrubbed, and refused as a recipient.
    pub notify: Option<&'a str>,
}

impl<'a> Submission<'a> {
    /// What the session knows about the sender, without the message.
    pub fn sender(&self) -> Sender<'a> {
        Sender {
            mail_from: self.mail_from,
            account: self.account,
            aliases: self.aliases,
            notify: self.notify,
        }
    }
}

/// What the SMTP session knows about a submission's sender: a
/// [`Submission`] without its bytes, for [`anonymize_owned`].
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    /// The SMTP `MAIL FROM` address.
    pub mail_from: &'a str,
    /// The authenticated account name (may be empty).
    pub account: &'a str,
    /// Other real names and addresses of the account, to scrub as well.
    pub aliases: &'a [String],
    /// The account's notify address: scrubbed, and refused as a recipient.
    pub notify: Option<&'a str>,
}

/// The rebuilt message and what moderation needs to judge it.
#[derive(Debug, Clone)]
pub struct Anonymized {
    /// The rebuilt message, CRLF line endings only, without `Date` and
    /// `Received` (added at delivery) and not yet DKIM-signed.
    pub message: Vec<u8>,
    /// The chosen category key.
    pub category: String,
    /// The display name used in `From` (custom or the category's label).
    pub pseudonym: String,
    /// True when the pseudonym is one the user asked for (the caller
    /// moderates it).
    pub custom_pseudonym: bool,
    /// The decoded subject after scrubbing.
    pub subject: String,
    /// Every text/plain part and every HTML part rendered as text, after
    /// scrubbing and without leak's notice.
    pub text: String,
}

/// Why a submission could not be anonymized. The messages are meant for the
/// submitting client and reveal nothing about the server.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnonymizeError {
    /// The bytes are not a mail message leak can read.
    #[error("the message could not be parsed")]
    Unparseable,
    /// There is no usable address in `From`.
    #[error("the message has no From address")]
    NoFrom,
    /// Encrypted content cannot be checked for the sender's identity.
    #[error(
        "encrypted messages cannot be sent anonymously; send it unencrypted / \
         les messages chiffres ne peuvent pas etre envoyes anonymement ; envoyez-le en clair"
    )]
    Encrypted,
    /// A `To` or `Cc` address is the sender's own (the account's notify
    /// address or one of its addresses): the recipients would see it.
    #[error(
        "a To or Cc address is your own address, which the recipients would see; \
         send yourself a Bcc instead / une adresse en To ou Cc est la votre et les \
         destinataires la verraient ; mettez-vous plutot en Cci"
    )]
    OwnAddress,
    /// A `To` or `Cc` address carries the sender's name (`jean.dupont@…`
    /// from Jean Dupont) and another visible address is beside it: the
    /// other recipients would see it.
    #[error(
        "a To or Cc address carries your name, which the other recipients would see; \
         put it in Bcc instead / une adresse en To ou Cc porte votre nom et les autres \
         destinataires la verraient ; mettez-la plutot en Cci"
    )]
    NamedAddress,
    /// An attachment leak cannot clean (see the `attachments` module):
    /// the whole message is refused, naming the attachment.
    #[error("{0}")]
    Attachment(Refusal),
    /// The configured category or domain cannot form an address.
    #[error("the anonymizer is misconfigured")]
    Misconfigured,
    /// The rebuilt message could not be serialised.
    #[error("the message could not be rebuilt")]
    Build,
    /// A forwarded message, report or digest is attached: its headers name
    /// people, hosts and time zones that cannot all be cleaned.
    #[error(
        "a forwarded message or report (message/*) is attached; paste its text into a new \
         message instead / un message transfere ou un rapport (message/*) est joint ; \
         copiez son texte dans un nouveau message"
    )]
    NestedMessage,
    /// MIME parts nested deeper than Postfix's `mime_nesting_limit` (100).
    #[error(
        "MIME parts are nested too deeply / les parties MIME sont imbriquees trop profondement"
    )]
    TooDeep,
    /// More parts than any real message has.
    #[error("the message has too many parts / le message a trop de parties")]
    TooManyParts,
    /// A part's header block is larger than leak accepts.
    #[error("a header block is too large / un bloc d'en-tetes est trop grand")]
    HeaderTooLarge,
}

/// Rebuilds `sub` as an anonymous message (see the crate docs). The result
/// has neither `Date` nor a `Received` line: delivery adds both, with the
/// time of the first delivery attempt, and signs the message then (so the
/// anonymizer needs no clock at all).
pub fn anonymize(sub: &Submission, opts: &Options) -> Result<Anonymized, AnonymizeError> {
    draft(sub, opts)?.into_anonymized()
}

/// [`anonymize`] for a caller that hands over the DATA buffer (the daemon):
/// the buffer is freed as soon as the message is parsed, and each decoded
/// attachment as soon as it is cleaned, so a large attachment is never held
/// as base64 text, decoded bytes, cleaned bytes and output all at once
/// (docs/performance.md, "Large attachments"). Same result as
/// [`anonymize`].
pub fn anonymize_owned(
    data: Vec<u8>,
    sender: &Sender,
    opts: &Options,
) -> Result<Anonymized, AnonymizeError> {
    draft_owned(data, sender, opts)?.into_anonymized()
}

/// [`anonymize`] in two steps: the message rebuilt and its text for
/// moderation, then ([`Draft::write`]) its bytes.
pub fn draft(sub: &Submission, opts: &Options) -> Result<Draft, AnonymizeError> {
    rebuild_message(Cow::Borrowed(sub.data), &sub.sender(), opts)
}

/// [`anonymize_owned`] in two steps (the daemon's entry point): the caller
/// moderates [`Draft::text`], then [`Draft::write`] frees that text before
/// the message is serialised, so a large text attachment is not held as
/// the moderation text, the encoded part and the output at once.
pub fn draft_owned(
    data: Vec<u8>,
    sender: &Sender,
    opts: &Options,
) -> Result<Draft, AnonymizeError> {
    rebuild_message(Cow::Owned(data), sender, opts)
}

/// A rebuilt message not yet serialised, and what moderation needs to
/// judge it.
pub struct Draft {
    /// The chosen category key.
    pub category: String,
    /// The display name used in `From` (custom or the category's label).
    pub pseudonym: String,
    /// True when the pseudonym is one the user asked for (the caller
    /// moderates it).
    pub custom_pseudonym: bool,
    /// The decoded subject after scrubbing.
    pub subject: String,
    /// Every text/plain part and every HTML part rendered as text, after
    /// scrubbing and without leak's notice.
    pub text: String,
    envelope: Envelope,
    body: mail_builder::mime::MimePart<'static>,
}

impl std::fmt::Debug for Draft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Draft")
            .field("category", &self.category)
            .field("pseudonym", &self.pseudonym)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl Draft {
    /// The message's bytes (see [`Anonymized::message`]); the moderation
    /// text is freed first.
    pub fn write(self) -> Result<Vec<u8>, AnonymizeError> {
        // Named and dropped here: fields left to `..` would live on in
        // `self` until the function returns, i.e. while the message is
        // written.
        let Draft {
            envelope,
            body,
            text,
            ..
        } = self;
        drop(text);
        headers::write_message(&envelope, body)
    }

    fn into_anonymized(self) -> Result<Anonymized, AnonymizeError> {
        let Draft {
            category,
            pseudonym,
            custom_pseudonym,
            subject,
            text,
            envelope,
            body,
        } = self;
        Ok(Anonymized {
            message: headers::write_message(&envelope, body)?,
            category,
            pseudonym,
            custom_pseudonym,
            subject,
            text,
        })
    }
}

fn rebuild_message(
    data: Cow<'_, [u8]>,
    sender: &Sender,
    opts: &Options,
) -> Result<Draft, AnonymizeError> {
    limits::prescan(&data)?;
    let message = MessageParser::default()
        .parse(&data[..])
        .ok_or(AnonymizeError::Unparseable)?;
    limits::check_tree(&message)?;
    // From here on nothing reads the submitted bytes: the parsed parts are
    // detached from them (decoded attachments move, small texts are copied)
    // and the DATA buffer goes, if it is ours (peak memory).
    let Detached {
        mut message,
        raw_headers,
    } = detach(message);
    drop(data);
    let from = first_mailbox(message.from()).ok_or(AnonymizeError::NoFrom)?;
    let claimed = claimed_identities(&message);
    let mut identity = Identity::new(
        &Sources {
            submitted: &claimed,
            mail_from: sender.mail_from,
            account: sender.account,
            notify: sender.notify,
            aliases: sender.aliases,
        },
        &opts.domain,
    );
    if let Some(organization) = message.header(HeaderName::Organization) {
        identity.add_phrase(organization.as_text().unwrap_or(""));
    }
    let requested = message
        .header_as(PSEUDONYM_HEADER, mail_parser::HeaderForm::Text)
        .into_iter()
        .next()
        .and_then(|value| value.into_text());
    let pseudonym::Choice {
        category,
        pseudonym,
        custom: custom_pseudonym,
    } = pseudonym::choose(&from.1, requested.as_deref(), opts, &identity);
    if !is_local_part(&category) || !is_domain(&opts.domain) {
        return Err(AnonymizeError::Misconfigured);
    }
    let pseudonym_address = format!("{category}@{}", opts.domain);
    identity.replace_with(&pseudonym_address, &pseudonym);
    let to = recipients(message.to(), &identity)?;
    let cc = recipients(message.cc(), &identity)?;
    refuse_named_beside_others(&to, &cc, &identity)?;

    let ctx = Context {
        identity: &identity,
        domain: &opts.domain,
        policy: opts.attachments,
    };
    let notice = opts.notice.as_deref().map(|n| render_notice(n, opts));
    let bodies = (
        mime::take_binaries(&mut message),
        mime::take_text_attachments(&mut message),
    );
    let body = Rebuilder::new(&message, &raw_headers, bodies, &ctx, notice.as_deref()).rebuild()?;

    let subject = headers::scrub_subject(message.subject().unwrap_or(""), &identity);
    let envelope = Envelope {
        from: (Some(pseudonym.clone()), pseudonym_address),
        to,
        cc,
        subject: subject.clone(),
        date: None,
        message_id: format!("{}@{}", random_hex(), opts.domain),
        list_unsubscribe: opts.optout_address.clone(),
    };
    drop(message);
    Ok(Draft {
        category,
        pseudonym,
        custom_pseudonym,
        subject,
        text: body.text,
        envelope,
        body: body.root,
    })
}

/// A parsed message that no longer borrows the submitted bytes, and the raw
/// header block of each of its parts (`mime.rs` reads file names there).
struct Detached {
    message: Message<'static>,
    raw_headers: Vec<Vec<u8>>,
}

/// Detaches `message` from the bytes it was parsed from. Decoded bodies
/// (base64, quoted-printable) are moved, not copied; what still borrows
/// (headers, 7bit and 8bit bodies) is copied. The detached message keeps
/// the top-level header block as its raw bytes, so that
/// `Message::header_as` still re-parses top-level fields (the pseudonym
/// header); nothing reads the raw bytes of nested parts but `mime.rs`,
/// which gets their header blocks apart.
fn detach(message: Message<'_>) -> Detached {
    let raw = &message.raw_message;
    let header_block = |part: &MessagePart<'_>| {
        raw.get(part.offset_header as usize..part.offset_body as usize)
            .unwrap_or_default()
            .to_vec()
    };
    let raw_headers: Vec<Vec<u8>> = message.parts.iter().map(header_block).collect();
    let top = message
        .parts
        .first()
        .and_then(|root| raw.get(..root.offset_body as usize))
        .unwrap_or_default()
        .to_vec();
    let message = Message {
        html_body: message.html_body,
        text_body: message.text_body,
        attachments: message.attachments,
        parts: message
            .parts
            .into_iter()
            .map(MessagePart::into_owned)
            .collect(),
        raw_message: Cow::Owned(top),
    };
    Detached {
        message,
        raw_headers,
    }
}

/// The notice with its placeholders filled in, and the opt-out sentence
/// appended when an opt-out address is configured.
fn render_notice(notice: &str, opts: &Options) -> String {
    let mut text = notice.to_string();
    if let Some(optout) = &opts.optout_address {
        if !text.contains("{optout}") {
            text.push('\n');
            text.push_str(DEFAULT_OPTOUT_NOTICE);
        }
        text = text.replace("{optout}", optout);
    }
    text.replace("{hostname}", &opts.hostname)
}

/// The addresses of a `To` or `Cc` header as written, without their display
/// names (the sender's address-book names tell who wrote). An address of the
/// sender's own refuses the message.
fn recipients(
    list: Option<&Address<'_>>,
    identity: &Identity,
) -> Result<Vec<Mailbox>, AnonymizeError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for addr in list.iter() {
        let Some(address) = headers::written_address(addr) else {
            continue;
        };
        if identity.is_own_address(&address) {
            return Err(AnonymizeError::OwnAddress);
        }
        out.push((None, address));
    }
    Ok(out)
}

/// Refuses a `To` or `Cc` address that carries the sender's name when it is
/// not the only visible one: alone, only its owner sees it (a sister
/// `jdupont@` written to by Jean Dupont), beside others it points at the
/// sender. The sender's exact addresses are refused by [`recipients`].
fn refuse_named_beside_others(
    to: &[Mailbox],
    cc: &[Mailbox],
    identity: &Identity,
) -> Result<(), AnonymizeError> {
    let visible = || to.iter().chain(cc);
    if visible().count() > 1 && visible().any(|(_, a)| identity.has_senders_name(a)) {
        return Err(AnonymizeError::NamedAddress);
    }
    Ok(())
}

/// The first (name, address) of an address header.
fn first_mailbox(list: Option<&Address<'_>>) -> Option<(String, String)> {
    let addr = list?.iter().find(|addr| addr.address().is_some())?;
    let address = addr.address()?.trim().to_string();
    address
        .contains('@')
        .then(|| (addr.name().unwrap_or("").to_string(), address))
}

/// Headers whose addresses are the sender's own although no client shows
/// them as such: read receipts (`Disposition-Notification-To`,
/// `Return-Receipt-To`, `X-Confirm-Reading-To`) and bounce addresses
/// (`Errors-To`). They are never written; a client may still print them in
/// the body, so they count as the sender's identity.
const SENDER_ADDRESS_HEADERS: &[&str] = &[
    "Disposition-Notification-To",
    "Return-Receipt-To",
    "X-Confirm-Reading-To",
    "Errors-To",
];

/// Every (name, address) the submission claims for its sender: all of
/// `From`, `Sender` and `Reply-To`, and the receipt and bounce addresses of
/// [`SENDER_ADDRESS_HEADERS`].
fn claimed_identities(message: &Message<'_>) -> Vec<(String, String)> {
    let headers = [HeaderName::From, HeaderName::Sender, HeaderName::ReplyTo];
    let mut claimed: Vec<(String, String)> = headers
        .into_iter()
        .filter_map(|name| message.header(name).and_then(|value| value.as_address()))
        .flat_map(|list| list.iter())
        .map(|addr| {
            (
                addr.name().unwrap_or("").to_string(),
                addr.address().unwrap_or("").to_string(),
            )
        })
        .collect();
    for header in message.headers() {
        let name = header.name.as_str();
        if SENDER_ADDRESS_HEADERS
            .iter()
            .any(|wanted| wanted.eq_ignore_ascii_case(name))
        {
            let raw = message
                .raw_message
                .get(header.offset_start as usize..header.offset_end as usize)
                .unwrap_or_default();
            claimed.extend(addresses_in(raw));
        }
    }
    claimed
}

/// The (name, address) pairs of a raw address-list header value, parsed
/// as a `From` header would be (mail-parser reads unknown headers as text).
fn addresses_in(raw_value: &[u8]) -> Vec<(String, String)> {
    let mut header = b"From:".to_vec();
    header.extend_from_slice(raw_value);
    header.extend_from_slice(b"\r\n\r\n");
    let Some(parsed) = MessageParser::default().parse_headers(&header) else {
        return Vec::new();
    };
    parsed
        .from()
        .map(|list| {
            list.iter()
                .filter_map(|addr| {
                    let address = addr.address()?.trim().to_string();
                    address
                        .contains('@')
                        .then(|| (addr.name().unwrap_or("").to_string(), address))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_local_part(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
}

fn is_domain(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
}

/// 128 random bits in hex: Message-IDs, Content-IDs and boundaries carry
/// nothing derived from time, a counter, the content or the host.
pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

//! The attachment policy: a part leaves leak only if leak understood it and
//! rebuilt it; otherwise the whole message is refused with a reason the
//! user can act on.
//!
//! Every non-body part goes through [`clean_binary`] (bytes) or
//! [`check_text`] (parts the parser decoded as text). Both judge the part by
//! its bytes ([`sniff`]), never by its declared type or name, which only
//! ever add refusals. What can be cleaned:
//!
//! - JPEG, PNG, WebP and GIF images (`image.rs`, `gif.rs`): metadata
//!   removed, pixels kept;
//! - PDF documents (`pdf/`): rebuilt from an allow-list of what draws the
//!   pages, their text returned for moderation and the identity check;
//! - readable text (`.txt`, `.csv`, `.md`, source code): scrubbed like the
//!   body and moderated (`text.rs` keeps its charset and line ends);
//! - Office documents (DOCX, XLSX, PPTX, ODT, ODS, ODP): rebuilt from an
//!   allow-list of their parts, their text scrubbed and moderated
//!   (`office/`).
//!
//! Everything else is refused ([`Reason`] names why and what to do).
//! Detached S/MIME and PGP/MIME signatures, recognised by their declared
//! type, are dropped as before: removing them loses nothing the recipient
//! needs. The operator can narrow the policy ([`AttachmentPolicy`]).
//!
//! # Layout
//!
//! - `mod.rs`: the policy, the refusal and the dispatch.
//! - `sniff.rs`: the real type from magic numbers and text shapes.
//! - `image.rs`, `jpeg.rs`, `png.rs`, `gif.rs`: image cleaners;
//!   `pieces.rs`: the JPEG and PNG output, written over the input's buffer.
//! - `pdf/`: the PDF rebuild and its text extraction.
//! - `text.rs`: text attachments re-encoded in their own charset.
//! - `office/`: Office and OpenDocument files rebuilt.

pub(crate) mod gif;
pub(crate) mod image;
pub(crate) mod jpeg;
pub(crate) mod office;
pub(crate) mod pdf;
mod pieces;
pub(crate) mod png;
pub(crate) mod sniff;
pub(crate) mod text;

use std::fmt;

use crate::identity::Identity;
use image::{clean_owned_image, ImageError, Owned};
use office::{clean_office, OfficeError};
use sniff::{sniff, Kind};

/// `[anonymizer] attachments`: which attachments leak accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AttachmentPolicy {
    /// Clean what leak can (images, PDF, text, Office documents), refuse
    /// the rest (the default).
    #[default]
    Clean,
    /// Only JPEG, PNG, WebP and GIF images, cleaned.
    Images,
    /// No attachment at all.
    None,
}

/// Declared types dropped without a refusal: detached signatures leak
/// recognises (PGP/MIME, S/MIME) and the public key a client attaches.
pub(crate) const DROPPED_TYPES: &[&str] = &[
    "application/pgp-signature",
    "application/pgp-keys",
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
];

/// Why an attachment was refused; each reason says what to do instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Forwarded messages, reports, header blocks.
    Message,
    /// Keys, certificates, signatures not recognised as detached ones.
    KeyOrSignature,
    /// Encrypted content.
    Encrypted,
    /// An image format leak cannot rewrite.
    ImageFormat(&'static str),
    /// An image leak could not read.
    BrokenImage,
    /// An image over the size limit.
    ImageTooLarge,
    /// A PDF that does not parse or uses a feature leak does not clean.
    PdfBroken,
    /// A password-protected PDF.
    PdfEncrypted,
    /// A PDF over a page, object or decompression limit (a bomb).
    PdfTooLarge,
    /// A PDF whose text cannot be read, so cannot be moderated.
    PdfText,
    /// A PDF whose text names the sender, which leak cannot rewrite there.
    PdfIdentity,
    /// Legacy Office files (OLE: .doc, .xls, .ppt, .msg).
    Document,
    /// An Office document leak could not read or rebuild.
    DocumentBroken,
    /// An Office document over the size limits.
    DocumentTooLarge,
    /// A ZIP bomb dressed as an Office document.
    DocumentBomb,
    /// An Office document with macros, embedded objects or controls.
    DocumentActive,
    /// An Office document with an image leak cannot clean.
    DocumentMedia,
    /// An Office document naming the sender across formatting runs.
    DocumentIdentity,
    /// ZIP and other archives.
    Archive,
    /// Exchange's winmail.dat.
    Tnef,
    Calendar,
    Card,
    Executable,
    Svg,
    /// An HTML file: paste its content into the message instead.
    Html,
    /// Unrecognised content.
    Unknown,
    /// The operator accepts images only.
    ImagesOnly,
    /// The operator accepts no attachment.
    NoAttachments,
}

impl Reason {
    /// (English, French) explanations, ASCII only: SMTP replies are ASCII.
    fn texts(self) -> (String, String) {
        let pair = |en: &str, fr: &str| (en.to_string(), fr.to_string());
        match self {
            Reason::Message => pair(
                "a forwarded e-mail or report cannot be cleaned; copy its text into your message",
                "un e-mail transfere ou un rapport ne peut pas etre nettoye ; copiez son texte dans votre message",
            ),
            Reason::KeyOrSignature => pair(
                "keys, certificates and signatures identify their owner; remove it",
                "les cles, certificats et signatures identifient leur proprietaire ; retirez-la",
            ),
            Reason::Encrypted => pair(
                "encrypted content cannot be checked; send it unencrypted or remove it",
                "un contenu chiffre ne peut pas etre verifie ; envoyez-le en clair ou retirez-le",
            ),
            Reason::ImageFormat(format) => (
                format!("{format} images cannot be cleaned of their metadata; convert it to JPEG or PNG"),
                format!("les images {format} ne peuvent pas etre nettoyees de leurs metadonnees ; convertissez-la en JPEG ou PNG"),
            ),
            Reason::BrokenImage => pair(
                "the image could not be read, so its metadata could not be removed; export it again as JPEG or PNG",
                "l'image est illisible, ses metadonnees ne peuvent pas etre retirees ; exportez-la de nouveau en JPEG ou PNG",
            ),
            Reason::ImageTooLarge => pair(
                "the image is larger than 100 megapixels; reduce its size",
                "l'image depasse 100 megapixels ; reduisez sa taille",
            ),
            Reason::PdfBroken => pair(
                "the PDF could not be read or uses a feature leak cannot clean (JPEG 2000 images); export it again as PDF or paste the text",
                "le PDF est illisible ou utilise une fonction que leak ne sait pas nettoyer (images JPEG 2000) ; exportez-le de nouveau en PDF ou collez le texte",
            ),
            Reason::PdfEncrypted => pair(
                "password-protected PDFs cannot be checked; remove the password or paste the text",
                "un PDF protege par mot de passe ne peut pas etre verifie ; retirez le mot de passe ou collez le texte",
            ),
            Reason::PdfTooLarge => pair(
                "the PDF is too large to check (pages, objects or compressed data); split it or paste the text",
                "le PDF est trop grand pour etre verifie (pages, objets ou donnees compressees) ; decoupez-le ou collez le texte",
            ),
            Reason::PdfText => pair(
                "the PDF's text cannot be read (special fonts), so it cannot be checked; paste the text instead",
                "le texte du PDF est illisible (polices speciales) et ne peut pas etre verifie ; collez plutot le texte",
            ),
            Reason::PdfIdentity => pair(
                "the PDF contains your name or address, which leak cannot remove from a PDF; remove it and export again",
                "le PDF contient votre nom ou votre adresse, que leak ne peut pas retirer d'un PDF ; retirez-les et exportez de nouveau",
            ),
            Reason::Document => pair(
                "legacy office files (.doc, .xls, .ppt, .msg) cannot be cleaned; save it as DOCX, XLSX, PPTX or OpenDocument",
                "les anciens fichiers bureautiques (.doc, .xls, .ppt, .msg) ne peuvent pas etre nettoyes ; enregistrez-le en DOCX, XLSX, PPTX ou OpenDocument",
            ),
            Reason::DocumentBroken => pair(
                "the document could not be read or rebuilt (damaged, encrypted or unusual); save it again or paste the text",
                "le document est illisible ou impossible a reconstruire (abime, chiffre ou inhabituel) ; enregistrez-le de nouveau ou collez le texte",
            ),
            Reason::DocumentTooLarge => pair(
                "the document is too large to clean (over 96 MB uncompressed or 2000 parts); split it",
                "le document est trop gros pour etre nettoye (plus de 96 Mo decompresse ou 2000 parties) ; decoupez-le",
            ),
            Reason::DocumentBomb => pair(
                "the document decompresses to far more than its size (a ZIP bomb); it was not opened",
                "le document se decompresse en bien plus que sa taille (bombe ZIP) ; il n'a pas ete ouvert",
            ),
            Reason::DocumentActive => pair(
                "documents with macros, embedded objects or controls cannot be cleaned; remove them and save again",
                "les documents avec macros, objets incorpores ou controles ne peuvent pas etre nettoyes ; retirez-les et enregistrez de nouveau",
            ),
            Reason::DocumentMedia => pair(
                "the document holds an image leak cannot clean (EMF, WMF, TIFF...); insert it as JPEG or PNG",
                "le document contient une image que leak ne peut pas nettoyer (EMF, WMF, TIFF...) ; inserez-la en JPEG ou PNG",
            ),
            Reason::DocumentIdentity => pair(
                "the document names you in text leak cannot rewrite; remove your name from the document",
                "le document vous nomme dans un texte que leak ne peut pas reecrire ; retirez votre nom du document",
            ),
            Reason::Archive => pair(
                "archives cannot be cleaned; attach the files themselves",
                "les archives ne peuvent pas etre nettoyees ; joignez les fichiers eux-memes",
            ),
            Reason::Tnef => pair(
                "winmail.dat (Outlook rich text) names the sender; send the message as plain text or HTML",
                "winmail.dat (texte enrichi Outlook) nomme l'expediteur ; envoyez le message en texte brut ou HTML",
            ),
            Reason::Calendar => pair(
                "calendar invitations name their organiser; copy the details into your message",
                "les invitations d'agenda nomment leur organisateur ; copiez les details dans votre message",
            ),
            Reason::Card => pair(
                "contact cards (vCard) identify people; copy what is needed into your message",
                "les fiches contact (vCard) identifient des personnes ; copiez le necessaire dans votre message",
            ),
            Reason::Executable => pair(
                "programs cannot be sent anonymously; remove it",
                "les programmes ne peuvent pas etre envoyes anonymement ; retirez-le",
            ),
            Reason::Svg => pair(
                "SVG images can hold scripts and metadata; convert it to PNG",
                "les images SVG peuvent contenir scripts et metadonnees ; convertissez-la en PNG",
            ),
            Reason::Html => pair(
                "HTML files cannot be cleaned; paste the content into your message",
                "les fichiers HTML ne peuvent pas etre nettoyes ; collez le contenu dans votre message",
            ),
            Reason::Unknown => pair(
                "leak does not know this file type and cannot clean it; send JPEG, PNG or plain text instead",
                "leak ne connait pas ce type de fichier et ne peut pas le nettoyer ; envoyez du JPEG, du PNG ou du texte brut",
            ),
            Reason::ImagesOnly => pair(
                "this server accepts only image attachments (JPEG, PNG, WebP, GIF); put text in the message body",
                "ce serveur n'accepte que des images en piece jointe (JPEG, PNG, WebP, GIF) ; mettez le texte dans le corps du message",
            ),
            Reason::NoAttachments => pair(
                "this server accepts no attachments; put the content in the message body",
                "ce serveur n'accepte aucune piece jointe ; mettez le contenu dans le corps du message",
            ),
        }
    }
}

/// A refused attachment: its (sanitised) name and the reason. Its display
/// is the bilingual text of the `554 5.6.0` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The file name as the user knows it, ASCII, without quotes or control
    /// characters, at most 60 characters; `unnamed` when there is none.
    pub name: String,
    pub reason: Reason,
}

impl Refusal {
    pub(crate) fn new(name: Option<&str>, reason: Reason) -> Self {
        Refusal {
            name: reply_safe_name(name),
            reason,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (en, fr) = self.reason.texts();
        write!(
            f,
            "attachment \"{name}\": {en} / piece jointe \"{name}\" : {fr}",
            name = self.name
        )
    }
}

/// A file name fit for an SMTP reply: the last path component, printable
/// ASCII other than quotes and backslashes (others become `_`), at most 60
/// characters.
fn reply_safe_name(name: Option<&str>) -> String {
    let name = name.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !"\"\\".contains(c) || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let cleaned = cleaned.trim().to_string();
    if cleaned.is_empty() {
        "unnamed".to_string()
    } else {
        cleaned
    }
}

/// What becomes of a binary part.
pub(crate) enum Outcome {
    /// A cleaned image and its real media type.
    Image(Vec<u8>, &'static str),
    /// Text to scrub and send as a text attachment.
    Text(String),
    /// A rebuilt PDF and the text it shows (moderated; refused by the
    /// caller when it names the sender).
    Pdf(Vec<u8>, String),
    /// A rebuilt Office document, its media type and its scrubbed text
    /// (for moderation).
    Document(Vec<u8>, &'static str, String),
}

/// Cleans a part the parser left as bytes, or refuses it. The body is
/// taken so that the cleaners can free it as soon as they no longer need
/// it (peak memory on large attachments).
pub(crate) fn clean_binary(
    name: Option<&str>,
    declared: &str,
    body: Vec<u8>,
    policy: AttachmentPolicy,
    identity: &Identity,
) -> Result<Outcome, Refusal> {
    let refuse = |reason| Refusal::new(name, reason);
    if policy == AttachmentPolicy::None {
        return Err(refuse(Reason::NoAttachments));
    }
    if let Some(reason) = refused_by_declaration(declared, name) {
        return Err(refuse(reason));
    }
    let body = match clean_owned_image(body) {
        Ok(Owned::Image(image)) => return Ok(Outcome::Image(image.bytes, image.media_type)),
        Ok(Owned::NotImage(body)) => body,
        Err(ImageError::Broken) => return Err(refuse(Reason::BrokenImage)),
        Err(ImageError::TooLarge) => return Err(refuse(Reason::ImageTooLarge)),
    };
    let kind = sniff(&body);
    if policy == AttachmentPolicy::Images {
        if kind == Kind::OfficeZip {
            return Err(refuse(Reason::ImagesOnly));
        }
        return Err(refuse(refusal_reason(kind).unwrap_or(Reason::ImagesOnly)));
    }
    if kind == Kind::Pdf {
        return match pdf::clean(body) {
            Ok(clean) => Ok(Outcome::Pdf(clean.bytes, clean.text)),
            Err(error) => Err(refuse(pdf_reason(error))),
        };
    }
    if kind == Kind::OfficeZip {
        return match clean_office(body, identity) {
            Ok(doc) => Ok(Outcome::Document(doc.bytes, doc.media_type, doc.text)),
            Err(error) => Err(refuse(office_reason(error))),
        };
    }
    match refusal_reason(kind) {
        Some(reason) => Err(refuse(reason)),
        None => match String::from_utf8(body) {
            Ok(text) => Ok(Outcome::Text(text)),
            Err(_) => Err(refuse(Reason::Unknown)),
        },
    }
}

/// Checks an attachment the parser decoded as text (`text/*` other than a
/// body): `Ok` when it can be scrubbed and sent as text.
pub(crate) fn check_text(
    name: Option<&str>,
    declared: &str,
    text: &str,
    policy: AttachmentPolicy,
) -> Result<(), Refusal> {
    let refuse = |reason| Refusal::new(name, reason);
    match policy {
        AttachmentPolicy::None => return Err(refuse(Reason::NoAttachments)),
        AttachmentPolicy::Images => return Err(refuse(Reason::ImagesOnly)),
        AttachmentPolicy::Clean => {}
    }
    if let Some(reason) = refused_by_declaration(declared, name) {
        return Err(refuse(reason));
    }
    match refusal_reason(sniff::sniff_text(text)) {
        Some(reason) => Err(refuse(reason)),
        None => Ok(()),
    }
}

/// The refusal for a PDF leak could not clean.
fn pdf_reason(error: pdf::PdfError) -> Reason {
    match error {
        pdf::PdfError::Broken | pdf::PdfError::Unsupported => Reason::PdfBroken,
        pdf::PdfError::Encrypted => Reason::PdfEncrypted,
        pdf::PdfError::TooLarge => Reason::PdfTooLarge,
        pdf::PdfError::UnreadableText => Reason::PdfText,
    }
}

/// The refusal for a sniffed kind, `None` for kinds leak cleans.
fn refusal_reason(kind: Kind) -> Option<Reason> {
    Some(match kind {
        Kind::Jpeg | Kind::Png | Kind::WebP | Kind::Gif | Kind::Text | Kind::Pdf => return None,
        Kind::OtherImage(format) => Reason::ImageFormat(format),
        Kind::Svg => Reason::Svg,
        Kind::Zip | Kind::Archive => Reason::Archive,
        Kind::Ole | Kind::OfficeZip | Kind::Rtf => Reason::Document,
        Kind::Html => Reason::Html,
        Kind::Tnef => Reason::Tnef,
        Kind::Executable => Reason::Executable,
        Kind::KeyOrSignature => Reason::KeyOrSignature,
        Kind::Encrypted => Reason::Encrypted,
        Kind::Calendar => Reason::Calendar,
        Kind::Card => Reason::Card,
        Kind::Message => Reason::Message,
        Kind::Unknown => Reason::Unknown,
    })
}

/// The refusal for an Office document leak could not rebuild.
fn office_reason(error: OfficeError) -> Reason {
    match error {
        OfficeError::Broken => Reason::DocumentBroken,
        OfficeError::TooLarge => Reason::DocumentTooLarge,
        OfficeError::Bomb => Reason::DocumentBomb,
        OfficeError::Active => Reason::DocumentActive,
        OfficeError::Media => Reason::DocumentMedia,
        OfficeError::Identity => Reason::DocumentIdentity,
        OfficeError::NotOffice => Reason::Archive,
    }
}

/// Declared types and names that are refused whatever the bytes look like
/// (a calendar invitation or a report can be plain text to a sniffer).
fn refused_by_declaration(declared: &str, name: Option<&str>) -> Option<Reason> {
    let declared = declared.to_ascii_lowercase();
    let extension = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, ext)| ext.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if declared.starts_with("message/") || declared == "text/rfc822-headers" || extension == "eml" {
        return Some(Reason::Message);
    }
    if matches!(
        declared.as_str(),
        "text/calendar" | "text/x-vcalendar" | "application/ics" | "text/x-calendar"
    ) || matches!(extension.as_str(), "ics" | "vcs")
    {
        return Some(Reason::Calendar);
    }
    if matches!(
        declared.as_str(),
        "text/vcard" | "text/x-vcard" | "text/directory"
    ) || extension == "vcf"
    {
        return Some(Reason::Card);
    }
    if declared == "application/ms-tnef" || declared == "application/vnd.ms-tnef" {
        return Some(Reason::Tnef);
    }
    if declared.contains("pkcs7")
        || declared.contains("pkix")
        || declared.contains("x509")
        || declared.starts_with("application/pgp")
        || matches!(
            extension.as_str(),
            "p7s"
                | "p7m"
                | "p7c"
                | "sig"
                | "asc"
                | "gpg"
                | "pgp"
                | "cer"
                | "crt"
                | "der"
                | "pem"
                | "key"
        )
    {
        return Some(Reason::KeyOrSignature);
    }
    if declared == "image/svg+xml" || extension == "svg" {
        return Some(Reason::Svg);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_file_safely_in_both_languages() {
        let refusal = Refusal::new(
            Some("C:\\Users\\jean\\Photos\\IMG \"1\".HEIC\r\n"),
            Reason::ImageFormat("HEIC"),
        );
        let text = refusal.to_string();
        assert!(text.is_ascii(), "{text}");
        assert!(
            text.starts_with("attachment \"IMG _1_.HEIC__\": HEIC images"),
            "{text}"
        );
        assert!(
            text.contains(" / piece jointe \"IMG _1_.HEIC__\" : les images HEIC"),
            "{text}"
        );
        assert!(!text.contains("jean"));
    }

    #[test]
    fn every_reply_fits_an_smtp_line() {
        let reasons = [
            Reason::Message,
            Reason::KeyOrSignature,
            Reason::Encrypted,
            Reason::ImageFormat("JPEG 2000"),
            Reason::BrokenImage,
            Reason::ImageTooLarge,
            Reason::PdfBroken,
            Reason::PdfEncrypted,
            Reason::PdfTooLarge,
            Reason::PdfText,
            Reason::PdfIdentity,
            Reason::Document,
            Reason::DocumentBroken,
            Reason::DocumentTooLarge,
            Reason::DocumentBomb,
            Reason::DocumentActive,
            Reason::DocumentMedia,
            Reason::DocumentIdentity,
            Reason::Archive,
            Reason::Tnef,
            Reason::Calendar,
            Reason::Card,
            Reason::Executable,
            Reason::Svg,
            Reason::Html,
            Reason::Unknown,
            Reason::ImagesOnly,
            Reason::NoAttachments,
        ];
        for reason in reasons {
            let text = Refusal::new(Some(&"x".repeat(200)), reason).to_string();
            // "554 5.6.0 Message refused: " + text + CRLF within 512 octets.
            assert!(
                text.is_ascii() && text.len() + 29 <= 512,
                "{} {text}",
                text.len()
            );
        }
    }

    #[test]
    fn declarations_only_add_refusals() {
        let png = b"\x89PNG\r\n\x1a\n";
        for declared in ["text/x-vcalendar", "text/x-calendar"] {
            assert_eq!(
                refused_by_declaration(declared, Some("a.txt")),
                Some(Reason::Calendar)
            );
        }
        assert_eq!(
            refused_by_declaration("text/plain", Some("a.vcs")),
            Some(Reason::Calendar)
        );
        assert!(matches!(
            clean_binary(
                Some("a.ics"),
                "image/png",
                png.to_vec(),
                AttachmentPolicy::Clean,
                &Identity::default()
            ),
            Err(Refusal {
                reason: Reason::Calendar,
                ..
            })
        ));
        assert!(matches!(
            clean_binary(
                Some("a.txt"),
                "text/plain",
                b"%PDF-1.4\n".to_vec(),
                AttachmentPolicy::Clean,
                &Identity::default()
            ),
            Err(Refusal {
                reason: Reason::PdfBroken,
                ..
            })
        ));
        assert!(matches!(
            clean_binary(
                Some("notes.txt"),
                "application/octet-stream",
                b"hello\n".to_vec(),
                AttachmentPolicy::Clean,
                &Identity::default()
            ),
            Ok(Outcome::Text(_))
        ));
        assert!(matches!(
            clean_binary(
                Some("notes.txt"),
                "text/plain",
                b"hello\n".to_vec(),
                AttachmentPolicy::Images,
                &Identity::default()
            ),
            Err(Refusal {
                reason: Reason::ImagesOnly,
                ..
            })
        ));
        assert!(check_text(Some("a.csv"), "text/csv", "a,b\n", AttachmentPolicy::Clean).is_ok());
        assert!(check_text(
            Some("a.txt"),
            "text/plain",
            "BEGIN:VCARD\n",
            AttachmentPolicy::Clean
        )
        .is_err());
    }
}

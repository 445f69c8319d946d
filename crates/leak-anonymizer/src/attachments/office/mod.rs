//! Office documents (DOCX, XLSX, PPTX, ODT, ODS, ODP) rebuilt from an
//! allow-list.
//!
//! A document is a ZIP of XML parts and media. Nothing is copied because
//! it looks harmless; a new ZIP is built from the members leak knows
//! (`parts.rs`): the main parts, styles, numbering, fonts table, themes,
//! headers, footers, notes, comments, sheets, slides, shared strings,
//! relationships and images. Every kept XML part goes through `xml.rs`
//! (authors neutral, revision ids and dates gone, local paths gone, text
//! scrubbed and collected for moderation); every image goes through the
//! image cleaner; `docProps/core.xml`, `docProps/app.xml` and ODF
//! `meta.xml` are replaced by neutral ones. Everything else (custom
//! properties, thumbnails, `customXml/`, `people.xml`, comment extensions,
//! web and printer settings, ODF `settings.xml`) is dropped, and the
//! relationships, `[Content_Types].xml` and the ODF manifest are rewritten
//! so nothing dropped is referenced and the document still opens.
//!
//! Refused: macros (`vbaProject.bin`, macro-enabled types, ODF `Basic/`
//! and `Scripts/`), embedded objects and ActiveX controls (their content
//! is another file leak would have to clean; dropping them would leave a
//! hole in the document the sender did not choose), images leak cannot
//! clean (EMF, WMF, TIFF...), encrypted documents, a name of the sender
//! that the text spreads over several runs (leak cannot rewrite it without
//! breaking the formatting), and archives over the caps below.
//!
//! # Layout
//!
//! - `mod.rs`: caps, errors, the type sniffed from the ZIP content, the
//!   rebuild loop.
//! - `archive.rs`: reading members under the caps, writing the new ZIP.
//! - `parts.rs`: the allow-lists, neutral metadata, rewriting of the
//!   relationships, content types and manifest.
//! - `xml.rs`: the streaming rewrite of each XML part.

mod archive;
mod parts;
mod xml;

use std::collections::{HashMap, HashSet};

use archive::{Archive, Output};
use parts::Keep;

use super::image::{clean_owned_image, Owned};
use crate::identity::Identity;

/// Most members in a document. A long report with many images has a few
/// hundred; more is an archive, not a document.
pub(crate) const MAX_MEMBERS: usize = 2_000;

/// Largest uncompressed member (the biggest legitimate parts are images
/// and the main XML of very long documents).
pub(crate) const MAX_MEMBER_SIZE: u64 = 32 << 20;

/// Largest total uncompressed size, declared and real: bounds the work
/// and, since members are handled one by one, the memory.
pub(crate) const MAX_TOTAL_SIZE: u64 = 96 << 20;

/// Largest compression ratio of a member above [`RATIO_FLOOR`]: XML
/// deflates 10-30 times, a decompression bomb thousands of times.
pub(crate) const MAX_RATIO: u64 = 200;

/// Members smaller than this are not ratio-checked (a tiny, very regular
/// part can compress very well and costs nothing).
pub(crate) const RATIO_FLOOR: u64 = 1 << 20;

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OfficeError {
    #[error("the document could not be read or has a structure leak does not rebuild")]
    Broken,
    #[error("the document is over the size limits")]
    TooLarge,
    #[error("the document decompresses to far more than its size (a ZIP bomb)")]
    Bomb,
    #[error("the document holds macros, embedded objects or controls")]
    Active,
    #[error("the document holds an image leak cannot clean")]
    Media,
    #[error("the document names the sender where leak cannot rewrite it")]
    Identity,
    #[error("a ZIP archive, not an Office document")]
    NotOffice,
}

/// A rebuilt document.
pub(crate) struct Cleaned {
    pub(crate) bytes: Vec<u8>,
    /// The media type of the real format.
    pub(crate) media_type: &'static str,
    /// Everything the recipient can read, scrubbed, for moderation.
    pub(crate) text: String,
}

/// Rebuilds an Office document, or says why it cannot.
///
/// Two passes, for memory: every kept member is first read and cleaned
/// (`data` is still needed to read them), then `data` is freed and the new
/// ZIP is written member by member, each freed once written. A document
/// that is mostly one large image is thus held about twice at most, never
/// as the source, the cleaned members and the output all at once.
pub(crate) fn clean_office(data: Vec<u8>, identity: &Identity) -> Result<Cleaned, OfficeError> {
    let mut archive = Archive::open(&data)?;
    let format = parts::sniff(&mut archive)?;
    let (members, text) = clean_members(&mut archive, format, identity)?;
    drop(archive);
    drop(data);
    let mut output = Output::with_capacity(members.iter().map(|m| m.bytes.len()).sum());
    for member in members {
        output.add(&member.name, &member.bytes, member.stored)?;
    }
    Ok(Cleaned {
        bytes: output.finish()?,
        media_type: format.media_type(),
        text: text.trim().to_string(),
    })
}

/// One member of the new ZIP, in order.
struct Member {
    name: String,
    bytes: Vec<u8>,
    /// Written uncompressed (the ODF `mimetype`, which must be).
    stored: bool,
}

/// Every member the new ZIP keeps, cleaned, in the order they are written
/// (`mimetype` and `[Content_Types].xml` first), and the document's text.
fn clean_members(
    archive: &mut Archive<'_>,
    format: parts::Format,
    identity: &Identity,
) -> Result<(Vec<Member>, String), OfficeError> {
    if archive.names.iter().any(|name| parts::is_active(name)) {
        return Err(OfficeError::Active);
    }
    let plan: Vec<(String, Keep)> = archive
        .names
        .iter()
        .map(|name| (name.clone(), parts::keep(format, name)))
        .collect();
    let kept: HashSet<String> = plan
        .iter()
        .filter(|(_, keep)| *keep != Keep::Drop)
        .map(|(name, _)| name.clone())
        .collect();
    // Relationships first: a part must know which of its links went.
    let mut rels = HashMap::new();
    let mut dropped_rels: HashMap<String, HashSet<String>> = HashMap::new();
    for (name, keep) in &plan {
        if *keep == Keep::Rels {
            let member = archive.read(name)?;
            let (xml, dropped) = parts::rewrite_rels(name, &member, &kept, identity)?;
            dropped_rels.insert(parts::rels_source(name), dropped);
            rels.insert(name.clone(), xml);
        }
    }
    let mut members = Vec::with_capacity(kept.len());
    let mut text = String::new();
    // `mimetype` (ODF) and `[Content_Types].xml` (OOXML) lead the archive.
    let mut order: Vec<&(String, Keep)> = plan.iter().collect();
    order.sort_by_key(|(_, keep)| !matches!(keep, Keep::Mimetype | Keep::ContentTypes));
    let none = HashSet::new();
    for (name, keep) in order {
        let bytes = match keep {
            Keep::Drop => continue,
            Keep::Rels => rels.remove(name).unwrap_or_default(),
            Keep::Mimetype => format.mimetype().as_bytes().to_vec(),
            Keep::CoreProps => parts::NEUTRAL_CORE.as_bytes().to_vec(),
            Keep::AppProps => parts::NEUTRAL_APP.as_bytes().to_vec(),
            Keep::OdfMeta => parts::NEUTRAL_ODF_META.as_bytes().to_vec(),
            Keep::ContentTypes => parts::rewrite_content_types(&archive.read(name)?, &kept)?,
            Keep::Manifest => parts::rewrite_manifest(&archive.read(name)?, &kept)?,
            Keep::Media => match clean_owned_image(archive.read(name)?) {
                Ok(Owned::Image(image)) => image.bytes,
                _ => return Err(OfficeError::Media),
            },
            Keep::Xml => {
                let member = archive.read(name)?;
                let rules = xml::Rules {
                    identity,
                    dropped_rels: dropped_rels.get(name).unwrap_or(&none),
                };
                let rewritten = xml::rewrite(&member, &rules)?;
                text.push_str(&rewritten.text);
                rewritten.xml
            }
        };
        members.push(Member {
            name: name.clone(),
            bytes,
            stored: *keep == Keep::Mimetype,
        });
    }
    Ok((members, text))
}

#[cfg(test)]
mod tests;

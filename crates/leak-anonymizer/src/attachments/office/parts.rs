//! Which members a rebuilt document keeps, and the small XML files that
//! tie them together.
//!
//! The real format comes from the content: the ODF `mimetype` member, or
//! the main part's type in `[Content_Types].xml` (never the file name).
//! Each format has an allow-list of part paths ([`keep`]); relationships
//! (`_rels/*.rels`) are kept for kept parts only and lose every link to a
//! dropped member or to anything outside but `http(s):` and `mailto:`;
//! `[Content_Types].xml` and `META-INF/manifest.xml` lose the entries of
//! dropped members.

use std::collections::HashSet;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};

use super::archive::Archive;
use super::OfficeError;
use crate::identity::Identity;

/// The document formats leak rebuilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Docx,
    Xlsx,
    Pptx,
    Odt,
    Ods,
    Odp,
}

impl Format {
    pub(crate) fn media_type(self) -> &'static str {
        match self {
            Format::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            Format::Odt => "application/vnd.oasis.opendocument.text",
            Format::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            Format::Odp => "application/vnd.oasis.opendocument.presentation",
        }
    }

    /// The ODF `mimetype` member's content.
    pub(crate) fn mimetype(self) -> &'static str {
        self.media_type()
    }

    fn is_odf(self) -> bool {
        matches!(self, Format::Odt | Format::Ods | Format::Odp)
    }
}

/// What becomes of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    Drop,
    /// An XML part, rewritten by `xml.rs`.
    Xml,
    /// An image, cleaned by the image cleaner.
    Media,
    Rels,
    ContentTypes,
    /// `docProps/core.xml`, replaced by [`NEUTRAL_CORE`].
    CoreProps,
    /// `docProps/app.xml`, replaced by [`NEUTRAL_APP`].
    AppProps,
    Mimetype,
    /// ODF `meta.xml`, replaced by [`NEUTRAL_ODF_META`].
    OdfMeta,
    Manifest,
}

/// Core properties with nothing in them: no creator, no last editor, no
/// dates, no title, no template.
pub(crate) const NEUTRAL_CORE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" xmlns:dcmitype=\"http://purl.org/dc/dcmitype/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"></cp:coreProperties>";

/// Extended properties naming only the application, "leak" (no company,
/// manager, template, editing time or statistics).
pub(crate) const NEUTRAL_APP: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\"><Application>leak</Application></Properties>";

/// ODF metadata naming only the generator, "leak".
pub(crate) const NEUTRAL_ODF_META: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<office:document-meta xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" xmlns:meta=\"urn:oasis:names:tc:opendocument:xmlns:meta:1.0\" office:version=\"1.2\"><office:meta><meta:generator>leak</meta:generator></office:meta></office:document-meta>";

/// Allow-listed OOXML parts per format; `#` stands for a number.
const DOCX_PARTS: &[&str] = &[
    "word/document.xml",
    "word/styles.xml",
    "word/stylesWithEffects.xml",
    "word/numbering.xml",
    "word/fontTable.xml",
    "word/settings.xml",
    "word/theme/theme#.xml",
    "word/footnotes.xml",
    "word/endnotes.xml",
    "word/header#.xml",
    "word/footer#.xml",
    "word/comments.xml",
];
const XLSX_PARTS: &[&str] = &[
    "xl/workbook.xml",
    "xl/styles.xml",
    "xl/sharedStrings.xml",
    "xl/theme/theme#.xml",
    "xl/worksheets/sheet#.xml",
    "xl/drawings/drawing#.xml",
    "xl/calcChain.xml",
];
const PPTX_PARTS: &[&str] = &[
    "ppt/presentation.xml",
    "ppt/presProps.xml",
    "ppt/viewProps.xml",
    "ppt/tableStyles.xml",
    "ppt/slides/slide#.xml",
    "ppt/slideLayouts/slideLayout#.xml",
    "ppt/slideMasters/slideMaster#.xml",
    "ppt/theme/theme#.xml",
    "ppt/notesSlides/notesSlide#.xml",
    "ppt/notesMasters/notesMaster#.xml",
    "ppt/handoutMasters/handoutMaster#.xml",
];

/// The main part's content types, and the macro-enabled ones (refused).
const MAIN_TYPES: &[(&str, Format)] = &[
    (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        Format::Docx,
    ),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        Format::Xlsx,
    ),
    (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
        Format::Pptx,
    ),
];

/// The real format of an archive, from its content.
pub(crate) fn sniff(archive: &mut Archive<'_>) -> Result<Format, OfficeError> {
    if archive.has("mimetype") {
        let member = archive.read("mimetype")?;
        return match member.as_slice() {
            b"application/vnd.oasis.opendocument.text" => Ok(Format::Odt),
            b"application/vnd.oasis.opendocument.spreadsheet" => Ok(Format::Ods),
            b"application/vnd.oasis.opendocument.presentation" => Ok(Format::Odp),
            _ => Err(OfficeError::NotOffice),
        };
    }
    if !archive.has("[Content_Types].xml") {
        return Err(OfficeError::NotOffice);
    }
    let types = archive.read("[Content_Types].xml")?;
    let mut found = None;
    for_each_element(&types, |local, attrs| {
        if local != "Override" {
            return;
        }
        let content_type = attr(attrs, "ContentType").unwrap_or_default();
        if content_type.contains("macroEnabled") {
            found = Some(Err(OfficeError::Active));
        }
        let part = attr(attrs, "PartName").unwrap_or_default();
        for (main, format) in MAIN_TYPES {
            let expected = match format {
                Format::Docx => "/word/document.xml",
                Format::Xlsx => "/xl/workbook.xml",
                _ => "/ppt/presentation.xml",
            };
            if content_type == *main && part == expected && found.is_none() {
                found = Some(Ok(*format));
            }
        }
    })?;
    found.unwrap_or(Err(OfficeError::NotOffice))
}

/// Members that make a document active or carry another file: refused.
pub(crate) fn is_active(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with("vbaproject.bin")
        || lower.ends_with("vbadata.xml")
        || lower.contains("/embeddings/")
        || lower.contains("/activex/")
        || lower.starts_with("basic/")
        || lower.starts_with("scripts/")
        || lower.starts_with("object ")
}

/// What becomes of member `name` in a document of `format`.
pub(crate) fn keep(format: Format, name: &str) -> Keep {
    if name.ends_with('/') {
        return Keep::Drop;
    }
    if format.is_odf() {
        return match name {
            "mimetype" => Keep::Mimetype,
            "content.xml" | "styles.xml" => Keep::Xml,
            "meta.xml" => Keep::OdfMeta,
            "META-INF/manifest.xml" => Keep::Manifest,
            _ if is_media(name, "Pictures/") => Keep::Media,
            _ => Keep::Drop,
        };
    }
    let (root, parts) = match format {
        Format::Docx => ("word/", DOCX_PARTS),
        Format::Xlsx => ("xl/", XLSX_PARTS),
        _ => ("ppt/", PPTX_PARTS),
    };
    let is_part = |name: &str| parts.iter().any(|pattern| matches(pattern, name));
    match name {
        "[Content_Types].xml" => Keep::ContentTypes,
        "_rels/.rels" => Keep::Rels,
        "docProps/core.xml" => Keep::CoreProps,
        "docProps/app.xml" => Keep::AppProps,
        _ if is_part(name) => Keep::Xml,
        _ if is_media(name, &format!("{root}media/")) => Keep::Media,
        _ if name.ends_with(".rels") && is_part(&rels_source(name)) => Keep::Rels,
        _ => Keep::Drop,
    }
}

/// A file directly in `dir`.
fn is_media(name: &str, dir: &str) -> bool {
    name.strip_prefix(dir)
        .is_some_and(|file| !file.is_empty() && !file.contains('/'))
}

/// `pattern` with `#` matching one or more digits.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('#') {
        None => pattern == name,
        Some((before, after)) => name
            .strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())),
    }
}

/// The part a `.rels` file belongs to: `word/_rels/document.xml.rels` is
/// `word/document.xml`'s, `_rels/.rels` the package's (empty name).
pub(crate) fn rels_source(rels: &str) -> String {
    let (dir, file) = rels.rsplit_once('/').unwrap_or(("", rels));
    let dir = dir.strip_suffix("_rels").unwrap_or(dir);
    format!("{dir}{}", file.strip_suffix(".rels").unwrap_or(file))
}

/// Rewrites a relationships file: keeps links to kept members and to
/// `http(s):` / `mailto:` addresses not naming the sender. Returns the new
/// XML and the ids of the dropped relationships.
pub(crate) fn rewrite_rels(
    name: &str,
    xml: &[u8],
    kept: &HashSet<String>,
    identity: &Identity,
) -> Result<(Vec<u8>, HashSet<String>), OfficeError> {
    let source = rels_source(name);
    let base = source.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
    let mut dropped = HashSet::new();
    let out = filter(xml, |local, attrs| {
        if local != "Relationship" {
            return true;
        }
        let target = attr(attrs, "Target").unwrap_or_default();
        let external = attr(attrs, "TargetMode").is_some_and(|m| m == "External");
        let keep = if external {
            let lower = target.to_ascii_lowercase();
            (lower.starts_with("http://")
                || lower.starts_with("https://")
                || lower.starts_with("mailto:"))
                && identity.find(&target).is_empty()
        } else {
            resolve(base, &target).is_some_and(|path| kept.contains(&path))
        };
        if !keep {
            dropped.insert(attr(attrs, "Id").unwrap_or_default());
        }
        keep
    })?;
    Ok((out, dropped))
}

/// A relationship target resolved against the source part's folder.
fn resolve(base: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|p| !p.is_empty()).collect()
    };
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// `[Content_Types].xml` without overrides for dropped parts.
pub(crate) fn rewrite_content_types(
    xml: &[u8],
    kept: &HashSet<String>,
) -> Result<Vec<u8>, OfficeError> {
    filter(xml, |local, attrs| {
        local != "Override"
            || attr(attrs, "PartName")
                .is_some_and(|part| kept.contains(part.trim_start_matches('/')))
    })
}

/// The ODF manifest without entries for dropped members; an encrypted
/// document (encryption data in the manifest) is refused.
pub(crate) fn rewrite_manifest(xml: &[u8], kept: &HashSet<String>) -> Result<Vec<u8>, OfficeError> {
    let mut encrypted = false;
    let out = filter(xml, |local, attrs| {
        encrypted |= local == "encryption-data";
        if local != "file-entry" {
            return true;
        }
        attr(attrs, "full-path").is_some_and(|path| path == "/" || kept.contains(&path))
    })?;
    if encrypted {
        return Err(OfficeError::Broken);
    }
    Ok(out)
}

type Attrs = Vec<(String, String)>;

fn attr(attrs: &Attrs, local: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(key, _)| key.rsplit(':').next() == Some(local))
        .map(|(_, value)| value.clone())
}

fn attributes(start: &BytesStart<'_>) -> Result<Attrs, OfficeError> {
    start
        .attributes()
        .map(|a| {
            let a = a.map_err(|_| OfficeError::Broken)?;
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|_| OfficeError::Broken)?;
            Ok((
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                value.into_owned(),
            ))
        })
        .collect()
}

/// Calls `visit` with each element's local name and attributes.
fn for_each_element(xml: &[u8], mut visit: impl FnMut(&str, &Attrs)) -> Result<(), OfficeError> {
    filter(xml, |local, attrs| {
        visit(local, attrs);
        true
    })
    .map(|_| ())
}

/// Copies `xml`, leaving out the elements (with their content) for which
/// `keep` says no. Comments, processing instructions and DOCTYPEs go.
fn filter(xml: &[u8], mut keep: impl FnMut(&str, &Attrs) -> bool) -> Result<Vec<u8>, OfficeError> {
    let mut reader = Reader::from_reader(xml);
    let mut writer = Writer::new(Vec::with_capacity(xml.len()));
    let mut skipping = 0usize;
    loop {
        let event = reader.read_event().map_err(|_| OfficeError::Broken)?;
        let write = match &event {
            Event::Eof => break,
            Event::DocType(_) => return Err(OfficeError::Broken),
            Event::Comment(_) | Event::PI(_) => false,
            _ if skipping > 0 => {
                match event {
                    Event::Start(_) => skipping += 1,
                    Event::End(_) => skipping -= 1,
                    _ => {}
                }
                false
            }
            Event::Start(start) | Event::Empty(start) => {
                let local = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                let kept = keep(&local, &attributes(start)?);
                if !kept && matches!(event, Event::Start(_)) {
                    skipping = 1;
                }
                kept
            }
            _ => true,
        };
        if write {
            writer.write_event(event).map_err(|_| OfficeError::Broken)?;
        }
    }
    if skipping != 0 {
        return Err(OfficeError::Broken);
    }
    Ok(writer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists() {
        assert_eq!(keep(Format::Docx, "word/document.xml"), Keep::Xml);
        assert_eq!(keep(Format::Docx, "word/header12.xml"), Keep::Xml);
        assert_eq!(
            keep(Format::Docx, "word/_rels/document.xml.rels"),
            Keep::Rels
        );
        assert_eq!(keep(Format::Docx, "word/media/image1.png"), Keep::Media);
        for dropped in [
            "docProps/custom.xml",
            "docProps/thumbnail.jpeg",
            "customXml/item1.xml",
            "word/people.xml",
            "word/commentsExtended.xml",
            "word/commentsIds.xml",
            "word/webSettings.xml",
            "word/_rels/people.xml.rels",
            "word/header.xml",
            "word/media/sub/x.png",
            "xl/worksheets/sheet1.xml",
        ] {
            assert_eq!(keep(Format::Docx, dropped), Keep::Drop, "{dropped}");
        }
        assert_eq!(keep(Format::Xlsx, "xl/worksheets/sheet3.xml"), Keep::Xml);
        assert_eq!(
            keep(Format::Xlsx, "xl/printerSettings/printerSettings1.bin"),
            Keep::Drop
        );
        assert_eq!(
            keep(Format::Pptx, "ppt/slides/_rels/slide2.xml.rels"),
            Keep::Rels
        );
        assert_eq!(keep(Format::Odt, "Thumbnails/thumbnail.png"), Keep::Drop);
        assert_eq!(keep(Format::Odt, "settings.xml"), Keep::Drop);
        assert_eq!(keep(Format::Odt, "Pictures/a.jpg"), Keep::Media);
        assert!(is_active("word/vbaProject.bin"));
        assert!(is_active("word/embeddings/oleObject1.bin"));
        assert!(is_active("Basic/Standard/Module1.xml"));
        assert!(!is_active("word/document.xml"));
    }

    #[test]
    fn relationship_targets_resolve_against_their_part() {
        assert_eq!(
            rels_source("word/_rels/document.xml.rels"),
            "word/document.xml"
        );
        assert_eq!(rels_source("_rels/.rels"), "");
        assert_eq!(
            resolve("word", "media/a.png").as_deref(),
            Some("word/media/a.png")
        );
        assert_eq!(
            resolve("xl/worksheets", "../drawings/drawing1.xml").as_deref(),
            Some("xl/drawings/drawing1.xml")
        );
        assert_eq!(
            resolve("", "/docProps/core.xml").as_deref(),
            Some("docProps/core.xml")
        );
        assert_eq!(resolve("", "../x"), None);
    }
}

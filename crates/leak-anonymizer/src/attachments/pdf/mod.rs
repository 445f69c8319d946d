//! PDF cleaning by allow-list rebuild.
//!
//! A PDF carries its author, software, dates and file paths in many places
//! (the Info dictionary, XMP streams on the catalog and on any object, the
//! document ID, annotations' authors, embedded files, form fields, page
//! piece info, thumbnails, image EXIF). Deleting the keys known to be bad
//! would leave whatever nobody thought of, so nothing is deleted: a *new*
//! document is built (with `lopdf`, a maintained parser and writer) from
//! what is needed to draw the pages, and only that:
//!
//! - a fresh trailer holding only `/Root` (no `/Info`, no `/ID`), a catalog
//!   with only `/Type` and `/Pages`, one flat page tree;
//! - per page only `/Type /Parent /Contents /Resources /MediaBox /CropBox
//!   /Rotate` (inherited values resolved); annotations, actions, names,
//!   forms, outlines, structure, optional content, thumbnails, piece info
//!   and metadata are never copied;
//! - the objects reachable from the kept pages' resources, each dictionary
//!   reduced to an allow-list of keys (`copy.rs`); ICC colour spaces become
//!   the device space with the same number of components (a profile can
//!   name its device and owner, as in images); JPEG images are cleaned by
//!   the JPEG cleaner (EXIF, XMP, comments, ICC dropped);
//! - content streams parsed and rewritten from an allow-list of drawing
//!   operators (`content.rs`): comments, marked content (with its property
//!   lists: `/ActualText`, `/Alt`, optional content) and unknown operators
//!   go;
//! - saved fresh: no incremental update, no original cross-reference data,
//!   streams compressed.
//!
//! Everything the recipient can read must reach moderation: the visible
//! text of every page, form XObjects included, is extracted (`text.rs`) and
//! returned with the document. Text that cannot be read reliably (Type3
//! fonts, composite fonts without `/ToUnicode`, embedded fonts with their
//! own built-in encoding) refuses the PDF: leak cannot check what it
//! cannot read. The identity scrub cannot rewrite text inside a PDF (glyph
//! codes, kerning and subset fonts), so the caller refuses a PDF whose text
//! names the sender.
//!
//! Encrypted PDFs, files that do not parse, JPEG 2000 images and anything
//! over the limits below are refused. The limits are documented constants,
//! as in `limits.rs`.

mod content;
mod copy;
mod text;

use lopdf::{dictionary, DecompressError, Dictionary, Document, LoadOptions, Object, Stream};

use copy::{Copier, Ctx};

/// Most pages one PDF may have: a long report has a few hundred.
pub(crate) const MAX_PAGES: usize = 2000;

/// Most indirect objects one PDF may have (a 1,000-page scan has a few
/// thousand); the rebuild also stops copying past this many.
pub(crate) const MAX_OBJECTS: usize = 200_000;

/// Largest one stream may decompress to, in bytes, when leak reads it
/// (object streams, page contents, fonts' `/ToUnicode`): far above a real
/// page's content, far below a decompression bomb.
pub(crate) const MAX_STREAM_BYTES: usize = 64 * 1024 * 1024;

/// Largest all streams of one PDF may decompress to together, in bytes:
/// what the recipient's viewer would have to inflate. Streams are measured
/// one at a time, so this bounds time, not memory.
pub(crate) const MAX_DECOMPRESSED_BYTES: usize = 512 * 1024 * 1024;

/// Deepest nesting of form XObjects drawn inside each other.
pub(crate) const MAX_FORM_DEPTH: usize = 16;

/// Why a PDF was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PdfError {
    /// The file does not parse, or its structure is not a document.
    #[error("the PDF could not be read")]
    Broken,
    /// Encrypted (even with an empty user password).
    #[error("the PDF is encrypted")]
    Encrypted,
    /// Over a page, object, nesting or decompression limit.
    #[error("the PDF is over a size limit")]
    TooLarge,
    /// Text drawn with a font whose characters cannot be mapped to Unicode.
    #[error("the PDF's text cannot be read")]
    UnreadableText,
    /// A feature leak does not clean (JPEG 2000 images, chained JPEG).
    #[error("the PDF uses a feature leak cannot clean")]
    Unsupported,
}

impl From<lopdf::Error> for PdfError {
    fn from(error: lopdf::Error) -> Self {
        match error {
            lopdf::Error::Decompress(DecompressError::MemoryLimitExceeded { .. })
            | lopdf::Error::Decompress(DecompressError::TooManyFilters { .. }) => {
                PdfError::TooLarge
            }
            lopdf::Error::Decryption(_)
            | lopdf::Error::InvalidPassword
            | lopdf::Error::AlreadyEncrypted => PdfError::Encrypted,
            _ => PdfError::Broken,
        }
    }
}

/// A rebuilt PDF and the text its pages show (for moderation and the
/// identity check).
pub(crate) struct CleanPdf {
    pub(crate) bytes: Vec<u8>,
    pub(crate) text: String,
}

/// Parses `data` and rebuilds it (see the module docs), or refuses it.
/// `data` is freed once parsed: the document holds its own copy of every
/// object, and the source and the rebuilt document are never both held
/// whole (objects move from one to the other), so the peak is about two
/// copies of the file, the parsed objects and the output.
pub(crate) fn clean(data: Vec<u8>) -> Result<CleanPdf, PdfError> {
    let doc = Document::load_mem_with_options(&data, load_options())?;
    drop(data);
    if doc.was_encrypted() || doc.is_encrypted() || doc.trailer.has(b"Encrypt") {
        return Err(PdfError::Encrypted);
    }
    if doc.objects.len() > MAX_OBJECTS {
        return Err(PdfError::TooLarge);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(PdfError::Broken);
    }
    if pages.len() > MAX_PAGES {
        return Err(PdfError::TooLarge);
    }
    // Read before the rebuild too: a file whose text cannot be read is
    // refused before any work, and text the rebuild would not carry (a
    // font it drops) still refuses the file instead of vanishing unread.
    page_text(&doc)?;
    let pages: Vec<_> = pages.into_values().collect();
    let bytes = rebuild(doc, &pages)?;
    // What leaves is read again, and its text is what moderation reads: a
    // part the rebuild could not carry over (a damaged `/ToUnicode`, found
    // by the fuzzer) would otherwise leave text no one read.
    let rebuilt = Document::load_mem_with_options(&bytes, load_options())?;
    let text = page_text(&rebuilt)?;
    drop(rebuilt);
    Ok(CleanPdf { bytes, text })
}

fn load_options() -> LoadOptions {
    LoadOptions {
        max_decompressed_size: Some(MAX_STREAM_BYTES),
        ..LoadOptions::default()
    }
}

/// The text `doc`'s pages show, or why it cannot be read.
fn page_text(doc: &Document) -> Result<String, PdfError> {
    let mut text = String::new();
    let mut walker = text::Walker::new(doc, &mut text);
    for page_id in doc.get_pages().into_values() {
        walker.page(page_id)?;
    }
    Ok(text)
}

/// The new document: fresh trailer, catalog and page tree, and the objects
/// the pages need, copied through the allow-lists.
/// The source document is consumed: its objects move into the new one.
fn rebuild(doc: Document, pages: &[lopdf::ObjectId]) -> Result<Vec<u8>, PdfError> {
    let mut copier = Copier::new(doc);
    let pages_id = copier.dst.new_object_id();
    let mut kids = Vec::new();
    for &page_id in pages {
        let page = copier.src().get_dictionary(page_id)?;
        let attribute = |key: &[u8]| inherited(copier.src(), page, key).cloned();
        let attributes = [&b"MediaBox"[..], b"CropBox", b"Rotate", b"Resources"].map(attribute);
        let raw = copier
            .src()
            .get_page_content_with_limit(page_id, MAX_STREAM_BYTES)?;
        let [media_box, crop_box, rotate, resources] = attributes;
        let mut new_page = dictionary! { "Type" => "Page", "Parent" => pages_id };
        for (key, value) in [
            ("MediaBox", media_box),
            ("CropBox", crop_box),
            ("Rotate", rotate),
        ] {
            if let Some(value) = value {
                new_page.set(key, copier.value(value, Ctx::General)?);
            }
        }
        if !new_page.has(b"MediaBox") {
            // Required; viewers assume US Letter when it is missing.
            new_page.set("MediaBox", vec![0.into(), 0.into(), 612.into(), 792.into()]);
        }
        let resources = match resources {
            Some(value) => copier.value(value, Ctx::Resources)?,
            None => Object::Dictionary(Dictionary::new()),
        };
        new_page.set("Resources", resources);
        copier.spend(raw.len())?;
        let cleaned = content::clean(&raw)?;
        let contents = copier
            .dst
            .add_object(Stream::new(Dictionary::new(), cleaned));
        new_page.set("Contents", contents);
        kids.push(Object::Reference(copier.dst.add_object(new_page)));
    }
    let mut dst = copier.finish()?;
    let count = kids.len() as i64;
    dst.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = dst.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    dst.trailer = dictionary! { "Root" => catalog };
    dst.version = "1.7".to_string();
    dst.compress();
    let mut out = Vec::with_capacity(data_estimate(&dst));
    dst.save_to(&mut out).map_err(|_| PdfError::Broken)?;
    Ok(out)
}

/// A first guess of the output size: the sum of the stream contents.
fn data_estimate(doc: &Document) -> usize {
    doc.objects
        .values()
        .map(|object| match object {
            Object::Stream(stream) => stream.content.len() + 64,
            _ => 64,
        })
        .sum()
}

/// A page attribute, from the page or the nearest ancestor that has it
/// (`/Resources`, `/MediaBox`, `/CropBox` and `/Rotate` are inheritable).
fn inherited<'a>(doc: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut node = page;
    for _ in 0..64 {
        if let Ok(value) = node.get(key) {
            return Some(value);
        }
        let parent = node.get(b"Parent").and_then(Object::as_reference).ok()?;
        node = doc.get_dictionary(parent).ok()?;
    }
    None
}

#[cfg(test)]
mod tests;

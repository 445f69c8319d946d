//! The text a PDF shows, for moderation and the identity check.
//!
//! Hand-written over lopdf's parsed operations instead of lopdf's
//! `extract_text`, which reads only the page's own content: text drawn by
//! form XObjects (`Do`) would reach the recipient unchecked, and a font it
//! cannot decode silently falls back to a guess. Here every text-showing
//! operator (`Tj`, `TJ`, `'`, `"`) is decoded with its font's encoding
//! (lopdf's `/ToUnicode` CMaps, standard encodings and `/Differences`),
//! form XObjects are followed (each once, at most [`MAX_FORM_DEPTH`] deep),
//! and a font whose codes cannot be mapped to Unicode refuses the PDF:
//! Type3 fonts, composite fonts without `/ToUnicode`, simple fonts with
//! neither `/Encoding` nor `/ToUnicode` other than the standard 14, and any
//! decoding that yields the replacement character.

use std::collections::{HashMap, HashSet};

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

use super::{inherited, PdfError, MAX_FORM_DEPTH, MAX_STREAM_BYTES};

/// The standard 14 fonts whose built-in encoding is StandardEncoding
/// (Symbol and ZapfDingbats are not text).
const STANDARD_FONTS: &[&str] = &["Times", "Helvetica", "Courier"];

/// Extracts the text of pages into `out`.
pub(super) struct Walker<'a, 'o> {
    doc: &'a Document,
    out: &'o mut String,
    forms: HashSet<ObjectId>,
}

impl<'a, 'o> Walker<'a, 'o> {
    pub(super) fn new(doc: &'a Document, out: &'o mut String) -> Self {
        Walker {
            doc,
            out,
            forms: HashSet::new(),
        }
    }

    /// Appends the text of one page.
    pub(super) fn page(&mut self, page_id: ObjectId) -> Result<(), PdfError> {
        let page = self.doc.get_dictionary(page_id)?;
        let content = self
            .doc
            .get_page_content_with_limit(page_id, MAX_STREAM_BYTES)?;
        let resources = inherited(self.doc, page, b"Resources").and_then(|r| self.dict(r));
        self.walk(&content, resources, 0)?;
        self.newline();
        Ok(())
    }

    fn dict(&self, object: &'a Object) -> Option<&'a Dictionary> {
        match object {
            Object::Reference(id) => self.doc.get_dictionary(*id).ok(),
            Object::Dictionary(dict) => Some(dict),
            _ => None,
        }
    }

    /// The entry `name` of resource category `category`.
    fn resource(
        &self,
        resources: Option<&'a Dictionary>,
        category: &[u8],
        name: &[u8],
    ) -> Option<&'a Object> {
        let map = self.dict(resources?.get(category).ok()?)?;
        let entry = map.get(name).ok()?;
        match entry {
            Object::Reference(id) => self.doc.get_object(*id).ok(),
            other => Some(other),
        }
    }

    fn walk(
        &mut self,
        data: &[u8],
        resources: Option<&'a Dictionary>,
        depth: usize,
    ) -> Result<(), PdfError> {
        if depth > MAX_FORM_DEPTH {
            return Err(PdfError::TooLarge);
        }
        let content = Content::decode(data).map_err(|_| PdfError::Broken)?;
        let mut fonts: HashMap<Vec<u8>, Option<Encoding<'a>>> = HashMap::new();
        let mut current: Option<Vec<u8>> = None;
        for op in &content.operations {
            let operands = op.operands.as_slice();
            match op.operator.as_str() {
                "Tf" => {
                    let name = operands.first().and_then(|o| o.as_name().ok());
                    let name = name.ok_or(PdfError::Broken)?.to_vec();
                    if !fonts.contains_key(&name) {
                        let font = self.resource(resources, b"Font", &name);
                        let encoding = font.and_then(|f| f.as_dict().ok());
                        let encoding = encoding.map(|f| self.encoding(f)).transpose()?;
                        fonts.insert(name.clone(), encoding.flatten());
                    }
                    current = Some(name);
                }
                "Tj" | "'" | "\"" | "TJ" => {
                    if matches!(op.operator.as_str(), "'" | "\"") {
                        self.newline();
                    }
                    let encoding = current
                        .as_ref()
                        .and_then(|n| fonts.get(n))
                        .and_then(Option::as_ref);
                    self.show(encoding, operands)?;
                }
                "Td" | "TD" => match operands.get(1).and_then(|o| o.as_float().ok()) {
                    Some(ty) if ty != 0.0 => self.newline(),
                    _ => self.space(),
                },
                "T*" | "Tm" | "ET" => self.newline(),
                "Do" => {
                    let name = operands.first().and_then(|o| o.as_name().ok());
                    self.form(resources, name.ok_or(PdfError::Broken)?, depth)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Follows a form XObject drawn with `Do`, once per form.
    fn form(
        &mut self,
        resources: Option<&'a Dictionary>,
        name: &[u8],
        depth: usize,
    ) -> Result<(), PdfError> {
        let Some(Object::Reference(id)) = self
            .dict_entry(resources, b"XObject")
            .and_then(|map| map.get(name).ok())
        else {
            return Ok(());
        };
        let Ok(stream) = self.doc.get_object(*id).and_then(Object::as_stream) else {
            return Ok(());
        };
        let is_form = matches!(stream.dict.get(b"Subtype"), Ok(Object::Name(n)) if n == b"Form");
        if !is_form || !self.forms.insert(*id) {
            return Ok(());
        }
        let data = stream.decompressed_content_with_limit(MAX_STREAM_BYTES)?;
        let own = stream
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|r| self.dict(r));
        self.walk(&data, own.or(resources), depth + 1)
    }

    fn dict_entry(&self, resources: Option<&'a Dictionary>, key: &[u8]) -> Option<&'a Dictionary> {
        self.dict(resources?.get(key).ok()?)
    }

    /// The encoding of a font, `None` when its text cannot be read.
    fn encoding(&self, font: &'a Dictionary) -> Result<Option<Encoding<'a>>, PdfError> {
        let name = |key: &[u8]| font.get(key).and_then(Object::as_name).ok();
        let subtype = name(b"Subtype").unwrap_or(b"");
        let has_to_unicode = font.has(b"ToUnicode");
        let readable = match subtype {
            b"Type3" => false,
            b"Type0" => {
                has_to_unicode && matches!(name(b"Encoding"), Some(b"Identity-H" | b"Identity-V"))
            }
            _ if font.has(b"Encoding") || has_to_unicode => true,
            _ => {
                let base = String::from_utf8_lossy(name(b"BaseFont").unwrap_or(b""));
                STANDARD_FONTS.iter().any(|f| base.starts_with(f))
            }
        };
        if !readable {
            return Ok(None);
        }
        Ok(Some(font.get_font_encoding_with_limit(
            self.doc,
            MAX_STREAM_BYTES,
        )?))
    }

    /// Decodes the strings of a text-showing operation; a large negative
    /// `TJ` adjustment is a word space.
    fn show(
        &mut self,
        encoding: Option<&Encoding<'a>>,
        operands: &[Object],
    ) -> Result<(), PdfError> {
        let mut strings = Vec::new();
        for operand in operands {
            match operand {
                Object::String(bytes, _) => strings.push(Some(bytes.as_slice())),
                Object::Array(items) => {
                    for item in items {
                        match item {
                            Object::String(bytes, _) => strings.push(Some(bytes.as_slice())),
                            Object::Integer(n) if *n < -200 => strings.push(None),
                            Object::Real(n) if *n < -200.0 => strings.push(None),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        for string in strings {
            match string {
                None => self.space(),
                Some([]) => {}
                Some(bytes) => {
                    let encoding = encoding.ok_or(PdfError::UnreadableText)?;
                    let text = Document::decode_text(encoding, bytes)
                        .map_err(|_| PdfError::UnreadableText)?;
                    if text.contains('\u{fffd}') {
                        return Err(PdfError::UnreadableText);
                    }
                    self.out.push_str(&text);
                }
            }
        }
        Ok(())
    }

    fn newline(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    fn space(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with([' ', '\n']) {
            self.out.push(' ');
        }
    }
}

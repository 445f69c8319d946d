//! One streaming pass over an XML part of an Office document (quick-xml
//! reader to writer), event by event:
//!
//! - character data is scrubbed of the sender's identity, collected per
//!   paragraph for moderation, and a paragraph whose joined text still names
//!   the sender (a name split across runs or entities) refuses the document:
//!   leak cannot rewrite it without breaking the formatting;
//! - author attributes (`w:author`, `w:initials`) and ODF author elements
//!   (`dc:creator` in annotations and changes) become a neutral "Author";
//!   revision dates, `w:rsid*` attributes, drawing `descr`/`title` and any
//!   value holding a local path are removed;
//! - elements whose subtree only identifies the author or the machine
//!   (`w:rsids`, `w:attachedTemplate`, `w:docVars`, `w:mailMerge`) and
//!   elements referring to a dropped relationship are skipped whole (a
//!   hyperlink only loses its link, not its text);
//! - comments and processing instructions are dropped; a DOCTYPE refuses
//!   the part (entity definitions have no place in Office XML).
//!
//! Elements are matched by local name: the prefixes `w:`, `a:`, `dc:` are
//! conventions, and matching local names only can over-clean, never miss.

use std::borrow::Cow;
use std::collections::HashSet;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use super::OfficeError;
use crate::identity::Identity;

/// The neutral author written over every comment and revision author.
pub(crate) const NEUTRAL_AUTHOR: &str = "Author";

/// The neutral date written where an ODF element must hold one.
const NEUTRAL_DATE: &str = "1980-01-01T00:00:00";

/// Elements dropped with their content, by local name.
const DROPPED_ELEMENTS: &[&str] = &[
    "rsids",
    "rsid",
    "rsidRoot",
    "attachedTemplate",
    "docVars",
    "mailMerge",
    "odso",
    "recipientData",
];

/// Elements whose text is the author's name (ODF), replaced.
const AUTHOR_ELEMENTS: &[&str] = &[
    "creator",
    "creator-initials",
    "initial-creator",
    "author-name",
    "author-initials",
];

/// Paragraph-like elements: their text is checked as one line.
const PARAGRAPHS: &[&str] = &["p", "h", "si", "is", "comment"];

/// What the pass needs to know about the part.
pub(crate) struct Rules<'a> {
    pub(crate) identity: &'a Identity,
    /// Relationship ids this part's `.rels` lost.
    pub(crate) dropped_rels: &'a HashSet<String>,
}

/// The rewritten part and its visible text.
pub(crate) struct Rewritten {
    pub(crate) xml: Vec<u8>,
    pub(crate) text: String,
}

/// The state of one pass.
struct Pass<'r> {
    rules: &'r Rules<'r>,
    writer: Writer<Vec<u8>>,
    /// Depth inside a skipped subtree (0: not skipping).
    skipping: usize,
    /// Depth inside author / date elements whose text is replaced.
    replaced: usize,
    /// Open paragraphs' text, innermost last.
    paragraphs: Vec<String>,
    text: String,
    /// Character data since the last tag: text, CDATA and references
    /// joined, so `Jean&#32;Dupont` is scrubbed as one string.
    pending: String,
}

/// Rewrites one XML part (see the module doc).
pub(crate) fn rewrite(xml: &[u8], rules: &Rules<'_>) -> Result<Rewritten, OfficeError> {
    let mut reader = Reader::from_reader(xml);
    reader.config_mut().check_end_names = true;
    let mut pass = Pass {
        rules,
        writer: Writer::new(Vec::with_capacity(xml.len())),
        skipping: 0,
        replaced: 0,
        paragraphs: Vec::new(),
        text: String::new(),
        pending: String::new(),
    };
    loop {
        let event = reader.read_event().map_err(|_| OfficeError::Broken)?;
        if matches!(event, Event::Eof) {
            break;
        }
        pass.event(event)?;
    }
    if pass.skipping != 0 || !pass.paragraphs.is_empty() {
        return Err(OfficeError::Broken);
    }
    Ok(Rewritten {
        xml: pass.writer.into_inner(),
        text: pass.text,
    })
}

impl Pass<'_> {
    fn event(&mut self, event: Event<'_>) -> Result<(), OfficeError> {
        if self.skipping > 0 {
            match event {
                Event::Start(_) => self.skipping += 1,
                Event::End(_) => self.skipping -= 1,
                Event::DocType(_) => return Err(OfficeError::Broken),
                _ => {}
            }
            return Ok(());
        }
        if matches!(
            event,
            Event::Start(_) | Event::Empty(_) | Event::End(_) | Event::Decl(_)
        ) {
            self.flush()?;
        }
        match event {
            Event::Start(start) => self.start(start, false),
            Event::Empty(start) => self.start(start, true),
            Event::End(end) => {
                let local = end.local_name();
                let local = local.as_ref();
                if self.replaced > 0 {
                    self.replaced -= 1;
                }
                if PARAGRAPHS.iter().any(|p| p.as_bytes() == local) {
                    self.close_paragraph()?;
                }
                self.write(Event::End(end))
            }
            Event::Text(text) => {
                let raw = text.decode().map_err(|_| OfficeError::Broken)?;
                self.pending.push_str(&raw);
                Ok(())
            }
            Event::CData(data) => {
                let raw = data.decode().map_err(|_| OfficeError::Broken)?;
                self.pending.push_str(&raw);
                Ok(())
            }
            Event::GeneralRef(reference) => {
                let resolved = if reference.is_char_ref() {
                    reference
                        .resolve_char_ref()
                        .ok()
                        .flatten()
                        .map(String::from)
                } else {
                    let name = reference.decode().map_err(|_| OfficeError::Broken)?;
                    resolve_predefined_entity(&name).map(str::to_string)
                };
                let resolved = resolved.ok_or(OfficeError::Broken)?;
                self.pending.push_str(&resolved);
                Ok(())
            }
            Event::Decl(decl) => self.write(Event::Decl(decl)),
            Event::DocType(_) => Err(OfficeError::Broken),
            Event::Comment(_) | Event::PI(_) | Event::Eof => Ok(()),
        }
    }

    fn start(&mut self, start: BytesStart<'_>, empty: bool) -> Result<(), OfficeError> {
        let local = start.local_name().as_ref().to_vec();
        let local = String::from_utf8_lossy(&local).into_owned();
        if DROPPED_ELEMENTS.contains(&local.as_str()) || self.refers_to_dropped(&start, &local)? {
            if !empty {
                self.skipping = 1;
            }
            return Ok(());
        }
        let rebuilt = self.attributes(&start, &local)?;
        if empty {
            return self.write(Event::Empty(rebuilt));
        }
        if PARAGRAPHS.contains(&local.as_str()) {
            self.paragraphs.push(String::new());
        }
        self.write(Event::Start(rebuilt))?;
        if self.replaced > 0 {
            self.replaced += 1;
        } else if AUTHOR_ELEMENTS.contains(&local.as_str()) || local == "date" {
            // The element keeps its shape with a neutral value; its own
            // text is swallowed by `flush`.
            self.replaced = 1;
            self.write(Event::Text(BytesText::new(neutral_value(&local))))?;
        }
        Ok(())
    }

    /// Whether an element points at a relationship that was dropped (a
    /// hyperlink keeps its text: only its link goes, in [`Pass::attributes`]).
    fn refers_to_dropped(&self, start: &BytesStart<'_>, local: &str) -> Result<bool, OfficeError> {
        if local == "hyperlink" || self.rules.dropped_rels.is_empty() {
            return Ok(false);
        }
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|_| OfficeError::Broken)?;
            let value = String::from_utf8_lossy(&attribute.value);
            if self.rules.dropped_rels.contains(value.as_ref()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The element with its attributes cleaned (see the module doc).
    fn attributes(
        &mut self,
        start: &BytesStart<'_>,
        local: &str,
    ) -> Result<BytesStart<'static>, OfficeError> {
        let name = String::from_utf8_lossy(start.name().as_ref()).into_owned();
        let mut rebuilt = BytesStart::new(name);
        for attribute in start.attributes() {
            let attribute = attribute.map_err(|_| OfficeError::Broken)?;
            let key = String::from_utf8_lossy(attribute.key.as_ref()).into_owned();
            let attr_local = key.rsplit(':').next().unwrap_or(&key);
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|_| OfficeError::Broken)?;
            if attr_local.starts_with("rsid") || matches!(attr_local, "date" | "descr" | "title") {
                continue;
            }
            if local == "hyperlink" && self.rules.dropped_rels.contains(value.as_ref()) {
                continue;
            }
            let value: Cow<'_, str> = match attr_local {
                "author" => NEUTRAL_AUTHOR.into(),
                "initials" => "A".into(),
                _ if is_local_path(&value) => "".into(),
                _ => Cow::Owned(self.rules.identity.scrub(&value)),
            };
            rebuilt.push_attribute((key.as_str(), value.as_ref()));
        }
        Ok(rebuilt)
    }

    /// The pending character data: dropped inside author elements,
    /// otherwise scrubbed, collected and written.
    fn flush(&mut self) -> Result<(), OfficeError> {
        let raw = std::mem::take(&mut self.pending);
        if self.replaced > 0 || raw.is_empty() {
            return Ok(());
        }
        let scrubbed = self.rules.identity.scrub(&raw);
        match self.paragraphs.last_mut() {
            Some(paragraph) => paragraph.push_str(&scrubbed),
            None if !scrubbed.trim().is_empty() => {
                self.text.push_str(scrubbed.trim());
                self.text.push('\n');
            }
            None => {}
        }
        self.write(Event::Text(BytesText::new(&scrubbed)))
    }

    /// Ends a paragraph: its joined text must not name the sender.
    fn close_paragraph(&mut self) -> Result<(), OfficeError> {
        let paragraph = self.paragraphs.pop().unwrap_or_default();
        if !self.rules.identity.find(&paragraph).is_empty() {
            return Err(OfficeError::Identity);
        }
        let trimmed = paragraph.trim();
        if !trimmed.is_empty() {
            match self.paragraphs.last_mut() {
                Some(outer) => {
                    outer.push(' ');
                    outer.push_str(trimmed);
                }
                None => {
                    self.text.push_str(trimmed);
                    self.text.push('\n');
                }
            }
        }
        Ok(())
    }

    fn write(&mut self, event: Event<'_>) -> Result<(), OfficeError> {
        self.writer
            .write_event(event)
            .map_err(|_| OfficeError::Broken)
    }
}

/// A value naming a file on the sender's machine or network.
pub(crate) fn is_local_path(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let drive = bytes.len() > 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/');
    drive
        || lower.starts_with("file:")
        || lower.starts_with("\\\\")
        || ["/users/", "/home/", "\\users\\", "/documents and settings"]
            .iter()
            .any(|p| lower.contains(p))
}

/// The neutral value of an author or date element.
fn neutral_value(local: &str) -> &'static str {
    if local == "date" {
        NEUTRAL_DATE
    } else {
        NEUTRAL_AUTHOR
    }
}

//! Scrubbing of `text/html` bodies.
//!
//! A small tokenizer (tags, comments, raw-text elements, text) that
//! re-emits the document from what it understood, so anything it does not
//! keep on purpose is gone:
//! - comments (including Outlook's conditional comments), doctypes and
//!   processing instructions, `<meta>` (generator tags), `<link>`, `<base>`,
//!   namespaced Office tags (`<o:p>`);
//! - scripts, frames, objects and embeds, with their content;
//! - images and any other resource that is not a part of the message
//!   (`cid:`) or an inline `data:` image — tracking pixels included;
//! - every attribute outside a presentation allow-list (so `class`, `id`,
//!   `cite="mid:…"` and other client fingerprints go), `on*` handlers, links
//!   other than `http`, `https` and `mailto`;
//! - signature and quoted-reply attribution blocks marked by the big
//!   clients' class names, attribution lines that a `<blockquote>` follows
//!   (Apple Mail's), and "Sent from my iPhone"-style lines;
//!
//! - forwarded and quoted messages' header blocks (Outlook's "De : …
//!   Envoyé : …", Apple Mail's and Thunderbird's header tables; one that
//!   names its sender without an address is recognised by a first, dry
//!   pass over the text runs, see `quotes::header_block_starts`).
//!
//! Text is entity-decoded, scrubbed of the sender's names and addresses and
//! re-escaped. Scrubbing works on runs of text between block boundaries, so
//! a name split over inline elements (`<b>J</b>ean`) is still found. The
//! same pass produces the plain-text rendering used for moderation.

use crate::css::{scrub_css, scrub_css_strings, scrub_style_sheet};
use crate::entities::{decode, escape_attribute, escape_text};
use crate::html_regions::{resolve_attributions, CLOSE, OPEN};
use crate::html_tokens::{read_end_tag, read_start_tag, split_raw_text, tag_start, StartTag};
use crate::identity::{Identity, MARKUP_BOUNDARY};
use crate::quotes::{header_block_starts, is_attribution, is_separator, label_of, Label};
use crate::resources::Resources;
use crate::text::{collapse_spaces, is_client_line};

/// The scrubbed HTML and its plain-text rendering.
pub(crate) struct HtmlOutput {
    pub(crate) html: String,
    pub(crate) text: String,
}

/// Elements without an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Elements whose content is raw text (not markup) up to their end tag.
const RAW_TEXT: &[&str] = &[
    "script", "style", "title", "textarea", "xmp", "iframe", "noembed", "noframes",
];

/// Elements dropped together with everything inside them.
const DROPPED_WITH_CONTENT: &[&str] = &[
    "script", "iframe", "object", "applet", "embed", "frame", "frameset", "noembed", "noframes",
    "xmp",
];

/// Tags dropped while their content is kept.
/// `bdo` forces a direction: `<bdo dir="rtl">toidi</bdo>` shows a word
/// moderation read backwards, so it goes and its text shows as written.
const DROPPED_TAG_ONLY: &[&str] = &["meta", "link", "base", "noscript", "bdo"];

/// Attributes kept on any element (presentation only).
const ALLOWED_ATTRIBUTES: &[&str] = &[
    "style",
    "align",
    "valign",
    "width",
    "height",
    "border",
    "bgcolor",
    "color",
    "face",
    "size",
    "dir",
    "cellpadding",
    "cellspacing",
    "colspan",
    "rowspan",
    "nowrap",
    "alt",
    "title",
    "start",
    "type",
    "span",
    "summary",
    "scope",
    "abbr",
    "clear",
    "hspace",
    "vspace",
    "frame",
    "rules",
    "noshade",
    "reversed",
    "value",
];

/// Elements after which the text rendering starts a new line.
const BLOCK: &[&str] = &[
    "br",
    "p",
    "div",
    "tr",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "table",
    "pre",
    "hr",
    "ul",
    "ol",
];

/// Class names and ids the big clients use for signatures and attribution
/// lines (Thunderbird, Gmail, Outlook, Apple Mail).
const MARKED_BLOCKS: &[&str] = &[
    "moz-signature",
    "moz-cite-prefix",
    "gmail_signature",
    "gmail_attr",
    "gmail_signature_prefix",
    "signature",
    "divrplyfwdmsg",
    "applemailsignature",
    "ms-outlook-mobile-signature",
];

/// Elements that can be dropped whole when marked as a signature: only
/// those that clients always close, so the end is found reliably.
const MARKABLE: &[&str] = &["div", "pre", "span", "table", "blockquote", "section", "td"];

/// True for a signature or attribution block marked by the big clients'
/// class names or ids.
fn is_marked_block(tag: &StartTag) -> bool {
    let marks = |value: &str| {
        value
            .split_whitespace()
            .any(|word| MARKED_BLOCKS.contains(&word.to_ascii_lowercase().as_str()))
    };
    MARKABLE.contains(&tag.name.as_str())
        && (tag.attribute("class").is_some_and(marks) || tag.attribute("id").is_some_and(marks))
}

/// The state of one scrubbing pass.
struct Scrubber<'a> {
    identity: &'a Identity,
    resources: &'a Resources<'a>,
    /// Signature lines found in the plain-text alternative.
    signature: &'a [String],
    /// How many `<blockquote>` elements are open: quoted text is not the
    /// sender's signature.
    quote_depth: usize,
    html: String,
    text: String,
    /// The element being dropped with its content, and how deep we are in it.
    skipping: Option<(String, usize)>,
    /// The current run of text and inline markup, scrubbed as one text when
    /// a block starts or ends, so a name split over inline elements
    /// (`<b>J</b>ean <i>D</i>upont`, `Du</span><span>pont`) is still found.
    run: Vec<Segment>,
    /// Inside the header block of a forwarded or quoted message, and
    /// whether the last run was a bare label ("Date:") whose value follows.
    header_block: bool,
    after_label: bool,
    /// How many runs were flushed so far, and the runs (by that count)
    /// where a header block without an address starts (found by a first,
    /// dry pass that only records the runs in `recorded`).
    runs_flushed: usize,
    header_starts: Vec<usize>,
    recorded: Option<Vec<String>>,
}

/// A piece of an inline run.
enum Segment {
    /// Decoded text, not yet scrubbed.
    Text(String),
    /// A tag as it will be written.
    Markup(String),
    /// A tag that was dropped: nothing is written, but a name may run
    /// through it like through any tag.
    Boundary,
}

/// Elements that do not break a run of text.
/// `img`, `wbr` and `nobr` among them: `Jean<img …>Dupont`, `Jean
/// <nobr>Dupont</nobr>` are one name on screen.
const INLINE: &[&str] = &[
    "a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
    "font", "i", "img", "ins", "kbd", "label", "mark", "nobr", "q", "rb", "rp", "rt", "ruby", "s",
    "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr",
];

/// Scrubs one HTML document (see the module docs).
///
/// `signature` holds the lines of the sender's signature found in the plain
/// text alternative of the same message: a run of text outside quotes that
/// is one of them goes too (an unmarked signature has no mark in HTML).
pub(crate) fn scrub_html(
    input: &str,
    identity: &Identity,
    resources: &Resources,
    signature: &[String],
) -> HtmlOutput {
    let new = |recorded, header_starts| Scrubber {
        identity,
        resources,
        signature,
        quote_depth: 0,
        html: String::with_capacity(input.len()),
        text: String::new(),
        skipping: None,
        run: Vec::new(),
        header_block: false,
        after_label: false,
        runs_flushed: 0,
        header_starts,
        recorded,
    };
    // The private-use markers of attribution regions cannot come from the
    // input.
    let input = input.replace([OPEN, CLOSE], "");
    // Whether a "From: Jean Dupont" run starts a header block depends on
    // the runs after it: a dry pass records them first.
    let mut dry = new(Some(Vec::new()), Vec::new());
    dry.run(&input);
    dry.flush();
    let runs = dry.recorded.take().unwrap_or_default();
    drop(dry);
    let mut scrubber = new(None, header_block_starts(&runs));
    scrubber.run(&input);
    scrubber.flush();
    let (html, text) = resolve_attributions(&scrubber.html, &scrubber.text);
    HtmlOutput {
        html,
        text: tidy_text(&text),
    }
}

/// Inserts leak's notice before `</body>` (or at the end).
pub(crate) fn append_notice(html: &str, notice: &str) -> String {
    let paragraphs: Vec<String> = notice
        .lines()
        .map(|line| escape_text(line.trim()))
        .collect();
    let footer = format!(
        "<hr><p style=\"font-size:small;color:#666666\">{}</p>",
        paragraphs.join("<br>")
    );
    match html.rfind("</body>") {
        Some(pos) => format!("{}{footer}{}", &html[..pos], &html[pos..]),
        None => format!("{html}{footer}"),
    }
}

impl Scrubber<'_> {
    fn run(&mut self, input: &str) {
        let mut rest = input;
        while !rest.is_empty() {
            rest = if let Some(after) = rest.strip_prefix("<!--") {
                after.find("-->").map_or("", |end| &after[end + 3..])
            } else if rest.starts_with("<!") || rest.starts_with("<?") {
                rest.find('>').map_or("", |end| &rest[end + 1..])
            } else if let Some(after) = tag_start(rest, "</") {
                let (name, consumed) = read_end_tag(after);
                self.end_tag(&name);
                &after[consumed..]
            } else if let Some(after) = tag_start(rest, "<") {
                let (tag, consumed) = read_start_tag(after);
                let after = &after[consumed..];
                self.start_tag(tag, after)
            } else {
                // A `<` that opens no tag is text; skip it (one byte) first.
                let skip = usize::from(rest.starts_with('<'));
                let end = rest[skip..].find('<').map_or(rest.len(), |i| i + skip);
                self.text_node(&rest[..end]);
                &rest[end..]
            };
        }
    }

    fn start_tag<'s>(&mut self, tag: StartTag, after: &'s str) -> &'s str {
        let name = tag.name.clone();
        let (raw_content, after) = if RAW_TEXT.contains(&name.as_str()) {
            split_raw_text(after, &name)
        } else {
            ("", after)
        };
        let is_void = VOID.contains(&name.as_str());
        if let Some((skipped, depth)) = &mut self.skipping {
            if *skipped == name && !is_void && raw_content.is_empty() {
                *depth += 1;
            }
            return after;
        }
        if DROPPED_WITH_CONTENT.contains(&name.as_str()) || is_marked_block(&tag) {
            self.flush();
            if !is_void && !RAW_TEXT.contains(&name.as_str()) {
                self.skipping = Some((name, 1));
            }
            return after;
        }
        if DROPPED_TAG_ONLY.contains(&name.as_str()) || name.contains(':') {
            // `<o:p>`, `<v:shape>`: only Office writes those
            self.run.push(Segment::Boundary);
            return after;
        }
        let Some(attributes) = self.attributes(&tag) else {
            // An image that is not part of the message.
            self.run.push(Segment::Boundary);
            return after;
        };
        self.moderate_attributes(&tag);
        self.markup(&name, format!("<{name}{attributes}>"));
        if name == "blockquote" {
            self.quote_depth += 1;
        }
        if BLOCK.contains(&name.as_str()) {
            self.text.push('\n');
        }
        if RAW_TEXT.contains(&name.as_str()) {
            self.raw_content(&name, raw_content);
        }
        after
    }

    /// Attribute text the recipient can read (tooltips, alternative text,
    /// form values) and CSS strings go to moderation with the body text.
    fn moderate_attributes(&mut self, tag: &StartTag) {
        for (name, value) in &tag.attributes {
            match name.as_str() {
                "alt" | "title" | "summary" | "value" | "abbr" | "face" => {
                    self.text.push_str(&self.identity.scrub(value));
                    self.text.push('\n');
                }
                "style" => self.moderate_css(&self.css(value)),
                _ => {}
            }
        }
    }

    fn moderate_css(&mut self, css: &str) {
        for text in crate::css::quoted_strings(css) {
            self.text.push_str(&self.identity.scrub(&text));
            self.text.push('\n');
        }
    }

    /// Emits the content of a kept raw-text element and its end tag.
    fn raw_content(&mut self, name: &str, content: &str) {
        if name == "style" {
            let css = scrub_css_strings(&scrub_style_sheet(content, self.resources), |text| {
                self.identity.scrub(text)
            });
            self.moderate_css(&css);
            self.html.push_str(&css);
        } else {
            let text = self.identity.scrub(&decode(content));
            self.html.push_str(&escape_text(&text));
            // `<title>`, `<textarea>`: shown to the recipient, so moderated.
            self.text.push_str(&text);
            self.text.push('\n');
        }
        self.html.push_str("</");
        self.html.push_str(name);
        self.html.push('>');
    }

    fn end_tag(&mut self, name: &str) {
        if let Some((skipped, depth)) = &mut self.skipping {
            if skipped == name {
                *depth -= 1;
                if *depth == 0 {
                    self.skipping = None;
                }
            }
            return;
        }
        let dropped = DROPPED_TAG_ONLY.contains(&name)
            || name.contains(':')
            || DROPPED_WITH_CONTENT.contains(&name)
            || VOID.contains(&name);
        let tag_only = DROPPED_TAG_ONLY.contains(&name) || name.contains(':');
        if !dropped && !name.is_empty() {
            self.markup(name, format!("</{name}>"));
        } else if INLINE.contains(&name) || tag_only {
            // `Jean<o:p></o:p> Dupont` stays one run.
            self.run.push(Segment::Boundary);
        } else {
            self.flush();
        }
        if name == "blockquote" {
            self.quote_depth = self.quote_depth.saturating_sub(1);
        }
        if BLOCK.contains(&name) {
            self.text.push('\n');
        }
    }

    fn text_node(&mut self, raw: &str) {
        if self.skipping.is_some() {
            return;
        }
        self.run.push(Segment::Text(decode(raw)));
    }

    /// Writes a tag: inside the current run when the element is inline,
    /// after scrubbing the run otherwise.
    fn markup(&mut self, name: &str, tag: String) {
        if INLINE.contains(&name) {
            self.run.push(Segment::Markup(tag));
        } else {
            self.flush();
            self.html.push_str(&tag);
        }
    }

    /// True for the runs of a forwarded or quoted message's header block
    /// (Outlook's "De : … Envoyé : …" lines, Apple Mail's and Thunderbird's
    /// header tables): it starts at a separator ("-------- Forwarded Message
    /// --------", "Begin forwarded message:", a rule) or at a sender line
    /// with an address, and lasts while runs are labelled lines, bare labels
    /// or the values after them.
    fn is_quote_header(&mut self, joined: &str, index: usize) -> bool {
        let text = joined.trim();
        if text.is_empty() {
            return false;
        }
        let label = label_of(text);
        let bare_label = label.is_some()
            && text
                .split_once(':')
                .is_some_and(|(_, v)| v.trim().is_empty());
        let value = std::mem::take(&mut self.after_label);
        let starts = is_separator(text)
            || (label == Some(Label::From)
                && (text.contains('@')
                    || self.header_block
                    || self.header_starts.contains(&index)));
        if starts || (self.header_block && (label.is_some() || value)) {
            self.header_block = true;
            self.after_label = bare_label;
            return true;
        }
        self.header_block = false;
        false
    }

    /// Scrubs the current run as one text and writes it: a name found
    /// across several text nodes is replaced in the first and removed from
    /// the others; a run that is a client tagline or a reply attribution
    /// loses its text (its tags stay, balanced).
    fn flush(&mut self) {
        let run = std::mem::take(&mut self.run);
        let joined: String = run
            .iter()
            .filter_map(|segment| match segment {
                Segment::Text(text) => Some(text.as_str()),
                Segment::Markup(_) | Segment::Boundary => None,
            })
            .collect();
        // What identity matching reads: the text with a boundary mark
        // where each tag was (see `MARKUP_BOUNDARY`).
        let marked: String = run
            .iter()
            .map(|segment| match segment {
                Segment::Text(text) => text.as_str(),
                Segment::Markup(_) | Segment::Boundary => MARKUP_BOUNDARY,
            })
            .collect();
        let index = self.runs_flushed;
        self.runs_flushed += 1;
        if let Some(recorded) = &mut self.recorded {
            recorded.push(joined);
            return;
        }
        let is_signature = self.quote_depth == 0
            && !self.signature.is_empty()
            && self.signature.contains(&collapse_spaces(&joined));
        let dropped =
            is_client_line(&joined) || self.is_quote_header(&joined, index) || is_signature;
        let attribution = !dropped && is_attribution(&joined);
        if attribution {
            self.html.push(OPEN);
            self.text.push(OPEN);
        }
        let found = if dropped {
            Vec::new()
        } else {
            self.identity.find(&marked)
        };
        let mut offset = 0;
        let mut next = 0;
        for segment in run {
            let text = match segment {
                Segment::Markup(tag) => {
                    self.html.push_str(&tag);
                    offset += 1;
                    continue;
                }
                Segment::Boundary => {
                    offset += 1;
                    continue;
                }
                Segment::Text(_) if dropped => continue,
                Segment::Text(text) => text,
            };
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                while found.get(next).is_some_and(|f| f.end <= offset) {
                    next += 1;
                }
                match found.get(next) {
                    Some(f) if offset == f.start => {
                        out.push_str(self.identity.replacement_for(f));
                    }
                    Some(f) if offset > f.start => {}
                    _ => out.push(c),
                }
                offset += 1;
            }
            self.html.push_str(&escape_text(&out));
            self.text.push_str(&out);
        }
        if attribution {
            self.html.push(CLOSE);
            self.text.push(CLOSE);
        }
    }

    /// The kept attributes, rendered (` name="value"`…), or `None` when the
    /// element itself must go (an `<img>` whose source is not in the message).
    fn attributes(&self, tag: &StartTag) -> Option<String> {
        let mut out = String::new();
        if tag.name == "img" {
            let source = tag
                .attribute("src")
                .and_then(|s| self.resources.rewrite(s))?;
            push_attribute(&mut out, "src", &source);
        }
        for (name, value) in &tag.attributes {
            let kept = match name.as_str() {
                "href" if tag.name == "a" || tag.name == "area" => self.link(value),
                "background" => self.resources.rewrite(value),
                "style" => Some(self.css(value)),
                // Free text a client can show (and CSS `attr()` could have).
                "alt" | "title" | "summary" | "value" | "abbr" | "face" => {
                    Some(self.identity.scrub(value))
                }
                other if ALLOWED_ATTRIBUTES.contains(&other) => Some(value.clone()),
                _ => None,
            };
            if let Some(kept) = kept {
                push_attribute(&mut out, name, &kept);
            }
        }
        Some(out)
    }

    /// A `style` attribute: scrubbed, and its strings without the sender's
    /// names (`content: "Jean Dupont"` would show them).
    fn css(&self, value: &str) -> String {
        scrub_css_strings(&scrub_css(value, self.resources), |text| {
            self.identity.scrub(text)
        })
    }

    /// A link target the recipient may follow by choice (nothing loads it
    /// automatically); `mailto:` addresses are scrubbed.
    fn link(&self, value: &str) -> Option<String> {
        let trimmed = value.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("cid:") {
            self.resources.rewrite(trimmed)
        } else if ["http://", "https://", "mailto:", "#"]
            .iter()
            .any(|scheme| lower.starts_with(scheme))
        {
            Some(self.identity.scrub(trimmed))
        } else {
            None
        }
    }
}

fn push_attribute(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    out.push_str(&escape_attribute(value));
    out.push('"');
}

/// Collapses the whitespace of the text rendering, one line per block.
fn tidy_text(text: &str) -> String {
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let mut out = String::new();
    let mut blank = true;
    for line in lines {
        if line.is_empty() {
            if !blank {
                out.push('\n');
            }
            blank = true;
        } else {
            out.push_str(&line);
            out.push('\n');
            blank = false;
        }
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn scrub(html: &str) -> HtmlOutput {
        let mut identity =
            crate::identity::tests::identity_of(&[("Jean Dupont", "jean@corp.example")], "", &[]);
        identity.replace_with("friend@anon.example", "Un ami");
        let cids = HashMap::from([("logo@corp".to_string(), "n1@anon.example".to_string())]);
        scrub_html(html, &identity, &Resources::new(&cids), &[])
    }

    #[test]
    fn tracking_pixels_and_remote_resources_go() {
        let out = scrub(
            "<p>Hi<img src=\"https://t.example/o.gif\" width=1 height=1>\
             <IMG SRC='cid:logo@corp' alt='Logo of Jean Dupont'>\
             <img src=cid:unknown@corp>\
             <video poster=\"https://t.example/p.jpg\" src=\"https://t.example/v\"></video>\
             <table background=\"https://t.example/bg.png\"><tr><td>x</td></tr></table></p>",
        );
        assert_eq!(
            out.html,
            "<p>Hi<img src=\"cid:n1@anon.example\" alt=\"Logo of Un ami\">\
             <video></video><table><tr><td>x</td></tr></table></p>"
        );
    }

    #[test]
    fn comments_meta_scripts_and_fingerprints_go() {
        let out = scrub(
            "<!DOCTYPE html><html><head><meta name=generator content=\"Word\">\
             <link rel=stylesheet href=https://t.example/s.css><title>For Jean Dupont</title></head>\
             <body class=\"Apple\" onload=\"track()\"><!-- by Jean's Mac -->\
             <script type=text/javascript>if (a < b) track()</script>\
             <a href=\"javascript:x()\">j</a><a href=\"mailto:jean@corp.example\">mail</a>\
             <o:p></o:p><blockquote cite=\"mid:123@corp.example\" type=cite>q</blockquote></body></html>",
        );
        assert_eq!(
            out.html,
            "<html><head><title>For Un ami</title></head><body>\
             <a>j</a><a href=\"mailto:friend@anon.example\">mail</a>\
             <blockquote type=\"cite\">q</blockquote></body></html>"
        );
    }

    #[test]
    fn text_shown_through_css_or_attributes_is_scrubbed_and_moderated() {
        // Red-team cases: attr() would show an attribute moderation never
        // read, CSS strings and kept attributes carried the sender's name.
        let out = scrub(
            "<html><head><style>span::after{content:attr(face)} p::before{content:\"Jean Dupont\"}\
             b{unicode-bidi:bidi-override;direction:rtl}</style></head><body>\
             <p>Hi.<span face=\"You are a stupid idiot\"></span></p>\
             <font face='Jean Dupont'>x</font><input value=\"jean@corp.example\">\
             <td headers=\"Jean Dupont\">c</td>\
             <p style=\"--n:'Jean Dupont'\">y</p></body></html>",
        );
        assert!(!out.html.to_lowercase().contains("dupont"), "{}", out.html);
        assert!(!out.html.contains("jean@corp"), "{}", out.html);
        assert!(
            !out.html.contains(":attr(") && !out.html.contains(";unicode-bidi"),
            "{}",
            out.html
        );
        assert!(out.html.contains("-leak-attr(face)"), "{}", out.html);
        assert!(out.html.contains("content:\"Un ami\""), "{}", out.html);
        assert!(out.html.contains("--n:'Un ami'"), "{}", out.html);
        assert!(!out.html.contains("headers="), "{}", out.html);
        // What a client could show went to moderation.
        assert!(out.text.contains("You are a stupid idiot"), "{}", out.text);
    }

    #[test]
    fn bdo_cannot_reverse_what_moderation_read() {
        let out = scrub("<p>You are an <bdo dir=\"rtl\">toidi</bdo>.</p>");
        assert_eq!(out.html, "<p>You are an toidi.</p>");
        let safe = crate::mime::wire_safe_text("You are an \u{202E}toidi\u{202C}.");
        assert_eq!(safe, "You are an toidi\u{202C}.");
    }

    #[test]
    fn entities_cannot_hide_names_and_text_is_rendered() {
        let out = scrub("<div>Bonjour,</div><div>J&#101;an&nbsp;D&Uacute;pont &lt;3</div><p>Sent from my iPhone</p>");
        assert_eq!(
            out.html,
            "<div>Bonjour,</div><div>Un ami &lt;3</div><p></p>"
        );
        assert_eq!(out.text, "Bonjour,\n\nUn ami <3");
    }

    #[test]
    fn signature_and_attribution_blocks_go_with_their_content() {
        let out = scrub(
            "<p>Text</p><div class=\"gmail_signature\"><div>Jean</div><div>Corp</div></div>\
             <div id=Signature><p>Corp</p></div><p>after</p>\
             <div>On Mon, 23 Nov 2026 at 14:02, Bob wrote:</div>",
        );
        assert_eq!(
            out.html,
            "<p>Text</p><p>after</p><div>On Mon, 23 Nov 2026 at 14:02, Bob wrote:</div>"
        );
    }

    #[test]
    fn names_split_over_inline_elements_are_found() {
        let out = scrub("<p>Signé <b>J</b>ean <i>D</i>upont.</p><p>De <span>Jean Du</span><span>pont</span></p><div>Jean</div>");
        assert_eq!(
            out.html,
            "<p>Signé <b>Un ami</b><i></i>.</p><p>De <span>Un ami</span><span></span></p><div>Un ami</div>"
        );
        let out = scrub("<p>Prends <b>contact</b> avec <i>Jean</i> Martin</p>");
        assert_eq!(
            out.html,
            "<p>Prends <b>contact</b> avec <i>Jean</i> Martin</p>"
        );
    }

    #[test]
    fn names_through_dropped_or_void_inline_tags_go_whole() {
        // Red-team finding: `Jean <nobr>Dupont</nobr>` became "Jean Un ami".
        for (input, expected) in [
            (
                "<p>A Jean <nobr>Dupont</nobr>.</p>",
                "<p>A Un ami<nobr></nobr>.</p>",
            ),
            ("<p>A Jean<o:p></o:p> Dupont.</p>", "<p>A Un ami.</p>"),
            (
                "<p>A Jean<img src=\"https://t.example/p.gif\">Dupont.</p>",
                "<p>A Un ami.</p>",
            ),
            (
                "<p>A Jean<img src=\"cid:logo@corp\">Dupont.</p>",
                "<p>A Un ami<img src=\"cid:n1@anon.example\">.</p>",
            ),
            ("<p>A Jean<wbr>Dupont.</p>", "<p>A Un ami<wbr>.</p>"),
            ("<p>A Je&shy;an Du&#8203;pont.</p>", "<p>A Un ami.</p>"),
        ] {
            assert_eq!(scrub(input).html, expected, "{input}");
        }
        // Other words stay, tags and all.
        let kept = "<p>Jean<wbr>ette et <nobr>Martin</nobr> Dupré.</p>";
        assert_eq!(scrub(kept).html, kept);
    }

    #[test]
    fn outlook_reply_headers_without_an_address_go() {
        let out = scrub(
            "<p>Oui.</p><div style=\"border:none;border-top:solid #E1E1E1 1.0pt\">\
             <p><b>From:</b> Bob Martin<br><b>Sent:</b> Monday, November 23, 2026 2:02 PM<br>\
             <b>To:</b> Jean Dupont<br><b>Subject:</b> Plan</p></div><p>Le plan ?</p>",
        );
        assert_eq!(out.text, "Oui.\n\nLe plan ?");
        let kept = scrub("<p>From: the garden</p><p>Sent: by post</p><p>We grew tomatoes.</p>");
        assert_eq!(
            kept.text,
            "From: the garden\n\nSent: by post\n\nWe grew tomatoes."
        );
    }

    #[test]
    fn url_encoded_addresses_in_links_are_replaced() {
        let out = scrub("<a href=\"mailto:jean%40corp.example?subject=x\">écrire</a>");
        assert_eq!(
            out.html,
            "<a href=\"mailto:friend@anon.example?subject=x\">écrire</a>"
        );
    }

    #[test]
    fn forwarded_header_blocks_go() {
        let outlook = scrub("<p>Voir ci-dessous.</p><div><p><b>De&nbsp;:</b> Bob &lt;bob@x.example&gt;<br><b>Envoyé&nbsp;:</b> lundi 23 novembre 2026 14:02:05<br><b>À&nbsp;:</b> Jean<br><b>Objet&nbsp;:</b> Plan</p></div><p>Le plan.</p>");
        assert_eq!(outlook.text, "Voir ci-dessous.\n\nLe plan.");
        let thunderbird = scrub("<p>Tiens</p><div>-------- Forwarded Message --------<table><tr><th>Subject: </th><td>Plan</td></tr><tr><th>Date: </th><td>Mon, 23 Nov 2026 14:02:05 +0530</td></tr><tr><th>From: </th><td>Bob &lt;bob@x.example&gt;</td></tr></table><br><p>Le plan.</p></div>");
        assert_eq!(thunderbird.text, "Tiens\n\nLe plan.");
        let apple = scrub("<div>Begin forwarded message:</div><br><div><b>From: </b>Bob &lt;bob@x.example&gt;</div><div><b>Date: </b>23 November 2026 at 14:02:05 GMT+5:30</div><br><div>Le plan.</div>");
        assert_eq!(apple.text, "Le plan.");
        let kept = scrub("<p>De : ma part, merci.</p><p>Date : demain.</p>");
        assert_eq!(kept.text, "De : ma part, merci.\n\nDate : demain.");
    }

    #[test]
    fn attributions_go_only_before_a_quote() {
        let apple = scrub("<div>Oui.<br><blockquote type=\"cite\">On 23 Nov 2026, at 14:02, Bob &lt;bob@x.example&gt; wrote:<br><br></blockquote></div><blockquote type=\"cite\"><div>Question ?</div></blockquote>");
        assert_eq!(
            apple.html,
            "<div>Oui.<br><blockquote type=\"cite\"><br><br></blockquote></div><blockquote type=\"cite\"><div>Question ?</div></blockquote>"
        );
        assert_eq!(apple.text, "Oui.\n\nQuestion ?");
        let prose = scrub("<p>Le 3 mai, le président a écrit :</p><p>nous viendrons.</p>");
        assert_eq!(
            prose.html,
            "<p>Le 3 mai, le président a écrit :</p><p>nous viendrons.</p>"
        );
        let forged = scrub("<p>a\u{E000}b</p><blockquote>c\u{E001}</blockquote>");
        assert_eq!(forged.html, "<p>ab</p><blockquote>c</blockquote>");
    }

    #[test]
    fn signature_lines_of_the_text_alternative_go_outside_quotes() {
        let mut identity = crate::identity::tests::identity_of(&[], "", &[]);
        identity.replace_with("friend@anon.example", "Un ami");
        let cids = HashMap::new();
        let signature = [
            "Canary Holdings".to_string(),
            "Tel. +33 1 23 45 67 89".to_string(),
        ];
        let out = scrub_html(
            "<p>Voici.</p><p>Canary&nbsp;Holdings</p><p>Tel. +33 1 23 45 67 89</p><blockquote><p>Canary Holdings</p></blockquote>",
            &identity,
            &Resources::new(&cids),
            &signature,
        );
        assert_eq!(
            out.html,
            "<p>Voici.</p><p></p><p></p><blockquote><p>Canary Holdings</p></blockquote>"
        );
    }

    #[test]
    fn taglines_split_over_runs_go() {
        let out = scrub("<p>Oui</p><div>Von meinem <b>iPhone</b> gesendet</div>");
        assert_eq!(out.html, "<p>Oui</p><div><b></b></div>");
    }

    #[test]
    fn stray_brackets_and_non_ascii_text() {
        let out = scrub("été < 3 <> <é> 1<2 </ x>");
        assert_eq!(out.html, "été &lt; 3 &lt;&gt; &lt;é&gt; 1&lt;2 &lt;/ x&gt;");
    }

    /// Every `url(` in CSS written by the scrubber points inside the message.
    fn css_is_inert(css: &str) -> bool {
        css.to_ascii_lowercase()
            .match_indices("url(")
            .all(|(i, _)| css[i + 4..].starts_with("\"cid:") || css[i + 4..].starts_with("\"data:"))
    }

    /// Re-reads the scrubber's output: no comment, no script, no attribute
    /// outside the allow-list, no resource outside the message.
    fn assert_inert(html: &str) {
        let mut rest = html;
        while let Some(pos) = rest.find('<') {
            rest = &rest[pos..];
            assert!(!rest.starts_with("<!"), "{html}");
            if let Some(after) = tag_start(rest, "<") {
                let (tag, consumed) = read_start_tag(after);
                assert!(!DROPPED_WITH_CONTENT.contains(&tag.name.as_str()), "{html}");
                assert!(!DROPPED_TAG_ONLY.contains(&tag.name.as_str()), "{html}");
                for (name, value) in &tag.attributes {
                    match name.as_str() {
                        "src" | "background" => assert!(
                            value.starts_with("cid:") || value.starts_with("data:image/"),
                            "{html}"
                        ),
                        "href" => assert!(["http://", "https://", "mailto:", "#", "cid:"]
                            .iter()
                            .any(|p| value.to_ascii_lowercase().starts_with(p))),
                        "style" => assert!(css_is_inert(value), "{html}"),
                        other => assert!(ALLOWED_ATTRIBUTES.contains(&other), "{other} in {html}"),
                    }
                }
                rest = &after[consumed..];
                if tag.name == "style" {
                    let (css, after) = split_raw_text(rest, "style");
                    assert!(css_is_inert(css), "{html}");
                    rest = after;
                }
            } else {
                rest = &rest[1..];
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_input_yields_inert_html(input in "(<|>|/|=|\"|'|!|-| |<img |<a |<td |<style>|</style>| src=| href=| style=| background=| onload=|url\\(|\\\\|https://x|//x|cid:logo@corp|data:image/png;base64,|&#?[a-z0-9]{0,4};?|\\PC){0,60}") {
            assert_inert(&scrub(&input).html);
        }
    }

    #[test]
    fn notice_goes_before_body_end() {
        let html = append_notice("<html><body><p>x</p></body></html>", "A & B\nC");
        assert_eq!(
            html,
            "<html><body><p>x</p><hr><p style=\"font-size:small;color:#666666\">A &amp; B<br>C</p></body></html>"
        );
    }
}

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
//!   clients' class names, and "Sent from my iPhone"-style lines.
//!
//! Text is entity-decoded, scrubbed of the sender's names and addresses and
//! re-escaped. The same pass produces the plain-text rendering used for
//! moderation.

use crate::css::{scrub_css, scrub_style_sheet};
use crate::entities::{decode, escape_attribute, escape_text};
use crate::identity::Identity;
use crate::resources::Resources;
use crate::text::{is_attribution, is_client_line};

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
const DROPPED_TAG_ONLY: &[&str] = &["meta", "link", "base", "noscript"];

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
    "headers",
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

/// One start tag as read from the source.
struct StartTag {
    name: String,
    attributes: Vec<(String, String)>,
}

impl StartTag {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn is_marked_block(&self) -> bool {
        let marks = |value: &str| {
            value
                .split_whitespace()
                .any(|word| MARKED_BLOCKS.contains(&word.to_ascii_lowercase().as_str()))
        };
        MARKABLE.contains(&self.name.as_str())
            && (self.attribute("class").is_some_and(marks)
                || self.attribute("id").is_some_and(marks))
    }
}

/// The state of one scrubbing pass.
struct Scrubber<'a> {
    identity: &'a Identity,
    resources: &'a Resources<'a>,
    html: String,
    text: String,
    /// The element being dropped with its content, and how deep we are in it.
    skipping: Option<(String, usize)>,
}

/// Scrubs one HTML document (see the module docs).
pub(crate) fn scrub_html(input: &str, identity: &Identity, resources: &Resources) -> HtmlOutput {
    let mut scrubber = Scrubber {
        identity,
        resources,
        html: String::with_capacity(input.len()),
        text: String::new(),
        skipping: None,
    };
    scrubber.run(input);
    HtmlOutput {
        html: scrubber.html,
        text: tidy_text(&scrubber.text),
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
        if DROPPED_WITH_CONTENT.contains(&name.as_str()) || tag.is_marked_block() {
            if !is_void && !RAW_TEXT.contains(&name.as_str()) {
                self.skipping = Some((name, 1));
            }
            return after;
        }
        if DROPPED_TAG_ONLY.contains(&name.as_str()) || name.contains(':') {
            return after; // `<o:p>`, `<v:shape>`: only Office writes those
        }
        let Some(attributes) = self.attributes(&tag) else {
            return after; // an image that is not part of the message
        };
        self.moderate_attributes(&tag);
        self.html.push('<');
        self.html.push_str(&name);
        self.html.push_str(&attributes);
        self.html.push('>');
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
                "alt" | "title" | "summary" | "value" | "abbr" => {
                    self.text.push_str(&self.identity.scrub(value));
                    self.text.push('\n');
                }
                "style" => self.moderate_css(&scrub_css(value, self.resources)),
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
            let css = scrub_style_sheet(content, self.resources);
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
        if !dropped && !name.is_empty() {
            self.html.push_str("</");
            self.html.push_str(name);
            self.html.push('>');
        }
        if BLOCK.contains(&name) {
            self.text.push('\n');
        }
    }

    fn text_node(&mut self, raw: &str) {
        if self.skipping.is_some() {
            return;
        }
        let text = decode(raw);
        if is_client_line(&text) || is_attribution(&text) {
            return;
        }
        let text = self.identity.scrub(&text);
        self.html.push_str(&escape_text(&text));
        self.text.push_str(&text);
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
                "style" => Some(scrub_css(value, self.resources)),
                "alt" | "title" | "summary" => Some(self.identity.scrub(value)),
                other if ALLOWED_ATTRIBUTES.contains(&other) => Some(value.clone()),
                _ => None,
            };
            if let Some(kept) = kept {
                push_attribute(&mut out, name, &kept);
            }
        }
        Some(out)
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

/// When `rest` starts with `prefix` followed by a letter (a real tag, not a
/// stray `<` in text), the text after `prefix`.
fn tag_start<'s>(rest: &'s str, prefix: &str) -> Option<&'s str> {
    let after = rest.strip_prefix(prefix)?;
    after
        .chars()
        .next()
        .filter(char::is_ascii_alphabetic)
        .map(|_| after)
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '_' | '.')
}

/// Reads an end tag's name and skips to its `>`.
fn read_end_tag(after: &str) -> (String, usize) {
    let name_len = after
        .find(|c: char| !is_name_char(c))
        .unwrap_or(after.len());
    let name = after[..name_len].to_ascii_lowercase();
    let consumed = after[name_len..]
        .find('>')
        .map_or(after.len(), |i| name_len + i + 1);
    (name, consumed)
}

/// Reads a start tag (name and attributes, values entity-decoded) up to and
/// including its `>`, honouring quoted values.
fn read_start_tag(after: &str) -> (StartTag, usize) {
    let name_len = after
        .find(|c: char| !is_name_char(c))
        .unwrap_or(after.len());
    let mut tag = StartTag {
        name: after[..name_len].to_ascii_lowercase(),
        attributes: Vec::new(),
    };
    let bytes = after.as_bytes();
    let mut i = name_len;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (tag, bytes.len());
        }
        if bytes[i] == b'>' {
            return (tag, i + 1);
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = after[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            let (raw, next) = read_attribute_value(after, i);
            value = decode(raw);
            i = next;
        }
        if !name.is_empty() {
            tag.attributes.push((name, value));
        }
    }
}

/// Reads a quoted or unquoted attribute value starting at byte `i`.
fn read_attribute_value(after: &str, i: usize) -> (&str, usize) {
    let bytes = after.as_bytes();
    match bytes.get(i) {
        Some(&quote) if quote == b'"' || quote == b'\'' => {
            let start = i + 1;
            match after[start..].find(quote as char) {
                Some(len) => (&after[start..start + len], start + len + 1),
                None => (&after[start..], after.len()),
            }
        }
        _ => {
            let end = after[i..]
                .find(|c: char| c.is_ascii_whitespace() || c == '>')
                .map_or(after.len(), |len| i + len);
            (&after[i..end], end)
        }
    }
}

/// Splits raw-text content at its end tag (`</style>`), case-insensitively.
fn split_raw_text<'s>(after: &'s str, name: &str) -> (&'s str, &'s str) {
    let closing = format!("</{name}");
    let position = after
        .as_bytes()
        .windows(closing.len())
        .position(|w| w.eq_ignore_ascii_case(closing.as_bytes()));
    match position {
        Some(start) => {
            let end = after[start..]
                .find('>')
                .map_or(after.len(), |i| start + i + 1);
            (&after[..start], &after[end..])
        }
        None => (after, ""),
    }
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
        let mut identity = Identity::new(
            &[("Jean Dupont".into(), "jean@corp.example".into())],
            "",
            "",
            &[],
            "anon.example",
        );
        identity.replace_with("friend@anon.example", "Un ami");
        let cids = HashMap::from([("logo@corp".to_string(), "n1@anon.example".to_string())]);
        scrub_html(html, &identity, &Resources::new(&cids))
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
             <link rel=stylesheet href=https://t.example/s.css><title>For Jean</title></head>\
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
        assert_eq!(out.html, "<p>Text</p><p>after</p><div></div>");
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

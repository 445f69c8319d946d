//! The text moderation reads: every part the recipient can read, trimmed,
//! separated by blank lines, in the order of the message.
//!
//! A large text attachment is moved in, not copied: while its encoded
//! part is being made, the text exists once (docs/performance.md, "Large
//! attachments"). [`ModerationText::finish`] then builds the text around
//! the largest such part, in its own buffer.

/// Parts of at least this many bytes are moved in rather than copied.
const LARGE: usize = 1 << 20;

/// The moderation text being collected.
#[derive(Debug, Default)]
pub(crate) struct ModerationText {
    /// The small parts, in order.
    small: String,
    /// The large parts, each with the length `small` had when it came.
    large: Vec<(usize, String)>,
}

impl ModerationText {
    /// Adds a copy of `text`, trimmed, unless it is blank.
    pub(crate) fn push(&mut self, text: &str) {
        let text = text.trim();
        if !text.is_empty() {
            self.small.push_str(text);
            self.small.push_str("\n\n");
        }
    }

    /// Adds `text`, trimmed, unless it is blank: moved in when large.
    pub(crate) fn push_owned(&mut self, text: String) {
        if text.len() < LARGE {
            return self.push(&text);
        }
        let mut text = trimmed(text);
        if !text.is_empty() {
            text.push_str("\n\n");
            self.large.push((self.small.len(), text));
        }
    }

    /// The whole text, trimmed. With large parts, the largest one's buffer
    /// is grown to hold the rest (the others are copied into it).
    pub(crate) fn finish(self) -> String {
        let ModerationText { small, mut large } = self;
        let Some(biggest) = (0..large.len()).max_by_key(|&i| large[i].1.len()) else {
            return trimmed(small);
        };
        let mut out = std::mem::take(&mut large[biggest].1);
        let (mut before, mut after) = (String::new(), String::new());
        let mut from = 0;
        for (index, (position, text)) in large.iter().enumerate() {
            // What came before this part, then the part (the biggest one's
            // text was taken: it is `out`).
            let side = if index <= biggest {
                &mut before
            } else {
                &mut after
            };
            side.push_str(&small[from..*position]);
            side.push_str(text);
            from = *position;
        }
        after.push_str(&small[from..]);
        out.reserve_exact(before.len() + after.len());
        out.insert_str(0, &before);
        out.push_str(&after);
        trimmed(out)
    }
}

/// `text` without its leading and trailing whitespace, in its own buffer.
pub(crate) fn trimmed(mut text: String) -> String {
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    text.drain(..start);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small and large parts in any order give the text a plain
    /// concatenation gives.
    #[test]
    fn finish_is_the_parts_in_order() {
        let large = |c: char| format!("  {}\n", c.to_string().repeat(LARGE + 3));
        let cases: Vec<Vec<String>> = vec![
            vec![],
            vec!["  a ".into(), "".into(), "b".into()],
            vec!["a".into(), large('x'), "b".into()],
            vec![large('x')],
            vec![large('x'), "tail".into()],
            vec!["head".into(), large('x')],
            vec![
                "a".into(),
                large('x'),
                "b".into(),
                large('y') + "yy",
                "c".into(),
                large('z'),
            ],
            vec![large('x'), large('y'), "  ".into(), large('z') + "zz"],
        ];
        for parts in cases {
            let mut text = ModerationText::default();
            let mut expected = String::new();
            for part in &parts {
                let trimmed_part = part.trim();
                if !trimmed_part.is_empty() {
                    expected.push_str(trimmed_part);
                    expected.push_str("\n\n");
                }
                text.push_owned(part.clone());
            }
            let summary: Vec<usize> = parts.iter().map(String::len).collect();
            assert_eq!(text.finish(), expected.trim(), "{summary:?}");
        }
    }

    #[test]
    fn trimmed_is_trim() {
        for text in ["", " ", "a", " a ", "\n\né x\n\n", "\u{a0}b\u{a0}"] {
            assert_eq!(trimmed(text.to_string()), text.trim(), "{text:?}");
        }
    }
}

//! `leak moderation review`: walks the messages held by moderation, oldest
//! first, one at a time. Each is shown (queue id, age, hold reason, the
//! headers a reader sees and the text parts), then the operator answers
//! `r` (release: deliver it), `d` (delete it), `s` (skip) or `q` (quit) on
//! standard input, one answer per line, so a script can pipe the answers.
//! End of input quits.

use std::io::BufRead;
use std::path::Path;

use leak_admin::{AdminClient, Target};
use leak_delivery::review::MODERATION_HOLD_PREFIX;
use mail_parser::MessageParser;

use super::admin::{failure, print, with_client};
use crate::CliResult;

/// The headers shown for each message.
const SHOWN: [&str; 5] = ["From", "To", "Cc", "Subject", "Date"];

/// Longest text shown per message; the rest is counted, not printed.
const MAX_TEXT: usize = 8 * 1024;

pub fn run(config: &Path) -> CliResult {
    with_client(config, |mut client| async move {
        let held: Vec<_> = client
            .list()
            .await
            .map_err(failure)?
            .into_iter()
            .filter(|m| {
                m.held
                    && m.hold_reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with(MODERATION_HOLD_PREFIX))
            })
            .collect();
        if held.is_empty() {
            return print("no message is held by moderation\n");
        }
        let total = held.len();
        let mut lines = std::io::stdin().lock().lines();
        let (mut released, mut deleted) = (0, 0);
        for (n, message) in held.iter().enumerate() {
            let body = match client.cat(&message.id).await {
                Ok(body) => body,
                Err(e) if e.is_refusal() => continue, // reviewed or dropped meanwhile
                Err(e) => return Err(failure(e)),
            };
            print(&format!(
                "\n[{}/{total}] {}  held: {}\n{}\n",
                n + 1,
                message.id,
                message.hold_reason.as_deref().unwrap_or_default(),
                show(&body)
            ))?;
            match ask(&mut lines)? {
                Answer::Release => {
                    client.release(&message.id).await.map_err(failure)?;
                    released += 1;
                    print(&format!("released {}\n", message.id))?;
                }
                Answer::Delete => {
                    delete(&mut client, &message.id).await?;
                    deleted += 1;
                    print(&format!("deleted {}\n", message.id))?;
                }
                Answer::Skip => print("skipped\n")?,
                Answer::Quit => break,
            }
        }
        print(&format!("{released} released, {deleted} deleted\n"))
    })
}

async fn delete(client: &mut AdminClient, id: &str) -> CliResult {
    client
        .delete(Target::One(id.to_owned()))
        .await
        .map(|_| ())
        .map_err(failure)
}

enum Answer {
    Release,
    Delete,
    Skip,
    Quit,
}

/// Prompts until a known answer; end of input is quit.
fn ask(
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> Result<Answer, crate::Failure> {
    loop {
        print("[r]elease, [d]elete, [s]kip, [q]uit? ")?;
        let Some(line) = lines.next() else {
            print("\n")?;
            return Ok(Answer::Quit);
        };
        let line = line.map_err(crate::Failure::environment)?;
        match line.trim().to_ascii_lowercase().as_str() {
            "r" | "release" => return Ok(Answer::Release),
            "d" | "delete" => return Ok(Answer::Delete),
            "s" | "skip" => return Ok(Answer::Skip),
            "q" | "quit" => return Ok(Answer::Quit),
            _ => print("please answer r, d, s or q\n")?,
        }
    }
}

/// The headers a reader sees and the text of the message.
fn show(body: &[u8]) -> String {
    let Some(message) = MessageParser::default().parse(body) else {
        return String::from_utf8_lossy(&body[..body.len().min(MAX_TEXT)]).into_owned();
    };
    let mut out = String::new();
    for header in message.headers() {
        let name = header.name();
        if name.eq_ignore_ascii_case("Subject") {
            out.push_str(&format!(
                "Subject: {}\n",
                message.subject().unwrap_or_default()
            ));
        } else if SHOWN.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            let raw = &body[header.offset_start() as usize..header.offset_end() as usize];
            let value = String::from_utf8_lossy(raw);
            out.push_str(&format!("{name}: {}\n", value.trim()));
        }
    }
    out.push('\n');
    let mut text = String::new();
    for i in 0..message.text_body_count() {
        if let Some(part) = message.body_text(i) {
            text.push_str(&part);
            text.push('\n');
        }
    }
    if text.len() > MAX_TEXT {
        let cut = text.floor_char_boundary(MAX_TEXT);
        let rest = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!("\n[… {rest} more bytes]\n"));
    }
    out.push_str(&text);
    out
}

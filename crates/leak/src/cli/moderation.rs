//! `leak moderation check [FILE|-]`: classify a message or a text the way the
//! daemon would, so operators can test their word lists.

use crate::{CliResult, Failure};
use clap::Subcommand;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ModerationCommand {
    /// Print the verdict for a message (RFC 5322) or plain text.
    Check {
        /// The file to check; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
}

pub fn run(config_path: &Path, command: ModerationCommand) -> CliResult {
    let ModerationCommand::Check { file } = command;
    let config = super::parse_config(config_path)?;
    let input = read_input(file.as_deref())?;
    let classifier = crate::serve::settings::classifier(&config).map_err(Failure::refused)?;
    let options = crate::serve::settings::anonymizer_options(&config);
    let submission = leak_anonymizer::Submission {
        data: &input,
        mail_from: "",
        account: "",
        aliases: &[],
        notify: None,
    };
    // A message is judged as the daemon judges it: after anonymizing. Plain
    // text (no header block) is judged as it is.
    let verdict = match leak_anonymizer::anonymize(&submission, &options) {
        Ok(message) if looks_like_message(&input) => {
            let pseudonym = if message.custom_pseudonym {
                message.pseudonym.as_str()
            } else {
                ""
            };
            classifier.classify(&leak_moderation::Input {
                subject: &message.subject,
                text: &message.text,
                pseudonym,
            })
        }
        _ => classifier.classify(&leak_moderation::Input {
            subject: "",
            text: &String::from_utf8_lossy(&input),
            pseudonym: "",
        }),
    };
    match verdict {
        leak_moderation::Verdict::Allow => println!("allow"),
        leak_moderation::Verdict::Block {
            category,
            reason,
            matched,
        } => println!("block: {category}\nreason: {reason}\nmatched: {matched}"),
    }
    Ok(())
}

fn read_input(file: Option<&Path>) -> Result<Vec<u8>, Failure> {
    match file {
        Some(path) if path != Path::new("-") => std::fs::read(path)
            .map_err(|e| Failure::refused(anyhow::anyhow!("cannot read {}: {e}", path.display()))),
        _ => {
            let mut input = Vec::new();
            std::io::stdin()
                .read_to_end(&mut input)
                .map_err(Failure::environment)?;
            Ok(input)
        }
    }
}

/// A header block first: `Name: value` on the first line.
fn looks_like_message(input: &[u8]) -> bool {
    let first = input.split(|&b| b == b'\n').next().unwrap_or_default();
    match first.iter().position(|&b| b == b':') {
        Some(colon) => {
            colon > 0
                && first[..colon]
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        None => false,
    }
}

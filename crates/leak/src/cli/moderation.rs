//! `leak moderation check [FILE|-]`: classify a message or a text the way the
//! daemon would, so operators can test their word lists.
//! `leak moderation eval FILE.tsv`: measure the classifier on labelled lines.
//! `leak moderation review`: walk the held messages (see `review.rs`).

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
    /// Measure the classifier on a labelled TSV (`label lang category text`):
    /// recall (blocked; caught or held) and benign lines blocked and held, per
    /// language and category, as a table and as JSON.
    Eval {
        /// A labelled TSV file: label, lang, category, text.
        file: PathBuf,
        /// Print only the JSON.
        #[arg(long)]
        json: bool,
    },
    /// Walk the messages held by moderation one by one: [r]elease, [d]elete,
    /// [s]kip, [q]uit (answers read from standard input).
    Review,
}

pub fn run(config_path: &Path, command: ModerationCommand) -> CliResult {
    match command {
        ModerationCommand::Check { file } => check(config_path, file),
        ModerationCommand::Eval { file, json } => eval(config_path, &file, json),
        ModerationCommand::Review => super::review::run(config_path),
    }
}

/// Runs the daemon's decision on every line of `file` and prints the figures.
fn eval(config_path: &Path, file: &Path, json_only: bool) -> CliResult {
    let config = super::parse_config(config_path)?;
    let classifier = crate::serve::settings::classifier(&config).map_err(Failure::refused)?;
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::refused(anyhow::anyhow!("cannot read {}: {e}", file.display())))?;
    let lines = leak_moderation::learned::train::parse_tsv(&text)
        .map_err(|e| Failure::refused(anyhow::anyhow!("{}: {e}", file.display())))?;
    let mut report = leak_moderation::eval::Report::default();
    for line in &lines {
        let decision = classifier.decide(&leak_moderation::Input {
            subject: "",
            text: &line.text,
            pseudonym: "",
        });
        report.add(&line.lang, &line.category, line.abusive, decision.outcome);
    }
    let mut out = String::new();
    if !json_only {
        out.push_str(&format!(
            "{} lines from {}\n\n",
            lines.len(),
            file.display()
        ));
        out.push_str(&report.table());
        out.push('\n');
    }
    out.push_str(&report.json());
    out.push('\n');
    super::admin::print(&out)
}

fn check(config_path: &Path, file: Option<PathBuf>) -> CliResult {
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
    let decision = match leak_anonymizer::anonymize(&submission, &options) {
        Ok(message) if looks_like_message(&input) => {
            let pseudonym = if message.custom_pseudonym {
                message.pseudonym.as_str()
            } else {
                ""
            };
            classifier.decide(&leak_moderation::Input {
                subject: &message.subject,
                text: &message.text,
                pseudonym,
            })
        }
        _ => classifier.decide(&leak_moderation::Input {
            subject: "",
            text: &String::from_utf8_lossy(&input),
            pseudonym: "",
        }),
    };
    print_decision(&decision)
}

/// The outcome on the first line (`allow`, `hold`, `block: CATEGORY`), then
/// the reason, the matched rule and the model's score.
fn print_decision(decision: &leak_moderation::Decision) -> CliResult {
    let first = match (&decision.rules, decision.outcome) {
        (
            leak_moderation::Verdict::Block {
                category,
                reason,
                matched,
                ..
            },
            leak_moderation::Outcome::Block,
        ) => format!("block: {category}\nreason: {reason}\nmatched: {matched}"),
        // The rules matched but the model scored the text low: held.
        (
            leak_moderation::Verdict::Block {
                category, matched, ..
            },
            _,
        ) => format!("hold\nrules: {category}\nmatched: {matched}"),
        (_, leak_moderation::Outcome::Block) => {
            format!("block: model\nreason: {}", decision.reason())
        }
        (_, leak_moderation::Outcome::Hold) => "hold".to_owned(),
        (_, leak_moderation::Outcome::Allow) => "allow".to_owned(),
    };
    super::admin::print(&format!(
        "{first}\nmodel: score {:.3} ({})\n",
        decision.score,
        decision.lang.code()
    ))
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

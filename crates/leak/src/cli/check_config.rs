//! `leak check-config`: every problem in the config and the files it names,
//! each with its key path; `ok` when there is none. Warnings (`exposure.rs`:
//! readable keys, a foreign users file, wide trusted networks) go to stderr
//! and do not fail the check.

use crate::{CliResult, Failure};
use leak_config::{Config, Problem};
use std::path::Path;

pub fn run(path: &Path) -> CliResult {
    let (config, problems) = inspect(path);
    // Warnings go to stderr and never change the outcome.
    for warning in config.iter().flat_map(super::exposure::warnings) {
        eprintln!("warning: {warning}");
    }
    if problems.is_empty() {
        println!("ok");
        return Ok(());
    }
    for problem in &problems {
        println!("{problem}");
    }
    Err(Failure::refused(anyhow::anyhow!(
        "{} problem(s) in {}",
        problems.len(),
        path.display()
    )))
}

/// The config at `path` (when it parses) and every problem with it: syntax,
/// values, and whether the files it names can be used. What `check-config`
/// prints and what stops `serve` from starting.
pub fn inspect(path: &Path) -> (Option<Config>, Vec<Problem>) {
    let text = match load_text(path) {
        Ok(text) => text,
        Err(problem) => return (None, vec![problem]),
    };
    match leak_config::parse(&text) {
        Err(problems) => (None, problems),
        Ok(mut config) => {
            leak_config::resolve_paths(&mut config, path.parent().unwrap_or(Path::new(".")));
            let mut problems = leak_config::validate(&config);
            problems.extend(deep_checks(&config, &problems));
            (Some(config), problems)
        }
    }
}

fn load_text(path: &Path) -> Result<String, Problem> {
    std::fs::read_to_string(path)
        .map_err(|e| Problem::new("", format!("cannot read {}: {e}", path.display())))
}

/// Checks that need other crates: can the files be used, not only read?
/// Files already reported unreadable are not reported twice.
fn deep_checks(config: &Config, already: &[Problem]) -> Vec<Problem> {
    let reported = |key: &str| already.iter().any(|p| p.key == key);
    let mut problems = Vec::new();
    if let Some(tls) = &config.tls {
        if !reported("tls.cert") && !reported("tls.key") {
            if let Err(error) = leak_smtp::TlsProvider::load(&tls.cert, &tls.key) {
                problems.push(Problem::new("tls", error.to_string()));
            }
        }
    }
    for (index, key) in config.dkim.keys.iter().enumerate() {
        let path = format!("dkim.key[{index}].private_key");
        if reported(&path) || key.selector.is_empty() {
            continue;
        }
        let spec = crate::serve::settings::dkim_key(key);
        if let Err(error) = leak_dkim::Signer::load(&config.anonymizer.domain, &[spec]) {
            problems.push(Problem::new(path, error.to_string()));
        }
    }
    match &config.cluster {
        // Accounts live in the database: the users file is not read.
        Some(cluster) if !reported("cluster.database") => {
            let message = match leak_cluster::check_url(&cluster.database) {
                Ok(()) => None,
                Err(leak_cluster::ClusterError::Config(message)) => Some(message),
                Err(other) => Some(other.to_string()),
            };
            problems.extend(message.map(|m| Problem::new("cluster.database", m)));
        }
        Some(_) => {}
        None => {
            if let Err(error) = leak_accounts::Users::load(&config.auth.users_file) {
                problems.push(Problem::new("auth.users_file", error.to_string()));
            }
        }
    }
    problems
}

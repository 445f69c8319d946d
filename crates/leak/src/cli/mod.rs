//! Operator commands, one file per command group.

pub mod admin;
pub mod check_config;
pub mod cluster;
pub mod deliverability;
pub mod dkim;
pub mod dns;
pub mod exposure;
pub mod moderation;
pub mod queue_filter;
pub mod review;
pub mod user;

use crate::Failure;
use std::path::Path;

/// Parses the config without validating it: for commands (user, dkim) that
/// operators run while still setting up, before every file exists.
pub fn parse_config(path: &Path) -> Result<leak_config::Config, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::environment(anyhow::anyhow!(
            "cannot read config {}: {e}",
            path.display()
        ))
    })?;
    let mut config = leak_config::parse(&text).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        Failure::refused(anyhow::anyhow!(
            "invalid config {}:\n{}",
            path.display(),
            lines.join("\n")
        ))
    })?;
    leak_config::resolve_paths(&mut config, path.parent().unwrap_or(Path::new(".")));
    Ok(config)
}

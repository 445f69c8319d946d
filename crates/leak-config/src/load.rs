//! Reading a config file and turning serde's first-error-only behaviour into a
//! list of every problem, each with its key path.

use crate::model::Config;
use crate::{ConfigError, Problem};
use std::path::{Path, PathBuf};

/// How many deserialisation errors are collected before giving up.
const MAX_REPORTED: usize = 50;

/// Reads, parses and validates the file at `path`, with relative paths resolved
/// against its folder. Returns every problem found.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let fail = |problems| ConfigError {
        path: path.display().to_string(),
        problems,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(vec![Problem::new(
            "",
            format!("cannot read {}: {e}", path.display()),
        )])
    })?;
    let mut config = parse(&text).map_err(fail)?;
    let base = path.parent().unwrap_or(Path::new("."));
    resolve_paths(&mut config, base);
    let problems = crate::validate(&config);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(fail(problems))
    }
}

/// Parses config text. Each bad key is reported and then removed so that the
/// rest of the file is still checked: an operator sees every mistake at once.
pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        vec![Problem::new("", format!("not valid TOML: {}", e.message()))]
    })?;
    let mut problems = Vec::new();
    while problems.len() < MAX_REPORTED {
        let attempt: Result<Config, _> =
            serde_path_to_error::deserialize(toml::Value::Table(table.clone()));
        let error = match attempt {
            Ok(config) if problems.is_empty() => return Ok(config),
            Ok(_) => return Err(problems),
            Err(error) => error,
        };
        let (key, message) = describe(&error);
        let removed = remove_key(&mut table, &key);
        problems.push(Problem::new(key, message));
        if !removed {
            break;
        }
    }
    Err(problems)
}

/// The dotted key path of a deserialisation error and its message. For an
/// unknown key, the path names the unknown key itself.
fn describe(error: &serde_path_to_error::Error<toml::de::Error>) -> (String, String) {
    let mut key = dotted(error.path());
    let message = error.inner().message().to_owned();
    if let Some(name) = unknown_field_name(&message) {
        if !key.ends_with(name) {
            key = if key.is_empty() || key == "." {
                name.to_owned()
            } else {
                format!("{key}.{name}")
            };
        }
        return (key, format!("unknown key `{name}`"));
    }
    (key, message)
}

fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

/// `listener[1].bind` rather than serde_path_to_error's `listener.1.bind`.
fn dotted(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            serde_path_to_error::Segment::Enum { variant } => {
                out.push('.');
                out.push_str(variant);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

/// Removes the value at a dotted key path; returns whether anything was removed.
fn remove_key(table: &mut toml::Table, key: &str) -> bool {
    let segments = split_path(key);
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let mut current = table;
    for segment in parents {
        let next = match segment {
            PathSegment::Key(name) => current.get_mut(*name),
            PathSegment::Index(name, index) => current
                .get_mut(*name)
                .and_then(|v| v.as_array_mut())
                .and_then(|a| a.get_mut(*index)),
        };
        match next.and_then(|v| v.as_table_mut()) {
            Some(t) => current = t,
            None => return false,
        }
    }
    match last {
        PathSegment::Key(name) => current.remove(*name).is_some(),
        PathSegment::Index(name, index) => {
            match current.get_mut(*name).and_then(|v| v.as_array_mut()) {
                // Removing one element would shift the indices of later problems;
                // drop the whole list's bad element by replacing the list.
                Some(array) if *index < array.len() => {
                    array.remove(*index);
                    true
                }
                _ => false,
            }
        }
    }
}

enum PathSegment<'a> {
    Key(&'a str),
    Index(&'a str, usize),
}

fn split_path(key: &str) -> Vec<PathSegment<'_>> {
    key.split('.')
        .filter(|s| !s.is_empty())
        .map(|segment| match segment.split_once('[') {
            Some((name, rest)) => {
                let index = rest.trim_end_matches(']').parse().unwrap_or(usize::MAX);
                PathSegment::Index(name, index)
            }
            None => PathSegment::Key(segment),
        })
        .collect()
}

/// Makes every relative path in the config relative to `base` (the config
/// file's folder), as operators expect.
pub fn resolve_paths(config: &mut Config, base: &Path) {
    let resolve = |path: &mut PathBuf| {
        if !path.as_os_str().is_empty() && path.is_relative() {
            *path = base.join(&*path);
        }
    };
    resolve(&mut config.server.data_dir);
    resolve(&mut config.server.admin_socket);
    if let Some(tls) = &mut config.tls {
        resolve(&mut tls.cert);
        resolve(&mut tls.key);
    }
    resolve(&mut config.auth.users_file);
    if let Some(path) = &mut config.moderation.block_words_file {
        resolve(path);
    }
    if let Some(path) = &mut config.moderation.allow_words_file {
        resolve(path);
    }
    for key in &mut config.dkim.keys {
        resolve(&mut key.private_key);
    }
    if let Some(path) = config.web.as_mut().and_then(|web| web.secret_file.as_mut()) {
        resolve(path);
    }
    if let Some(path) = &mut config.delivery.tls_ca_file {
        resolve(path);
    }
    if let Some(path) = &mut config.dns.dnssec_trust_anchor {
        resolve(path);
    }
}

//! Man pages generated from the clap command tree (clap_mangen), so `--help`
//! and `man leak-queue` can never disagree.
//!
//! The pages live in `docs/man/` (one per command and subcommand, e.g.
//! `leak.1`, `leak-queue.1`, `leak-queue-list.1`). The test below renders
//! every page and compares it with the committed file; after changing the
//! CLI, regenerate them with
//! `LEAK_UPDATE_MAN=1 cargo test -p leak man::` and commit the result.

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use std::path::{Path, PathBuf};

    /// Every (file name, rendered page) of the command tree.
    fn pages() -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut root = crate::Cli::command();
        root.build();
        render(&root, "leak", &mut out);
        out
    }

    fn render(command: &clap::Command, name: &str, out: &mut Vec<(String, Vec<u8>)>) {
        let page = command
            .clone()
            .display_name(name.to_string())
            .bin_name(name.replace('-', " "));
        let mut bytes = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut bytes)
            .expect("rendering to memory cannot fail");
        out.push((format!("{name}.1"), bytes));
        for sub in command.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            render(sub, &format!("{name}-{}", sub.get_name()), out);
        }
    }

    fn man_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/man")
    }

    #[test]
    fn man_pages_match_the_command_tree() {
        let dir = man_dir();
        let pages = pages();
        if std::env::var_os("LEAK_UPDATE_MAN").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            for entry in std::fs::read_dir(&dir).unwrap() {
                std::fs::remove_file(entry.unwrap().path()).unwrap();
            }
            for (name, bytes) in &pages {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
        let mut stale = Vec::new();
        for (name, bytes) in &pages {
            if std::fs::read(dir.join(name)).ok().as_deref() != Some(bytes.as_slice()) {
                stale.push(name.clone());
            }
        }
        let committed = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert!(
            stale.is_empty() && committed == pages.len(),
            "docs/man is out of date ({stale:?}, {committed} files for {} pages): \
             run LEAK_UPDATE_MAN=1 cargo test -p leak man::",
            pages.len()
        );
    }

    #[test]
    fn every_argument_and_command_is_described() {
        let mut missing = Vec::new();
        let mut root = crate::Cli::command();
        root.build();
        undescribed(&root, "leak", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }

    fn undescribed(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in command.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            if sub.get_about().is_none() {
                missing.push(format!("{path} {}", sub.get_name()));
            }
            undescribed(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
}

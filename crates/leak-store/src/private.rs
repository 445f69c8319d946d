//! File modes: the store holds anonymized bodies, recipients and account
//! names, so nothing under the data directory is for other local users. The
//! store creates its directories 0700 and its files 0600 whatever the umask,
//! and at open tightens whatever it finds more open (an older version, a
//! copy made by hand, files sled created under a permissive umask), logging
//! a warning for each. sled creates its own files with the process umask,
//! which is why `leak serve` also sets the umask to 0o077.
//!
//! Only directories and regular files are touched: a socket placed in the
//! data directory keeps the mode its owner gave it.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory the store creates.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of every file the store creates.
pub(crate) const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700, or tightens it.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)?;
    tighten(dir, DIR_MODE)
}

/// Tightens `root`, and every directory and regular file below it, to
/// 0700/0600 at most.
pub(crate) fn tighten_tree(root: &Path) -> io::Result<()> {
    tighten(root, DIR_MODE)?;
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tighten_tree(&entry.path())?;
        } else if kind.is_file() {
            tighten(&entry.path(), FILE_MODE)?;
        }
    }
    Ok(())
}

/// Removes group and other bits from `path`, keeping at most `allowed`.
fn tighten(path: &Path, allowed: u32) -> io::Result<()> {
    let mode = fs::symlink_metadata(path)?.permissions().mode() & 0o7777;
    if mode & !allowed == 0 {
        return Ok(());
    }
    let tightened = mode & allowed;
    fs::set_permissions(path, fs::Permissions::from_mode(tightened))?;
    tracing::warn!(
        path = %path.display(),
        was = %format!("{mode:04o}"),
        now = %format!("{tightened:04o}"),
        "store file was readable by other users; permissions tightened"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_modes_are_tightened_and_sockets_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        fs::create_dir_all(dir.join("db")).unwrap();
        fs::write(dir.join("db").join("conf"), b"x").unwrap();
        for (path, mode) in [(dir.clone(), 0o755), (dir.join("db"), 0o777)] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        }
        let file = dir.join("db").join("conf");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        let socket = dir.join("admin.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        fs::set_permissions(&socket, fs::Permissions::from_mode(0o660)).unwrap();

        private_dir(&dir).unwrap();
        tighten_tree(&dir).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("db")), 0o700);
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&socket), 0o660);
        private_dir(&dir.join("new/deeper")).unwrap();
        assert_eq!(mode(&dir.join("new")), 0o700);
    }
}

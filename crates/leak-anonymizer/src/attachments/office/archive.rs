//! Reading an Office ZIP under caps, and writing the rebuilt one.
//!
//! The `zip` crate parses the container (central directory, deflate, CRC
//! checks); this module adds what a hostile archive needs before anything
//! is decompressed: the number of members, each member's declared and real
//! uncompressed size, the total, the compression ratio, and member names
//! that are plain relative paths. The rebuilt archive has no comment, no
//! extra fields, no permissions and one fixed timestamp, so nothing of the
//! sender's machine (time zone, user id) survives in the container itself.

use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use super::{OfficeError, MAX_MEMBERS, MAX_MEMBER_SIZE, MAX_RATIO, MAX_TOTAL_SIZE, RATIO_FLOOR};

/// An archive whose member list passed the caps; members are decompressed
/// one at a time ([`Archive::read`]), so memory stays one member deep.
pub(crate) struct Archive<'a> {
    zip: ZipArchive<Cursor<&'a [u8]>>,
    /// Member names in archive order.
    pub(crate) names: Vec<String>,
    /// Bytes decompressed so far, against [`MAX_TOTAL_SIZE`].
    total: u64,
}

impl<'a> Archive<'a> {
    /// Opens `data` and checks every member's name and declared sizes.
    pub(crate) fn open(data: &'a [u8]) -> Result<Self, OfficeError> {
        let mut zip = ZipArchive::new(Cursor::new(data)).map_err(|_| OfficeError::Broken)?;
        if zip.len() > MAX_MEMBERS {
            return Err(OfficeError::TooLarge);
        }
        let mut names = Vec::with_capacity(zip.len());
        let mut declared_total: u64 = 0;
        for index in 0..zip.len() {
            let file = zip.by_index_raw(index).map_err(|_| OfficeError::Broken)?;
            let name = file.name().to_string();
            if !is_plain_name(&name) {
                return Err(OfficeError::Broken);
            }
            if file.encrypted() {
                return Err(OfficeError::Broken);
            }
            if !matches!(
                file.compression(),
                CompressionMethod::Stored | CompressionMethod::Deflated
            ) {
                return Err(OfficeError::Broken);
            }
            check_sizes(file.size(), file.compressed_size())?;
            declared_total = declared_total.saturating_add(file.size());
            if names.contains(&name) {
                return Err(OfficeError::Broken);
            }
            names.push(name);
        }
        if declared_total > MAX_TOTAL_SIZE {
            return Err(OfficeError::TooLarge);
        }
        Ok(Archive {
            zip,
            names,
            total: 0,
        })
    }

    /// Whether the archive has a member of this name.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Decompresses member `name`, reading at most its cap: a member whose
    /// real size exceeds its declared one (or the caps) is refused.
    pub(crate) fn read(&mut self, name: &str) -> Result<Vec<u8>, OfficeError> {
        let mut file = self.zip.by_name(name).map_err(|_| OfficeError::Broken)?;
        if file.is_dir() {
            return Ok(Vec::new());
        }
        let declared = file.size();
        let cap = declared.min(MAX_MEMBER_SIZE);
        let mut data = Vec::with_capacity(cap.min(1 << 20) as usize);
        (&mut file)
            .take(cap + 1)
            .read_to_end(&mut data)
            .map_err(|_| OfficeError::Broken)?;
        if data.len() as u64 != declared {
            return Err(OfficeError::Broken);
        }
        self.total += data.len() as u64;
        if self.total > MAX_TOTAL_SIZE {
            return Err(OfficeError::TooLarge);
        }
        Ok(data)
    }
}

/// Refuses sizes over the caps and compression ratios only a bomb reaches.
fn check_sizes(size: u64, compressed: u64) -> Result<(), OfficeError> {
    if size > MAX_MEMBER_SIZE {
        return Err(OfficeError::TooLarge);
    }
    if size > RATIO_FLOOR && size / compressed.max(1) > MAX_RATIO {
        return Err(OfficeError::Bomb);
    }
    Ok(())
}

/// A member name leak can rebuild: relative, `/`-separated, no `..`, no
/// empty or dot components, no backslash or drive letter, no control
/// characters, no macOS resource-fork folders.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && !name.starts_with('/')
        && !name.contains('\\')
        && !name.contains(':')
        && !name.chars().any(char::is_control)
        && name
            .trim_end_matches('/')
            .split('/')
            .all(|part| !matches!(part, "" | "." | "..") && part != "__MACOSX")
        && !name.rsplit('/').next().is_some_and(|f| f.starts_with("._"))
}

/// The rebuilt archive.
pub(crate) struct Output {
    zip: ZipWriter<Cursor<Vec<u8>>>,
}

impl Output {
    /// A new archive for members of about `size` bytes in all (reserved,
    /// so the output is not copied as it grows).
    pub(crate) fn with_capacity(size: usize) -> Self {
        Output {
            zip: ZipWriter::new(Cursor::new(Vec::with_capacity(size + (size >> 6) + 4096))),
        }
    }

    /// Adds a member, deflated unless `stored` (the ODF `mimetype` member
    /// must be stored), with the fixed 1980-01-01 timestamp.
    pub(crate) fn add(&mut self, name: &str, data: &[u8], stored: bool) -> Result<(), OfficeError> {
        let method = if stored {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(DateTime::default());
        self.zip
            .start_file(name, options)
            .map_err(|_| OfficeError::Broken)?;
        self.zip.write_all(data).map_err(|_| OfficeError::Broken)
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, OfficeError> {
        self.zip
            .finish()
            .map(Cursor::into_inner)
            .map_err(|_| OfficeError::Broken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_must_be_plain() {
        for good in [
            "word/document.xml",
            "[Content_Types].xml",
            "Pictures/",
            "a/b/c.png",
        ] {
            assert!(is_plain_name(good), "{good}");
        }
        for bad in [
            "../evil",
            "/etc/passwd",
            "a/../b",
            "C:/x",
            "a\\b",
            "__MACOSX/._x",
            "word/._document.xml",
            "a//b",
            "",
        ] {
            assert!(!is_plain_name(bad), "{bad}");
        }
    }

    #[test]
    fn bombs_and_oversized_members_are_refused() {
        assert!(matches!(
            check_sizes(MAX_MEMBER_SIZE + 1, MAX_MEMBER_SIZE),
            Err(OfficeError::TooLarge)
        ));
        assert!(matches!(
            check_sizes(10 << 20, 10 << 10),
            Err(OfficeError::Bomb)
        ));
        assert!(check_sizes(10 << 20, 1 << 20).is_ok());
        assert!(check_sizes(1000, 1).is_ok());
    }
}

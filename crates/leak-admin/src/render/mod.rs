//! What the CLI prints: `json.rs` is the exact JSON of CONTRACT.md (and the
//! supersets for `queue show` and `status`), `text.rs` the human tables.
//! Rendering is pure (the caller passes `now`), so it is tested without a daemon.

mod json;
mod summary;
mod text;

pub use json::{
    list_json, show_json, status_json, AttemptJson, MessageJson, QueueJson, RecipientCountsJson,
    RecipientJson, ShowJson, StatusJson,
};
pub use summary::summary_table;
pub use text::{list_table, optout_lines, show_text, status_text};

use std::time::{Duration, UNIX_EPOCH};

use leak_store::UnixTime;

/// A unix time as RFC 3339 in UTC to the second: `2026-11-26T05:00:00Z`.
pub fn rfc3339(time: UnixTime) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(time)).to_string()
}

/// A duration in its two largest units, e.g. `3d 4h`, `12m 5s`, `40s`.
pub fn compact_duration(seconds: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let Some(i) = UNITS.iter().position(|&(size, _)| seconds >= size) else {
        return "0s".to_string();
    };
    let (size, name) = UNITS[i];
    let mut out = format!("{}{name}", seconds / size);
    if let Some(&(next, next_name)) = UNITS.get(i + 1) {
        let rest = seconds % size / next;
        if rest > 0 {
            out.push_str(&format!(" {rest}{next_name}"));
        }
    }
    out
}

/// A byte count for people: `812 B`, `1.8 KiB`, `25.0 MiB`.
pub fn human_size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} B")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{:.1} MiB", b / (KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_seconds() {
        assert_eq!(rfc3339(1_795_669_200), "2026-11-26T05:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn durations_keep_two_units() {
        assert_eq!(compact_duration(0), "0s");
        assert_eq!(compact_duration(40), "40s");
        assert_eq!(compact_duration(725), "12m 5s");
        assert_eq!(compact_duration(3_600), "1h");
        assert_eq!(compact_duration(86_400 + 5), "1d");
        assert_eq!(compact_duration(3 * 86_400 + 4 * 3_600 + 59), "3d 4h");
    }

    #[test]
    fn sizes_pick_a_unit() {
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(1834), "1.8 KiB");
        assert_eq!(human_size(25 * 1024 * 1024), "25.0 MiB");
    }
}

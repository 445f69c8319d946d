//! Sizes written as bytes (`26214400`) or with a unit (`"25MB"`, `"512KiB"`),
//! and random delays written as one duration or a pair ([`DelayRange`]).

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// A size in bytes that operators can write human-readably.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `"25MB"`, `"25 MiB"`, `"1024"`, `"10kb"`. Decimal units are powers
    /// of 1000, binary units (`KiB`) powers of 1024.
    pub fn parse(text: &str) -> Result<ByteSize, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is not a size such as \"25MB\" or 1048576"))?;
        let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1_000,
            "m" | "mb" => 1_000_000,
            "g" | "gb" => 1_000_000_000,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            other => {
                return Err(format!(
                    "unknown size unit `{other}` (use B, KB, MB, GB, KiB, MiB or GiB)"
                ))
            }
        };
        number
            .checked_mul(multiplier)
            .map(ByteSize)
            .ok_or_else(|| format!("`{text}` is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(text) => ByteSize::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ByteSize;

    #[test]
    fn parses_units() {
        assert_eq!(ByteSize::parse("25MB").unwrap().0, 25_000_000);
        assert_eq!(ByteSize::parse("25 MiB").unwrap().0, 25 << 20);
        assert_eq!(ByteSize::parse("1024").unwrap().0, 1024);
        assert_eq!(ByteSize::parse("10kb").unwrap().0, 10_000);
        assert!(ByteSize::parse("ten MB").is_err());
        assert!(ByteSize::parse("10 parsecs").is_err());
        assert!(ByteSize::parse("99999999999999999999GB").is_err());
    }
}

/// A random wait drawn uniformly between `min` and `max` (inclusive). Written
/// as one duration (`"10m"`: anywhere from 0 to 10 minutes) or as a pair
/// (`["10m", "1h"]`; `["5s", "5s"]` is a fixed wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DelayRange {
    pub min: Duration,
    pub max: Duration,
}

impl DelayRange {
    /// From 0 up to `max`.
    pub const fn up_to(max: Duration) -> DelayRange {
        DelayRange {
            min: Duration::ZERO,
            max,
        }
    }
}

impl fmt::Display for DelayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {}",
            humantime_serde::re::humantime::format_duration(self.min),
            humantime_serde::re::humantime::format_duration(self.max)
        )
    }
}

impl<'de> Deserialize<'de> for DelayRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(humantime_serde::Serde<Duration>),
            Pair([humantime_serde::Serde<Duration>; 2]),
        }
        let raw = Raw::deserialize(deserializer).map_err(|_| {
            serde::de::Error::custom(
                "expected a duration such as \"10m\" or a pair such as [\"10m\", \"1h\"]",
            )
        })?;
        Ok(match raw {
            Raw::One(max) => DelayRange::up_to(max.into_inner()),
            Raw::Pair([min, max]) => DelayRange {
                min: min.into_inner(),
                max: max.into_inner(),
            },
        })
    }
}

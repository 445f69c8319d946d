//! Latency percentiles over every accepted submission.

use std::time::Duration;

/// Sorted latencies of one run.
pub struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    /// Takes the samples in any order.
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Latencies { sorted: samples }
    }

    /// The nearest-rank percentile `p` (0 < p <= 100); `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.sorted.is_empty() {
            return None;
        }
        let rank = (p / 100.0 * self.sorted.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.sorted.len()) - 1;
        Some(self.sorted[index])
    }

    /// The mean; `None` without samples.
    pub fn mean(&self) -> Option<Duration> {
        let count = u32::try_from(self.sorted.len()).ok().filter(|&n| n > 0)?;
        Some(self.sorted.iter().sum::<Duration>() / count)
    }
}

/// Milliseconds with microsecond precision, for the JSON summary.
pub fn millis(d: Option<Duration>) -> serde_json::Value {
    match d {
        Some(d) => serde_json::json!((d.as_secs_f64() * 1e6).round() / 1e3),
        None => serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latencies::new((1..=100).rev().map(ms).collect());
        assert_eq!(l.percentile(50.0), Some(ms(50)));
        assert_eq!(l.percentile(99.0), Some(ms(99)));
        assert_eq!(l.percentile(100.0), Some(ms(100)));
        assert_eq!(l.percentile(0.1), Some(ms(1)));
        assert_eq!(l.mean(), Some(Duration::from_micros(50_500)));
    }

    #[test]
    fn small_and_empty_sets() {
        let one = Latencies::new(vec![ms(7)]);
        assert_eq!(one.percentile(50.0), Some(ms(7)));
        assert_eq!(one.percentile(99.0), Some(ms(7)));
        let none = Latencies::new(Vec::new());
        assert_eq!(none.percentile(50.0), None);
        assert_eq!(none.mean(), None);
        assert_eq!(millis(None), serde_json::Value::Null);
        assert_eq!(
            millis(Some(Duration::from_micros(1500))),
            serde_json::json!(1.5)
        );
    }
}

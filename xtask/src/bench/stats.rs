//! Figures from recorded requests: counts by outcome, latency percentiles. Pure.
use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::client::Outcome;
use super::load::{Recorded, Sample};

/// What a load run (or a window of it) did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) struct Summary {
    pub(crate) requests: u64,
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    /// Failed requests by kind: `http <status>`, `connect`, `read`, `timeout`.
    pub(crate) failures: BTreeMap<String, u64>,
    /// Requests per second actually sent.
    pub(crate) rate: f64,
    /// Latency of successful requests, in milliseconds.
    pub(crate) p50_ms: Option<f64>,
    pub(crate) p95_ms: Option<f64>,
    pub(crate) p99_ms: Option<f64>,
    pub(crate) max_ms: Option<f64>,
    /// Ticks not sent because too many requests were already waiting.
    pub(crate) skipped: u64,
}

pub(crate) fn summarize(recorded: &Recorded) -> Summary {
    let mut summary = summarize_samples(recorded.samples.iter());
    let secs = recorded.elapsed.as_secs_f64();
    summary.rate = if secs > 0.0 {
        round(summary.requests as f64 / secs, 1)
    } else {
        0.0
    };
    summary.skipped = recorded.skipped;
    summary
}

/// Counts and latencies of `samples`; the rate is left to the caller, who knows the span.
pub(crate) fn summarize_samples<'a>(samples: impl Iterator<Item = &'a Sample>) -> Summary {
    let mut summary = Summary::default();
    let mut latencies = Vec::new();
    for sample in samples {
        summary.requests += 1;
        if sample.outcome.failed() {
            summary.failed += 1;
            *summary.failures.entry(kind(&sample.outcome)).or_default() += 1;
        } else {
            summary.ok += 1;
            latencies.push(sample.latency.as_secs_f64() * 1000.0);
        }
    }
    latencies.sort_by(f64::total_cmp);
    let ms = |p| percentile(&latencies, p).map(|v| round(v, 2));
    summary.p50_ms = ms(50.0);
    summary.p95_ms = ms(95.0);
    summary.p99_ms = ms(99.0);
    summary.max_ms = latencies.last().map(|v| round(*v, 2));
    summary
}

fn kind(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Answered { status, .. } => format!("http {status}"),
        Outcome::Connect => "connect".into(),
        Outcome::Read => "read".into(),
        Outcome::Timeout => "timeout".into(),
    }
}

/// The middle value (the mean of the two middle ones for an even count); None for none.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `p`% of the
/// values at or below it.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Failed requests whose outcome was known within `[from, to]`.
pub(crate) fn failed_between(samples: &[Sample], from: Duration, to: Duration) -> u64 {
    samples
        .iter()
        .filter(|s| s.outcome.failed() && (from..=to).contains(&s.done()))
        .count() as u64
}

pub(crate) fn round(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

pub(crate) fn secs(duration: Duration) -> f64 {
    round(duration.as_secs_f64(), 3)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample(sent_ms: u64, latency_ms: u64, outcome: Outcome) -> Sample {
        Sample {
            sent: Duration::from_millis(sent_ms),
            latency: Duration::from_millis(latency_ms),
            outcome,
        }
    }

    /// A load run's summary: `requests`, of which `failed` failed.
    pub(crate) fn load(requests: u64, failed: u64) -> Summary {
        Summary {
            requests,
            ok: requests - failed,
            failed,
            ..Summary::default()
        }
    }

    pub(crate) fn served(host: &str) -> Outcome {
        Outcome::Answered {
            status: 200,
            host: Some(host.into()),
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(5.0));
        assert_eq!(percentile(&values, 95.0), Some(10.0));
        assert_eq!(percentile(&values, 0.0), Some(1.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn counts_failures_by_kind_and_latency_of_successes_only() {
        let samples = [
            sample(0, 4, served("s1")),
            sample(1, 8, served("s2")),
            sample(
                2,
                1,
                Outcome::Answered {
                    status: 503,
                    host: None,
                },
            ),
            sample(3, 2000, Outcome::Read),
        ];
        let summary = summarize(&Recorded {
            samples: samples.to_vec(),
            skipped: 1,
            elapsed: Duration::from_secs(2),
        });
        assert_eq!((summary.requests, summary.ok, summary.failed), (4, 2, 2));
        assert_eq!(summary.failures["http 503"], 1);
        assert_eq!(summary.failures["read"], 1);
        assert_eq!(summary.p50_ms, Some(4.0));
        assert_eq!(summary.max_ms, Some(8.0));
        assert_eq!(summary.rate, 2.0);
        assert_eq!(summary.skipped, 1);
        assert_eq!(
            failed_between(&samples, Duration::ZERO, Duration::from_millis(3)),
            1
        );
    }
}

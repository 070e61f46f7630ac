//! Retry schedule of webhook deliveries (docs/design/webhooks-and-edge.md §1.2): `schedule[i]` is the delay before
//! attempt `i + 1` (Svix default `0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h`), with ±10 % jitter,
//! and a receiver's `Retry-After` can only push the next attempt later, never add attempts.

use std::time::Duration;

use rand::Rng;

/// Relative jitter applied to every scheduled delay.
pub const JITTER: f64 = 0.10;

/// Delay before the next attempt after attempt `attempt_no` (1-based) failed, with ±10 % jitter;
/// `None` when the schedule is exhausted (give up). `attempt_no = 0` yields the delay before the
/// first attempt.
pub fn next_delay(schedule: &[Duration], attempt_no: u32) -> Option<Duration> {
    let base = *schedule.get(usize::try_from(attempt_no).ok()?)?;
    Some(jitter(base, rand::rng().random_range(-JITTER..=JITTER)))
}

/// [`next_delay`] combined with the receiver's `Retry-After`: the later of the two, or `None` when
/// the schedule is exhausted (a `Retry-After` never extends the schedule).
pub fn next_delay_with_retry_after(
    schedule: &[Duration],
    attempt_no: u32,
    retry_after: Option<Duration>,
) -> Option<Duration> {
    let delay = next_delay(schedule, attempt_no)?;
    Some(retry_after.map_or(delay, |ra| ra.max(delay)))
}

/// Number of attempts the schedule allows.
pub fn max_attempts(schedule: &[Duration]) -> u32 {
    u32::try_from(schedule.len()).unwrap_or(u32::MAX)
}

/// `base * (1 + factor)`, `factor` clamped to ±[`JITTER`].
fn jitter(base: Duration, factor: f64) -> Duration {
    base.mul_f64(1.0 + factor.clamp(-JITTER, JITTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svix() -> Vec<Duration> {
        [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]
            .into_iter()
            .map(Duration::from_secs)
            .collect()
    }

    #[test]
    fn follows_the_schedule_within_ten_percent() {
        let s = svix();
        for attempt in 1..8u32 {
            let base = s[attempt as usize].as_secs_f64();
            for _ in 0..200 {
                let d = next_delay(&s, attempt).unwrap().as_secs_f64();
                assert!(
                    d >= base * 0.9 - 1e-9 && d <= base * 1.1 + 1e-9,
                    "attempt {attempt}: {d} vs {base}"
                );
            }
        }
        assert_eq!(next_delay(&s, 0), Some(Duration::ZERO));
    }

    #[test]
    fn jitter_actually_varies() {
        let s = svix();
        let samples: Vec<Duration> = (0..50).map(|_| next_delay(&s, 3).unwrap()).collect();
        assert!(samples.iter().any(|d| *d != samples[0]));
        let close = |a: Duration, b: f64| (a.as_secs_f64() - b).abs() < 1e-6;
        assert!(close(jitter(Duration::from_secs(100), 0.5), 110.0));
        assert!(close(jitter(Duration::from_secs(100), -0.5), 90.0));
    }

    #[test]
    fn exhausted_schedule_gives_up() {
        let s = svix();
        assert_eq!(max_attempts(&s), 8);
        assert!(next_delay(&s, 7).is_some());
        assert_eq!(next_delay(&s, 8), None);
        assert_eq!(next_delay(&s, u32::MAX), None);
        assert_eq!(next_delay(&[], 1), None);
        assert_eq!(next_delay_with_retry_after(&s, 8, Some(Duration::from_secs(1))), None);
    }

    #[test]
    fn retry_after_takes_the_later() {
        let s = svix();
        let long = Duration::from_secs(3600);
        assert_eq!(next_delay_with_retry_after(&s, 1, Some(long)), Some(long));
        let d = next_delay_with_retry_after(&s, 3, Some(Duration::from_secs(7))).unwrap();
        assert!(d >= Duration::from_secs(1620));
        let d = next_delay_with_retry_after(&s, 1, None).unwrap();
        assert!(d >= Duration::from_millis(4500) && d <= Duration::from_millis(5500));
    }
}

//! In-memory quotas (docs/design/upstreams.md §7.5): AliExpress per-second + per-day counters, a sliding
//! hour for Meta, daily (or fixed-window) YouTube budgets. All counters use the wall clock and short-lived locks.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use crate::config::Limits;

#[derive(Default)]
struct AeCounter {
    sec: i64,
    sec_count: u64,
    day: i64,
    day_count: u64,
}

struct MetaWindow {
    /// (minute number, calls in that minute), ring of 60 buckets.
    buckets: [(i64, u64); 60],
}

impl Default for MetaWindow {
    fn default() -> Self {
        Self {
            buckets: [(i64::MIN, 0); 60],
        }
    }
}

#[derive(Default)]
struct YtCounter {
    window: i64,
    search_calls: u64,
    units: u64,
}

/// What a YouTube call costs.
#[derive(Clone, Copy, Debug)]
pub struct YtCost {
    pub search_calls: u64,
    pub units: u64,
}

/// All quota state.
#[derive(Default)]
pub struct Quotas {
    ae: Mutex<HashMap<String, AeCounter>>,
    meta: Mutex<HashMap<String, MetaWindow>>,
    yt: Mutex<HashMap<String, YtCounter>>,
}

/// The entry of `key`, created on first use (no allocation once it exists; always `Some`).
fn slot<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> Option<&'m mut V> {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Days since the epoch of the calendar day at UTC+8 (AliExpress bans until 24:00 Beijing time).
fn beijing_day(now: DateTime<Utc>) -> i64 {
    (now.timestamp() + 8 * 3600).div_euclid(86_400)
}

fn nth_sunday(year: i32, month: u32, n: u8) -> Option<NaiveDate> {
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n)
}

/// Days since the epoch of the calendar day in America/Los_Angeles (US DST rules since 2007).
pub fn pacific_day(now: DateTime<Utc>) -> i64 {
    let y = now.year();
    let dst = match (nth_sunday(y, 3, 2), nth_sunday(y, 11, 1)) {
        (Some(s), Some(e)) => {
            let start = s.and_hms_opt(10, 0, 0).map(|t| t.and_utc());
            let end = e.and_hms_opt(9, 0, 0).map(|t| t.and_utc());
            matches!((start, end), (Some(s), Some(e)) if now >= s && now < e)
        }
        _ => false,
    };
    let offset = if dst { -7 } else { -8 };
    (now + Duration::hours(offset)).timestamp().div_euclid(86_400)
}

impl Quotas {
    /// Clears every counter.
    pub fn clear(&self) {
        lock(&self.ae).clear();
        lock(&self.meta).clear();
        lock(&self.yt).clear();
    }

    /// Takes one AliExpress call for `app_key`; `Err(ban_secs)` when a limit is hit.
    pub fn ae_take(&self, app_key: &str, limits: &Limits, now: DateTime<Utc>) -> Result<(), u64> {
        let mut map = lock(&self.ae);
        let Some(c) = slot(&mut map, app_key) else {
            return Ok(());
        };
        let (sec, day) = (now.timestamp(), beijing_day(now));
        if c.sec != sec {
            c.sec = sec;
            c.sec_count = 0;
        }
        if c.day != day {
            c.day = day;
            c.day_count = 0;
        }
        if c.day_count >= limits.ae_per_app_per_day {
            let next_midnight = (day + 1) * 86_400 - 8 * 3600;
            return Err(u64::try_from(next_midnight - sec).unwrap_or(1).max(1));
        }
        if c.sec_count >= limits.ae_per_app_per_sec {
            return Err(1);
        }
        c.sec_count += 1;
        c.day_count += 1;
        Ok(())
    }

    /// Takes one Meta call for `token` in the sliding hour. `Ok(used)` / `Err(used)`: calls in the window.
    pub fn meta_take(&self, token: &str, limits: &Limits, now: DateTime<Utc>) -> Result<u64, u64> {
        let mut map = lock(&self.meta);
        let Some(w) = slot(&mut map, token) else {
            return Ok(1);
        };
        let minute = now.timestamp().div_euclid(60);
        let used: u64 = w.buckets.iter().filter(|(m, _)| *m > minute - 60).map(|(_, n)| n).sum();
        if used >= limits.meta_per_token_per_hour {
            return Err(used);
        }
        let slot = &mut w.buckets[minute.rem_euclid(60) as usize];
        if slot.0 != minute {
            *slot = (minute, 0);
        }
        slot.1 += 1;
        Ok(used + 1)
    }

    /// Charges a YouTube call to `key`; `false` when the quota is exhausted (nothing is charged then).
    pub fn yt_take(&self, key: &str, cost: YtCost, limits: &Limits, now: DateTime<Utc>) -> bool {
        let window = match limits.yt_quota_window_secs {
            Some(s) if s > 0 => now.timestamp().div_euclid(s as i64),
            _ => pacific_day(now),
        };
        let mut map = lock(&self.yt);
        let Some(c) = slot(&mut map, key) else {
            return true;
        };
        if c.window != window {
            *c = YtCounter {
                window,
                ..YtCounter::default()
            };
        }
        if c.search_calls + cost.search_calls > limits.yt_search_calls_per_day
            || c.units + cost.units > limits.yt_units_per_day
        {
            return false;
        }
        c.search_calls += cost.search_calls;
        c.units += cost.units;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacific_day_follows_dst() {
        // 2025-06-01 06:00 UTC is still 2025-05-31 in Los Angeles (PDT, UTC-7).
        let t = DateTime::from_timestamp(1_748_757_600, 0).unwrap_or_default();
        let may31 = NaiveDate::from_ymd_opt(2025, 5, 31).unwrap_or_default();
        assert_eq!(
            pacific_day(t),
            may31.signed_duration_since(NaiveDate::default()).num_days()
        );
    }

    #[test]
    fn ae_per_second_limit() {
        let q = Quotas::default();
        let l = Limits {
            ae_per_app_per_sec: 2,
            ..Limits::default()
        };
        let now = Utc::now();
        assert!(q.ae_take("a", &l, now).is_ok());
        assert!(q.ae_take("a", &l, now).is_ok());
        assert_eq!(q.ae_take("a", &l, now), Err(1));
        assert!(q.ae_take("b", &l, now).is_ok());
    }
}

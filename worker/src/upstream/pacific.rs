//! Midnight in America/Los_Angeles (YouTube quota reset) with US daylight-saving rules, computed
//! with plain chrono arithmetic: PDT (UTC−7) from the second Sunday of March 02:00 PST to the
//! first Sunday of November 02:00 PDT, PST (UTC−8) otherwise.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};

/// The `n`-th (1-based) Sunday of `month` in `year`.
fn nth_sunday(year: i32, month: u32, n: u32) -> NaiveDate {
    // Weekday::Sun is always present in the first 7 days of a month; fall back to day 1 defensively.
    NaiveDate::from_weekday_of_month_opt(year, month, Weekday::Sun, n as u8)
        .or_else(|| NaiveDate::from_ymd_opt(year, month, 1))
        .unwrap_or(NaiveDate::MIN)
}

/// The DST start (second Sunday of March) and end (first Sunday of November) dates of `year`.
fn dst_dates(year: i32) -> (NaiveDate, NaiveDate) {
    (nth_sunday(year, 3, 2), nth_sunday(year, 11, 1))
}

/// True when Pacific daylight time is in effect at the instant `t`.
pub fn is_pacific_dst(t: DateTime<Utc>) -> bool {
    let (start, end) = dst_dates(t.year());
    // 02:00 PST = 10:00 UTC; 02:00 PDT = 09:00 UTC.
    let start_utc = Utc.from_utc_datetime(&start.and_hms_opt(10, 0, 0).unwrap_or_default());
    let end_utc = Utc.from_utc_datetime(&end.and_hms_opt(9, 0, 0).unwrap_or_default());
    t >= start_utc && t < end_utc
}

/// The Pacific UTC offset in hours at the instant `t` (−7 or −8).
pub fn pacific_offset_hours(t: DateTime<Utc>) -> i64 {
    if is_pacific_dst(t) { -7 } else { -8 }
}

/// The offset in effect at 00:00 local time on `date` (transitions happen at 02:00).
fn offset_at_local_midnight(date: NaiveDate) -> i64 {
    let (start, end) = dst_dates(date.year());
    if date > start && date <= end { -7 } else { -8 }
}

/// The first midnight America/Los_Angeles strictly after `now`, as a UTC instant.
pub fn next_pacific_midnight(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.naive_utc() + Duration::hours(pacific_offset_hours(now));
    let next_day = local.date().succ_opt().unwrap_or(local.date());
    let offset = offset_at_local_midnight(next_day);
    let midnight = next_day.and_hms_opt(0, 0, 0).unwrap_or_default() - Duration::hours(offset);
    Utc.from_utc_datetime(&midnight)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("valid timestamp")
    }

    #[test]
    fn winter_midnight_is_08_utc() {
        assert_eq!(
            next_pacific_midnight(t("2025-01-15T12:00:00Z")),
            t("2025-01-16T08:00:00Z")
        );
        // 07:59 UTC is still the previous Pacific day.
        assert_eq!(
            next_pacific_midnight(t("2025-01-16T07:59:59Z")),
            t("2025-01-16T08:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight(t("2025-01-16T08:00:00Z")),
            t("2025-01-17T08:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight(t("2025-12-31T23:00:00Z")),
            t("2026-01-01T08:00:00Z")
        );
    }

    #[test]
    fn summer_midnight_is_07_utc() {
        assert_eq!(
            next_pacific_midnight(t("2025-07-01T12:00:00Z")),
            t("2025-07-02T07:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight(t("2025-07-02T06:59:59Z")),
            t("2025-07-02T07:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight(t("2024-06-01T00:00:00Z")),
            t("2024-06-01T07:00:00Z")
        );
    }

    #[test]
    fn transition_days() {
        // 2025: DST starts Sunday 9 March, ends Sunday 2 November.
        assert_eq!(
            next_pacific_midnight(t("2025-03-08T20:00:00Z")),
            t("2025-03-09T08:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight(t("2025-03-09T12:00:00Z")),
            t("2025-03-10T07:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight(t("2025-11-01T20:00:00Z")),
            t("2025-11-02T07:00:00Z")
        );
        assert_eq!(
            next_pacific_midnight(t("2025-11-02T12:00:00Z")),
            t("2025-11-03T08:00:00Z")
        );
        // 2024: DST starts 10 March, ends 3 November.
        assert!(!is_pacific_dst(t("2024-03-10T09:59:59Z")));
        assert!(is_pacific_dst(t("2024-03-10T10:00:00Z")));
        assert!(is_pacific_dst(t("2024-11-03T08:59:59Z")));
        assert!(!is_pacific_dst(t("2024-11-03T09:00:00Z")));
    }
}

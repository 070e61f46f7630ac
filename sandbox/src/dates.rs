//! Date formats of the three wire formats, written digit by digit (chrono parses its format string on
//! every call): AliExpress `yyyy-MM-dd HH:mm:ss` in GMT+8, ISO dates, RFC 3339 seconds and `%b %d`.
//! Years outside 0..=9999 fall back to chrono, whose output there is not fixed-width.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Offset as _, SecondsFormat, Timelike, Utc};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn four_digit_year(year: i32) -> bool {
    (0..=9999).contains(&year)
}

fn push_num(out: &mut Vec<u8>, v: u32, width: u32) {
    for i in (0..width).rev() {
        out.push(b'0' + ((v / 10u32.pow(i)) % 10) as u8);
    }
}

fn push_date(out: &mut Vec<u8>, d: &impl Datelike) {
    push_num(out, d.year().unsigned_abs(), 4);
    out.push(b'-');
    push_num(out, d.month(), 2);
    out.push(b'-');
    push_num(out, d.day(), 2);
}

fn push_time(out: &mut Vec<u8>, t: &NaiveDateTime, sep: u8) {
    push_date(out, t);
    out.push(sep);
    push_num(out, t.hour(), 2);
    out.push(b':');
    push_num(out, t.minute(), 2);
    out.push(b':');
    push_num(out, t.second(), 2);
}

fn ascii(v: Vec<u8>) -> String {
    String::from_utf8(v).unwrap_or_default()
}

/// Appends `t` the way AliExpress writes dates: `yyyy-MM-dd HH:mm:ss` in GMT+8.
pub fn push_ae_time(out: &mut Vec<u8>, t: DateTime<Utc>) {
    let cst = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
    let local = t.with_timezone(&cst).naive_local();
    if four_digit_year(local.year()) {
        push_time(out, &local, b' ');
    } else {
        out.extend_from_slice(local.format("%Y-%m-%d %H:%M:%S").to_string().as_bytes());
    }
}

/// `t` as an AliExpress date (`yyyy-MM-dd HH:mm:ss`, GMT+8).
pub fn ae_time(t: DateTime<Utc>) -> String {
    let mut out = Vec::with_capacity(19);
    push_ae_time(&mut out, t);
    ascii(out)
}

/// Appends `d` as `%Y-%m-%d`.
pub fn push_iso_date(out: &mut Vec<u8>, d: NaiveDate) {
    if four_digit_year(d.year()) {
        push_date(out, &d);
    } else {
        out.extend_from_slice(d.format("%Y-%m-%d").to_string().as_bytes());
    }
}

/// `d` as `%Y-%m-%d`.
pub fn iso_date(d: NaiveDate) -> String {
    let mut out = Vec::with_capacity(10);
    push_iso_date(&mut out, d);
    ascii(out)
}

/// Appends `t` in RFC 3339 with whole seconds and `Z` (`to_rfc3339_opts(SecondsFormat::Secs, true)`).
pub fn push_rfc3339_secs(out: &mut Vec<u8>, t: DateTime<Utc>) {
    if four_digit_year(t.year()) {
        push_time(out, &t.naive_utc(), b'T');
        out.push(b'Z');
    } else {
        out.extend_from_slice(t.to_rfc3339_opts(SecondsFormat::Secs, true).as_bytes());
    }
}

/// `t` in RFC 3339 with whole seconds and `Z`.
pub fn rfc3339_secs(t: DateTime<Utc>) -> String {
    let mut out = Vec::with_capacity(20);
    push_rfc3339_secs(&mut out, t);
    ascii(out)
}

/// `d` as `%b %d` (`Jun 05`).
pub fn month_day(d: NaiveDate) -> String {
    let month = MONTHS[d.month0() as usize % 12];
    let mut out = Vec::with_capacity(6);
    out.extend_from_slice(month.as_bytes());
    out.push(b' ');
    push_num(&mut out, d.day(), 2);
    ascii(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_chrono_formats() {
        let mut t = DateTime::from_timestamp(-62_000_000_000, 123).unwrap_or_default();
        let step = chrono::TimeDelta::seconds(86_400 * 41 + 3_601 * 7 + 13);
        let end = DateTime::from_timestamp(253_402_300_799 + 86_400 * 400, 0).unwrap_or_default();
        while t < end {
            let cst = FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix());
            let want_ae = t.with_timezone(&cst).format("%Y-%m-%d %H:%M:%S").to_string();
            assert_eq!(ae_time(t), want_ae);
            let d = t.date_naive();
            assert_eq!(iso_date(d), t.format("%Y-%m-%d").to_string());
            assert_eq!(rfc3339_secs(t), t.to_rfc3339_opts(SecondsFormat::Secs, true));
            assert_eq!(month_day(d), d.format("%b %d").to_string());
            t += step;
        }
    }
}

//! `application/x-www-form-urlencoded` pairs, exactly as `url::form_urlencoded::parse` yields them, in
//! one pass per part: a part without `+` or `%` borrows from the input, others are decoded here; only
//! text that is not UTF-8 once decoded goes through `form_urlencoded` (for its lossy decoding).

use std::borrow::Cow;

use url::form_urlencoded;

/// One decoded name / value pair.
pub type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// `+` as a space and `%XX` as a byte (a `%` without two hex digits stays as is), then UTF-8.
/// `None` when the result is not UTF-8.
fn decode(part: &[u8]) -> Option<Cow<'_, str>> {
    if !part.iter().any(|b| *b == b'+' || *b == b'%') {
        return std::str::from_utf8(part).ok().map(Cow::Borrowed);
    }
    let mut out = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        match part[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                part.get(i + 1).copied().and_then(hex),
                part.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The pairs of `input`, in order (empty `&`-separated sequences are skipped).
pub fn parse(input: &[u8]) -> Vec<Pair<'_>> {
    let mut out = Vec::with_capacity(16);
    for sequence in input.split(|b| *b == b'&').filter(|s| !s.is_empty()) {
        let (name, value) = match sequence.iter().position(|b| *b == b'=') {
            Some(i) => (&sequence[..i], &sequence[i + 1..]),
            None => (sequence, &[][..]),
        };
        match (decode(name), decode(value)) {
            (Some(n), Some(v)) => out.push((n, v)),
            _ => out.extend(form_urlencoded::parse(sequence).next()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_form_urlencoded() {
        let cases: &[&[u8]] = &[
            b"",
            b"&&",
            b"a=1&b=2",
            b"a=1&&b",
            b"=x&y=",
            b"k=a+b&q=%22x%22&r=%zz&s=%E2%82%AC",
            b"a=b=c&d",
            b"bad=\xff\xfe&ok=1",
            b"sp%20ace=v%2Bplus",
            b"p=%&q=%4&r=%4g&s=100%25&t=%c3%A9+%2b",
            b"queryDeliveryReq=%7B%22quantity%22%3A1%2C%22productId%22%3A%221005%22%7D",
            b"bad=%ff%fe&lone=%e2%82",
        ];
        for c in cases {
            let want: Vec<Pair<'_>> = form_urlencoded::parse(c).collect();
            assert_eq!(parse(c), want, "{}", String::from_utf8_lossy(c));
        }
    }
}

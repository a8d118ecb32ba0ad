//! The `Content-Length` a request or an answer declares, read one way everywhere: the body
//! limits (refuse before reading), the request body reader, and compression (leave small
//! answers alone) must agree on what a declared length is.

use http::HeaderMap;

/// The declared length, as pingora frames the body by: one decimal number, which pingora
/// also accepts repeated (`5` twice, `5, 5`) or with leading zeros (`0005`). Values that
/// disagree, or one that is not a number, declare nothing; pingora frames such a body
/// itself (or refuses it), and a limit then applies to the bytes actually read. Read the
/// same way by the body limit, which refuses before reading: it once read only a plain
/// number, so `Content-Length: 20000000, 20000000` passed the early 413 (found when tried).
pub fn declared(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let first = values.next()?;
    if values.next().is_none() {
        if let Some(n) = plain(first.as_bytes()) {
            return Some(n);
        }
    }
    let mut length = None;
    for value in headers.get_all(http::header::CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            // Digits only, as pingora reads them (`str::parse` would take `+12`).
            let part = part.trim_ascii();
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let n = std::str::from_utf8(part).ok()?.parse::<u64>().ok()?;
            if length.is_some_and(|l| l != n) {
                return None;
            }
            length = Some(n);
        }
    }
    length
}

/// `value` as a number if it is one plain decimal: digits, no leading zero.
fn plain(value: &[u8]) -> Option<u64> {
    let digits = !value.is_empty()
        && value.iter().all(u8::is_ascii_digit)
        && (value == b"0" || value[0] != b'0');
    if !digits {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Writes a message's `Content-Length` as the one decimal number pingora frames its body
/// by: a request's before it goes to a legacy site, an answer's before it goes to a citizen. Pingora accepts repeated identical values
/// (`5` twice, `5, 5`) and leading zeros (`0005`), and used to forward them as sent: a legacy
/// server reading `0100` as octal (C's `strtol` with base 0) took 64 bytes of a 100-byte
/// body, and the rest prefixed the next citizen's request on that connection (found when
/// tried). RFC 9110 §8.6 asks a proxy to send one valid value. A plain number is left as it
/// is, without allocating.
pub fn canonicalise(headers: &mut HeaderMap) {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let Some(first) = values.next() else {
        return;
    };
    if values.next().is_none() && plain(first.as_bytes()).is_some() {
        return;
    }
    if let Some(n) = declared(headers) {
        headers.insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(length: Option<&'static str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(l) = length {
            h.insert(http::header::CONTENT_LENGTH, HeaderValue::from_static(l));
        }
        h
    }

    #[test]
    fn a_length_is_declared_as_pingora_frames_the_body_by() {
        assert_eq!(declared(&with(Some("0"))), Some(0));
        assert_eq!(declared(&with(Some("1024"))), Some(1024));
        assert_eq!(declared(&with(None)), None);
        assert_eq!(declared(&with(Some("12, 12"))), Some(12));
        assert_eq!(declared(&with(Some("0012"))), Some(12));
        assert_eq!(declared(&with(Some("12, 13"))), None);
        assert_eq!(declared(&with(Some("12,"))), None);
        assert_eq!(declared(&with(Some("+12"))), None);
        assert_eq!(declared(&with(Some("12, +12"))), None);
        let mut twice = with(Some("20000000"));
        twice.append(
            http::header::CONTENT_LENGTH,
            HeaderValue::from_static("20000000"),
        );
        assert_eq!(declared(&twice), Some(20_000_000));
        assert_eq!(declared(&with(Some("-1"))), None);
        assert_eq!(declared(&with(Some("1e3"))), None);
        assert_eq!(declared(&with(Some("99999999999999999999999"))), None);
    }

    #[test]
    fn what_goes_to_a_legacy_site_is_one_plain_decimal_length() {
        for (sent, forwarded) in [
            (vec!["0005"], "5"),
            (vec!["5, 5"], "5"),
            (vec!["5", "5"], "5"),
            (vec!["0100"], "100"),
            (vec!["0"], "0"),
            (vec!["42"], "42"),
        ] {
            let mut h = HeaderMap::new();
            for v in &sent {
                h.append(http::header::CONTENT_LENGTH, HeaderValue::from_static(v));
            }
            canonicalise(&mut h);
            let all: Vec<&str> = h
                .get_all(http::header::CONTENT_LENGTH)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            assert_eq!(all, [forwarded], "{sent:?}");
        }
    }
}

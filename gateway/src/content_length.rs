//! The `Content-Length` a request or an answer declares, read one way everywhere: the body
//! limits (refuse before reading), the request body reader, and compression (leave small
//! answers alone) must agree on what a declared length is.

use http::HeaderMap;

/// The declared length: one value of decimal digits. A missing, repeated (`12, 12`),
/// negative or otherwise unreadable value declares nothing; pingora frames such a body
/// itself (or refuses it), and a limit then applies to the bytes actually read.
pub fn declared(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
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
    let plain =
        |v: &[u8]| !v.is_empty() && v.iter().all(u8::is_ascii_digit) && (v == b"0" || v[0] != b'0');
    if values.next().is_none() && plain(first.as_bytes()) {
        return;
    }
    let mut length = None;
    for value in headers.get_all(http::header::CONTENT_LENGTH) {
        for part in value.as_bytes().split(|&b| b == b',') {
            let Some(n) = std::str::from_utf8(part)
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
            else {
                return;
            };
            if length.is_some_and(|l| l != n) {
                // Pingora refuses such a request before it gets here.
                return;
            }
            length = Some(n);
        }
    }
    if let Some(n) = length {
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
    fn only_one_plain_number_declares_a_length() {
        assert_eq!(declared(&with(Some("0"))), Some(0));
        assert_eq!(declared(&with(Some("1024"))), Some(1024));
        assert_eq!(declared(&with(None)), None);
        assert_eq!(declared(&with(Some("12, 12"))), None);
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

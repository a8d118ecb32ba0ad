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
}

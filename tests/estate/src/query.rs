//! Reading query-string parameters the way a legacy form handler did:
//! `application/x-www-form-urlencoded`, `+` for spaces, first value wins.
//! Invalid UTF-8 after decoding is replaced rather than rejected.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// The decoded value of the first `name` parameter of `query`, if present.
pub(crate) fn param<'a>(query: Option<&'a str>, name: &str) -> Option<Cow<'a, str>> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key) == name).then(|| decode(value))
    })
}

/// The decoded values of every `name` parameter of `query`, in order.
pub(crate) fn params<'a>(
    query: Option<&'a str>,
    name: &'a str,
) -> impl Iterator<Item = Cow<'a, str>> + 'a {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(move |pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key) == name).then(|| decode(value))
        })
}

fn decode(raw: &str) -> Cow<'_, str> {
    if raw.contains('+') {
        let spaced = raw.replace('+', " ");
        Cow::Owned(percent_decode_str(&spaced).decode_utf8_lossy().into_owned())
    } else {
        percent_decode_str(raw).decode_utf8_lossy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        let q = Some("a=1&ref=2008%2F12+x&ref=other&flag");
        assert_eq!(param(q, "ref").as_deref(), Some("2008/12 x"));
        assert_eq!(param(q, "flag").as_deref(), Some(""));
        assert_eq!(param(q, "missing"), None);
        assert_eq!(param(None, "a"), None);
    }
}

//! `Content-Type` parameters: which charset a response declares, and the header to send once
//! the body has been converted to UTF-8.
//!
//! Legacy servers write the header every way the grammar allows (`charset=windows-1256`,
//! `Charset="ISO-8859-1"`, extra parameters, stray spaces), so the parameter list is parsed
//! properly, quoted strings and all, rather than searched for a substring.

use super::{detected_label, Encoding};
use std::borrow::Cow;
use std::ops::Range;

/// One `name=value` parameter of a media type.
struct Param<'a> {
    name: &'a str,
    value: Cow<'a, str>,
    /// The parameter's text in the header, from its name to the end of its value.
    span: Range<usize>,
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

/// The media type (`text/html`), trimmed, without its parameters; not lowercased.
pub fn media_type(content_type: &str) -> &str {
    let end = content_type.find(';').unwrap_or(content_type.len());
    content_type[..end].trim()
}

/// The parameters after the media type, in order. Parameters without `=` are skipped.
fn params(ct: &str) -> Vec<Param<'_>> {
    let b = ct.as_bytes();
    let mut out = Vec::new();
    let Some(mut i) = ct.find(';') else {
        return out;
    };
    while i < b.len() {
        while i < b.len() && (is_space(b[i]) || b[i] == b';') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b';' {
            i += 1;
        }
        let name = ct[start..i].trim();
        if i >= b.len() || b[i] == b';' {
            continue;
        }
        i += 1; // '='
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let value = if b.get(i) == Some(&b'"') {
            let mut v = String::new();
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                // Multi-byte characters are copied whole: only ASCII bytes are special.
                let ch_len = ct[i..].chars().next().map_or(1, char::len_utf8);
                v.push_str(&ct[i..i + ch_len]);
                i += ch_len;
            }
            i = (i + 1).min(b.len()); // closing quote
            Cow::Owned(v)
        } else {
            let vstart = i;
            while i < b.len() && b[i] != b';' {
                i += 1;
            }
            Cow::Borrowed(ct[vstart..i].trim_end())
        };
        let mut end = i;
        while end > start && is_space(b[end - 1]) {
            end -= 1;
        }
        out.push(Param {
            name,
            value,
            span: start..end,
        });
        // Skip anything between a closing quote and the next ';'.
        while i < b.len() && b[i] != b';' {
            i += 1;
        }
    }
    out
}

/// The encoding a `Content-Type` header declares with its `charset` parameter (quoted or not,
/// any case), or `None` when it declares none or one no browser knows.
pub fn charset_from_content_type(content_type: &str) -> Option<&'static Encoding> {
    let params = params(content_type);
    let charset = params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case("charset"))?;
    detected_label(charset.value.trim().as_bytes())
}

/// The `Content-Type` to send for a body converted to UTF-8: the same media type and other
/// parameters, with `charset=utf-8` in place of (or after) the original charset.
pub fn utf8_content_type(original: &str) -> String {
    let media = media_type(original);
    let mut out = String::with_capacity(original.len() + 16);
    out.push_str(if media.is_empty() { "text/html" } else { media });
    let mut charset_written = false;
    for p in params(original) {
        out.push_str("; ");
        if p.name.eq_ignore_ascii_case("charset") {
            if charset_written {
                out.truncate(out.len() - 2);
            } else {
                out.push_str("charset=utf-8");
                charset_written = true;
            }
        } else {
            out.push_str(&original[p.span]);
        }
    }
    if !charset_written {
        out.push_str("; charset=utf-8");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cs(ct: &str) -> Option<&'static str> {
        charset_from_content_type(ct).map(|e| e.name())
    }

    #[test]
    fn a_bare_charset_parameter_is_found() {
        assert_eq!(cs("text/html; charset=windows-1256"), Some("windows-1256"));
    }

    #[test]
    fn quoted_and_oddly_cased_charsets_are_found() {
        assert_eq!(cs("text/html;Charset=\"ISO-8859-1\""), Some("windows-1252"));
        assert_eq!(cs("TEXT/HTML ; CHARSET = cp1256 "), Some("windows-1256"));
        assert_eq!(
            cs("text/html; x=\"a;charset=koi8-r\"; charset=utf-8"),
            Some("UTF-8")
        );
    }

    #[test]
    fn no_or_unknown_charset_is_none() {
        assert_eq!(cs("text/html"), None);
        assert_eq!(cs("text/html; charset="), None);
        assert_eq!(cs("text/html; charset=klingon"), None);
        assert_eq!(cs("text/html; mycharset=utf-8"), None);
        assert_eq!(cs(""), None);
    }

    #[test]
    fn the_utf8_content_type_replaces_the_charset_in_place() {
        assert_eq!(
            utf8_content_type("text/html; charset=windows-1256; level=1"),
            "text/html; charset=utf-8; level=1"
        );
        assert_eq!(
            utf8_content_type("application/xhtml+xml;charset=\"iso-8859-1\""),
            "application/xhtml+xml; charset=utf-8"
        );
    }

    #[test]
    fn the_utf8_content_type_adds_a_missing_charset() {
        assert_eq!(utf8_content_type("text/html"), "text/html; charset=utf-8");
        assert_eq!(
            utf8_content_type("text/html; level=1"),
            "text/html; level=1; charset=utf-8"
        );
        assert_eq!(utf8_content_type(""), "text/html; charset=utf-8");
    }

    #[test]
    fn duplicate_charsets_collapse_into_one() {
        assert_eq!(
            utf8_content_type("text/html; charset=a; charset=b"),
            "text/html; charset=utf-8"
        );
    }

    #[test]
    fn unterminated_quotes_and_non_ascii_do_not_panic() {
        assert_eq!(cs("text/html; charset=\"utf-8"), Some("UTF-8"));
        assert_eq!(cs("text/html; charset=\"é\\"), None);
        let odd = utf8_content_type("é; ;=; \"; charset=\"\\é");
        assert!(odd.ends_with("charset=utf-8"), "{odd}");
    }

    #[test]
    fn media_type_drops_parameters() {
        assert_eq!(media_type(" text/html ; charset=x"), "text/html");
    }
}

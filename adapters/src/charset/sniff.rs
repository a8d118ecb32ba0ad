//! Finding a page's charset in its first bytes, the way browsers do.
//!
//! Many legacy pages are served as bare `text/html` and declare their charset only in a
//! `<meta>` tag (`<meta charset=...>` or the older `http-equiv="Content-Type"` form). Browsers
//! find it with the HTML standard's "prescan" of the first 1024 bytes, which is tolerant of
//! attribute order, case, quoting and comments; this module implements that algorithm, plus
//! byte order mark detection, so the portal decodes a page exactly as a browser would have.

use super::{declared_in_document, Encoding};

/// How many leading bytes the prescan looks at (the HTML standard's number).
pub const PRESCAN_LEN: usize = 1024;

/// The encoding a byte order mark at the start of `bytes` announces (UTF-8, UTF-16LE/BE).
pub fn bom_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    Encoding::for_bom(bytes).map(|(encoding, _)| encoding)
}

/// The encoding a page declares in its first 1024 bytes: a byte order mark, or else a
/// `<meta charset>` / `<meta http-equiv="Content-Type" content="...charset=...">` found by the
/// HTML prescan. A declared UTF-16 means UTF-8 (the bytes got this far as ASCII) and
/// `x-user-defined` means windows-1252, as in browsers. `None` if nothing usable is declared.
pub fn sniff_meta_charset(first_bytes: &[u8]) -> Option<&'static Encoding> {
    if let Some(encoding) = bom_encoding(first_bytes) {
        return Some(encoding);
    }
    let bytes = &first_bytes[..first_bytes.len().min(PRESCAN_LEN)];
    Prescan { b: bytes, pos: 0 }.run()
}

fn is_ws(b: u8) -> bool {
    matches!(b, 0x09 | 0x0a | 0x0c | 0x0d | 0x20)
}

struct Prescan<'a> {
    b: &'a [u8],
    pos: usize,
}

/// One attribute as the prescan sees it: name and value lowercased.
struct Attr {
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Prescan<'_> {
    fn at(&self, offset: usize) -> Option<u8> {
        self.b.get(self.pos + offset).copied()
    }

    fn starts_with_ci(&self, s: &[u8]) -> bool {
        self.b
            .get(self.pos..self.pos + s.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(s))
    }

    /// Moves to just after the next `needle` (searching from `from`); false at the end.
    fn skip_past(&mut self, from: usize, needle: &[u8]) -> bool {
        let start = (self.pos + from).min(self.b.len());
        match self.b[start..]
            .windows(needle.len())
            .position(|w| w == needle)
        {
            Some(i) => {
                self.pos = start + i + needle.len();
                true
            }
            None => false,
        }
    }

    fn run(mut self) -> Option<&'static Encoding> {
        while self.pos < self.b.len() {
            if self.starts_with_ci(b"<!--") {
                // `-->` may share its dashes with `<!--`, as in `<!-->`.
                if !self.skip_past(2, b"-->") {
                    return None;
                }
                continue;
            }
            if self.starts_with_ci(b"<meta") && self.at(5).is_some_and(|c| is_ws(c) || c == b'/') {
                self.pos += 5;
                if let Some(found) = self.meta()? {
                    return Some(found);
                }
                continue;
            }
            let tag_start = self.at(0) == Some(b'<');
            let letter_at = |o: usize| self.at(o).is_some_and(|c| c.is_ascii_alphabetic());
            if tag_start && (letter_at(1) || (self.at(1) == Some(b'/') && letter_at(2))) {
                while self.at(0).is_some_and(|c| !is_ws(c) && c != b'>') {
                    self.pos += 1;
                }
                while self.attribute()?.is_some() {}
                continue;
            }
            if tag_start && matches!(self.at(1), Some(b'!' | b'/' | b'?')) {
                if !self.skip_past(0, b">") {
                    return None;
                }
                continue;
            }
            self.pos += 1;
        }
        None
    }

    /// The attributes of a `<meta`: `Some(Some(enc))` if it declares a usable charset,
    /// `Some(None)` to go on scanning, `None` when the input ran out.
    fn meta(&mut self) -> Option<Option<&'static Encoding>> {
        let mut seen: Vec<Vec<u8>> = Vec::new();
        let mut got_pragma = false;
        let mut need_pragma: Option<bool> = None;
        let mut charset: Option<&'static Encoding> = None;
        while let Some(attr) = self.attribute()? {
            if seen.contains(&attr.name) {
                continue;
            }
            match attr.name.as_slice() {
                b"http-equiv" => got_pragma |= attr.value == b"content-type",
                b"content" if charset.is_none() => {
                    if let Some(enc) = charset_in_content(&attr.value) {
                        charset = Some(enc);
                        need_pragma = Some(true);
                    }
                }
                b"charset" => {
                    charset = declared_in_document(trim_ws(&attr.value));
                    need_pragma = Some(false);
                }
                _ => {}
            }
            seen.push(attr.name);
        }
        let usable = match need_pragma {
            None => false,
            Some(true) => got_pragma,
            Some(false) => true,
        };
        Some(charset.filter(|_| usable))
    }

    /// The standard's "get an attribute": `Some(None)` at the end of the tag, `None` when the
    /// input runs out first.
    fn attribute(&mut self) -> Option<Option<Attr>> {
        while self.at(0).is_some_and(|c| is_ws(c) || c == b'/') {
            self.pos += 1;
        }
        let first = self.at(0)?;
        if first == b'>' {
            return Some(None);
        }
        let mut attr = Attr {
            name: Vec::new(),
            value: Vec::new(),
        };
        // Name.
        loop {
            let c = self.at(0)?;
            if c == b'=' && !attr.name.is_empty() {
                self.pos += 1;
                break;
            }
            if is_ws(c) {
                while self.at(0).is_some_and(is_ws) {
                    self.pos += 1;
                }
                if self.at(0)? != b'=' {
                    return Some(Some(attr));
                }
                self.pos += 1;
                break;
            }
            if c == b'/' || c == b'>' {
                return Some(Some(attr));
            }
            attr.name.push(c.to_ascii_lowercase());
            self.pos += 1;
        }
        // Value.
        while self.at(0).is_some_and(is_ws) {
            self.pos += 1;
        }
        let c = self.at(0)?;
        if c == b'"' || c == b'\'' {
            self.pos += 1;
            loop {
                let v = self.at(0)?;
                self.pos += 1;
                if v == c {
                    return Some(Some(attr));
                }
                attr.value.push(v.to_ascii_lowercase());
            }
        }
        if c == b'>' {
            return Some(Some(attr));
        }
        loop {
            let v = self.at(0)?;
            if is_ws(v) || v == b'>' {
                return Some(Some(attr));
            }
            attr.value.push(v.to_ascii_lowercase());
            self.pos += 1;
        }
    }
}

fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ws(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// The standard's "extract a character encoding from a meta element" on a lowercased
/// `content` value such as `text/html; charset=windows-1256`.
fn charset_in_content(content: &[u8]) -> Option<&'static Encoding> {
    let mut pos = 0;
    loop {
        let i = content
            .get(pos..)?
            .windows(7)
            .position(|w| w == b"charset")?;
        pos += i + 7;
        while content.get(pos).copied().is_some_and(is_ws) {
            pos += 1;
        }
        if content.get(pos) != Some(&b'=') {
            continue;
        }
        pos += 1;
        while content.get(pos).copied().is_some_and(is_ws) {
            pos += 1;
        }
        let rest = content.get(pos..)?;
        let label = match rest.first()? {
            q @ (b'"' | b'\'') => {
                let end = rest[1..].iter().position(|c| c == q)?;
                &rest[1..1 + end]
            }
            _ => {
                let end = rest
                    .iter()
                    .position(|&c| is_ws(c) || c == b';')
                    .unwrap_or(rest.len());
                &rest[..end]
            }
        };
        return declared_in_document(label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(html: &str) -> Option<&'static str> {
        sniff_meta_charset(html.as_bytes()).map(|e| e.name())
    }

    #[test]
    fn meta_charset_is_found() {
        assert_eq!(
            sniff("<html><head><meta charset=\"windows-1256\">"),
            Some("windows-1256")
        );
    }

    #[test]
    fn http_equiv_content_type_is_found_in_any_attribute_order_case_and_quoting() {
        assert_eq!(
            sniff(r#"<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=windows-1256">"#),
            Some("windows-1256")
        );
        assert_eq!(
            sniff("<meta content='text/html;charset=ISO-8859-1' http-equiv=content-type />"),
            Some("windows-1252")
        );
        assert_eq!(
            sniff(r#"<meta http-equiv="Content-Type" content="text/html; charset='cp1256'">"#),
            Some("windows-1256")
        );
    }

    #[test]
    fn a_content_charset_without_the_pragma_is_ignored() {
        assert_eq!(
            sniff(r#"<meta name="x" content="text/html; charset=windows-1256">"#),
            None
        );
    }

    #[test]
    fn metas_in_comments_and_attribute_values_are_ignored() {
        assert_eq!(
            sniff(r#"<!-- <meta charset="koi8-r"> --><meta charset="windows-1256">"#),
            Some("windows-1256")
        );
        assert_eq!(
            sniff(r#"<div title="<meta charset=koi8-r>"></div><meta charset=cp1256>"#),
            Some("windows-1256")
        );
    }

    #[test]
    fn unknown_labels_are_skipped_for_the_next_meta() {
        assert_eq!(
            sniff("<meta charset=klingon><meta charset=windows-1256>"),
            Some("windows-1256")
        );
    }

    #[test]
    fn declarations_after_the_first_1024_bytes_are_not_seen() {
        let late = format!("{}<meta charset=windows-1256>", " ".repeat(1100));
        assert_eq!(sniff(&late), None);
    }

    #[test]
    fn a_byte_order_mark_wins_over_meta() {
        let mut page = b"\xEF\xBB\xBF".to_vec();
        page.extend_from_slice(b"<meta charset=windows-1256>");
        assert_eq!(sniff_meta_charset(&page).map(|e| e.name()), Some("UTF-8"));
        assert_eq!(
            sniff_meta_charset(b"\xFF\xFEa\0").map(|e| e.name()),
            Some("UTF-16LE")
        );
    }

    #[test]
    fn utf16_and_user_defined_declarations_are_adjusted_like_browsers() {
        assert_eq!(sniff("<meta charset=utf-16>"), Some("UTF-8"));
        assert_eq!(sniff("<meta charset=x-user-defined>"), Some("windows-1252"));
    }

    #[test]
    fn a_truncated_tag_finds_nothing_and_does_not_panic() {
        assert_eq!(sniff("<meta charset=\"windows-1256"), None);
        assert_eq!(sniff("<meta http-equiv=content-type content="), None);
        assert_eq!(sniff("<!-- never closed <meta charset=cp1256>"), None);
        assert_eq!(sniff("<"), None);
        assert_eq!(sniff_meta_charset(&[0xff, b'<', b'm', 0x80]), None);
    }
}

//! The character encodings of legacy pages.
//!
//! Old Arabic sites serve windows-1256 and announce it only in a `<meta>`;
//! old French sites serve ISO-8859-1; newer ones UTF-8. Pages are written as
//! Rust strings and encoded here at the last moment, so every generator
//! produces bytes in the site's real charset. Characters the charset cannot
//! hold become HTML numeric character references, as browsers' form encoders
//! and old CMSes did.

use std::fmt::Write as _;

use bytes::Bytes;

use crate::sites::{Quirk, Site};

/// A legacy page encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    Utf8,
    Windows1256,
    Latin1,
}

impl Charset {
    /// The charset of `site`'s pages.
    pub(crate) fn of(site: &Site) -> Charset {
        if site.has(Quirk::Windows1256) {
            Charset::Windows1256
        } else if site.has(Quirk::Iso88591) {
            Charset::Latin1
        } else {
            Charset::Utf8
        }
    }

    /// The `Content-Type` header of an HTML page in this charset.
    ///
    /// windows-1256 sites send none: they rely on the `<meta>` in the page.
    pub(crate) fn html_content_type(self) -> &'static str {
        match self {
            Charset::Utf8 => "text/html; charset=utf-8",
            Charset::Windows1256 => "text/html",
            Charset::Latin1 => "text/html; charset=ISO-8859-1",
        }
    }

    /// The `<meta>` element announcing the charset inside `<head>`.
    pub(crate) fn meta(self) -> &'static str {
        match self {
            Charset::Utf8 => {
                r#"<meta http-equiv="Content-Type" content="text/html; charset=utf-8">"#
            }
            Charset::Windows1256 => {
                r#"<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">"#
            }
            Charset::Latin1 => r#"<meta charset="iso-8859-1">"#,
        }
    }

    /// Whether Arabic text is representable (otherwise it is left out of prose).
    pub(crate) fn has_arabic(self) -> bool {
        !matches!(self, Charset::Latin1)
    }

    /// Encodes `text` in this charset.
    pub(crate) fn encode(self, text: &str) -> Bytes {
        match self {
            Charset::Utf8 => Bytes::copy_from_slice(text.as_bytes()),
            Charset::Windows1256 => {
                let (bytes, _, _) = encoding_rs::WINDOWS_1256.encode(text);
                Bytes::copy_from_slice(&bytes)
            }
            Charset::Latin1 => Bytes::from(encode_latin1(text)),
        }
    }
}

/// True ISO-8859-1: code points up to U+00FF are one byte, the rest become
/// numeric character references (windows-1252 would put `’` or `œ` in the
/// C1 range, which is not ISO-8859-1).
fn encode_latin1(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut reference = String::new();
    for c in text.chars() {
        let code = u32::from(c);
        if let Ok(byte) = u8::try_from(code) {
            out.push(byte);
        } else {
            reference.clear();
            // Writing to a String cannot fail.
            let _ = write!(reference, "&#{code};");
            out.extend_from_slice(reference.as_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_keeps_accents_and_escapes_arabic() {
        let bytes = Charset::Latin1.encode("é à ب");
        assert_eq!(&bytes[..], b"\xe9 \xe0 &#1576;");
    }

    #[test]
    fn windows_1256_encodes_arabic_in_single_bytes() {
        let bytes = Charset::Windows1256.encode("بé");
        assert_eq!(bytes.len(), 2);
        assert!(std::str::from_utf8(&bytes).is_err());
    }
}

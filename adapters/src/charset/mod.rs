//! Legacy charsets (windows-1256, iso-8859-1, ...) and their conversion to UTF-8.
//!
//! The portal is UTF-8 end to end; many ministry sites are not. Finding out what a page is
//! written in follows the browsers' order (byte order mark, then the `Content-Type` charset,
//! then a `<meta>` in the first 1024 bytes, then the service's configured fallback), and the
//! conversion itself is streaming so a page never has to be held whole.

mod content_type;
mod sniff;
mod transcode;

pub use content_type::{charset_from_content_type, media_type, utf8_content_type};
pub use encoding_rs::Encoding;
pub use sniff::{bom_encoding, sniff_meta_charset, PRESCAN_LEN};
pub use transcode::Transcoder;

/// The encoding for a charset label as the WHATWG Encoding Standard defines labels
/// (`"windows-1256"`, `"cp1256"`, `"latin1"`, `"ISO-8859-1"`...), the same lookup browsers do.
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes())
}

/// Like [`encoding_for_label`], but for labels found in documents and headers: the
/// `replacement` encoding (which turns a whole page into one U+FFFD) counts as unknown, so the
/// caller falls back to the service's configured charset instead.
fn detected_label(label: &[u8]) -> Option<&'static Encoding> {
    Encoding::for_label_no_replacement(label)
}

/// The encoding to read a document in when the document itself declares `label` (a
/// `<meta charset>`, an XML declaration's `encoding`). The declaration was readable as ASCII,
/// so a declared UTF-16 (without a byte order mark, which wins before this is asked) can only
/// mean UTF-8, as browsers decide and as .NET services that serialize a UTF-16 string to
/// UTF-8 bytes need; `x-user-defined` means windows-1252. Unknown labels and `replacement`
/// are `None`, so the caller falls back.
pub fn declared_in_document(label: &[u8]) -> Option<&'static Encoding> {
    let encoding = detected_label(label)?;
    Some(
        if encoding == encoding_rs::UTF_16BE || encoding == encoding_rs::UTF_16LE {
            encoding_rs::UTF_8
        } else if encoding == encoding_rs::X_USER_DEFINED {
            encoding_rs::WINDOWS_1252
        } else {
            encoding
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_resolve_like_browsers() {
        assert_eq!(
            encoding_for_label("cp1256").map(|e| e.name()),
            Some("windows-1256")
        );
        assert_eq!(
            encoding_for_label("ISO-8859-1").map(|e| e.name()),
            Some("windows-1252")
        );
        assert!(encoding_for_label("klingon").is_none());
    }

    #[test]
    fn a_document_declaring_utf16_or_user_defined_is_read_as_browsers_do() {
        let name = |l: &[u8]| declared_in_document(l).map(|e| e.name());
        assert_eq!(name(b"utf-16"), Some("UTF-8"));
        assert_eq!(name(b"UTF-16BE"), Some("UTF-8"));
        assert_eq!(name(b"x-user-defined"), Some("windows-1252"));
        assert_eq!(name(b"iso-8859-1"), Some("windows-1252"));
        assert_eq!(name(b"iso-2022-kr"), None);
    }

    #[test]
    fn the_replacement_encoding_counts_as_unknown_when_detected() {
        assert!(detected_label(b"iso-2022-kr").is_none());
        assert!(detected_label(b"windows-1256").is_some());
    }
}

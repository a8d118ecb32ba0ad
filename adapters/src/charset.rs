//! Legacy charsets (windows-1256, iso-8859-1, ...) and their conversion to UTF-8.

pub use encoding_rs::Encoding;

/// The encoding for a charset label as the WHATWG Encoding Standard defines labels
/// (`"windows-1256"`, `"cp1256"`, `"latin1"`, `"ISO-8859-1"`...), the same lookup browsers do.
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes())
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
}

//! Streaming conversion of a legacy-encoded body to UTF-8.
//!
//! Bodies arrive in chunks cut wherever the network cut them, so a two-byte character may
//! straddle two chunks. [`Transcoder`] keeps that partial character between calls (inside
//! `encoding_rs`'s decoder), turns malformed bytes into U+FFFD so its output is always valid
//! UTF-8, and produces at most a small multiple of each input chunk: nothing is buffered
//! beyond the one incomplete character.

use super::Encoding;
use encoding_rs::{CoderResult, Decoder};

/// Room reserved when `encoding_rs` cannot bound the output (only for absurd input lengths).
const FALLBACK_ROOM: usize = 64 * 1024;

/// Decodes one body from its legacy encoding to UTF-8, chunk by chunk.
pub struct Transcoder {
    decoder: Decoder,
    declared: &'static Encoding,
    finished: bool,
}

impl std::fmt::Debug for Transcoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transcoder({} → UTF-8)", self.decoder.encoding().name())
    }
}

impl Transcoder {
    /// A transcoder for a body in `encoding`. A byte order mark at the start of the body
    /// overrides `encoding` (and is removed), as browsers do.
    pub fn new(encoding: &'static Encoding) -> Self {
        Self {
            decoder: encoding.new_decoder(),
            declared: encoding,
            finished: false,
        }
    }

    /// The encoding being decoded: the declared one, or the one a byte order mark announced.
    pub fn source_encoding(&self) -> &'static Encoding {
        self.decoder.encoding()
    }

    /// Decodes `chunk` and returns its UTF-8. With `last`, a character left incomplete at the
    /// end of the body becomes U+FFFD. Input after the last chunk is decoded as a new stream
    /// rather than lost.
    pub fn feed(&mut self, chunk: &[u8], last: bool) -> Vec<u8> {
        if self.finished {
            self.decoder = self.declared.new_decoder_without_bom_handling();
            self.finished = false;
        }
        let mut out = String::new();
        let mut src = chunk;
        loop {
            let room = self
                .decoder
                .max_utf8_buffer_length(src.len())
                .unwrap_or(FALLBACK_ROOM);
            out.reserve(room);
            let (result, read, _replaced) = self.decoder.decode_to_string(src, &mut out, last);
            src = src.get(read..).unwrap_or_default();
            match result {
                CoderResult::InputEmpty => break,
                CoderResult::OutputFull => continue,
            }
        }
        self.finished = last;
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{UTF_8, WINDOWS_1252, WINDOWS_1256};

    const ARABIC: &str = "وزارة الاقتصاد والمالية — التصريح بالضريبة على القيمة المضافة";

    fn decode_in_two(encoding: &'static Encoding, bytes: &[u8], cut: usize) -> String {
        let mut t = Transcoder::new(encoding);
        let mut out = t.feed(&bytes[..cut], false);
        out.extend(t.feed(&bytes[cut..], true));
        String::from_utf8(out).expect("transcoder output is UTF-8")
    }

    #[test]
    fn windows_1256_arabic_split_at_every_byte_decodes_identically() {
        let (bytes, _, unmappable) = WINDOWS_1256.encode(ARABIC);
        assert!(!unmappable);
        for cut in 0..=bytes.len() {
            assert_eq!(
                decode_in_two(WINDOWS_1256, &bytes, cut),
                ARABIC,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_multibyte_utf8_character_split_across_chunks_survives() {
        let bytes = ARABIC.as_bytes();
        for cut in 0..=bytes.len() {
            assert_eq!(decode_in_two(UTF_8, bytes, cut), ARABIC, "cut {cut}");
        }
    }

    #[test]
    fn iso_8859_1_french_decodes() {
        let bytes =
            b"D\xe9claration d'imp\xf4t \xe0 la source, \xe9ch\xe9ance \xab r\xe9vis\xe9e \xbb";
        let mut t = Transcoder::new(WINDOWS_1252);
        let out = t.feed(bytes, true);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "Déclaration d'impôt à la source, échéance « révisée »"
        );
    }

    #[test]
    fn a_truncated_character_at_the_end_becomes_a_replacement_character() {
        let mut t = Transcoder::new(UTF_8);
        let mut out = t.feed(b"caf\xc3", false);
        assert_eq!(out, b"caf");
        out.extend(t.feed(b"", true));
        assert_eq!(String::from_utf8(out).expect("utf-8"), "caf\u{FFFD}");
    }

    #[test]
    fn malformed_bytes_become_replacement_characters() {
        let mut t = Transcoder::new(UTF_8);
        let out = t.feed(b"a\xffb\xc3(", true);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "a\u{FFFD}b\u{FFFD}("
        );
    }

    #[test]
    fn a_byte_order_mark_overrides_the_declared_encoding_and_is_removed() {
        let mut t = Transcoder::new(WINDOWS_1256);
        let mut out = t.feed(b"\xEF\xBB", false);
        out.extend(t.feed(b"\xBF\xd8\xa7", true));
        assert_eq!(String::from_utf8(out).expect("utf-8"), "ا");
        assert_eq!(t.source_encoding(), UTF_8);
    }

    #[test]
    fn output_stays_proportional_to_each_input_chunk() {
        let mut t = Transcoder::new(WINDOWS_1256);
        let chunk = vec![0xC7u8; 16 * 1024];
        let out = t.feed(&chunk, false);
        assert_eq!(out.len(), 2 * chunk.len());
    }

    #[test]
    fn input_after_the_last_chunk_does_not_panic_and_is_kept() {
        let mut t = Transcoder::new(WINDOWS_1252);
        assert_eq!(t.feed(b"a", true), b"a");
        assert_eq!(t.feed(b"\xe9", true), "é".as_bytes());
    }
}

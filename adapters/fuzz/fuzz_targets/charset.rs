//! Random encodings and random chunk boundaries through the streaming transcoder.
//!
//! Whatever the encoding and wherever the chunks are cut, the output must be valid UTF-8 and
//! equal to decoding the whole body at once.

#![no_main]

use egov_adapters::charset::{
    charset_from_content_type, encoding_for_label, sniff_meta_charset, utf8_content_type,
    Transcoder,
};
use libfuzzer_sys::fuzz_target;

/// Encodings legacy sites use, plus the odd ones (stateful, multi-byte, UTF-16).
const KNOWN: [&str; 12] = [
    "windows-1256",
    "iso-8859-1",
    "utf-8",
    "iso-8859-6",
    "shift_jis",
    "gb18030",
    "big5",
    "euc-kr",
    "iso-2022-jp",
    "utf-16le",
    "utf-16be",
    "x-user-defined",
];

fuzz_target!(|data: &[u8]| {
    let [selector, seed, rest @ ..] = data else {
        return;
    };
    // High bit set: a random label taken from the input; otherwise a known encoding.
    let (label, body) = if selector & 0x80 != 0 {
        let n = usize::from(selector & 0x0f).min(rest.len());
        (String::from_utf8_lossy(&rest[..n]).into_owned(), &rest[n..])
    } else {
        (
            KNOWN[usize::from(*selector) % KNOWN.len()].to_string(),
            rest,
        )
    };
    let encoding = encoding_for_label(&label).unwrap_or(encoding_rs::WINDOWS_1252);

    let mut t = Transcoder::new(encoding);
    let mut out = Vec::new();
    let mut state = u32::from(*seed) | 1;
    let mut at = 0;
    while at < body.len() {
        // xorshift: reproducible chunk sizes from one input byte, 0 to 63 bytes.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % 64).min(body.len() - at);
        out.extend(t.feed(&body[at..at + n], false));
        at += n;
    }
    out.extend(t.feed(&[], true));
    let text = String::from_utf8(out).expect("transcoder output must be UTF-8");
    let (whole, _, _) = encoding.decode(body);
    assert_eq!(text, whole, "chunked decoding must equal one-shot decoding");

    let _ = sniff_meta_charset(body);
    let ct = String::from_utf8_lossy(body);
    let _ = charset_from_content_type(&ct);
    let _ = utf8_content_type(&ct);
});

//! How the gateway's log lines write their fields: every value escaped and cut, so that what
//! a client sent can neither forge a line nor fill the log.
//!
//! `tracing-subscriber`'s default formatter writes a `%value` field as it is, and escapes
//! only the message's terminal codes. Found when tried: the back-channel logout's refusal
//! logged its reason (`%description`), which repeats the `alg` of the token the caller
//! sent. A token whose `alg` held a newline, a clear-screen code and a made-up
//! `ERROR egov_gateway::admin` line put that line into the gateway's log, and a 40,000
//! character `alg` wrote one line of 40 KB, as often as anyone cared to post it. pingora's
//! own lines carried a path's right-to-left override as it was, which turns the rest of the
//! line around on a terminal.
//!
//! Here each field's value (the message's too, pingora's lines included) is written with its
//! control characters (C0, DEL, C1) and the invisible characters that reorder or hide text
//! (bidirectional marks, embeddings, overrides and isolates, line and paragraph separators,
//! the zero-width space; not the joiners Persian and emoji need) escaped as `\n`, `\r`,
//! `\t` or `\u{..}`, and cut after [`MAX_FIELD_CHARS`] characters ([`MAX_MESSAGE_CHARS`]
//! for the message), with the number of characters left out. A line is then one line, and
//! says only what it seems to say; a message the gateway writes on several lines (a reload's
//! list of problems) reads with `\n` between them.

use std::fmt::{self, Write};
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;

/// The most characters of one field's value a line writes: enough for an error's chain of
/// causes; a value past it is what a client sent.
pub const MAX_FIELD_CHARS: usize = 2048;
/// The most characters of a line's message: the gateway's own messages may list many
/// problems (a reload refused with every configuration error, found in review: cut at 2,048
/// characters, the list lost its tail); a message carrying a client's text (pingora's, with
/// a request's path) is bounded by the request's own limits.
pub const MAX_MESSAGE_CHARS: usize = 16 * 1024;

/// The field formatter of every log line (`fmt().fmt_fields(SafeFields)`): the default
/// layout (`message key=value ...`, pingora's `log.*` metadata left out), every value
/// escaped and cut.
#[derive(Debug, Default, Clone, Copy)]
pub struct SafeFields;

impl<'writer> FormatFields<'writer> for SafeFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

/// An error and its causes, as `anyhow`'s `{:#}` writes them: what a log line or an error
/// message should carry of a library's error, whose own message often hides the useful part
/// in its causes (reqwest's "error sending request for url", oauth2's "client error").
pub struct ErrorChain<'e>(pub &'e (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"))
        } else {
            self.record_debug(field, &value)
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &ErrorChain(value))
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        // pingora logs through `log`; its records' metadata arrive as `log.*` fields, which
        // the line's target and level already say.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        self.result = self.write_field(name, value);
    }
}

impl Visitor<'_> {
    fn write_field(&mut self, name: &str, value: &dyn fmt::Debug) -> fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.writer.write_char(' ')?;
        }
        if name != "message" {
            self.writer
                .write_str(name.strip_prefix("r#").unwrap_or(name))?;
            self.writer.write_char('=')?;
        }
        let mut out = Escaped {
            out: &mut self.writer,
            left: if name == "message" {
                MAX_MESSAGE_CHARS
            } else {
                MAX_FIELD_CHARS
            },
            cut: 0,
        };
        write!(out, "{value:?}")?;
        let cut = out.cut;
        if cut > 0 {
            write!(self.writer, "…[{cut} more characters]")?;
        }
        Ok(())
    }
}

/// A writer that escapes what [`must_escape`] names and keeps the first `left` characters,
/// counting the rest in `cut`.
struct Escaped<'o, W: Write> {
    out: &'o mut W,
    left: usize,
    cut: usize,
}

impl<W: Write> Write for Escaped<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.left == 0 {
                self.cut += 1;
                continue;
            }
            self.left -= 1;
            match c {
                c if !must_escape(c) => self.out.write_char(c)?,
                '\n' => self.out.write_str("\\n")?,
                '\r' => self.out.write_str("\\r")?,
                '\t' => self.out.write_str("\\t")?,
                c => write!(self.out, "\\u{{{:x}}}", u32::from(c))?,
            }
        }
        Ok(())
    }
}

/// A JSON line (`serde_json`'s) with the characters [`must_escape`] names that JSON leaves
/// as they are (DEL, the C1 controls, the bidirectional and invisible ones) written as
/// `\uXXXX`: the same JSON, which no viewer reorders. Found when tried: a service id of
/// `FORGED\u{202e}` in an admin API path reached the audit log raw, and reversed the rest
/// of its line in a terminal.
pub fn json_safe(line: &str) -> std::borrow::Cow<'_, str> {
    let raw = |c: char| c >= '\u{7f}' && must_escape(c);
    if !line.chars().any(raw) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        if raw(c) {
            json_escape(c, |b| out.push(char::from(b)));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `c` as JSON writes any character (RFC 8259 §7): `\uXXXX`, a surrogate pair of them
/// beyond the Basic Multilingual Plane (the tag characters), handed to `push` byte by byte.
pub(crate) fn json_escape(c: char, mut push: impl FnMut(u8)) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for unit in c.encode_utf16(&mut [0; 2]) {
        for b in *b"\\u" {
            push(b);
        }
        for shift in [12, 8, 4, 0] {
            push(HEX[usize::from((*unit >> shift) & 0xf)]);
        }
    }
}

/// Whether a log line must not carry `c` as it is: a control character (a newline would
/// start a forged line, an escape code would rewrite the terminal), or an invisible one that
/// reorders or hides the text around it. Found in a bypass probe: the tag characters
/// ("ASCII smuggling"), the word joiner, the soft hyphen and the deprecated format controls
/// reached the access log raw; every invisible format character is escaped now.
pub(crate) fn must_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}' // soft hyphen
                | '\u{034F}' // combining grapheme joiner
                | '\u{061C}' // Arabic letter mark
                | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
                | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
                | '\u{180B}'..='\u{180F}' // Mongolian selectors and vowel separator
                | '\u{200B}'..='\u{200F}' // zero-width space, joiners, directional marks
                | '\u{2028}' | '\u{2029}' // line and paragraph separators
                | '\u{202A}'..='\u{202E}' // embeddings and overrides
                | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, isolates, deprecated
                | '\u{FE00}'..='\u{FE0F}' // variation selectors
                | '\u{FEFF}' // zero-width no-break space
                | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
                | '\u{E0000}'..='\u{E007F}' // tags
                | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
        )
}

#[cfg(test)]
mod tests {
    use super::{ErrorChain, SafeFields, MAX_FIELD_CHARS};

    #[derive(Debug, thiserror::Error)]
    #[error("client error")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_errors_causes_are_written_after_it() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "operation timed out",
        ));
        assert_eq!(
            ErrorChain(&e).to_string(),
            "client error: operation timed out"
        );
    }

    /// The lines `log` writes through the gateway's field formatter.
    fn lines_of(log: impl FnOnce()) -> String {
        let lines = crate::testing::LogLines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(SafeFields)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        lines.text()
    }

    /// The probe's token: its `alg`, repeated into the refusal's reason, held a newline, a
    /// clear-screen code and a made-up error line.
    #[test]
    fn a_value_a_client_sent_cannot_start_a_line_or_reach_the_terminal() {
        let description = "unsupported alg \u{1b}[2J\u{1b}[31m\n2026-12-06T12:00:00Z ERROR \
                           egov_gateway::admin: FORGED LINE\r";
        let text = lines_of(|| tracing::info!(%description, "back-channel logout refused"));
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(
            text.contains(
                r"description=unsupported alg \u{1b}[2J\u{1b}[31m\n2026-12-06T12:00:00Z ERROR"
            ),
            "{text}"
        );
        assert!(text.contains("back-channel logout refused"), "{text}");
    }

    #[test]
    fn a_message_as_pingora_writes_it_is_escaped_too() {
        let path = "/x/\u{202e}gpj.exe\n";
        let text = lines_of(|| tracing::error!("Fail to proxy: {path}"));
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains('\u{202e}'), "{text}");
        assert!(
            text.contains(r"Fail to proxy: /x/\u{202e}gpj.exe\n"),
            "{text}"
        );
    }

    #[test]
    fn a_long_value_is_cut_and_says_how_much_was_left_out() {
        let alg = "A".repeat(40_000);
        let text = lines_of(|| tracing::info!(%alg, "refused"));
        let kept = MAX_FIELD_CHARS;
        assert!(text.contains(&format!(
            "{}…[{} more characters]",
            "A".repeat(kept),
            40_000 - kept
        )));
        assert!(text.len() < kept + 200, "{} bytes", text.len());
    }

    #[test]
    fn a_json_line_keeps_its_meaning_and_loses_its_bidi_overrides() {
        let line =
            serde_json::json!({ "service": "FORGED\u{202e}gpj\u{85}", "ok": "بطاقة ⵜⴰⴽⴰⵔⴹⴰ" })
                .to_string();
        let safe = super::json_safe(&line);
        assert!(
            !safe.contains('\u{202e}') && !safe.contains('\u{85}'),
            "{safe}"
        );
        assert!(safe.contains(r"FORGED\u202egpj\u0085"), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back["service"], "FORGED\u{202e}gpj\u{85}");
        assert_eq!(back["ok"], "بطاقة ⵜⴰⴽⴰⵔⴹⴰ");
    }

    /// Found in a bypass probe: a tag character (beyond the Basic Multilingual Plane) is
    /// invisible too; JSON writes it as a surrogate pair.
    #[test]
    fn a_character_beyond_the_basic_plane_is_escaped_as_a_surrogate_pair() {
        let line = serde_json::json!({ "path": "/t\u{E0041}x" }).to_string();
        let safe = super::json_safe(&line);
        assert!(safe.contains(r"/t\udb40\udc41x"), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back["path"], "/t\u{E0041}x");
    }

    #[test]
    fn a_long_message_of_the_gateways_own_keeps_its_tail() {
        let problems: Vec<String> = (0..200)
            .map(|i| format!("services/x{i}.toml: upstream.url: not a URL"))
            .collect();
        let text = lines_of(|| {
            tracing::error!("reload refused, nothing changed:\n{}", problems.join("\n"))
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains(r"x199.toml: upstream.url: not a URL"),
            "{text}"
        );
        assert!(!text.contains("more characters]"), "{text}");
    }

    #[test]
    fn the_gateways_own_lines_read_as_before() {
        let error = std::io::Error::other("connection refused");
        let text = lines_of(
            || tracing::warn!(service = "cnie-renewal", %error, retries = 3, "the site is down"),
        );
        assert!(
            text.contains(
                "the site is down service=\"cnie-renewal\" error=connection refused retries=3"
            ),
            "{text}"
        );
        // Arabic, Tifinagh and accents are written as they are.
        let text = lines_of(|| tracing::info!(query = "بطاقة ⵜⴰⴽⴰⵔⴹⴰ carte d'identité", "asked"));
        assert!(
            text.contains("query=\"بطاقة ⵜⴰⴽⴰⵔⴹⴰ carte d'identité\""),
            "{text}"
        );
    }
}

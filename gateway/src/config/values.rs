//! Validators for the small value types that appear all over the configuration.
//!
//! Each returns a reason an operator can act on ("must be between 1 and 65535"), never a
//! parser's internal message, and each is used for every field of its kind so the same
//! mistake gets the same explanation everywhere.

use std::net::SocketAddr;
use std::time::Duration;

/// A URL from the configuration as an error quotes it: without what may be a credential,
/// everything before its last `@` (but a scheme) and its query and fragment (found in
/// bypass probes: a malformed backend URL `http://svc:hunter2@…`, an LLM `base_url` ending
/// `?key=…`, then `http:/u:secret@h`, `//u:secret@h` and a password holding a `?` were
/// quoted, into logs, `check`'s output and the API's answers).
pub fn url_shown(s: &str) -> String {
    let s = s.trim();
    let scheme_end = s.find(':').filter(|&i| {
        i > 0
            && s[..i]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
    });
    let (scheme, rest) = match scheme_end {
        Some(i) => s.split_at(i + 1),
        None => ("", s),
    };
    let rest = match rest.rfind('@') {
        Some(at) => {
            let slashes = if rest.starts_with("//") { "//" } else { "" };
            format!("{slashes}…@{}", &rest[at + 1..])
        }
        None => rest.to_string(),
    };
    match rest.find(['?', '#']) {
        Some(i) => format!("{scheme}{}?…", &rest[..i]),
        None => format!("{scheme}{rest}"),
    }
}

/// Whether `c` is a character a reader does not see but which changes what is read: control
/// characters other than whitespace, Unicode format characters (zero-width spaces and
/// joiners, bidirectional embeddings, overrides and isolates, the Arabic letter mark, the
/// byte-order mark, soft hyphens), variation selectors, the tag characters
/// (U+E0000–U+E007F) that can spell a whole hidden sentence, and the letters that draw
/// nothing (the Hangul fillers, the blank Braille pattern, the musical formatting marks:
/// `"Biom\u{3164}etric"` read as another service's name; found when tried). A citizen's query loses them
/// before it is read (`assist::text::visible`); a ministry's texts may not contain them
/// (`"\u{202E}tropssaP"` displays as another service's name).
pub fn hidden(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{034F}'
        | '\u{061C}'
        | '\u{115F}'..='\u{1160}'
        | '\u{17B4}'..='\u{17B5}'
        | '\u{180B}'..='\u{180D}'
        | '\u{180F}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{2800}'
        | '\u{3164}'
        | '\u{FEFF}'
        | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFB}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}'
    ) || (c.is_control() && !c.is_whitespace())
}

/// Whether `c` may not appear in a text a ministry shows citizens: the [`hidden`]
/// characters that reorder or conceal text (bidirectional embeddings, overrides and isolates,
/// zero-width spaces, word joiners, the byte-order mark, tag characters, control
/// characters). The marks and joiners that mixed Arabic and Latin text and Arabic script
/// need (LRM, RLM, ALM, ZWJ, ZWNJ), soft hyphens and variation selectors are allowed: they
/// cannot make one name display as another, and [`folded`] leaves them out when names are
/// compared.
fn forbidden_in_text(c: char) -> bool {
    hidden(c)
        && !matches!(
            c,
            '\u{200C}'..='\u{200F}' | '\u{061C}' | '\u{00AD}' | '\u{FE00}'..='\u{FE0F}'
        )
}

/// `s` as two texts are compared for sameness (a name, a keyword): without [`hidden`]
/// characters, whitespace collapsed, lower case.
pub fn folded(s: &str) -> String {
    let visible: String = s.chars().filter(|&c| !hidden(c)).collect();
    visible
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A text shown to citizens: at most `max` characters, nothing [`forbidden_in_text`] in it.
pub fn shown_text(s: &str, max: usize) -> Result<(), String> {
    let count = s.chars().count();
    if count > max {
        return Err(format!("is {count} characters long; at most {max}"));
    }
    if let Some((i, c)) = s.chars().enumerate().find(|&(_, c)| forbidden_in_text(c)) {
        return Err(format!(
            "contains an invisible or direction-changing character (U+{:04X}, character {}); write the text as it reads",
            u32::from(c),
            i + 1
        ));
    }
    Ok(())
}

/// The longest path prefix (a legacy site's path, a backend's base path).
pub const MAX_PATH_PREFIX: usize = 1024;

/// The longest id (of a service, ministry or agency): a DNS label.
pub const MAX_SLUG: usize = 63;

/// The longest duration any setting takes: a year (a day's slack for `"1y"`). Found when
/// tried: `"300000000000y"` passed `check` and a ministry's PATCH, and the first request to
/// the service overflowed the clock (`Instant + Duration` panics) and aborted the process,
/// every ministry's services with it.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Durations are written like `"2s"`, `"500ms"`, `"1m 30s"`; from a millisecond-or-so above
/// zero up to [`MAX_DURATION`].
pub fn duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|_| format!("{s:?} is not a duration (write it like \"2s\" or \"500ms\")"))?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    if d > MAX_DURATION {
        return Err(format!("{s:?} is longer than a year; at most \"1y\""));
    }
    Ok(d)
}

/// A listen address is an IP and a port: `"127.0.0.1:8080"`, `"[::1]:8443"`.
pub fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    s.trim()
        .parse::<SocketAddr>()
        .map_err(|_| format!("{s:?} is not an IP:port address (e.g. \"127.0.0.1:8080\")"))
}

/// Ids of services, ministries and agencies appear in URLs and metric labels, so they are
/// restricted to lowercase ASCII letters, digits and dashes; a service id is also the host
/// label of its own origin (`<id>.services.gov.ma`), which DNS caps at 63 bytes.
pub fn slug(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_SLUG
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} must be 1-63 lowercase letters, digits and dashes, not starting or ending with a dash"
        ))
    }
}

/// A DNS host name as it appears in a `Host` header (lowercase, no port, no scheme).
pub fn hostname(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err("must be a host name of 1-253 characters".into());
    }
    if s.contains("://") || s.contains('/') || s.contains(':') {
        return Err(format!(
            "{s:?} must be a bare host name like \"www.cnie.ma\" (no scheme, port or path)"
        ));
    }
    for label in s.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!(
                "{s:?} is not a valid lowercase host name (label {label:?})"
            ));
        }
    }
    Ok(())
}

/// An absolute path prefix such as `"/"` or `"/vat-declaration"`: starts with `/`, no
/// trailing slash (except the root), no dot segments, query, fragment or percent escapes.
pub fn path_prefix(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!("{s:?} must start with \"/\""));
    }
    // Every link and redirect of every legacy page is compared with it.
    if s.len() > MAX_PATH_PREFIX {
        return Err(format!(
            "is {} bytes long; at most {MAX_PATH_PREFIX}",
            s.len()
        ));
    }
    if s.contains(['?', '#', '%', '\\']) || s.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!(
            "{s:?} must be a plain path (no query, fragment, escapes or spaces)"
        ));
    }
    let trimmed = s.trim_end_matches('/');
    if trimmed
        .split('/')
        .skip(1)
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(format!(
            "{s:?} must not contain empty, \".\" or \"..\" segments"
        ));
    }
    Ok(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

/// Positive integer within bounds, for counts and sizes.
pub fn bounded(v: i64, min: i64, max: i64) -> Result<usize, String> {
    if v < min || v > max {
        return Err(format!("must be between {min} and {max}, got {v}"));
    }
    usize::try_from(v).map_err(|_| format!("must be between {min} and {max}, got {v}"))
}

/// A glob over a service's paths (`/static/**`, `/*.css`): `*` stays within a segment, `**`
/// crosses them.
pub fn path_glob(s: &str) -> Result<globset::Glob, String> {
    if !s.starts_with('/') {
        return Err(format!("{s:?} must start with '/' (a path of the service)"));
    }
    globset::GlobBuilder::new(s)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("{s:?} is not a glob: {}", e.kind()))
}

/// `"<n>/<unit>"` (`600/min`, `10/s`, `1000/h`): `n` requests per unit, with a burst of `n`.
pub fn rate(s: &str) -> Result<crate::config::Rate, String> {
    let bad = || format!("{s:?} is not a rate like \"600/min\" (units: s, min, h)");
    let (n, unit) = s.split_once('/').ok_or_else(bad)?;
    let count: u32 = n.trim().parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => std::time::Duration::from_secs(1),
        "m" | "min" | "minute" => std::time::Duration::from_secs(60),
        "h" | "hour" => std::time::Duration::from_secs(3600),
        _ => return Err(bad()),
    };
    if count == 0 || count > 10_000_000 {
        return Err(format!("{s:?}: the count must be between 1 and 10000000"));
    }
    Ok(crate::config::Rate { count, per })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_quoted_without_its_userinfo_or_query() {
        for (url, shown) in [
            (
                "http://svc:hunter2@127.0.0.1:99999/",
                "http://…@127.0.0.1:99999/",
            ),
            (
                "https://api.example/v1?key=sk-123",
                "https://api.example/v1?…",
            ),
            (
                "https://a:b@c@api.example/v1#sk",
                "https://…@api.example/v1?…",
            ),
            (" http://127.0.0.1:8000/v1 ", "http://127.0.0.1:8000/v1"),
            ("http:/u:SEKRET@h:99999", "http:…@h:99999"),
            ("//u:SEKRET@h/", "//…@h/"),
            ("http:\\\\u:SEKRET@h", "http:…@h"),
            ("http://u:ab?SEKRET@h", "http://…@h"),
            ("http://u:ab#SEKRET@h/x?k=1", "http://…@h/x?…"),
        ] {
            assert_eq!(url_shown(url), shown, "{url}");
        }
    }

    /// Found in review: a mark mixed Arabic and Latin text needs is no trick; an override is.
    #[test]
    fn texts_keep_the_marks_scripts_need_and_lose_the_tricks() {
        assert!(shown_text("بطاقة \u{200E}CNIE\u{200F} الوطنية", 100).is_ok());
        assert!(shown_text("می\u{200C}خواهم", 100).is_ok(), "ZWNJ");
        for trick in [
            "\u{202E}tropssaP",
            "Pass\u{200B}port",
            "a\u{2066}b",
            "x\u{E0041}",
        ] {
            assert!(shown_text(trick, 100).is_err(), "{trick:?}");
        }
        assert_eq!(folded("Pass\u{200B}port  CNIE"), folded("passport cnie"));
    }

    #[test]
    fn durations_are_human_and_positive() {
        assert_eq!(duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(duration("0s").is_err());
        assert_eq!(duration("1y"), Ok(Duration::from_secs(31_557_600)));
        let past = duration("300000000000y").expect_err("past any clock");
        assert!(past.contains("longer than a year"), "{past}");
        assert!(duration("367d").is_err());
        assert!(duration("2 parsecs").is_err());
    }

    #[test]
    fn slugs_reject_upper_case_and_slashes() {
        assert!(slug("cnie-renewal").is_ok());
        assert!(slug("CNIE").is_err());
        assert!(slug("a/b").is_err());
        assert!(slug("-a").is_err());
        assert!(slug("").is_err());
        // A host label: at most 63 bytes.
        assert!(slug(&"a".repeat(63)).is_ok());
        assert!(slug(&"a".repeat(64)).is_err());
    }

    #[test]
    fn hostnames_must_be_bare() {
        assert!(hostname("www.cnie.ma").is_ok());
        assert!(hostname("http://www.cnie.ma").is_err());
        assert!(hostname("www.cnie.ma:80").is_err());
        assert!(hostname("WWW.cnie.ma").is_err());
    }

    #[test]
    fn path_prefixes_are_normalised_without_trailing_slash() {
        assert_eq!(path_prefix("/"), Ok("/".into()));
        assert_eq!(path_prefix("/ir/"), Ok("/ir".into()));
        assert!(path_prefix("ir").is_err());
        assert!(path_prefix("/a/../b").is_err());
        assert!(path_prefix("/a%2fb").is_err());
        assert!(path_prefix(&"/a".repeat(MAX_PATH_PREFIX)).is_err());
    }
}

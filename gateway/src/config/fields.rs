//! Validators shared by every configuration file: durations with defaults, listen
//! addresses, timeout tables, texts in the portal's languages, secret references and paths
//! relative to the file they are written in. Each records its problem with the file and key
//! and returns `None`, so a caller goes on and every problem is reported in one run.

use super::error::Problems;
use super::raw::{RawLocalized, RawSecret, RawTimeouts};
use super::values;
use super::{Localized, SecretRef, Timeouts};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Resolves a path written in a config file relative to that file's directory.
pub(crate) fn relative_to(file: &Path, written: &str) -> PathBuf {
    let p = Path::new(written);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// The path of a file holding a key, certificate or secret, relative to the config file;
/// `None`, with the problem recorded at `field` and nothing of it repeated, when what is
/// written is the key itself (PEM text, or anything with a line break or control
/// character, which no path of ours has). Found when tried: a private key pasted where its
/// path belongs was quoted back whole in "file … does not exist", into `check`'s output and
/// the log.
pub(crate) fn key_file(
    file: &Path,
    field: &str,
    written: &str,
    p: &mut Problems<'_>,
) -> Option<PathBuf> {
    if written.contains("-----BEGIN")
        || written.chars().any(char::is_control)
        || (looks_like_key_text(written) && !relative_to(file, written).exists())
    {
        p.add(
            field,
            "holds key or certificate text, not a path (not repeated here): write it to a \
             file only the gateway can read and give that file's path",
        );
        return None;
    }
    Some(relative_to(file, written))
}

/// Whether `s` reads as a key or token itself rather than a path: long, not absolute,
/// base64's letters only, upper and lower case and digits mixed, hardly a `/` (found in a
/// bypass probe: a key's body without its PEM armour was quoted back as a missing file's
/// name). Asked only of a path that leads nowhere: a temporary directory's random name is
/// a path that exists (found when the demo's staged configuration was refused).
fn looks_like_key_text(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 64
        && b.first() != Some(&b'/')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"+/=_-".contains(c))
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(u8::is_ascii_digit)
        && b.iter().filter(|&&c| c == b'/').count() * 16 < b.len()
}

/// A file the gateway writes (a log, the registry's history), written in a config file:
/// relative to that file, and in a directory that exists. `check` then refuses what `serve`
/// could not open (found when tried: an access log in a missing directory passed `check`).
pub(crate) fn written_file(
    p: &mut Problems<'_>,
    field: &str,
    file: &Path,
    written: &str,
) -> Option<PathBuf> {
    let path = relative_to(file, written);
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if dir.is_dir() {
        Some(path)
    } else {
        p.add(
            field,
            format!(
                "{}: the directory {} does not exist",
                path.display(),
                dir.display()
            ),
        );
        None
    }
}

pub(crate) fn opt_duration(
    p: &mut Problems<'_>,
    field: &str,
    value: Option<&str>,
    default: Duration,
) -> Option<Duration> {
    match value {
        None => Some(default),
        Some(s) => p.check(field, values::duration(s)),
    }
}

/// [`opt_duration`] of a value counted in whole seconds where it is used (a session's
/// clocks, a token's `exp`): a fraction is refused, not cut. Found when tried:
/// `sessions.idle_timeout = "500ms"` passed `check` and became 0, so every session ended
/// as it was made and the browser went round the login for ever; `identity.ttl = "500ms"`
/// gave assertions whose `exp` was their `iat`.
pub(crate) fn opt_seconds(
    p: &mut Problems<'_>,
    field: &str,
    value: Option<&str>,
    default: Duration,
) -> Option<Duration> {
    let d = opt_duration(p, field, value, default)?;
    if d.subsec_nanos() != 0 {
        p.add(
            field,
            format!(
                "{:?} is not a whole number of seconds: it is counted in seconds (write e.g. \"30s\" or \"15min\")",
                value.unwrap_or_default()
            ),
        );
        return None;
    }
    Some(d)
}

pub(crate) fn opt_listen(
    p: &mut Problems<'_>,
    field: &str,
    value: Option<&str>,
) -> Option<Option<std::net::SocketAddr>> {
    match value {
        None | Some("") => Some(None),
        Some(s) => p.check(field, values::listen_addr(s)).map(Some),
    }
}

/// Validates a `timeouts` table, filling unset values from `inherited`.
pub(crate) fn timeouts(
    p: &mut Problems<'_>,
    field: &str,
    raw: Option<&RawTimeouts>,
    inherited: &Timeouts,
) -> Option<Timeouts> {
    let Some(raw) = raw else {
        return Some(*inherited);
    };
    let connect = opt_duration(
        p,
        &format!("{field}.connect"),
        raw.connect.as_deref(),
        inherited.connect,
    );
    let read = opt_duration(
        p,
        &format!("{field}.read"),
        raw.read.as_deref(),
        inherited.read,
    );
    let total = opt_duration(
        p,
        &format!("{field}.total"),
        raw.total.as_deref(),
        inherited.total,
    );
    let t = Timeouts {
        connect: connect?,
        read: read?,
        total: total?,
    };
    if t.total < t.connect {
        p.add(
            format!("{field}.total"),
            "must not be shorter than the connect timeout",
        );
        return None;
    }
    // Found when tried: `read = "40s"` beside `total = "10s"` was taken, and the site was
    // never given the 40 s its operator meant.
    // Only a read timeout set here: one inherited beside a shorter total set here (a
    // fast site meant to fail fast) is cut by it, as before (found in review).
    if raw.read.is_some() && t.total < t.read {
        p.add(
            format!("{field}.read"),
            format!(
                "{} is longer than the total timeout ({}), which ends the request first: \
                 raise total too, or shorten read",
                humantime::format_duration(t.read),
                humantime::format_duration(t.total)
            ),
        );
        return None;
    }
    Some(t)
}

/// The longest name (of a service, ministry or agency) a card has room for.
pub(crate) const NAME_CHARS: usize = 160;
/// The longest description: a paragraph, not a page (every home page carries them).
pub(crate) const DESCRIPTION_CHARS: usize = 600;

/// A text in the portal's languages: `ar`, `fr` and `en` required, `zgh` optional and in
/// Tifinagh; each at most `max` characters, none with a character a reader cannot see
/// ([`values::shown_text`]).
pub(crate) fn localized(
    p: &mut Problems<'_>,
    field: &str,
    raw: &RawLocalized,
    max: usize,
) -> Option<Localized> {
    let mut get = |lang: &str, v: &Option<String>| match v.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => p
            .check(format!("{field}.{lang}"), values::shown_text(s, max))
            .map(|()| s.to_string()),
        _ => {
            p.add(
                format!("{field}.{lang}"),
                "is required and must not be empty",
            );
            None
        }
    };
    let ar = get("ar", &raw.ar);
    let fr = get("fr", &raw.fr);
    let en = get("en", &raw.en);
    let zgh = match raw.zgh.as_deref().map(str::trim) {
        None => None,
        Some("") => {
            p.add(
                format!("{field}.zgh"),
                "must not be empty (leave it out to fall back to Arabic)",
            );
            None
        }
        Some(s) if !mostly_tifinagh(s) => {
            p.add(
                format!("{field}.zgh"),
                "must be written in Tifinagh (U+2D30..U+2D7F): most of its letters are not",
            );
            None
        }
        Some(s) => p
            .check(format!("{field}.zgh"), values::shown_text(s, max))
            .map(|()| s.to_string()),
    };
    Some(Localized {
        ar: ar?,
        fr: fr?,
        en: en?,
        zgh,
    })
}

/// Whether at least half the letters of `s` are Tifinagh (an acronym in Latin letters may
/// stand in an Amazigh text; one Tifinagh letter in front of French does not make one).
fn mostly_tifinagh(s: &str) -> bool {
    let tifinagh = s
        .chars()
        .filter(|c| ('\u{2D30}'..='\u{2D7F}').contains(c))
        .count();
    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
    tifinagh > 0 && tifinagh * 2 >= letters
}

/// A `{ env = "..." }` / `{ file = "..." }` secret reference.
pub(crate) fn secret_ref(
    file: &Path,
    field: &str,
    raw: &RawSecret,
    p: &mut Problems<'_>,
) -> Option<SecretRef> {
    match (&raw.env, &raw.file, &raw.stored) {
        (None, None, Some(key)) if !key.is_empty() => Some(SecretRef::Stored(key.clone())),
        (Some(name), None, None) => {
            // A name does not begin with a digit: one that does is a secret written in its
            // place (found in a bypass probe: a hex token was named as a missing variable).
            let ok = name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if ok {
                Some(SecretRef::Env(name.clone()))
            } else {
                // Not quoted: what is written there may be the secret itself.
                p.add(
                    format!("{field}.env"),
                    "must be an environment variable's name (A-Z, 0-9, _), not the secret",
                );
                None
            }
        }
        (None, Some(path), None) => {
            key_file(file, &format!("{field}.file"), path, p).map(SecretRef::File)
        }
        _ => {
            p.add(
                field,
                "give exactly one of { env = \"NAME\" } or { file = \"path\" }; never the secret itself",
            );
            None
        }
    }
}

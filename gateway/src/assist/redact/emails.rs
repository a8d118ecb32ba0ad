//! E-mail addresses, as written and spelled out.

use super::chars::at;
use super::{PiiKind, Span};

/// Mail providers' names, which make a host of their own without a domain's dot
/// (`karim at hotmail`, `karim(at)gmail`): an address the citizen left the `.com` out of.
const PROVIDERS: [&str; 10] = [
    "gmail",
    "hotmail",
    "yahoo",
    "outlook",
    "live",
    "menara",
    "icloud",
    "protonmail",
    "aol",
    "msn",
];

/// Whether `host` (lower-case) is a mail provider's name ([`PROVIDERS`]).
fn a_provider(host: &str) -> bool {
    PROVIDERS.contains(&host)
}

pub(super) fn emails(chars: &[char], spans: &mut Vec<Span>) {
    // Any script's letters: an address written in Arabic letters is one too (found in a
    // probe: `حسن.العلوي@هوتميل.كوم` kept its first name).
    let local = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_alphanumeric() || ".-".contains(c);
    for (p, _) in chars.iter().enumerate().filter(|(_, &c)| c == '@') {
        // A space or two on either side of the `@` still join an address (found in probes:
        // `karim@ hotmail`, `karim @hotmail.com` and `karim  @  gmail.com` reached the LLM).
        let before = p
            - (0..2)
                .take_while(|k| p > *k && at(chars, p - 1 - k) == ' ')
                .count();
        let after = p + 1 + (0..2).take_while(|k| at(chars, p + 1 + k) == ' ').count();
        let mut l = before;
        while l > 0 && local(at(chars, l - 1)) {
            l -= 1;
        }
        let mut r = after;
        while r < chars.len() && domain(at(chars, r)) {
            r += 1;
        }
        while r > after && ".-".contains(at(chars, r - 1)) {
            r -= 1;
        }
        // A host with no dot is still one (`karim@gmail`: found in a bypass probe, the
        // citizen left out the `.com`, and the address reached the LLM): any host naming a
        // letter, after a local part, is an address. With a space beside the `@`, only a
        // host with a dot or a provider's name is (`merci @DGSN` is no address).
        let host = chars.get(after..r).unwrap_or_default();
        let named = host.iter().any(|c| c.is_alphabetic());
        let spaced = before != p || after != p + 1;
        let dotted_or_provider =
            host.contains(&'.') || a_provider(&host.iter().collect::<String>().to_lowercase());
        if l < before && named && (!spaced || dotted_or_provider) {
            spans.push(Span {
                start: l,
                end: r,
                kind: PiiKind::Email,
                rank: 0,
            });
        }
    }
}

/// E-mail addresses spelled out to get past filters: `karim at gmail dot com`,
/// `karim [at] gmail [dot] com`, `karim arobase gmail point ma`.
pub(super) fn spelled_emails(chars: &[char], spans: &mut Vec<Span>) {
    // Words with their char positions.
    let mut words: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        let w: String = chars[start..i].iter().collect::<String>().to_lowercase();
        words.push((start, i, w));
    }
    let is = |w: &str, forms: &[&str]| {
        let t = w.trim_matches(|c: char| "[]()<>{}".contains(c));
        forms.contains(&t)
    };
    let plain = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    // `karim.b at hotmail`, `kbenali1990 at gmail.com`: a host written whole after a spelled
    // `@` (found in probes: adding the `.com` turned the redaction off). A provider's name
    // needs no dot; the local part must look like an address's (a digit, `.`, `_`, `-`),
    // so that "my account at gmail is blocked" keeps its words (a first name alone is
    // redacted as a name).
    let dotted_host = |host: &str| {
        host.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
                && tld.len() >= 2
                && tld.chars().all(|c| c.is_ascii_alphabetic())
        })
    };
    let address_like = |local: &str| {
        plain(local)
            && local
                .chars()
                .any(|c| c.is_ascii_digit() || "._-".contains(c))
    };
    for k in 0..words.len().saturating_sub(2) {
        let (at_w, host) = (&words[k + 1].2, &words[k + 2].2);
        let host = host.trim_end_matches(|c: char| ".,;:!?".contains(c));
        if address_like(&words[k].2)
            && is(
                at_w,
                &["at", "arobase", "@", "arroba", "chez", "على", "3la"],
            )
            && (a_provider(host) || dotted_host(host))
        {
            spans.push(Span {
                start: words[k].0,
                end: words[k + 2].1,
                kind: PiiKind::Email,
                rank: 0,
            });
        }
    }
    for k in 0..words.len().saturating_sub(4) {
        let (at_w, host, dot, tld) = (
            &words[k + 1].2,
            &words[k + 2].2,
            &words[k + 3].2,
            &words[k + 4].2,
        );
        if plain(&words[k].2)
            && is(at_w, &["at", "arobase", "@"])
            && plain(host)
            && is(dot, &["dot", "point", "."])
            && (2..=6).contains(&tld.len())
            && tld.chars().all(|c| c.is_ascii_alphabetic())
        {
            spans.push(Span {
                start: words[k].0,
                end: words[k + 4].1,
                kind: PiiKind::Email,
                rank: 0,
            });
        }
    }
}

/// E-mail addresses with the `@` and dots spelled out inside the word, as filters are
/// dodged: `karim(at)gmail.com`, `karim[at]gmail[dot]com`, `karim{arobase}gmail(point)ma`,
/// `karim(@)gmail[.]com`, `karim%40gmail.com`, `karim(at)gmail` (found in bypass probes:
/// [`spelled_emails`] reads words apart, and these are one word).
pub(super) fn bracketed_emails(chars: &[char], spans: &mut Vec<Span>) {
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_ascii_alphanumeric() || "-".contains(c);
    let mut i = 0;
    while i < chars.len() {
        let Some(after_at) =
            spelled(chars, i, &["at", "arobase", "@"]).or_else(|| percent_at(chars, i))
        else {
            i += 1;
            continue;
        };
        let mut l = i;
        while l > 0 && local(at(chars, l - 1)) {
            l -= 1;
        }
        // The host: names joined by dots, written or spelled; its last name the TLD.
        let (mut r, mut dots, mut last) = (after_at, 0, after_at);
        loop {
            let start = r;
            while r < chars.len() && domain(at(chars, r)) {
                r += 1;
            }
            if r == start {
                break;
            }
            last = start;
            let dot = if at(chars, r) == '.' {
                Some(r + 1)
            } else {
                spelled(chars, r, &["dot", "point", "."])
            };
            match dot {
                Some(next) if next < chars.len() && domain(at(chars, next)) => {
                    dots += 1;
                    r = next;
                }
                _ => break,
            }
        }
        let tld_ok = r - last >= 2 && chars[last..r].iter().all(|c| c.is_ascii_alphabetic());
        let host: String = chars[after_at..r].iter().collect();
        let provider = a_provider(&host.to_lowercase());
        if l < i && ((dots > 0 && tld_ok) || provider) {
            spans.push(Span {
                start: l,
                end: r,
                kind: PiiKind::Email,
                rank: 0,
            });
        }
        i = after_at;
    }
}

/// Where a bracketed spelling of one of `words` starting at `i` (`(at)`, `[dot]`, `{at}`,
/// `<point>`, any case) ends, if one does.
fn spelled(chars: &[char], i: usize, words: &[&str]) -> Option<usize> {
    let close = match at(chars, i) {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        _ => return None,
    };
    words.iter().find_map(|word| {
        let n = word.chars().count();
        let inner = chars.get(i + 1..i + 1 + n)?;
        let same = inner
            .iter()
            .zip(word.chars())
            .all(|(a, b)| a.to_ascii_lowercase() == b);
        (same && at(chars, i + 1 + n) == close).then_some(i + n + 2)
    })
}

/// Where a URL-encoded or HTML-escaped `@` (`%40`, `&#64;`) starting at `i` ends, if one
/// does.
fn percent_at(chars: &[char], i: usize) -> Option<usize> {
    ["%40", "&#64;"].iter().find_map(|form| {
        let n = form.chars().count();
        let same = chars.get(i..i + n)?.iter().copied().eq(form.chars());
        same.then_some(i + n)
    })
}

//! E-mail addresses, as written and spelled out.

use super::chars::at;
use super::{PiiKind, Span};

pub(super) fn emails(chars: &[char], spans: &mut Vec<Span>) {
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_ascii_alphanumeric() || ".-".contains(c);
    for (p, _) in chars.iter().enumerate().filter(|(_, &c)| c == '@') {
        let mut l = p;
        while l > 0 && local(at(chars, l - 1)) {
            l -= 1;
        }
        let mut r = p + 1;
        while r < chars.len() && domain(at(chars, r)) {
            r += 1;
        }
        while r > p + 1 && ".-".contains(at(chars, r - 1)) {
            r -= 1;
        }
        // A host with no dot is still one (`karim@gmail`: found in a bypass probe, the
        // citizen left out the `.com`, and the address reached the LLM): any host naming a
        // letter, after a local part, is an address.
        let host = chars.get(p + 1..r).unwrap_or_default();
        if l < p && host.iter().any(|c| c.is_ascii_alphabetic()) {
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
/// dodged: `karim(at)gmail.com`, `karim[at]gmail[dot]com`, `karim{arobase}gmail(point)ma`
/// (found in a bypass probe: [`spelled_emails`] reads words apart, and these are one word).
pub(super) fn bracketed_emails(chars: &[char], spans: &mut Vec<Span>) {
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_ascii_alphanumeric() || "-".contains(c);
    let mut i = 0;
    while i < chars.len() {
        let Some(after_at) = spelled(chars, i, &["at", "arobase"]) else {
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
                spelled(chars, r, &["dot", "point"])
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
        if l < i && dots > 0 && tld_ok {
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

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
        let host: String = chars.get(p + 1..r).unwrap_or_default().iter().collect();
        let tld_ok = host.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        if l < p && tld_ok {
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

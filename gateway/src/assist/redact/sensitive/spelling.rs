//! The spellings of a listed word the list does not hold: clitics, articles, endings and
//! Latin-script variants.

use crate::assist::redact::words::{contains_word, set};
use std::collections::HashSet;

/// A marker no normalised word starts with: a [`latin_key`] in a [`term_set`].
const KEY_MARK: char = '~';

/// The words of a special category, with the [`latin_key`] of each Latin-script one (marked
/// with [`KEY_MARK`]) so that [`has_form`] finds spellings the list does not hold.
pub(super) fn term_set(list: &[&str]) -> HashSet<String> {
    let mut out = set(list);
    let keys: Vec<String> = out.iter().filter_map(|w| latin_key(w)).collect();
    out.extend(keys);
    out
}

/// A Latin-script word's spelling key, marked with [`KEY_MARK`]: "ou" and "o" as "u", a
/// doubled letter as one ("diabette", "ssokkar", "soukar" all key as their listed forms).
/// Digits standing for Arabic letters stay (a "7" is no "h": "7amla", pregnant, is no
/// "hamla", a campaign). `None` for a word in another script or of several parts.
fn latin_key(norm: &str) -> Option<String> {
    if !norm.is_ascii() || norm.contains(' ') || norm.len() < 3 {
        return None;
    }
    let mapped = norm.replace("ou", "u").replace('o', "u");
    let mut out = String::with_capacity(mapped.len() + 1);
    out.push(KEY_MARK);
    let mut prev = None;
    for c in mapped.chars() {
        if Some(c) != prev || c.is_ascii_digit() {
            out.push(c);
        }
        prev = Some(c);
    }
    Some(out)
}

/// A Latin-script word as it may be listed: as it is, without the Darija article "l" glued
/// to it ("lkancer"), and without a feminine or plural ending ("m7bousa", "msi7iya",
/// "diabetiques", "musulmans"), each at least four letters long.
fn latin_forms(norm: &str) -> Vec<String> {
    let mut bases = vec![norm.to_string()];
    if let Some(rest) = norm.strip_prefix('l').filter(|r| r.len() >= 4) {
        bases.push(rest.to_string());
    }
    let mut out = bases.clone();
    for b in &bases {
        if let Some(stem) = b.strip_suffix("iya").or_else(|| b.strip_suffix("iyya")) {
            out.push(format!("{stem}i"));
        }
        for ending in ["s", "a"] {
            if let Some(stem) = b.strip_suffix(ending).filter(|r| r.len() >= 4) {
                out.push(stem.to_string());
            }
        }
    }
    out
}

/// Whether `norm` is in `set` as it is, without an Arabic clitic ([`contains_word`]), without
/// the Arabic article after it ("بالسرطان" → "سرطان"), or, for a Latin word, in one of its
/// [`latin_forms`] or by its [`latin_key`] when `set` is a [`term_set`]. Found when tried:
/// "مريض بالسرطان" kept "بالسرطان", as only "سرطان" was listed; "3ndi ssokkar", "diabette",
/// "m7bousa" and "musulmans" reached the LLM as only "sukkar", "diabete", "m7bous" and
/// "musulman" were.
pub(super) fn has_form(set: &HashSet<String>, norm: &str) -> bool {
    if contains_word(set, norm) {
        return true;
    }
    if norm.is_ascii() {
        return latin_forms(norm)
            .iter()
            .any(|f| set.contains(f) || latin_key(f).is_some_and(|k| set.contains(&k)));
    }
    let bare = ['و', 'ب', 'ل', 'ف', 'ك']
        .iter()
        .find_map(|p| norm.strip_prefix(*p).filter(|r| r.starts_with("ال")))
        .unwrap_or(norm);
    bare.strip_prefix("ال")
        .filter(|rest| rest.chars().count() >= 3)
        .is_some_and(|rest| set.contains(rest))
}

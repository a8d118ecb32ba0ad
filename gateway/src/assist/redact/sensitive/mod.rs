//! The special categories of personal data (Law 09-08), found by their words: [`health`],
//! [`orientation`], [`beliefs`] and [`convictions`]; [`spelling`] finds the forms a list does
//! not hold.

pub(super) mod beliefs;
pub(super) mod convictions;
pub(super) mod health;
pub(super) mod orientation;
mod spelling;

use crate::assist::redact::words::{contains_word, phrase_list, set, words, Word};
use beliefs::BELIEF_TERMS;
use convictions::CONVICTION_SET;
use health::HEALTH_TERMS;
use orientation::ORIENTATION_TERMS;
use spelling::{has_form, term_set};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Little words a lead may be separated from its religion by ("au", "to", "الى").
const LEAD_GLUE: &[&str] = &[
    "au", "a", "to", "la", "le", "l", "el", "al", "de", "du", "d", "en", "الى", "الي", "ل", "b",
    "ب", "f", "ف", "in",
];

/// The most [`LEAD_GLUE`] words between a lead and its term.
pub(super) const MAX_GLUE: usize = 2;

static GLUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(LEAD_GLUE));

/// A special category of personal data found by its words: single words, several-word
/// phrases, leads taken with a term that follows them ("مريض بالسرطان", "converti au
/// christianisme") and trails taken with a term before them ("handicapé moteur").
struct Category {
    words: HashSet<String>,
    phrases: Vec<Vec<String>>,
    leads: HashSet<String>,
    trails: HashSet<String>,
}

impl Category {
    fn new(words: &[&str], phrases: &[&str], leads: &[&str], trails: &[&str]) -> Self {
        Category {
            words: term_set(words),
            phrases: phrase_list(phrases),
            leads: set(leads),
            trails: set(trails),
        }
    }

    /// Number of words of the term starting at word `i`, if one does.
    fn term_at(&self, chars: &[char], ws: &[Word], i: usize) -> Option<usize> {
        let phrase = self.phrases.iter().find(|p| {
            i + p.len() <= ws.len() && p.iter().enumerate().all(|(k, w)| ws[i + k].norm == *w)
        });
        if let Some(p) = phrase {
            return Some(p.len());
        }
        // A word with inner hyphens counts joined too ("v-i-h", "séro-positif").
        if has_form(&self.words, &ws[i].norm) || self.has(&ws[i].norm.replace(' ', "")) {
            return Some(1);
        }
        self.spelled_at(chars, ws, i)
    }

    /// Number of words of an abbreviation spelled letter by letter from word `i` ("V.I.H.",
    /// "s i d a"), longest first. Found when tried: "V.I.H." reached the LLM as "v i h".
    fn spelled_at(&self, chars: &[char], ws: &[Word], i: usize) -> Option<usize> {
        let mut letters = String::new();
        let mut run = 0;
        for (k, w) in ws.iter().enumerate().skip(i).take(MAX_SPELLED) {
            let letter = w.norm.len() == 1 && w.norm.chars().all(|c| c.is_ascii_alphabetic());
            let gap_ok = k == i || letter_gap(chars, ws[k - 1].end, w.start);
            if !letter || !gap_ok {
                break;
            }
            letters.push_str(&w.norm);
            run += 1;
        }
        (2..=run).rev().find(|&n| {
            letters
                .get(..n)
                .is_some_and(|l| contains_word(&self.words, l))
        })
    }

    /// End (exclusive, in words) of a lead at word `i` and the term it introduces, with at
    /// most [`MAX_GLUE`] little words between them.
    fn led_term(&self, chars: &[char], ws: &[Word], i: usize) -> Option<usize> {
        if !contains_word(&self.leads, &ws[i].norm) {
            return None;
        }
        for j in i + 1..=i + 1 + MAX_GLUE {
            let w = ws.get(j).filter(|w| w.joined)?;
            if let Some(n) = self.term_at(chars, ws, j) {
                return Some(j + n);
            }
            if !GLUE_SET.contains(&w.norm) {
                return None;
            }
        }
        None
    }

    /// Calls `emit(start, end)` for each term, with its lead and trails.
    fn find(&self, chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
        let ws = words(chars);
        let mut i = 0;
        while i < ws.len() {
            let Some(mut end) = self
                .led_term(chars, &ws, i)
                .or_else(|| self.term_at(chars, &ws, i).map(|n| i + n))
            else {
                i += 1;
                continue;
            };
            while end < ws.len() && ws[end].joined && contains_word(&self.trails, &ws[end].norm) {
                end += 1;
            }
            emit(ws[i].start, ws[end - 1].end);
            i = end;
        }
    }

    /// Whether a normalised word is one of the category's single-word terms.
    fn has(&self, norm: &str) -> bool {
        has_form(&self.words, norm)
    }
}

/// The most letters of an abbreviation spelled letter by letter ("s.i.d.a", "L G B T Q").
const MAX_SPELLED: usize = 6;

/// Whether the characters from `from` to `to` separate the letters of a spelled
/// abbreviation: one to three dots and spaces.
fn letter_gap(chars: &[char], from: usize, to: usize) -> bool {
    chars
        .get(from..to)
        .is_some_and(|g| (1..=3).contains(&g.len()) && g.iter().all(|c| matches!(c, '.' | ' ')))
}

/// Whether a normalised word belongs to a special category ([`health`], [`orientation`],
/// [`beliefs`], [`convictions`]): it gets its own placeholder, not a name's.
pub(super) fn sensitive(norm: &str) -> bool {
    HEALTH_TERMS.has(norm)
        || ORIENTATION_TERMS.has(norm)
        || BELIEF_TERMS.has(norm)
        || has_form(&CONVICTION_SET, norm)
}

//! Personal data found by word lists rather than by shape, for [`redact`](super::redact):
//!
//! - **names without a cue**: common Moroccan given and family names in Arabic and Latin
//!   script ("ana mohamed el idrissi", "محمد الإدريسي"), with the particles that join them
//!   (el, ben, ait, ould, بن, ولد) and, in Latin script, a capitalised word that follows one;
//! - **street addresses** after an address word in Arabic, French, Darija or English ("12 rue
//!   Ibn Sina", "zanqa 5 hay Salam", "شارع محمد الخامس"), up to five words and the house number
//!   before it;
//! - **health conditions** (diabetes, cancer, HIV, pregnancy, dialysis, disability...), which
//!   data protection law treats as sensitive whatever else the text says, and the other
//!   special categories: **sexual orientation**, **religion or belief** (a conversion
//!   included) and **a person's own conviction or detention** (not the words of the
//!   criminal-record-extract service, which routing needs);
//! - **dates written with a month's name** ("12 mars 2015", "12 مارس", "March 12").
//!
//! Word lists miss names they do not hold and may catch a word that is also a name; the lists
//! leave out given names that are everyday words in the same language (حسن "good", جمال
//! "beauty", "said"), because a query such as "شهادة حسن السيرة" must keep its meaning for the
//! LLM. The local ranker always sees the citizen's own text: only what leaves the process is
//! redacted.

use crate::assist::text::normalize;
use std::collections::HashSet;

/// A word of the text: its char offsets and normalised form.
pub(super) struct Word {
    pub start: usize,
    pub end: usize,
    pub norm: String,
    /// Only whitespace separates this word from the previous one.
    pub joined: bool,
}

/// The words of `chars` (letters and digits, inner hyphens kept).
pub(super) fn words(chars: &[char]) -> Vec<Word> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut prev_end = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_alphanumeric()
                || (chars[i] == '-' && chars.get(i + 1).is_some_and(|c| c.is_alphabetic())))
        {
            i += 1;
        }
        let raw: String = chars[start..i].iter().collect();
        let joined = chars[prev_end..start].iter().all(|c| c.is_whitespace());
        out.push(Word {
            start,
            end: i,
            norm: normalize(&raw),
            joined,
        });
        prev_end = i;
    }
    out
}

/// Where the last `n` words of `chars` ([`words`]) begin, or 0 when it has fewer: what a
/// look at the words just before a point needs to read, rather than all of them.
pub(super) fn start_of_last_words(chars: &[char], n: usize) -> usize {
    let mut i = chars.len();
    for _ in 0..n {
        while i > 0 && !chars[i - 1].is_alphanumeric() {
            i -= 1;
        }
        if i == 0 {
            return 0;
        }
        // `chars[i]` is the word's char after position `i - 1` here: an inner hyphen is
        // one followed by a letter, as `words` reads it.
        while i > 0
            && (chars[i - 1].is_alphanumeric()
                || (chars[i - 1] == '-' && chars.get(i).is_some_and(|c| c.is_alphabetic())))
        {
            i -= 1;
        }
    }
    i
}

pub(super) fn set(list: &[&str]) -> HashSet<String> {
    list.iter()
        .map(|w| normalize(w))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether `norm`, or `norm` without an Arabic clitic (و ب ل ف ك: "and", "with", "for"...;
/// "بال" is "ب" + "ال"), is in `set`.
pub(super) fn contains_word(set: &HashSet<String>, norm: &str) -> bool {
    if set.contains(norm) {
        return true;
    }
    ['و', 'ب', 'ل', 'ف', 'ك'].iter().any(|p| {
        norm.strip_prefix(*p)
            .filter(|rest| rest.chars().count() >= 3)
            .is_some_and(|rest| set.contains(rest))
    })
}

/// Several-word terms, each as its normalised words.
pub(super) fn phrase_list(list: &[&str]) -> Vec<Vec<String>> {
    list.iter()
        .map(|p| normalize(p).split(' ').map(str::to_string).collect())
        .collect()
}

/// How many words the first of `phrases` found at word `i` has (each word after the first
/// joined to the one before it, not across punctuation), if one is there. One matcher for
/// month names and detention phrases.
pub(super) fn phrase_at(phrases: &[Vec<String>], ws: &[Word], i: usize) -> Option<usize> {
    phrases
        .iter()
        .find(|p| {
            i + p.len() <= ws.len()
                && p.iter()
                    .enumerate()
                    .all(|(k, w)| ws[i + k].norm == *w && (k == 0 || ws[i + k].joined))
        })
        .map(Vec::len)
}

/// Whether a word `is_cue` names comes before word `i`, with at most `max_glue` words
/// `is_glue` names between, and each gap between two words `gap_ok(before, after)`. One walk
/// back for the cues that change what a word means ("né en 1990", "nkhdem f prison").
pub(super) fn cue_before(
    ws: &[Word],
    i: usize,
    max_glue: usize,
    is_cue: impl Fn(&str) -> bool,
    is_glue: impl Fn(&str) -> bool,
    gap_ok: impl Fn(usize, usize) -> bool,
) -> bool {
    let mut k = i;
    for _ in 0..=max_glue {
        let Some(prev) = k.checked_sub(1) else {
            return false;
        };
        if !gap_ok(prev, k) {
            return false;
        }
        if is_cue(&ws[prev].norm) {
            return true;
        }
        if !is_glue(&ws[prev].norm) {
            return false;
        }
        k = prev;
    }
    false
}

pub(super) fn capitalised_latin(chars: &[char], w: &Word) -> bool {
    let first = chars.get(w.start).copied().unwrap_or(' ');
    first.is_ascii_uppercase() && chars[w.start..w.end].iter().any(|c| c.is_lowercase())
}

/// Names of the [lexicon](crate::assist::lexicon) concepts of a normalised word: non-empty when the
/// word is administrative vocabulary ("passeport", "casier", "طلب").
pub(super) fn concepts(norm: &str) -> Vec<&'static str> {
    crate::assist::text::tokens_of_normalized(norm)
        .iter()
        .flat_map(|t| crate::assist::lexicon::concepts_of(t).iter().copied())
        .map(crate::assist::lexicon::concept_name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail [`start_of_last_words`] finds reads as the same last words as the whole.
    #[test]
    fn the_last_words_are_read_alike_from_where_they_begin() {
        for text in [
            "je suis né le 12/03/1990",
            "date de naissance: 1 1 1 1",
            "a  b-c  d.e",
            "twaladt 3am 1990 f casa-blanca",
            "",
            "  ",
        ] {
            let chars: Vec<char> = text.chars().collect();
            let all = words(&chars);
            for n in 1..=4 {
                let from = start_of_last_words(&chars, n);
                let tail = words(&chars[from..]);
                let want: Vec<&str> = all.iter().rev().take(n).map(|w| w.norm.as_str()).collect();
                let got: Vec<&str> = tail.iter().rev().take(n).map(|w| w.norm.as_str()).collect();
                assert_eq!(got, want, "{text:?}, {n}");
            }
        }
    }
}

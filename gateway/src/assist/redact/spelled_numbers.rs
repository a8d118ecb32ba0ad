//! Numbers written in words, for [`redact`](super::redact): "zéro six douze trente-quatre
//! cinquante-six soixante-dix-huit", "sifr stta tnach...", "صفر ستة اثنا عشر...". Found
//! when tried: a phone number read out in French words reached the LLM as written, as the
//! digit finders see no digit in it.
//!
//! A run of number words (digit groups of up to four digits may stand among them) is a
//! number read out when it has at least five of them, one spelled (a run of digits alone is
//! the digit finders'), or four starting with a zero, which no amount or year begins
//! with. A run that begins with a zero is a phone number ([`spelled_phones`]); any other is
//! an identifier of unknown kind ([`spelled_numbers`]). Ordinary text keeps its numbers:
//! "deux enfants", "trois ou quatre mois", "mille neuf cent quatre-vingt-dix" (four words,
//! no zero) are left alone.

use super::words::{set, words, Word};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Number words, in the languages citizens write: French, English, Darija in Latin and
/// Arabic script, Modern Standard Arabic (normalised as the words of the text are).
#[rustfmt::skip]
const NUMBER_WORDS: &[&str] = &[
    // French.
    "zéro", "un", "une", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf",
    "dix", "onze", "douze", "treize", "quatorze", "quinze", "seize", "vingt", "vingts",
    "trente", "quarante", "cinquante", "soixante", "septante", "huitante", "nonante", "cent",
    "cents", "mille",
    // English.
    "zero", "one", "two", "three", "four", "five", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred",
    "thousand", "double", "triple",
    // Darija in Latin script (its digit letters as citizens type them).
    "sifr", "sfer", "sifer", "sefr", "sfr", "sitta", "sita", "sta", "wa7d", "wahd", "tnin",
    "tnine", "tlat", "wahed", "sab3a", "sab3", "arba3a", "arbaa", "arba", "tes3a", "tisaa",
    "sabaa", "khmsa", "khamssa", "tletin", "arb3in", "sab3in", "tmania", "7ida3ch", "tna3ch",
    "tsa3oud", "wa7ed", "we7ed", "jouj", "jooj", "zouj", "zooj", "tlata", "tlta",
    "tleta", "rb3a", "reb3a", "arb3a", "khamsa", "khemsa", "stta", "setta", "sb3a", "seb3a",
    "tmnya", "tmanya", "tmenya", "ts3oud", "tes3oud", "t3ss", "3achra", "3ashra", "7dach",
    "tnach", "tlettach", "rba3tach", "khmstach", "settach", "sba3tach", "tmentach", "tsa3tach",
    "3achrin", "3ichrin", "tlatin", "rb3in", "khamsin", "sttin", "sb3in", "tmanin", "ts3in",
    "mya", "miya",
    // Arabic (Standard and Darija).
    "صفر", "واحد", "واحدة", "اثنان", "اثنين", "اثنا", "اثني", "جوج", "زوج", "ثلاثة", "ثلاث",
    "تلاتة", "تلاثة", "أربعة", "أربع", "ربعة", "خمسة", "خمس", "ستة", "ست", "سبعة", "سبع",
    "ثمانية", "ثمان", "تمنية", "تسعة", "تسع", "تسعود", "عشرة", "عشر", "حداش", "طناش", "اطناش", "اثناعشر", "احدعشر", "عشرون",
    "عشرين", "ثلاثون", "ثلاثين", "تلاتين", "أربعون", "أربعين", "ربعين", "خمسون", "خمسين",
    "ستون", "ستين", "سبعون", "سبعين", "ثمانون", "ثمانين", "تمانين", "تسعون", "تسعين", "مائة",
    "مية", "ميا", "ألف",
];

/// The words that begin a phone number read out.
const ZERO_WORDS: &[&str] = &[
    "zéro", "zero", "sifr", "sfer", "sifer", "sefr", "sfr", "صفر",
];

/// Words that join number words without being one ("vingt et un", "khamsa w 3echrin").
const JOINS: &[&str] = &["et", "and", "w", "o", "و"];

static NUMBERS: LazyLock<HashSet<String>> = LazyLock::new(|| set(NUMBER_WORDS));
static ZEROS: LazyLock<HashSet<String>> = LazyLock::new(|| set(ZERO_WORDS));
static JOINERS: LazyLock<HashSet<String>> = LazyLock::new(|| set(JOINS));
static UNITS: LazyLock<HashSet<String>> = LazyLock::new(|| set(&super::numbers::UNIT_WORDS));

/// The most characters between two words of one run: "zéro six, douze  -  trente",
/// "zéro six .......... douze".
const MAX_GAP: usize = 16;

/// Whether a word (normalised; a hyphenated one is several: "trente quatre") is made of
/// number words only, an Arabic one maybe with "and" before it ("وعشرين").
fn spelled(norm: &str) -> bool {
    norm.split(' ').all(|part| {
        NUMBERS.contains(part)
            || part
                .strip_prefix('و')
                .is_some_and(|rest| NUMBERS.contains(rest))
    })
}

/// A group of up to ten digits, which may stand among number words ("zéro 6 douze").
fn digit_group(norm: &str) -> bool {
    (1..=10).contains(&norm.len()) && norm.bytes().all(|b| b.is_ascii_digit())
}

/// The runs of number words read out in `chars`: `(start, end, begins with a zero)`.
///
/// Found in two bypass probes, each once a leak: the parts of a hyphenated word are
/// counted one by one in a run that begins with a zero ("zéro-six-douze-...") and in a
/// word of five parts or more, more than any compound number has
/// ("six-douze-trente-quatre-..."); words that are
/// no number words may stand between number words when they are one and the same word
/// each time ("trent-quatre", "tow", "zéro six puis douze puis ..."); a digit group of up to
/// ten digits counts ("06 douze 34 56 78", "061234 cinquante-six ..."); words may be parted
/// by up to [`MAX_GAP`] characters that are not a date's or a time's (`/`, `:`). And
/// ordinary text is spared: a run that does not begin with a zero needs two spelled words
/// (a list of years with "trois" after it is no number) and is no identifier when a unit
/// follows it ("cent cinquante mille dirhams", "twenty one thousand ... dirhams").
fn runs(chars: &[char]) -> Vec<(usize, usize, bool)> {
    let words = words(chars);
    let number = |w: &Word| spelled(&w.norm) || digit_group(&w.norm);
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let first = &words[i];
        if !number(first) {
            i += 1;
            continue;
        }
        let first_part = first.norm.split(' ').next().unwrap_or_default();
        let zero =
            ZEROS.contains(first_part) || (digit_group(&first.norm) && first.norm.starts_with('0'));
        let (mut count, mut spelled_count, mut end, mut j) = (0, 0, i, i);
        let mut last_end = first.start;
        let mut filler: Option<&str> = None;
        while j < words.len() {
            let w = &words[j];
            let gap = &chars[last_end..w.start];
            if j > i && !separates(gap) {
                break;
            }
            if number(w) {
                // A compound number ("quatre-vingt-dix-sept") has at most four parts.
                let parts = w.norm.split(' ').count();
                let parts = if zero || parts >= 5 { parts } else { 1 };
                count += parts;
                if !digit_group(&w.norm) {
                    spelled_count += parts;
                }
                (end, last_end, j) = (j, w.end, j + 1);
                continue;
            }
            // Another word, only between two number words: a join ("et", "w"), or one
            // word, the same each time (a typo, "puis").
            let between = words.get(j + 1).is_some_and(number)
                && words
                    .get(j + 1)
                    .is_some_and(|n| separates(&chars[w.end..n.start]));
            let joins = JOINERS.contains(&w.norm);
            let fills = filler.is_none_or(|f| f == w.norm);
            if !between || !(joins || fills) {
                break;
            }
            if !joins {
                filler = Some(&w.norm);
            }
            (last_end, j) = (w.end, j + 1);
        }
        let unit_after = words.get(end + 1).is_some_and(|w| UNITS.contains(&w.norm));
        let read_out = if zero {
            spelled_count >= 1 && count >= 4
        } else {
            spelled_count >= 2 && count >= 5 && !unit_after
        };
        if read_out {
            out.push((first.start, words[end].end, zero));
        }
        i = end + 1;
    }
    out
}

/// Whether the characters between two words may part the words of one number: at most
/// [`MAX_GAP`] of them, none a line break or a date's or time's separator.
fn separates(gap: &[char]) -> bool {
    gap.len() <= MAX_GAP && !gap.iter().any(|c| matches!(c, '\n' | '/' | ':'))
}

/// Phone numbers read out: a run beginning with a zero ("zéro six douze...").
pub(super) fn spelled_phones(chars: &[char], found: &mut dyn FnMut(usize, usize)) {
    for (start, end, zero) in runs(chars) {
        if zero {
            found(start, end);
        }
    }
}

/// Other numbers read out: five number words or more in a row (a CIN's, a CNSS or an
/// account number's digits).
pub(super) fn spelled_numbers(chars: &[char], found: &mut dyn FnMut(usize, usize)) {
    for (start, end, zero) in runs(chars) {
        if !zero {
            found(start, end);
        }
    }
}

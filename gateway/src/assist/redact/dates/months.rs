//! Dates written with a month's name: "12 mars 2015", "12 مارس", "March 12".

use super::birth::after_birth_cue;
use crate::assist::redact::words::{phrase_at, phrase_list, words, Word};
use crate::assist::text::normalize;
use std::sync::LazyLock;

/// Month names, one entry per way of writing one (several words for the Mashriq "كانون
/// الثاني"): French, English, Arabic of the Maghreb and of the Mashriq, Darija in Latin
/// letters. Found when tried: "12 mars 2015" and "12 مارس 2015" reached the LLM as written.
const MONTHS: &[&str] = &[
    "janvier",
    "janv",
    "fevrier",
    "fevr",
    "fev",
    "mars",
    "avril",
    "avr",
    "mai",
    "juin",
    "juillet",
    "juil",
    "aout",
    "septembre",
    "sept",
    "octobre",
    "oct",
    "novembre",
    "nov",
    "decembre",
    "dec",
    "january",
    "jan",
    "february",
    "feb",
    "march",
    "april",
    "apr",
    "may",
    "june",
    "jun",
    "july",
    "jul",
    "august",
    "aug",
    "september",
    "sep",
    "october",
    "november",
    "december",
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "ابريل",
    "إبريل",
    "ماي",
    "مايو",
    "يونيو",
    "يونيه",
    "يوليوز",
    "يوليو",
    "يوليوز",
    "غشت",
    "أغسطس",
    "شتنبر",
    "سبتمبر",
    "أكتوبر",
    "نونبر",
    "نوفمبر",
    "دجنبر",
    "ديسمبر",
    "كانون الثاني",
    "كانون الأول",
    "تشرين الأول",
    "تشرين الثاني",
    "كانون",
    "تشرين",
    "شباط",
    "آذار",
    "نيسان",
    "أيار",
    "حزيران",
    "تموز",
    "آب",
    "أيلول",
    "yanayer",
    "fbrayer",
    "abril",
    "yunyu",
    "yulyuz",
    "ghocht",
    "ghosht",
    "chtanbir",
    "novanbir",
    "dujanbir",
];

/// Endings of a day written as an ordinal ("1er", "12th").
const DAY_ENDINGS: &[&str] = &["er", "re", "st", "nd", "rd", "th"];

/// Days written as words: a date with a month's name and a year may spell its day ("née le
/// douze mars 1990"). Found when tried: it reached the LLM as written. Only ordinals in
/// English ("one may apply" is no date) and no "un" in French.
const DAY_WORDS: &[&str] = &[
    "premier",
    "deux",
    "trois",
    "quatre",
    "cinq",
    "six",
    "sept",
    "huit",
    "neuf",
    "dix",
    "onze",
    "douze",
    "treize",
    "quatorze",
    "quinze",
    "seize",
    "dix sept",
    "dix huit",
    "dix neuf",
    "vingt",
    "vingt et un",
    "vingt deux",
    "vingt trois",
    "vingt quatre",
    "vingt cinq",
    "vingt six",
    "vingt sept",
    "vingt huit",
    "vingt neuf",
    "trente",
    "trente et un",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    "twenty first",
    "twenty second",
    "twenty third",
    "twenty fourth",
    "twenty fifth",
    "twenty sixth",
    "twenty seventh",
    "twenty eighth",
    "twenty ninth",
    "thirtieth",
    "thirty first",
];

static DAY_WORD_LIST: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    let mut days = phrase_list(DAY_WORDS);
    // Longest first: "dix sept" before "dix".
    days.sort_by_key(|d| std::cmp::Reverse(d.len()));
    days
});

static MONTH_LIST: LazyLock<Vec<Vec<String>>> = LazyLock::new(|| {
    let mut months: Vec<Vec<String>> = MONTHS
        .iter()
        .map(|m| normalize(m).split(' ').map(str::to_string).collect())
        .collect();
    // Longest first: "كانون الثاني" before "كانون".
    months.sort_by_key(|m| std::cmp::Reverse(m.len()));
    months
});

/// Calls `emit(start, end)` for each date written with a month's name: a day and a month,
/// with or without a year ("12 mars 2015", "le 1er mai", "12 مارس", "March 12, 2015"). With a
/// year it is taken as [`dates`](super::numeric::dates) takes numeric ones (a birth date: ten years
/// ago or more, or any past year after a birth cue); without one nothing tells a birth date
/// from an appointment, so it goes. A month and a year alone ("TVA de mars 2024") stay.
pub fn dates(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    let mut i = 0;
    while i < ws.len() {
        match date_at(chars, &ws, i) {
            Some((end, year)) => {
                let cued = after_birth_cue(&ws, i);
                if year.is_none_or(|y| super::birth::personal_year(y, cued)) {
                    emit(ws[i].start, ws[end - 1].end);
                    i = end;
                    continue;
                }
                i += 1;
            }
            None => i += 1,
        }
    }
}

/// A date at word `i`: its end (exclusive, in words) and its year if it has one.
fn date_at(chars: &[char], ws: &[Word], i: usize) -> Option<(usize, Option<u32>)> {
    let joined = |k: usize| ws.get(k).filter(|w| w.joined);
    // Day first: "12 mars [2015]", "douze mars 1990".
    if day(&ws[i].norm).is_some() {
        if let Some(n) = joined(i + 1).and_then(|_| month_at(ws, i + 1)) {
            let end = i + 1 + n;
            return Some(with_year(chars, ws, end));
        }
    }
    if let Some(d) = day_words_at(ws, i) {
        if let Some(n) = joined(i + d).and_then(|_| month_at(ws, i + d)) {
            return spelled_day_date(chars, ws, i, i + d + n);
        }
    }
    // Month first: "March 12[, 2015]", "March twelfth, 1990".
    let n = month_at(ws, i)?;
    joined(i + n)?;
    if day(&ws[i + n].norm).is_some() {
        return Some(with_year(chars, ws, i + n + 1));
    }
    let d = day_words_at(ws, i + n)?;
    spelled_day_date(chars, ws, i, i + n + d)
}

/// A date whose day is spelled, ending at word `end` before its year: only with a year or
/// after a birth cue ("le premier mai" is a holiday, "sept mai" may be the seventh).
fn spelled_day_date(
    chars: &[char],
    ws: &[Word],
    i: usize,
    end: usize,
) -> Option<(usize, Option<u32>)> {
    let (end, year) = with_year(chars, ws, end);
    (year.is_some() || after_birth_cue(ws, i)).then_some((end, year))
}

/// Number of words of a day written as words ([`DAY_WORDS`]) at word `i`, if one is. One
/// word may hold several parts ("dix-sept", normalised "dix sept").
fn day_words_at(ws: &[Word], i: usize) -> Option<usize> {
    // Each part with the number of words read once it is.
    let mut parts: Vec<(&str, usize)> = Vec::new();
    for (n, w) in ws.iter().skip(i).take(3).enumerate() {
        if n > 0 && !w.joined {
            break;
        }
        let split: Vec<&str> = w.norm.split(' ').collect();
        let last = split.len() - 1;
        parts.extend(
            split
                .into_iter()
                .enumerate()
                .map(|(k, p)| (p, if k == last { n + 1 } else { 0 })),
        );
    }
    DAY_WORD_LIST.iter().find_map(|d| {
        let (_, words) = *parts.get(d.len().checked_sub(1)?)?;
        let same = parts.iter().zip(d).all(|((p, _), w)| p == w);
        (same && words > 0).then_some(words)
    })
}

/// `end` moved over a year right after it (after spaces or a comma), and that year.
fn with_year(chars: &[char], ws: &[Word], end: usize) -> (usize, Option<u32>) {
    let Some(next) = ws.get(end) else {
        return (end, None);
    };
    let gap_ok = chars
        .get(ws[end - 1].end..next.start)
        .is_some_and(|g| g.iter().all(|c| c.is_whitespace() || *c == ','));
    let year = (next.norm.len() == 4)
        .then(|| next.norm.parse::<u32>().ok())
        .flatten()
        .filter(|y| (1900..=2100).contains(y));
    match year {
        Some(y) if gap_ok => (end + 1, Some(y)),
        _ => (end, None),
    }
}

/// The day of a word such as "12", "1er" or "3rd" (1 to 31).
fn day(norm: &str) -> Option<u32> {
    let digits: String = norm.chars().take_while(|c| c.is_ascii_digit()).collect();
    let rest = &norm[digits.len()..];
    let value = digits.parse::<u32>().ok()?;
    let shaped =
        (1..=2).contains(&digits.len()) && (rest.is_empty() || DAY_ENDINGS.contains(&rest));
    (shaped && (1..=31).contains(&value)).then_some(value)
}

/// Number of words of the month's name starting at word `i`, if one does.
fn month_at(ws: &[Word], i: usize) -> Option<usize> {
    phrase_at(&MONTH_LIST, ws, i)
}

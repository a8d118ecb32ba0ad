//! Birth cues and birth years: what makes a date a person's.

use crate::assist::redact::sensitive::MAX_GLUE;
use crate::assist::redact::words::{contains_word, cue_before, set, words, Word};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Words before a date that make it a birth date whatever its year ("né le", "date de
/// naissance", "مزداد في", "tzadt nhar").
const BIRTH_CUES: &[&str] = &[
    "ne",
    "nee",
    "nes",
    "born",
    "naissance",
    "birth",
    "birthday",
    "ازدياد",
    "الازدياد",
    "مزداد",
    "مزداده",
    "ازداد",
    "ازدادت",
    "ولد",
    "ولدت",
    "مولود",
    "مولوده",
    "ميلاد",
    "الميلاد",
    "tzad",
    "tzadt",
    "tzadit",
    "tzadet",
    "mzyad",
    "mazyad",
    "mezyad",
    // Found when tried: "twaladt 3am 1990" reached the LLM as written.
    "twaladt",
    "twladt",
    "tweldt",
    "twelldt",
    "twalad",
    "twlad",
    "tzadit",
    "tzadet",
    "تولدت",
    "تولد",
    "تزاديت",
    "تزاد",
];

/// Little words between a birth cue and a year alone ("né en 1990", "born in 1990", "ولد سنة
/// 1990", "twaladt 3am 1990").
const YEAR_GLUE: &[&str] = &[
    "en", "in", "l", "an", "annee", "year", "the", "le", "3am", "3aam", "f", "fi", "عام", "سنه",
    "في", "ف", "fl",
];

/// How many words before a date a birth cue may be ("né le 12", "date de naissance 12").
const BIRTH_CUE_REACH: usize = 3;

static BIRTH_CUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(BIRTH_CUES));

static YEAR_GLUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(YEAR_GLUE));

/// The current year, by the system clock.
pub(super) fn this_year() -> u32 {
    1970 + (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        / 31_556_952) as u32
}

/// Whether a date of year `year` says something about a person: a birth date (ten years
/// ago or more) or, after a birth cue ("né le", "مزداد"), any past year. Found when tried: "né
/// le 12/03/2018" (a child's birth date) stayed, as it looked like an appointment.
pub(super) fn personal_year(year: u32, birth_cue: bool) -> bool {
    let this_year = this_year();
    year.saturating_add(10) <= this_year || (birth_cue && year <= this_year)
}

/// Whether a birth cue is among the [`BIRTH_CUE_REACH`] words before word `i`.
pub(super) fn after_birth_cue(ws: &[Word], i: usize) -> bool {
    ws[i.saturating_sub(BIRTH_CUE_REACH)..i]
        .iter()
        .any(|w| contains_word(&BIRTH_CUE_SET, &w.norm))
}

/// Calls `emit(start, end)` for each year alone right after a birth cue, with at most
/// [`MAX_GLUE`] of [`YEAR_GLUE`] between ("né en 1990", "born in 1990", "twaladt 3am 1990",
/// "ولد سنة 1990"): a birth year says a person's age. Found when tried: "né en 1990" and
/// "twaladt 3am 1990" reached the LLM as written.
pub fn birth_years(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    for (i, w) in ws.iter().enumerate() {
        let year = (w.norm.len() == 4)
            .then(|| w.norm.parse::<u32>().ok())
            .flatten()
            .filter(|&y| y >= 1900 && personal_year(y, true));
        if year.is_some() && birth_year_cue(chars, &ws, i) {
            emit(w.start, w.end);
        }
    }
}

/// Whether a birth cue comes before word `i`, with at most [`MAX_GLUE`] of [`YEAR_GLUE`]
/// and a colon between ("date de naissance : 1990").
fn birth_year_cue(chars: &[char], ws: &[Word], i: usize) -> bool {
    cue_before(
        ws,
        i,
        MAX_GLUE,
        |w| contains_word(&BIRTH_CUE_SET, w),
        |w| YEAR_GLUE_SET.contains(w),
        |before, after| {
            chars.get(ws[before].end..ws[after].start).is_some_and(|g| {
                g.iter()
                    .all(|c| c.is_whitespace() || matches!(c, ':' | ','))
            })
        },
    )
}

/// Whether a birth cue is among the [`BIRTH_CUE_REACH`] words before char `at`: what makes a
/// numeric date a birth date whatever its year.
pub(super) fn birth_cue_before(chars: &[char], at: usize) -> bool {
    let before = chars.get(..at).unwrap_or_default();
    // Only the last few words can hold it. Found when tried: every word before each
    // date-shaped number was read again, so a 1,000-character query of "1 1 1 ..." cost as
    // much as 160 short ones.
    let from = super::super::words::start_of_last_words(before, BIRTH_CUE_REACH + 1);
    let ws = words(&before[from..]);
    after_birth_cue(&ws, ws.len())
}

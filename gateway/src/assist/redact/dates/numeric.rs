//! Numeric dates: `12/05/1985`, `1985-05-12`, `12 03 1990`.

use super::birth::{personal_year, this_year};
use crate::assist::redact::chars::{at, word_start};
use crate::assist::redact::{PiiKind, Span};

/// Dates of birth: a valid day, month and year (`12/05/1985`, `12-5-1985`, `12.05.85`,
/// `1985-05-12`) whose year is at least ten years ago. Appointment dates (`rdv le
/// 12/05/2025`) say nothing about a person and stay, and so do digit runs that only look
/// like a date (`06.12.34.56.78` is a phone number).
pub(crate) fn dates(chars: &[char], spans: &mut Vec<Span>) {
    let run = |mut j: usize| {
        let start = j;
        let mut value = 0u32;
        while at(chars, j).is_ascii_digit() {
            value = value
                .saturating_mul(10)
                .saturating_add(at(chars, j).to_digit(10).unwrap_or(0));
            j += 1;
        }
        (j, j - start, value)
    };
    let this_year = this_year();
    for i in 0..chars.len() {
        if !word_start(chars, i) || !at(chars, i).is_ascii_digit() {
            continue;
        }
        let cued = super::birth::birth_cue_before(chars, i);
        let valid = |day: u32, month: u32, year: u32| {
            (1..=31).contains(&day) && (1..=12).contains(&month) && personal_year(year, cued)
        };
        let (a_end, a, a_val) = run(i);
        let Some((sep, b_start)) = date_separator(chars, a_end) else {
            continue;
        };
        let (b_end, b, b_val) = run(b_start);
        let Some((_, c_start)) = date_separator(chars, b_end).filter(|(s, _)| *s == sep) else {
            continue;
        };
        let (c_end, c, c_val) = run(c_start);
        // A fourth group (`06.12.34.56`) makes it something else.
        let more = date_separator(chars, c_end).is_some_and(|(s, _)| s == sep);
        if more || at(chars, c_end).is_alphanumeric() {
            continue;
        }
        // Numbers apart by spaces alone are a date only with a four-digit year and not as a
        // part of a longer run of numbers (`06 12 34 56 78`).
        let spaced = sep == ' ';
        if spaced && (c != 4 || digit_before(chars, i)) {
            continue;
        }
        let two_digit_year = |y: u32| {
            if y + 2000 + 10 <= this_year {
                y + 2000
            } else {
                y + 1900
            }
        };
        let day_first = (1..=2).contains(&a)
            && (1..=2).contains(&b)
            && match c {
                4 => valid(a_val, b_val, c_val),
                2 => valid(a_val, b_val, two_digit_year(c_val)),
                _ => false,
            };
        let year_first = a == 4
            && (1..=2).contains(&b)
            && (1..=2).contains(&c)
            && (1900..=2100).contains(&a_val)
            && valid(c_val, b_val, a_val);
        if day_first || year_first {
            spans.push(Span {
                start: i,
                end: c_end,
                kind: PiiKind::Date,
                rank: 1,
            });
        }
    }
}

/// The most spaces around a date's separator: `12 / 03 / 1990`.
const MAX_DATE_SPACES: usize = 3;

/// The separator of a date's groups after position `j` and where the next group starts:
/// `/`, `-`, `.` or `_` with up to [`MAX_DATE_SPACES`] spaces either side, or spaces alone
/// (given as `' '`). Found when tried: "né le 12 / 03 / 1990", "12_03_1990" and "12 03 1990"
/// reached the LLM as written, as only a separator right between the digits counted.
fn date_separator(chars: &[char], j: usize) -> Option<(char, usize)> {
    let spaces = |from: usize| {
        (from..from + MAX_DATE_SPACES + 1)
            .find(|&k| at(chars, k) != ' ')
            .unwrap_or(from)
    };
    let sep_at = spaces(j);
    let sep = at(chars, sep_at);
    let (sep, next) = if matches!(sep, '/' | '-' | '.' | '_') {
        (sep, spaces(sep_at + 1))
    } else if sep_at > j {
        (' ', sep_at)
    } else {
        return None;
    };
    at(chars, next).is_ascii_digit().then_some((sep, next))
}

/// Whether a digit comes before position `i`, spaces and separators skipped: the number at
/// `i` goes on a longer one.
fn digit_before(chars: &[char], i: usize) -> bool {
    (0..i)
        .rev()
        .find(|&k| !matches!(at(chars, k), ' ' | '/' | '-' | '.' | '_'))
        .is_some_and(|k| at(chars, k).is_ascii_digit())
}

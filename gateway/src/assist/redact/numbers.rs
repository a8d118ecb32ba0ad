//! Identifiers found by their shape: CIN (Latin and Arabic letters), passports, student
//! numbers, plates, IBANs, and the digit runs that are phones, CNSS, RIB or card numbers.

use super::chars::{at, word_start};
use super::{PiiKind, Span};

/// Moroccan passport numbers: two letters and seven digits (`GK1234567`, `GK 1234567`).
pub(super) fn passports(chars: &[char], spans: &mut Vec<Span>) {
    for i in 0..chars.len() {
        if !word_start(chars, i)
            || !at(chars, i).is_ascii_alphabetic()
            || !at(chars, i + 1).is_ascii_alphabetic()
        {
            continue;
        }
        let mut j = i + 2;
        if at(chars, j) == ' '
            && at(chars, i).is_ascii_uppercase()
            && at(chars, i + 1).is_ascii_uppercase()
        {
            j += 1;
        }
        let start = j;
        while at(chars, j).is_ascii_digit() {
            j += 1;
        }
        if j - start == 7 && !at(chars, j).is_alphanumeric() {
            spans.push(Span {
                start: i,
                end: j,
                kind: PiiKind::Passport,
                rank: 2,
            });
        }
    }
}

/// The most characters between two digit groups of one number: `06 - 12`, `(06) 12`.
const MAX_SEPARATOR: usize = 3;

/// Whether `c` may stand between the digit groups of one number: anything but a letter, a
/// digit, a line break or what starts another kind of text (`@`, `+`). Found when tried:
/// with only ` .-/`, numbers written with the Arabic comma (`06،12،34`), en dashes, `·`,
/// ` - ` or two spaces got past, and normalising turned them into the plain number.
fn separates_digits(c: char) -> bool {
    !c.is_alphanumeric() && !matches!(c, '\0' | '\n' | '\r' | '@' | '+')
}

/// Digit groups separated by at most [`MAX_SEPARATOR`] separating characters
/// ([`separates_digits`]): their digits, written once, and where each group ends.
struct DigitGroups {
    digits: String,
    /// Each group's end (in the text) and the number of digits up to its end.
    groups: Vec<(usize, usize)>,
}

impl DigitGroups {
    /// The groups starting at `i`. Found when tried: each group kept a copy of every digit
    /// before it, so 500 one-digit groups copied 125,000 digits (with the pass in
    /// [`numbers`], a 1,000-character query of "1 1 1 ..." cost 160 short ones).
    fn starting(chars: &[char], mut i: usize) -> Self {
        let mut found = DigitGroups {
            digits: String::new(),
            groups: Vec::new(),
        };
        loop {
            let start = i;
            while at(chars, i).is_ascii_digit() {
                found.digits.push(at(chars, i));
                i += 1;
            }
            if i == start {
                break;
            }
            found.groups.push((i, found.digits.len()));
            let gap = (i..i + MAX_SEPARATOR)
                .take_while(|&k| separates_digits(at(chars, k)))
                .count();
            if gap > 0 && at(chars, i + gap).is_ascii_digit() {
                i += gap;
            } else {
                break;
            }
        }
        found
    }

    /// One group: the digits from `start` to `end`.
    fn one(chars: &[char], start: usize, end: usize) -> Self {
        DigitGroups {
            digits: chars[start..end].iter().collect(),
            groups: vec![(end, end - start)],
        }
    }

    fn len(&self) -> usize {
        self.groups.len()
    }

    /// Where group `k` ends in the text.
    fn end(&self, k: usize) -> usize {
        self.groups[k].0
    }

    /// The digits of groups `g..=e`.
    fn digits(&self, g: usize, e: usize) -> &str {
        let from = if g == 0 { 0 } else { self.groups[g - 1].1 };
        &self.digits[from..self.groups[e].1]
    }

    /// How many digits group `k` has.
    fn size(&self, k: usize) -> usize {
        self.digits(k, k).len()
    }

    /// The end of the last group and every digit.
    fn whole(&self) -> Option<(usize, &str)> {
        let &(end, n) = self.groups.last()?;
        Some((end, &self.digits[..n]))
    }
}

/// The most digits of anything [`numbers`] tells apart (a RIB's 24): a longer run of groups
/// is none of them, and is never tried.
const MAX_NUMBER_DIGITS: usize = 24;

pub(super) fn ibans(chars: &[char], spans: &mut Vec<Span>) {
    for i in 0..chars.len().saturating_sub(1) {
        let is_ma =
            at(chars, i).eq_ignore_ascii_case(&'m') && at(chars, i + 1).eq_ignore_ascii_case(&'a');
        if !is_ma || !word_start(chars, i) {
            continue;
        }
        let mut j = i + 2;
        while at(chars, j) == ' ' {
            j += 1;
        }
        let groups = DigitGroups::starting(chars, j);
        if let Some((end, digits)) = groups.whole() {
            if digits.len() >= 20 && !at(chars, end).is_alphanumeric() {
                spans.push(Span {
                    start: i,
                    end,
                    kind: PiiKind::Iban,
                    rank: 1,
                });
            }
        }
    }
}

/// IBANs of any country (`FR76 3000 6000 0112 3456 7890 189`, `DE89370400440532013000`):
/// two letters, two check digits and up to 30 letters and digits, compact or in groups parted
/// by one space, that pass the IBAN's own check (ISO 13616, mod 97), so no other word and
/// number is taken for one. Found in a probe: a French or Belgian account, which Moroccans
/// abroad give the consular services, reached the LLM whole (only `MA` ones were known).
pub(super) fn foreign_ibans(chars: &[char], spans: &mut Vec<Span>) {
    for i in 0..chars.len().saturating_sub(3) {
        let country = at(chars, i).is_ascii_alphabetic() && at(chars, i + 1).is_ascii_alphabetic();
        if !country
            || !word_start(chars, i)
            || !at(chars, i + 2).is_ascii_digit()
            || !at(chars, i + 3).is_ascii_digit()
        {
            continue;
        }
        // Its characters, upper-cased, and where each ends in the text.
        let (mut text, mut ends) = (String::new(), Vec::new());
        let mut j = i;
        while j < chars.len() && text.len() < 34 {
            let c = at(chars, j);
            if c.is_ascii_alphanumeric() {
                text.push(c.to_ascii_uppercase());
                j += 1;
                ends.push(j);
            } else if c == ' ' && at(chars, j + 1).is_ascii_alphanumeric() && text.len() % 4 == 0 {
                j += 1;
            } else {
                break;
            }
        }
        // The longest of its beginnings, ending a word, that is an IBAN.
        let found = (15..=text.len())
            .rev()
            .find(|&n| !at(chars, ends[n - 1]).is_ascii_alphanumeric() && iban_checks(&text[..n]));
        if let Some(n) = found {
            spans.push(Span {
                start: i,
                end: ends[n - 1],
                kind: PiiKind::Iban,
                rank: 1,
            });
        }
    }
}

/// Whether `iban` (upper-case letters and digits) passes ISO 13616's check: its first four
/// characters moved to its end, letters as numbers (A = 10 ... Z = 35), the whole is 1
/// modulo 97.
fn iban_checks(iban: &str) -> bool {
    let (head, rest) = iban.split_at(4);
    let mut remainder = 0u32;
    for c in rest.chars().chain(head.chars()) {
        let value = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        remainder = if value < 10 {
            (remainder * 10 + value) % 97
        } else {
            (remainder * 100 + value) % 97
        };
    }
    remainder == 1
}

/// Whether `c` may stand between a CIN's letters, or between its letters and digits:
/// a space, `-`, `.`, `/` or `_`. Found when tried: "A.B.123456", "BE/987654" and
/// "A_B_123456" reached the LLM as "a b 123456" (normalising writes the marks as spaces).
fn cin_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '/' | '_')
}

pub(super) fn cins(chars: &[char], spans: &mut Vec<Span>) {
    for i in 0..chars.len() {
        if !word_start(chars, i) || !at(chars, i).is_ascii_alphabetic() {
            continue;
        }
        // Its two letters may be spaced as its digits are ("A B 1 2 3 4 5 6"; found when
        // tried: the first letter reached the LLM).
        let spaced_pair = cin_separator(at(chars, i + 1))
            && at(chars, i + 2).is_ascii_alphabetic()
            && !at(chars, i + 3).is_alphabetic();
        let letters = if at(chars, i + 1).is_ascii_alphabetic() {
            2
        } else if spaced_pair {
            3
        } else {
            1
        };
        let mut j = i + letters;
        // "ab 123456" is a CIN typed on a phone right after a cue; elsewhere "le 100000"
        // is French.
        let upper = (i..j)
            .filter(|&k| !cin_separator(at(chars, k)))
            .all(|k| at(chars, k).is_ascii_uppercase())
            || after_cin_cue(chars, i);
        if spaced_pair && !upper {
            // "y a 12345" is French; only capitals, or a cue, make two lone letters a CIN's.
            continue;
        }
        if cin_separator(at(chars, j)) && upper {
            j += 1;
        }
        let start = j;
        let attached = start == i + letters;
        // Its digits may be grouped too ("AB 12 34 56"), when the letters say it is one.
        let groups = if upper {
            DigitGroups::starting(chars, start)
        } else {
            let mut end = start;
            while at(chars, end).is_ascii_digit() {
                end += 1;
            }
            DigitGroups::one(chars, start, end)
        };
        let Some((end, n)) = (0..groups.len())
            .rev()
            .map(|k| (groups.end(k), groups.digits(0, k).len()))
            .find(|(end, n)| (5..=6).contains(n) && !at(chars, *end).is_alphanumeric())
        else {
            continue;
        };
        j = end;
        if (5..=6).contains(&n) && !at(chars, j).is_alphanumeric() && (attached || upper) {
            spans.push(Span {
                start: i,
                end: j,
                kind: PiiKind::Cin,
                rank: 2,
            });
        }
    }
}

/// Words after a number that make it an amount, a duration or a measure, not an
/// identifier: "ب 120000 درهم" (with 120000 dirhams), "10 a 15 ans".
pub(super) const UNIT_WORDS: [&str; 30] = [
    "dh",
    "dhs",
    "mad",
    "dirham",
    "dirhams",
    "درهم",
    "دراهم",
    "ريال",
    "rial",
    "ryal",
    "مليون",
    "الف",
    "alf",
    "euro",
    "euros",
    "eur",
    "ans",
    "an",
    "jours",
    "mois",
    "heures",
    "h",
    "min",
    "عام",
    "سنه",
    "سنين",
    "سنوات",
    "km",
    "m2",
    "%",
];

/// Words before a number that start a range ("de 10 a 15"): what follows is no plate.
const RANGE_WORDS: [&str; 10] = [
    "de", "du", "entre", "from", "between", "من", "بين", "mn", "men", "bin",
];

/// The normalised word that starts after position `i` (spaces skipped), or "".
fn word_after(chars: &[char], i: usize) -> String {
    let from = (i..chars.len())
        .find(|&k| !chars[k].is_whitespace())
        .unwrap_or(chars.len());
    let to = (from..chars.len())
        .find(|&k| !(chars[k].is_alphanumeric() || chars[k] == '%'))
        .unwrap_or(chars.len());
    let word: String = chars.get(from..to).unwrap_or_default().iter().collect();
    if word == "%" {
        return word;
    }
    crate::assist::text::normalize(&word)
}

/// The normalised word that ends before position `i` (spaces skipped), or "".
fn word_before(chars: &[char], i: usize) -> String {
    let end = (0..i)
        .rev()
        .find(|&k| !chars[k].is_whitespace())
        .map_or(0, |k| k + 1);
    let start = (0..end)
        .rev()
        .find(|&k| !chars[k].is_alphanumeric())
        .map_or(0, |k| k + 1);
    let word: String = chars.get(start..end).unwrap_or_default().iter().collect();
    crate::assist::text::normalize(&word)
}

/// Whether `c` is a letter of the Arabic alphabet (not a digit, mark or punctuation).
fn arabic_letter(c: char) -> bool {
    ('\u{0621}'..='\u{064A}').contains(&c) || matches!(c, 'ڭ' | 'گ' | 'ڤ' | 'پ' | 'چ')
}

/// Whether the letter at `i` stands alone (no letter right after it).
fn lone_arabic_letter(chars: &[char], i: usize) -> bool {
    arabic_letter(at(chars, i)) && !at(chars, i + 1).is_alphabetic()
}

/// CIN numbers written with Arabic letters, as on the card's Arabic side: one or two lone
/// letters ("ك 123456", "ب ج 123456") or two glued to the number ("بج123456"). Found when
/// tried: "ب ج 123456" and "ك 123456" reached the LLM as written, after "رقم البطاقة" too. As
/// Arabic has no capitals, an amount after a one-letter word ("ب 120000 درهم", "with ...")
/// is told apart by its unit.
pub(super) fn arabic_cins(chars: &[char], spans: &mut Vec<Span>) {
    for i in 0..chars.len() {
        if !word_start(chars, i) || !arabic_letter(at(chars, i)) {
            continue;
        }
        let glued = arabic_letter(at(chars, i + 1)) && at(chars, i + 2).is_ascii_digit();
        let mut j = if glued {
            i + 2
        } else if lone_arabic_letter(chars, i) {
            let second = cin_separator(at(chars, i + 1)) && lone_arabic_letter(chars, i + 2);
            if second {
                i + 3
            } else {
                i + 1
            }
        } else {
            continue;
        };
        if !glued && cin_separator(at(chars, j)) {
            j += 1;
        }
        // The whole number: a part of a longer one (a phone number) is no CIN.
        let groups = DigitGroups::starting(chars, j);
        let Some((end, digits)) = groups.whole() else {
            continue;
        };
        let unit = UNIT_WORDS.contains(&word_after(chars, end).as_str());
        if (5..=6).contains(&digits.len()) && !at(chars, end).is_alphanumeric() && !unit {
            spans.push(Span {
                start: i,
                end,
                kind: PiiKind::Cin,
                rank: 2,
            });
        }
    }
}

/// Student numbers (CNE, Massar code): one letter and nine digits, "R130012345",
/// "r130012345", "R 130012345". Found when tried: "r130012345" reached the LLM as written
/// (the letter kept the digits from being a CNSS number, and no CIN has nine).
pub(super) fn student_ids(chars: &[char], spans: &mut Vec<Span>) {
    for i in 0..chars.len() {
        if !word_start(chars, i) || !at(chars, i).is_ascii_alphabetic() {
            continue;
        }
        let mut j = i + 1;
        if at(chars, j) == ' ' && at(chars, i).is_ascii_uppercase() {
            j += 1;
        }
        let start = j;
        while at(chars, j).is_ascii_digit() {
            j += 1;
        }
        if j - start == 9 && !at(chars, j).is_alphanumeric() {
            spans.push(Span {
                start: i,
                end: j,
                kind: PiiKind::StudentId,
                rank: 2,
            });
        }
    }
}

/// The most characters between the parts of a plate: " | ".
const MAX_PLATE_SEPARATOR: usize = 3;

/// End of the separator of a plate's parts starting at `i` (spaces, dashes, bars, slashes)
/// and whether it is spaces only (or nothing).
fn plate_separator(chars: &[char], i: usize) -> (usize, bool) {
    let n = (i..i + MAX_PLATE_SEPARATOR)
        .take_while(|&k| matches!(at(chars, k), ' ' | '-' | '|' | '/' | '_' | '–'))
        .count();
    (i + n, (i..i + n).all(|k| at(chars, k) == ' '))
}

/// Moroccan registration plates: a serial number of up to five digits, one letter (Latin
/// or Arabic) and the prefecture's code of one or two digits, "12345 a 6", "12345-أ-6",
/// "12345 | ب | 6". Found when tried: all three reached the LLM as written. Ranges and
/// amounts are no plates: "de 10 a 15 jours" (a range word before, a unit after), "2019 a
/// 5" (a serial that looks like a year, with spaces only, as in a sentence).
pub(super) fn plates(chars: &[char], spans: &mut Vec<Span>) {
    for i in 0..chars.len() {
        if !word_start(chars, i) || !at(chars, i).is_ascii_digit() {
            continue;
        }
        let mut j = i;
        while at(chars, j).is_ascii_digit() {
            j += 1;
        }
        let serial: String = chars[i..j].iter().collect();
        let (j, spaced_before) = plate_separator(chars, j);
        let letter = at(chars, j);
        let latin = letter.is_ascii_alphabetic();
        if !(latin || arabic_letter(letter)) || at(chars, j + 1).is_alphabetic() {
            continue;
        }
        let (k, spaced_after) = plate_separator(chars, j + 1);
        let mut end = k;
        while at(chars, end).is_ascii_digit() {
            end += 1;
        }
        let shaped = (1..=5).contains(&serial.len())
            && (1..=2).contains(&(end - k))
            && !at(chars, end).is_alphanumeric()
            && !(matches!(at(chars, end), '.' | ',') && at(chars, end + 1).is_ascii_digit());
        let spaced = spaced_before && spaced_after;
        let year_like = serial.len() == 4 && (serial.starts_with("19") || serial.starts_with("20"));
        let prose = spaced && (serial.len() < 3 || (latin && year_like));
        let counted = UNIT_WORDS.contains(&word_after(chars, end).as_str())
            || RANGE_WORDS.contains(&word_before(chars, i).as_str());
        if shaped && !prose && !counted {
            spans.push(Span {
                start: i,
                end,
                kind: PiiKind::Plate,
                rank: 2,
            });
        }
    }
}

/// Words that announce an identity card's number, lower case: "cin", "cnie", "carte
/// nationale", "رقم البطاقة"... A Latin cue begins its word (a word merely containing one,
/// "vaccin", "habitation", is none); an Arabic one may carry the article and suffixes.
const CIN_CUES: [&str; 9] = [
    "cin",
    "cnie",
    "carte",
    "nationale",
    "identite",
    "identité",
    "identity",
    "بطاق",
    "bita",
];

/// Whether one of [`CIN_CUES`] is among the three words before position `i`.
fn after_cin_cue(chars: &[char], i: usize) -> bool {
    let from = i.saturating_sub(40);
    let before: String = chars[from..i]
        .iter()
        .flat_map(|c| c.to_lowercase())
        .collect();
    before
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .rev()
        .take(3)
        .any(|w| {
            CIN_CUES.iter().any(|cue| {
                if cue.is_ascii() {
                    w.starts_with(cue)
                } else {
                    w.contains(cue)
                }
            })
        })
}

fn classify(digits: &str, plus: bool) -> Option<PiiKind> {
    let b = digits.as_bytes();
    let mobile = |c: Option<&u8>| matches!(c, Some(b'5' | b'6' | b'7'));
    let n = b.len();
    // Any country's number in international form (E.164: at most 15 digits after `+`).
    // Found when tried: "+33 6 12 34 56 78" reached the LLM as "[CNSS] 78", its first
    // nine digits taken for a CNSS number and the rest left.
    // No country code starts with 0.
    if plus && (8..=15).contains(&n) && b.first() != Some(&b'0') {
        return Some(PiiKind::Phone);
    }
    if (n == 14 && digits.starts_with("00212") && mobile(b.get(5)))
        || (n == 12 && digits.starts_with("212") && mobile(b.get(3)))
        || (n == 10 && !plus && b.first() == Some(&b'0') && mobile(b.get(1)))
    {
        Some(PiiKind::Phone)
    } else if n == 24 {
        Some(PiiKind::Rib)
    } else if (13..=19).contains(&n) {
        Some(PiiKind::Card)
    } else if n == 9 {
        Some(PiiKind::Cnss)
    } else {
        None
    }
}

/// Whether groups `g..=e` of `groups` (in `chars`) are written as a phone number is,
/// without its `+`: 11 or 12 digits, not starting with 0, in at least five groups of at
/// most three digits, each parted from the next by the same one space, dot or hyphen
/// ("33 6 12 34 56 78", "33.6.12.34.56.78"). Found in the last read: such a number reached
/// the LLM as "[CNSS] 78", its first nine digits taken for a CNSS number. A run of 10 to 12
/// digits is not enough on its own ("tel:0612345678 2 fois", dates, amounts keep their
/// shape), nor a list ("articles 12, 15, 18, 21, 25, 30": from review). North American
/// numbers have their own shape (below).
fn spaced_like_a_phone(chars: &[char], groups: &DigitGroups, g: usize, e: usize) -> bool {
    let len = |k: usize| groups.size(k);
    let digits = groups.digits(g, e);
    // Both shapes below have 10 to 12 digits: anything else is told at once.
    if !(10..=12).contains(&digits.len()) {
        return false;
    }
    // The one character between group `k` and the next.
    let parting = |k: usize| {
        let (end, next_start) = (groups.end(k), groups.end(k + 1) - len(k + 1));
        (next_start == end + 1).then(|| at(chars, end))
    };
    // The North American plan's shape, "1 415 555 2671" or "415-555-2671": an area code
    // and an exchange of three digits (neither starting with 0 or 1), four digits, the
    // country's "1" before them or not. Found when tried: it reached the LLM as written.
    let shape = |lens: &[usize]| (g..=e).map(len).eq(lens.iter().copied());
    let north_american = ((shape(&[1, 3, 3, 4]) && digits.starts_with('1')) || shape(&[3, 3, 4]))
        && {
            let local = &digits.as_bytes()[digits.len() - 10..];
            !matches!(local[0], b'0' | b'1') && !matches!(local[3], b'0' | b'1')
        };
    // Parting characters are looked at only once there are groups after `g`.
    let shaped = north_american
        || ((11..=12).contains(&digits.len())
            && !digits.starts_with('0')
            && e >= g + 4
            && (g..=e).all(|k| len(k) <= 3));
    shaped
        && matches!(parting(g), Some(' ' | '.' | '-'))
        && (g..e).all(|k| parting(k) == parting(g))
}

pub(super) fn numbers(chars: &[char], spans: &mut Vec<Span>) {
    let mut i = 0;
    while i < chars.len() {
        let plus = at(chars, i) == '+' && at(chars, i + 1).is_ascii_digit();
        let first = if plus { i + 1 } else { i };
        // Numbers glued to letters ("AB123456", "W18") are not phone, CNSS
        // or account numbers; CIN detection handles the former.
        if !at(chars, first).is_ascii_digit() || !word_start(chars, i) {
            i += 1;
            continue;
        }
        // Try the longest run of whole groups that classifies, then shorter
        // ones; if none does, move past the first group.
        let groups = DigitGroups::starting(chars, first);
        if let Some(end) = cued_number(chars, i, &groups) {
            // Ranked after what its shape tells (a phone number after "رقم الهاتف").
            spans.push(Span {
                start: i,
                end,
                kind: PiiKind::Number,
                rank: 4,
            });
        }
        let mut start = i;
        let mut from = first;
        let mut g = 0;
        while g < groups.len() {
            // Runs of more digits than any number has are not tried: the pass stays linear
            // in the text (found when tried, see [`DigitGroups::starting`]).
            let last = (g..groups.len())
                .take_while(|&e| groups.digits(g, e).len() <= MAX_NUMBER_DIGITS)
                .last()
                .unwrap_or(g);
            let hit = (g..=last).rev().find_map(|e| {
                let digits = groups.digits(g, e);
                let end = groups.end(e);
                let classified = classify(digits, plus && g == 0)
                    .filter(|kind| *kind != PiiKind::Card || !years(&groups, g, e));
                let kind = classified.or_else(|| {
                    spaced_like_a_phone(chars, &groups, g, e).then_some(PiiKind::Phone)
                })?;
                // "+12 000 000 dh" is an amount, not a number in international form, and
                // "300 400 5000 dh" no number spaced as a phone (from review).
                let amount = ((plus && g == 0) || classified.is_none())
                    && UNIT_WORDS.contains(&word_after(chars, end).as_str());
                (!at(chars, end).is_alphabetic() && !amount).then_some((e, kind))
            });
            match hit {
                Some((e, kind)) => {
                    spans.push(Span {
                        start,
                        end: groups.end(e),
                        kind,
                        rank: 3,
                    });
                    g = e + 1;
                }
                None => g += 1,
            }
            // Next group starts after its separator.
            from = g.checked_sub(1).map_or(from, |k| groups.end(k) + 1);
            start = from;
        }
        i = groups.whole().map_or(i + 1, |(end, _)| end.max(i + 1));
    }
}

/// Words that say a number follows ("number", "n°", "رقم"; Darija's "ra9m", "nmra"...),
/// normalised.
const NUMBER_CUES: [&str; 14] = [
    "رقم", "رقمي", "نمره", "numero", "num", "n", "no", "nr", "number", "ra9m", "r9m", "ra9am",
    "nmra", "nemra",
];

/// The most words between a [`NUMBER_CUES`] word and its number: "رقم البطاقة ديالي".
const MAX_CUE_GAP: usize = 3;

/// Where the number at `i` (its digit groups `groups`) ends when a word before it says it is
/// one ("رقم البطاقة 12345678", "numéro de dossier 2023-55871"), and it has from 5 to
/// [`MAX_NUMBER_DIGITS`] digits and no unit after it: whatever its shape, it is someone's
/// (found in a bypass probe: an eight-digit card number after "رقم البطاقة" reached the
/// LLM, its shape none of a phone, CNSS, card or RIB).
fn cued_number(chars: &[char], i: usize, groups: &DigitGroups) -> Option<usize> {
    let (end, digits) = groups.whole()?;
    if !(5..=MAX_NUMBER_DIGITS).contains(&digits.len())
        || at(chars, end).is_alphabetic()
        || UNIT_WORDS.contains(&word_after(chars, end).as_str())
    {
        return None;
    }
    let mut k = i;
    for _ in 0..=MAX_CUE_GAP {
        let word_end = (0..k).rev().find(|&p| chars[p].is_alphanumeric())? + 1;
        let word_start = (0..word_end)
            .rev()
            .find(|&p| !chars[p].is_alphanumeric())
            .map_or(0, |p| p + 1);
        let word: String = chars[word_start..word_end].iter().collect();
        if NUMBER_CUES.contains(&crate::assist::text::normalize(&word).as_str()) {
            return Some(end);
        }
        k = word_start;
    }
    None
}

/// Whether groups `g..=e` are years one after another, each of four digits from 1900 to
/// 2099 (`2021 2022 2023 2024`): found in a probe, a citizen listing the years of a tax
/// she owes had them read as a card number.
fn years(groups: &DigitGroups, g: usize, e: usize) -> bool {
    e > g
        && (g..=e).all(|k| {
            let year = groups.digits(k, k);
            year.len() == 4 && (year.starts_with("19") || year.starts_with("20"))
        })
}

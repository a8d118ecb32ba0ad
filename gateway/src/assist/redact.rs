//! Personal-data redaction before any text leaves the process.
//!
//! Citizens paste their CIN, phone number, CNSS number or RIB into the search
//! box ("ana Youssef, CIN AB123456, 06 12 34 56 78, bghit njded lpassport").
//! The local ranker can see that text, but whatever is sent to an LLM, a log
//! or a metrics label must not carry it. [`redact`] replaces each piece of
//! personal data with a typed placeholder (`[CIN]`, `[PHONE]`, `[EMAIL]`,
//! `[CNSS]`, `[RIB]`, `[IBAN]`, `[CARD]`, `[NAME]`, `[PASSPORT]`, `[DATE]`,
//! `[ADDRESS]`, `[STUDENT_ID]`, `[PLATE]`, and for the special categories of Law
//! 09-08 `[HEALTH]`, `[ORIENTATION]`, `[BELIEF]`, `[CONVICTION]`) so the remaining
//! text still reads naturally and the kind of data is known. The redacted text is
//! also what the feedback store keeps for 90 days.
//!
//! Detection is deliberately biased towards redacting: a 9-digit number is a
//! CNSS number even without the "CNSS" cue, any 13-19 digit run is treated as
//! a card number, and an uppercase letter followed by a 5-6 digit number is a
//! CIN (and so are one or two Arabic letters before one). Ordinary numbers
//! (years, ages, amounts, form codes such as "W18") are left alone. Names are only recognised after explicit cues ("je
//! m'appelle", "my name is", "smiti", "اسمي", "ana", "Mme", "السيد", ...).
//! Everything works on `char`s: no input can split a UTF-8 sequence.

/// Kind of personal data found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PiiKind {
    /// Moroccan national ID number (1-2 letters + 5-6 digits).
    Cin,
    /// Moroccan phone number (+212 / 00212 / 0, then 5, 6 or 7 and 8 digits).
    Phone,
    /// E-mail address.
    Email,
    /// CNSS (social security) number: 9 digits.
    Cnss,
    /// Bank account number (RIB): 24 digits.
    Rib,
    /// IBAN-like account number ("MA" + digits).
    Iban,
    /// Payment-card-like run of 13-19 digits.
    Card,
    /// A person's name introduced by a cue.
    Name,
    /// Moroccan passport number (2 letters + 7 digits).
    Passport,
    /// A calendar date (a birth date, most often).
    Date,
    /// A street address.
    Address,
    /// A health condition (special category data: a diagnosis, a disability, HIV status).
    Health,
    /// Sexual orientation or gender identity (special category data): "homosexuel", "مثلي".
    Orientation,
    /// Religion or belief (special category data), a conversion included: "converti au
    /// christianisme", "اعتنق المسيحية".
    Belief,
    /// A statement of the person's own conviction or detention (criminal-offence data):
    /// "condamné pour vol", "محكوم عليه بالسجن". The criminal-record-extract service's words
    /// ("casier judiciaire", "السجل العدلي") are routing vocabulary and stay.
    Conviction,
    /// Student number (CNE / Massar code): one letter and nine digits.
    StudentId,
    /// Moroccan vehicle registration plate: digits, one letter, one or two digits.
    Plate,
}

impl PiiKind {
    /// Placeholder written in place of the data.
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Cin => "[CIN]",
            PiiKind::Phone => "[PHONE]",
            PiiKind::Email => "[EMAIL]",
            PiiKind::Cnss => "[CNSS]",
            PiiKind::Rib => "[RIB]",
            PiiKind::Iban => "[IBAN]",
            PiiKind::Card => "[CARD]",
            PiiKind::Name => "[NAME]",
            PiiKind::Passport => "[PASSPORT]",
            PiiKind::Date => "[DATE]",
            PiiKind::Address => "[ADDRESS]",
            PiiKind::Health => "[HEALTH]",
            PiiKind::Orientation => "[ORIENTATION]",
            PiiKind::Belief => "[BELIEF]",
            PiiKind::Conviction => "[CONVICTION]",
            PiiKind::StudentId => "[STUDENT_ID]",
            PiiKind::Plate => "[PLATE]",
        }
    }

    /// Every kind, so that whatever lists placeholders (the normalised form the LLM is
    /// sent) lists the new ones too.
    pub const ALL: [PiiKind; 17] = [
        PiiKind::Cin,
        PiiKind::Phone,
        PiiKind::Email,
        PiiKind::Cnss,
        PiiKind::Rib,
        PiiKind::Iban,
        PiiKind::Card,
        PiiKind::Name,
        PiiKind::Passport,
        PiiKind::Date,
        PiiKind::Address,
        PiiKind::Health,
        PiiKind::Orientation,
        PiiKind::Belief,
        PiiKind::Conviction,
        PiiKind::StudentId,
        PiiKind::Plate,
    ];
}

/// Text with personal data replaced, and what was replaced (in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The redacted text.
    pub text: String,
    /// One entry per replaced occurrence, in order of appearance.
    pub found: Vec<PiiKind>,
}

impl Redacted {
    /// The redacted text normalised as the ranker normalises queries (case, accents,
    /// punctuation, emoji dropped), with the placeholders kept as they are: the one text
    /// the LLM is sent and the decision cache is keyed by.
    pub fn normalized(&self) -> String {
        // Every kind's, not a hand-written list: a kind left out of one would lose its
        // brackets here ("[BELIEF]" normalised to "belief") and read as the citizen's word.
        let placeholders = PiiKind::ALL.map(PiiKind::placeholder);
        let mut out = String::with_capacity(self.text.len());
        let mut rest = self.text.as_str();
        let push = |out: &mut String, part: &str| {
            let part = part.trim();
            if !part.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(part);
            }
        };
        loop {
            let next = placeholders
                .iter()
                .filter_map(|p| rest.find(p).map(|at| (at, *p)))
                .min_by_key(|(at, _)| *at);
            match next {
                Some((at, placeholder)) => {
                    push(&mut out, &super::text::normalize(&rest[..at]));
                    push(&mut out, placeholder);
                    rest = &rest[at + placeholder.len()..];
                }
                None => {
                    push(&mut out, &super::text::normalize(rest));
                    return out;
                }
            }
        }
    }
}

/// A detected span `[start, end)` in chars; lower `rank` wins overlaps.
struct Span {
    start: usize,
    end: usize,
    kind: PiiKind,
    rank: u8,
}

/// Replaces personal data in `text` with typed placeholders.
pub fn redact(text: &str) -> Redacted {
    let chars: Vec<char> = text.chars().collect();
    let mut spans = Vec::new();
    emails(&chars, &mut spans);
    spelled_emails(&chars, &mut spans);
    ibans(&chars, &mut spans);
    passports(&chars, &mut spans);
    dates(&chars, &mut spans);
    cins(&chars, &mut spans);
    arabic_cins(&chars, &mut spans);
    student_ids(&chars, &mut spans);
    plates(&chars, &mut spans);
    numbers(&chars, &mut spans);
    super::redact_names::names(&chars, &mut |start, end| {
        spans.push(Span {
            start,
            end,
            kind: PiiKind::Name,
            rank: 4,
        });
    });
    for (find, kind, rank) in [
        (
            super::redact_words::dates as fn(&[char], &mut dyn FnMut(usize, usize)),
            PiiKind::Date,
            1,
        ),
        (super::redact_words::birth_years, PiiKind::Date, 1),
        (super::redact_words::addresses, PiiKind::Address, 5),
        (super::redact_words::names, PiiKind::Name, 6),
        (super::redact_words::health, PiiKind::Health, 7),
        (super::redact_words::orientation, PiiKind::Orientation, 7),
        (super::redact_words::beliefs, PiiKind::Belief, 7),
        (super::redact_words::convictions, PiiKind::Conviction, 7),
    ] {
        find(&chars, &mut |start, end| {
            spans.push(Span {
                start,
                end,
                kind,
                rank,
            });
        });
    }
    spans.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(a.rank.cmp(&b.rank))
            .then(b.end.cmp(&a.end))
    });

    let mut out = String::with_capacity(text.len());
    let mut found = Vec::new();
    let mut pos = 0;
    let mut last = None;
    for s in spans {
        // A longer span starting inside the one just replaced extends it: "Mme Benali
        // fatima zahra" is one name though the title cue saw only "Benali" (found when
        // tried: "mme [NAME] fatima zahra"), and "K 06 12 34 56 78" is gone whole though a
        // CIN was seen in its first digits (found when tried: "[CIN] 56 78").
        if s.start < pos && s.end > pos && last.is_some() {
            pos = s.end;
            continue;
        }
        if s.start < pos || s.end <= s.start {
            continue;
        }
        last = Some(s.kind);
        out.extend(chars.get(pos..s.start).unwrap_or_default());
        out.push_str(s.kind.placeholder());
        found.push(s.kind);
        pos = s.end;
    }
    out.extend(chars.get(pos..).unwrap_or_default());
    Redacted { text: out, found }
}

/// Char at `i`, or NUL past the end (neither space, digit nor letter).
fn at(chars: &[char], i: usize) -> char {
    chars.get(i).copied().unwrap_or('\0')
}

/// Whether position `i` starts a word (previous char is not alphanumeric).
fn word_start(chars: &[char], i: usize) -> bool {
    i == 0 || !at(chars, i - 1).is_alphanumeric()
}

fn emails(chars: &[char], spans: &mut Vec<Span>) {
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
fn spelled_emails(chars: &[char], spans: &mut Vec<Span>) {
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

/// Moroccan passport numbers: two letters and seven digits (`GK1234567`, `GK 1234567`).
fn passports(chars: &[char], spans: &mut Vec<Span>) {
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

/// Dates of birth: a valid day, month and year (`12/05/1985`, `12-5-1985`, `12.05.85`,
/// `1985-05-12`) whose year is at least ten years ago. Appointment dates (`rdv le
/// 12/05/2025`) say nothing about a person and stay, and so do digit runs that only look
/// like a date (`06.12.34.56.78` is a phone number).
fn dates(chars: &[char], spans: &mut Vec<Span>) {
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
        let cued = super::redact_words::birth_cue_before(chars, i);
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

/// The current year, by the system clock.
fn this_year() -> u32 {
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
/// ([`separates_digits`]), starting at `i`: `(end of each group, digits so far)`.
fn digit_groups(chars: &[char], mut i: usize) -> Vec<(usize, String)> {
    let mut groups = Vec::new();
    let mut digits = String::new();
    loop {
        let start = i;
        while at(chars, i).is_ascii_digit() {
            digits.push(at(chars, i));
            i += 1;
        }
        if i == start {
            break;
        }
        groups.push((i, digits.clone()));
        let gap = (i..i + MAX_SEPARATOR)
            .take_while(|&k| separates_digits(at(chars, k)))
            .count();
        if gap > 0 && at(chars, i + gap).is_ascii_digit() {
            i += gap;
        } else {
            break;
        }
    }
    groups
}

fn ibans(chars: &[char], spans: &mut Vec<Span>) {
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
        if let Some((end, digits)) = digit_groups(chars, j).pop() {
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

fn cins(chars: &[char], spans: &mut Vec<Span>) {
    for i in 0..chars.len() {
        if !word_start(chars, i) || !at(chars, i).is_ascii_alphabetic() {
            continue;
        }
        let letters = if at(chars, i + 1).is_ascii_alphabetic() {
            2
        } else {
            1
        };
        let mut j = i + letters;
        // "ab 123456" is a CIN typed on a phone right after a cue; elsewhere "le 100000"
        // is French.
        let upper = (i..j).all(|k| at(chars, k).is_ascii_uppercase()) || after_cin_cue(chars, i);
        if matches!(at(chars, j), ' ' | '-') && upper {
            j += 1;
        }
        let start = j;
        let attached = start == i + letters;
        // Its digits may be grouped too ("AB 12 34 56"), when the letters say it is one.
        let groups = if upper {
            digit_groups(chars, start)
        } else {
            let mut end = start;
            while at(chars, end).is_ascii_digit() {
                end += 1;
            }
            vec![(end, chars[start..end].iter().collect::<String>())]
        };
        let Some((end, n)) = groups
            .iter()
            .rev()
            .find(|(end, d)| (5..=6).contains(&d.len()) && !at(chars, *end).is_alphanumeric())
            .map(|(end, d)| (*end, d.len()))
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
    super::text::normalize(&word)
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
    super::text::normalize(&word)
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
fn arabic_cins(chars: &[char], spans: &mut Vec<Span>) {
    for i in 0..chars.len() {
        if !word_start(chars, i) || !arabic_letter(at(chars, i)) {
            continue;
        }
        let glued = arabic_letter(at(chars, i + 1)) && at(chars, i + 2).is_ascii_digit();
        let mut j = if glued {
            i + 2
        } else if lone_arabic_letter(chars, i) {
            let second = at(chars, i + 1) == ' ' && lone_arabic_letter(chars, i + 2);
            if second {
                i + 3
            } else {
                i + 1
            }
        } else {
            continue;
        };
        if !glued && matches!(at(chars, j), ' ' | '-') {
            j += 1;
        }
        // The whole number: a part of a longer one (a phone number) is no CIN.
        let Some((end, digits)) = digit_groups(chars, j).pop() else {
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
fn student_ids(chars: &[char], spans: &mut Vec<Span>) {
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
fn plates(chars: &[char], spans: &mut Vec<Span>) {
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

fn numbers(chars: &[char], spans: &mut Vec<Span>) {
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
        let groups = digit_groups(chars, first);
        let mut start = i;
        let mut from = first;
        let mut g = 0;
        while g < groups.len() {
            let prefix = if g == 0 { "" } else { groups[g - 1].1.as_str() };
            let hit = (g..groups.len()).rev().find_map(|e| {
                let digits = groups[e].1.get(prefix.len()..)?;
                let (end, _) = groups[e];
                let kind = classify(digits, plus && g == 0)?;
                (!at(chars, end).is_alphabetic()).then_some((e, kind))
            });
            match hit {
                Some((e, kind)) => {
                    spans.push(Span {
                        start,
                        end: groups[e].0,
                        kind,
                        rank: 3,
                    });
                    g = e + 1;
                }
                None => g += 1,
            }
            // Next group starts after its separator.
            from = groups.get(g.wrapping_sub(1)).map_or(from, |x| x.0 + 1);
            start = from;
        }
        i = groups.last().map_or(i + 1, |x| x.0.max(i + 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> String {
        redact(s).text
    }

    #[test]
    fn cin_numbers() {
        assert_eq!(r("CIN AB123456 svp"), "CIN [CIN] svp");
        assert_eq!(r("ma carte K 12345 expirée"), "ma carte [CIN] expirée");
        assert_eq!(r("رقم البطاقة BE654321"), "رقم البطاقة [CIN]");
        assert_eq!(r("cin dyali jk98765"), "cin dyali [CIN]");
        assert_eq!(redact("AB123456").found, vec![PiiKind::Cin]);
    }

    #[test]
    fn phone_numbers() {
        assert_eq!(r("appelez-moi au 06 12 34 56 78"), "appelez-moi au [PHONE]");
        assert_eq!(r("+212 6 12 34 56 78"), "[PHONE]");
        assert_eq!(r("+212612345678 merci"), "[PHONE] merci");
        assert_eq!(
            r("fixe 0522-12-34-56, gsm 0712.34.56.78"),
            "fixe [PHONE], gsm [PHONE]"
        );
        assert_eq!(r("نمرتي 0661234567 عافاك"), "نمرتي [PHONE] عافاك");
        assert_eq!(r("00212 5 22 12 34 56"), "[PHONE]");
        assert_eq!(r("tel:0612345678 2 fois"), "tel:[PHONE] 2 fois");
        assert_eq!(r("gsm (06) 12.34.56.78"), "gsm ([PHONE]");
        for written in [
            "06،12،34،56،78",
            "06٬12٬34٬56٬78",
            "06,12,34,56,78",
            "06 12  34 56 78",
            "06 - 12 - 34 - 56 - 78",
            "06–12–34–56–78",
        ] {
            assert_eq!(r(&format!("tel {written}")), "tel [PHONE]", "{written}");
        }
        assert_eq!(r("cnss 123·456·789"), "cnss [CNSS]");
    }

    #[test]
    fn a_lower_case_cin_typed_after_its_cue_is_redacted() {
        assert_eq!(r("cin ab 123456"), "cin [CIN]");
        assert_eq!(r("CIN ab 123456"), "CIN [CIN]");
        assert_eq!(
            r("numero de carte nationale: jb 654321"),
            "numero de carte nationale: [CIN]"
        );
        assert_eq!(r("رقم البطاقة be 654321"), "رقم البطاقة [CIN]");
        assert_eq!(r("cin AB-123456"), "cin [CIN]");
        assert_eq!(r("cin AB 12 34 56"), "cin [CIN]");
        assert_eq!(r("ma carte ab 123456"), "ma carte [CIN]");
        // A word that merely contains a cue is none.
        assert_eq!(r("vaccin le 123456"), "vaccin le 123456");
        // Without a cue, two lower-case letters and a number are prose.
        assert_eq!(
            r("aide de 500 dh, le 100000 dh"),
            "aide de 500 dh, le 100000 dh"
        );
    }

    #[test]
    fn emails_cnss_rib_iban_cards() {
        assert_eq!(
            r("mon mail: youssef.alami+rdv@gmail.com."),
            "mon mail: [EMAIL]."
        );
        assert_eq!(r("البريد ديالي a_b@mail.co.ma"), "البريد ديالي [EMAIL]");
        assert_eq!(
            r("immatriculation CNSS 123456789"),
            "immatriculation CNSS [CNSS]"
        );
        assert_eq!(r("رقم الضمان 987654321"), "رقم الضمان [CNSS]");
        assert_eq!(r("RIB 011 780 0000123456789012 34"), "RIB [RIB]");
        assert_eq!(r("rib: 011780000012345678901234"), "rib: [RIB]");
        assert_eq!(r("IBAN MA64 0117 8000 0012 3456 7890 1234"), "IBAN [IBAN]");
        assert_eq!(
            r("carte 4111 1111 1111 1111 exp 12/26"),
            "carte [CARD] exp 12/26"
        );
        let all = redact("a@b.ma 0612345678 AB123456 123456789");
        assert_eq!(
            all.found,
            vec![PiiKind::Email, PiiKind::Phone, PiiKind::Cin, PiiKind::Cnss]
        );
    }

    #[test]
    fn names_after_cues() {
        assert_eq!(
            r("Bonjour, je m'appelle Youssef Alami et je veux un passeport"),
            "Bonjour, je m'appelle [NAME] et je veux un passeport"
        );
        assert_eq!(
            r("my name is John Smith, I need a visa"),
            "my name is [NAME], I need a visa"
        );
        assert_eq!(
            r("salam smiti karim bennani, bghit lpassport"),
            "salam smiti [NAME], bghit lpassport"
        );
        assert_eq!(
            r("ana Youssef o bghit njded lcarte"),
            "ana [NAME] o bghit njded lcarte"
        );
        assert_eq!(
            r("اسمي محمد العلوي و بغيت جواز السفر"),
            "اسمي [NAME] و بغيت جواز السفر"
        );
        assert_eq!(
            r("السيدة فاطمة الزهراء تطلب موعد"),
            "السيدة [NAME] تطلب موعد"
        );
        assert_eq!(
            r("rdv pour Mme Benali demain"),
            "rdv pour Mme [NAME] demain"
        );
        assert_eq!(r("M. Karim Tazi"), "M. [NAME]");
        assert_eq!(redact("je m'appelle Sara").found, vec![PiiKind::Name]);
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for s in [
            "renouvellement passeport 2024",
            "ma fille a 16 ans",
            "بنتي كملات 16 عام",
            "formulaire W18 pour la carte grise",
            "aide de 500 dh, logement 100000 درهم",
            "rdv le 12/05/2025 à 10h30",
            "ana f Italia o bghit rdv",
            "ana 3ndi 19 3am",
            "déclaration IR 2024 et TVA",
            "appelez le 3737 ou le 2727",
            "dossier 2023/145 au tribunal",
            "je suis Marocain",
            "",
        ] {
            let out = redact(s);
            assert_eq!(out.text, s);
            assert!(out.found.is_empty(), "{s}: {:?}", out.found);
        }
    }

    #[test]
    fn never_panics() {
        for s in [
            "@",
            "a@",
            "@b.c",
            "+",
            "+2",
            "MA",
            "ma 1",
            "K",
            "🙂@🙂.ma",
            "اسمي",
            "je m'appelle",
            "0",
            "06 12 34",
        ] {
            let _ = redact(s);
        }
    }
}

#[cfg(test)]
mod normalized_tests {
    use super::redact;

    #[test]
    fn the_text_sent_to_the_llm_is_normalised_around_intact_placeholders() {
        let r = redact("Ma CARTE, CIN AB123456 !!! 🙂 email karim@example.ma");
        assert_eq!(r.normalized(), "ma carte cin [CIN] email [EMAIL]");
    }
}

#[cfg(test)]
mod more_identifier_tests {
    use super::{redact, PiiKind};

    #[test]
    fn passports_dates_and_spelled_out_emails_are_redacted() {
        let r = redact(
            "passeport GK1234567 né le 12/05/1985, écrivez à karim at gmail dot com ou k [at] mail [dot] ma",
        );
        assert_eq!(
            r.text,
            "passeport [PASSPORT] né le [DATE], écrivez à [EMAIL] ou [EMAIL]"
        );
        assert_eq!(
            r.found,
            [
                PiiKind::Passport,
                PiiKind::Date,
                PiiKind::Email,
                PiiKind::Email
            ]
        );
        assert_eq!(redact("date: 1985-05-12").text, "date: [DATE]");
    }

    #[test]
    fn years_service_codes_and_prose_stay() {
        for s in [
            "formulaire 2024 pour le permis",
            "I was at home, dot matrix printer",
            "CIN expirée en 2019",
            "page 12 of 30",
        ] {
            assert_eq!(redact(s).text, s, "{s}");
        }
    }
}

#[cfg(test)]
mod audit_gap_tests {
    //! The gaps a data-protection audit (Law 09-08) reproduced: each of these reached the LLM
    //! and the feedback store as written.
    use super::{redact, PiiKind};

    fn r(s: &str) -> String {
        redact(s).text
    }

    /// The audit's query: a request the router sends to the LLM, then the data.
    const PREFIX: &str = "je voudrais un papier pour mon fils, mon salaire 12000 dh, ";

    #[test]
    fn a_phone_number_a_cin_was_seen_in_is_redacted_whole() {
        let sent = r("K 06 12 34 56 78");
        assert!(!sent.contains("56") && !sent.contains("78"), "{sent}");
    }

    #[test]
    fn the_audit_query_keeps_its_request_and_loses_the_data() {
        let sent = redact(&format!("{PREFIX}séropositif")).normalized();
        assert_eq!(
            sent,
            "je voudrais un papier pour mon fils mon salaire 12000 dh [HEALTH]"
        );
    }

    #[test]
    fn french_health_words_are_redacted() {
        for (text, kept) in [
            ("je suis séropositif", "je suis [HEALTH]"),
            ("elle est seropositive", "elle est [HEALTH]"),
            ("mon fils est handicapé moteur", "mon fils est [HEALTH]"),
            ("handicape", "[HEALTH]"),
            ("il est schizophrène", "il est [HEALTH]"),
        ] {
            assert_eq!(r(text), kept, "{text}");
        }
    }

    #[test]
    fn arabic_and_darija_health_words_are_redacted() {
        assert_eq!(r("ابني مريض بالسرطان"), "ابني [HEALTH]");
        assert_eq!(r("ولدي معاق"), "ولدي [HEALTH]");
        assert_eq!(r("ana fiya sukkar"), "ana [HEALTH]");
        assert_eq!(r("3ndi sokar o bghit"), "[HEALTH] o bghit");
        assert_eq!(redact("معاق").found, [PiiKind::Health]);
    }

    #[test]
    fn health_insurance_words_stay() {
        for s in [
            "ملف المرض ديالي فين وصل",
            "dossier maladie f cnss",
            "feuille de maladie, je suis malade",
            "ana mrid bghit maw3id",
        ] {
            assert_eq!(r(s), s, "{s}");
        }
    }

    #[test]
    fn sexual_orientation_is_redacted() {
        for (text, kept) in [
            ("je suis homosexuel", "je suis [ORIENTATION]"),
            ("I am gay", "I am [ORIENTATION]"),
            ("she is a lesbian", "she is a [ORIENTATION]"),
            ("انا مثلي الجنس", "انا [ORIENTATION]"),
        ] {
            assert_eq!(r(text), kept, "{text}");
        }
        assert_eq!(redact("gay").found, [PiiKind::Orientation]);
    }

    #[test]
    fn religion_and_conversion_are_redacted() {
        for (text, kept) in [
            ("converti au christianisme", "[BELIEF]"),
            ("I converted to Islam last year", "I [BELIEF] last year"),
            ("اعتنق المسيحية", "[BELIEF]"),
            ("ana tanssara", "ana [BELIEF]"),
            ("il est juif", "il est [BELIEF]"),
        ] {
            assert_eq!(r(text), kept, "{text}");
        }
        assert_eq!(redact("athée").found, [PiiKind::Belief]);
    }

    #[test]
    fn religious_affairs_service_words_stay() {
        for s in [
            "inscription au tirage du hajj",
            "ministère des Habous et des Affaires islamiques",
            "convertir mon permis étranger",
            "التسجيل في قرعة الحج",
        ] {
            assert_eq!(r(s), s, "{s}");
        }
    }

    #[test]
    fn a_persons_conviction_or_detention_is_redacted() {
        for (text, kept) in [
            ("condamne pour vol", "[CONVICTION]"),
            ("ابني محكوم عليه بالسجن", "ابني [CONVICTION]"),
            ("detenu numero 4567 prison oukacha", "[CONVICTION]"),
            ("my son is in prison", "my son is in [CONVICTION]"),
        ] {
            assert_eq!(r(text), kept, "{text}");
        }
        assert_eq!(redact("condamné pour vol").found, [PiiKind::Conviction]);
    }

    #[test]
    fn criminal_record_service_words_stay_after_a_conviction() {
        assert_eq!(
            r("condamné à 2 ans, besoin extrait du casier judiciaire"),
            "[CONVICTION], besoin extrait du casier judiciaire"
        );
        assert_eq!(
            r("محكوم عليه بالسجن و بغيت السجل العدلي"),
            "[CONVICTION] و بغيت السجل العدلي"
        );
        for s in [
            "extrait du casier judiciaire",
            "السجل العدلي",
            "شهادة السوابق العدلية",
            "fiche anthropométrique",
            "attestation de non condamnation",
            "أداء الغرامات المحكوم بها في مخالفات الرادار",
        ] {
            assert_eq!(r(s), s, "{s}");
        }
    }

    #[test]
    fn a_cin_typed_with_arabic_letters_is_redacted() {
        for (text, kept) in [
            ("ب ج 123456", "[CIN]"),
            ("ك 123456", "[CIN]"),
            ("رقم البطاقة ب ج 123456", "رقم البطاقة [CIN]"),
            ("رقم البطاقة ك 12 34 56", "رقم البطاقة [CIN]"),
            ("بج123456", "[CIN]"),
        ] {
            assert_eq!(r(text), kept, "{text}");
        }
    }

    #[test]
    fn an_amount_after_an_arabic_one_letter_word_is_no_cin() {
        for s in ["شريت دار ب 250000 درهم", "و 12000 dh", "ف 2015"] {
            assert_eq!(r(s), s, "{s}");
        }
        // A phone number after "ب" is a phone number, not a CIN and its last digits.
        assert_eq!(r("ب 06 12 34 56 78"), "ب [PHONE]");
    }

    #[test]
    fn dates_written_with_month_names_are_redacted() {
        for (text, kept) in [
            ("12 mars 2015", "[DATE]"),
            ("12 مارس 2015", "[DATE]"),
            ("né le 12 mars", "né le [DATE]"),
            ("le 1er mai 1990", "le [DATE]"),
            ("born on March 12, 2015", "born on [DATE]"),
            ("مزداد في 3 غشت", "مزداد في [DATE]"),
            ("12 كانون الثاني 1980", "[DATE]"),
            ("3 yulyuz 2001", "[DATE]"),
        ] {
            assert_eq!(r(text), kept, "{text}");
        }
    }

    #[test]
    fn a_month_and_a_year_alone_stay() {
        for s in [
            "déclaration TVA de mars 2024",
            "consulter les notes du 1er semestre",
            "le 12 de chaque mois",
            "vignette 2025",
        ] {
            assert_eq!(r(s), s, "{s}");
        }
    }

    #[test]
    fn a_birth_date_after_a_birth_cue_is_redacted_whatever_its_year() {
        assert_eq!(r("né le 12/03/2018"), "né le [DATE]");
        assert_eq!(r("ولدي مزداد 12 مارس 2019"), "ولدي مزداد [DATE]");
        // Without a cue a recent date is an appointment.
        assert_eq!(r("rdv le 12/05/2025"), "rdv le 12/05/2025");
    }

    #[test]
    fn student_numbers_are_redacted() {
        assert_eq!(r("code massar r130012345"), "code massar [STUDENT_ID]");
        assert_eq!(r("CNE R130012345 svp"), "CNE [STUDENT_ID] svp");
        assert_eq!(redact("R130012345").found, [PiiKind::StudentId]);
    }

    #[test]
    fn moroccan_plates_are_redacted() {
        for (text, kept) in [
            ("tomobil 12345 a 6", "tomobil [PLATE]"),
            ("12345-أ-6", "[PLATE]"),
            ("12345 | ب | 6", "[PLATE]"),
            ("matricule 1234-B-26.", "matricule [PLATE]."),
        ] {
            assert_eq!(r(text), kept, "{text}");
        }
    }

    #[test]
    fn ranges_amounts_and_years_are_no_plates() {
        for s in [
            "de 10 a 15 jours",
            "j'ai 2 enfants de 3 a 4 ans",
            "aide de 500 dh pour 3 a 4 mois",
            "vignette 2024 a 15h",
            "formulaire W18 pour la carte grise",
        ] {
            assert_eq!(r(s), s, "{s}");
        }
    }

    #[test]
    fn a_darija_address_without_capitals_is_redacted() {
        assert_eq!(r("hay nahda zanka 12 rabat"), "[ADDRESS]");
        assert_eq!(r("ana sakn f derb sultan"), "ana sakn f [ADDRESS]");
        // A request's own words stay.
        assert_eq!(
            r("acheter un appartement avec daam sakane 2024"),
            "acheter un appartement avec daam sakane 2024"
        );
    }

    #[test]
    fn a_given_name_partly_missing_from_the_lists_is_redacted_whole() {
        assert_eq!(r("ana fatima zahra bennani"), "ana [NAME]");
        assert_eq!(r("Mme Benali fatima zahra"), "Mme [NAME]");
    }

    #[test]
    fn a_family_name_after_a_cued_given_name_is_redacted() {
        assert_eq!(r("ana youssef lmssari"), "ana [NAME]");
        assert_eq!(
            r("ana Youssef lmssari bghit passport"),
            "ana [NAME] bghit passport"
        );
        // Words of the request after the name stay.
        assert_eq!(r("ana youssef passeport"), "ana [NAME] passeport");
    }

    #[test]
    fn every_placeholder_survives_normalisation() {
        for kind in PiiKind::ALL {
            let text = super::Redacted {
                text: format!("a {} b", kind.placeholder()),
                found: vec![kind],
            };
            assert_eq!(
                text.normalized(),
                format!("a {} b", kind.placeholder()),
                "{kind:?}"
            );
        }
    }

    #[test]
    fn the_audit_prefix_stays_whatever_follows() {
        for x in [
            "homosexuel",
            "condamne pour vol",
            "ب ج 123456",
            "12 mars 2015",
            "r130012345",
            "12345 a 6",
            "hay nahda zanka 12 rabat",
        ] {
            let out = r(&format!("{PREFIX}{x}"));
            assert!(out.starts_with(PREFIX), "{x}: {out}");
            assert!(out[PREFIX.len()..].starts_with('['), "{x}: {out}");
        }
    }
}

#[cfg(test)]
mod bypass_tests {
    //! Variants an outside bypass probe sent after the audit's request: each reached the LLM
    //! and the feedback store as written (only normalised), or, for the workplace, lost a
    //! word that is no personal data.
    use super::{redact, PiiKind};

    /// The text the LLM is sent.
    fn sent(s: &str) -> String {
        redact(s).normalized()
    }

    /// The probe's request, typed before each variant.
    const PREFIX: &str = "je voudrais un papier pour mon fils, mon salaire 12000 dh, ";

    fn all_redacted_as(kind: PiiKind, texts: &[&str]) {
        for text in texts {
            assert_eq!(sent(text), kind.placeholder(), "{text}");
        }
    }

    #[test]
    fn darija_diabetes_is_redacted_in_both_scripts() {
        for text in ["عندي السكر", "3ndi ssokkar", "mrid b skkar", "3ndo sokkar"] {
            assert_eq!(sent(text), "[HEALTH]", "{text}");
        }
    }

    #[test]
    fn darija_cancer_and_pregnancy_are_redacted() {
        assert_eq!(sent("3ndi lkancer"), "[HEALTH]");
        assert_eq!(sent("mrat 7amla"), "mrat [HEALTH]");
        assert_eq!(sent("مراتي حاملة"), "مراتي [HEALTH]");
    }

    #[test]
    fn a_feminine_darija_disability_is_redacted() {
        assert_eq!(sent("ana m3a9a"), "ana [HEALTH]");
        assert_eq!(sent("mo3aqa"), "[HEALTH]");
    }

    #[test]
    fn misspelt_and_plural_health_words_are_redacted() {
        all_redacted_as(
            PiiKind::Health,
            &["diabet", "diabette", "kancer", "diabetiques", "soukar"],
        );
    }

    #[test]
    fn french_and_english_conditions_missing_from_the_lists_are_redacted() {
        all_redacted_as(
            PiiKind::Health,
            &[
                "leucémie",
                "leukemia",
                "trisomique",
                "down syndrome",
                "autiste",
                "insuffisance rénale",
                "AVC",
                "fauteuil roulant",
                "wheelchair user",
                "séro+",
                "seropo",
            ],
        );
    }

    #[test]
    fn an_abbreviation_spelled_with_dots_or_spaces_is_redacted() {
        all_redacted_as(
            PiiKind::Health,
            &[
                "V.I.H.",
                "H.I.V",
                "s.i.d.a",
                "s i d a",
                "v-i-h",
                "séro-positif",
            ],
        );
        assert_eq!(sent("ana fiya V.I.H."), "ana [HEALTH]");
        assert_eq!(sent("mon fils a V. I. H"), "mon fils a [HEALTH]");
    }

    #[test]
    fn letters_that_spell_no_term_stay() {
        for s in ["j ai un B.O. a signer", "a b c", "formulaire C.N.S.S"] {
            assert_eq!(redact(s).text, s, "{s}");
        }
    }

    #[test]
    fn a_qualifier_after_a_condition_goes_with_it() {
        for text in [
            "معاق ذهنيا",
            "VIH positive",
            "séro positif",
            "مريض نفسي",
            "handicapé mental",
        ] {
            assert_eq!(sent(text), "[HEALTH]", "{text}");
        }
    }

    #[test]
    fn a_qualifier_alone_stays() {
        for s in [
            "certificat négatif",
            "بغيت نسجل نفسي في الضمان",
            "user account password reset",
            "positive",
        ] {
            assert_eq!(redact(s).text, s, "{s}");
        }
    }

    #[test]
    fn feminine_darija_beliefs_are_redacted() {
        all_redacted_as(PiiKind::Belief, &["msi7iya", "chi3iya", "yahoudiya"]);
    }

    #[test]
    fn other_spellings_and_plurals_of_beliefs_are_redacted() {
        all_redacted_as(
            PiiKind::Belief,
            &[
                "mesihi",
                "masihi",
                "kafer",
                "musulmans",
                "hindou",
                "sunnite",
                "orthodoxe",
            ],
        );
    }

    #[test]
    fn darija_and_slang_orientation_words_are_redacted() {
        all_redacted_as(
            PiiKind::Orientation,
            &["mitliya", "mithliya", "zamla", "trans", "pédé"],
        );
    }

    #[test]
    fn darija_feminine_and_slang_detention_words_are_redacted() {
        assert_eq!(sent("كنت محبوس"), "كنت [CONVICTION]");
        all_redacted_as(
            PiiKind::Conviction,
            &[
                "m7bousa",
                "mahkouma",
                "m7kouma",
                "l7ebs",
                "sijn",
                "sjn",
                "taule",
                "garde à vue",
                "arrested for theft",
            ],
        );
    }

    #[test]
    fn a_prison_named_as_a_workplace_stays() {
        for s in [
            "nkhdem f prison",
            "je travaille à la prison de Salé, attestation de travail",
            "I work at the jail and need a pay slip",
            "أعمل في السجن المحلي",
            "kankhdem f l7bs dyal oukacha",
        ] {
            assert_eq!(redact(s).text, s, "{s}");
        }
    }

    #[test]
    fn a_detention_after_a_workplace_or_a_visit_is_still_redacted() {
        assert_eq!(
            sent("nkhdem f prison w kont m7bous"),
            "nkhdem f prison w kont [CONVICTION]"
        );
        // A visit tells a relative's detention: redacted, as the bias is towards redacting.
        assert_eq!(sent("visite au détenu"), "visite au [CONVICTION]");
        assert_eq!(
            sent("visiter mon frère en prison"),
            "visiter mon frere en [CONVICTION]"
        );
    }

    #[test]
    fn a_birth_date_with_spaced_or_underscored_separators_is_redacted() {
        for (text, kept) in [
            ("né le 12 / 03 / 1990", "ne le [DATE]"),
            ("12_03_1990", "[DATE]"),
            ("tzadt 12 / 03 / 1990", "tzadt [DATE]"),
            ("12 - 3 - 85", "[DATE]"),
        ] {
            assert_eq!(sent(text), kept, "{text}");
        }
    }

    #[test]
    fn three_numbers_apart_by_spaces_that_form_a_birth_date_are_redacted() {
        assert_eq!(sent("12 03 1990"), "[DATE]");
        assert_eq!(sent("né le 12 03 2019"), "ne le [DATE]");
    }

    #[test]
    fn numbers_apart_by_spaces_that_are_no_birth_date_stay() {
        for s in [
            "le 12 03 2024 j'ai rendez-vous",
            "rendez-vous le 12 / 05 / 2026",
            "j'ai 2 enfants 3 4 ans",
            "facture 03 2024 onee",
            "numero 12 03 1990 45",
        ] {
            assert_eq!(redact(s).text, s, "{s}");
        }
    }

    #[test]
    fn a_date_with_its_day_in_words_is_redacted() {
        for (text, kept) in [
            ("née le douze mars 1990", "nee le [DATE]"),
            ("le vingt-deux mai 1985", "le [DATE]"),
            ("le dix sept mai 1985", "le [DATE]"),
            ("born on March twelfth, 1990", "born on [DATE]"),
        ] {
            assert_eq!(sent(text), kept, "{text}");
        }
    }

    #[test]
    fn a_day_in_words_without_a_year_or_a_birth_cue_stays() {
        for s in ["le premier mai", "no one may apply twice", "sept mai"] {
            assert_eq!(redact(s).text, s, "{s}");
        }
    }

    #[test]
    fn a_birth_year_after_a_birth_cue_is_redacted() {
        for (text, kept) in [
            ("né en 1990", "ne en [DATE]"),
            ("twaladt 3am 1990", "twaladt 3am [DATE]"),
            ("born in 1990", "born in [DATE]"),
            ("ولد سنة 1990", "ولد سنه [DATE]"),
            ("date de naissance : 1990", "date de naissance [DATE]"),
        ] {
            assert_eq!(sent(text), kept, "{text}");
        }
    }

    #[test]
    fn a_year_without_a_birth_cue_stays() {
        for s in ["vignette 2024", "né en France", "inscription hajj 2025"] {
            assert_eq!(redact(s).text, s, "{s}");
        }
    }

    #[test]
    fn an_english_address_with_its_street_type_last_is_redacted() {
        assert_eq!(sent("I live at 12 Orange Street"), "i live at [ADDRESS]");
        assert_eq!(sent("4 mall road, casablanca"), "[ADDRESS] casablanca");
    }

    #[test]
    fn road_tax_and_amounts_are_no_address() {
        for s in [
            "pay the road tax for my car",
            "I paid 200 dh road tax",
            "12 road tax",
        ] {
            assert_eq!(redact(s).text, s, "{s}");
        }
    }

    #[test]
    fn the_probe_prefix_stays_and_every_variant_goes() {
        let prefix = sent(PREFIX);
        for x in [
            "عندي السكر",
            "3ndi ssokkar",
            "mrat 7amla",
            "diabette",
            "V.I.H.",
            "msi7iya",
            "mitliya",
            "m7bousa",
            "garde à vue",
            "né le 12 / 03 / 1990",
            "12 03 1990",
            "née le douze mars 1990",
            "né en 1990",
            "I live at 12 Orange Street",
            "معاق ذهنيا",
            "VIH positive",
        ] {
            let out = sent(&format!("{PREFIX}{x}"));
            let rest = out.strip_prefix(&prefix).unwrap_or_default();
            assert!(rest.contains(" ["), "{x}: {out}");
            assert!(
                !rest.contains("positive") && !rest.contains("ذهنيا"),
                "{x}: {out}"
            );
            assert_eq!(
                redact(&format!("{PREFIX}{x}")).text.find(x),
                None,
                "{x}: {out}"
            );
        }
    }
}

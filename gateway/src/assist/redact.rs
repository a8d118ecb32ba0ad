//! Personal-data redaction before any text leaves the process.
//!
//! Citizens paste their CIN, phone number, CNSS number or RIB into the search
//! box ("ana Youssef, CIN AB123456, 06 12 34 56 78, bghit njded lpassport").
//! The local ranker can see that text, but whatever is sent to an LLM, a log
//! or a metrics label must not carry it. [`redact`] replaces each piece of
//! personal data with a typed placeholder (`[CIN]`, `[PHONE]`, `[EMAIL]`,
//! `[CNSS]`, `[RIB]`, `[IBAN]`, `[CARD]`, `[NAME]`) so the remaining text
//! still reads naturally and the kind of data is known.
//!
//! Detection is deliberately biased towards redacting: a 9-digit number is a
//! CNSS number even without the "CNSS" cue, any 13-19 digit run is treated as
//! a card number, and an uppercase letter followed by a 5-6 digit number is a
//! CIN. Ordinary numbers (years, ages, amounts, form codes such as "W18")
//! are left alone. Names are only recognised after explicit cues ("je
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
    /// A health condition.
    Health,
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
        }
    }
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
        const PLACEHOLDERS: [&str; 12] = [
            "[ADDRESS]",
            "[HEALTH]",
            "[CIN]",
            "[PHONE]",
            "[EMAIL]",
            "[CNSS]",
            "[RIB]",
            "[IBAN]",
            "[CARD]",
            "[NAME]",
            "[PASSPORT]",
            "[DATE]",
        ];
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
            let next = PLACEHOLDERS
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
            super::redact_words::addresses as fn(&[char], &mut dyn FnMut(usize, usize)),
            PiiKind::Address,
            5,
        ),
        (super::redact_words::names, PiiKind::Name, 6),
        (super::redact_words::health, PiiKind::Health, 7),
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
    for s in spans {
        if s.start < pos || s.end <= s.start {
            continue;
        }
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
    let this_year = 1970
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            / 31_556_952) as u32;
    let valid = |day: u32, month: u32, year: u32| {
        (1..=31).contains(&day) && (1..=12).contains(&month) && year.saturating_add(10) <= this_year
    };
    for i in 0..chars.len() {
        if !word_start(chars, i) || !at(chars, i).is_ascii_digit() {
            continue;
        }
        let (a_end, a, a_val) = run(i);
        let sep = at(chars, a_end);
        if !matches!(sep, '/' | '-' | '.') {
            continue;
        }
        let (b_end, b, b_val) = run(a_end + 1);
        if at(chars, b_end) != sep {
            continue;
        }
        let (c_end, c, c_val) = run(b_end + 1);
        // A fourth group (`06.12.34.56`) makes it something else.
        let more = at(chars, c_end) == sep && at(chars, c_end + 1).is_ascii_digit();
        if more || at(chars, c_end).is_alphanumeric() {
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

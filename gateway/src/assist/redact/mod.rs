//! Personal-data redaction before any text leaves the process.
//!
//! Citizens paste their CIN, phone number, CNSS number or RIB into the search
//! box ("ana Youssef, CIN AB123456, 06 12 34 56 78, bghit njded lpassport").
//! The local ranker can see that text, but whatever is sent to an LLM, a log
//! or a metrics label must not carry it. [`redact`] replaces each piece of
//! personal data with a typed placeholder (`[CIN]`, `[PHONE]`, `[EMAIL]`,
//! `[CNSS]`, `[RIB]`, `[IBAN]`, `[CARD]`, `[NAME]`, `[PASSPORT]`, `[DATE]`,
//! `[ADDRESS]`, `[STUDENT_ID]`, `[PLATE]`, `[NUMBER]` (one read out in words), and for the
//! special categories of Law
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

mod addresses;
mod chars;
mod dates;
mod emails;
mod names;
mod numbers;
mod sensitive;
mod spelled_numbers;
#[cfg(test)]
mod tests;
mod words;

use dates::numeric::dates;
use emails::{bracketed_emails, emails, spelled_emails};
use numbers::{arabic_cins, cins, foreign_ibans, ibans, numbers, passports, plates, student_ids};

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
    /// A number read out in words, not beginning with a zero (a CIN's, a CNSS or an account
    /// number's digits): five number words or more in a row.
    Number,
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
            PiiKind::Number => "[NUMBER]",
        }
    }

    /// Every kind, so that whatever lists placeholders (the normalised form the LLM is
    /// sent) lists the new ones too.
    pub const ALL: [PiiKind; 18] = [
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
        PiiKind::Number,
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
                    push(&mut out, &crate::assist::text::normalize(&rest[..at]));
                    push(&mut out, placeholder);
                    rest = &rest[at + placeholder.len()..];
                }
                None => {
                    push(&mut out, &crate::assist::text::normalize(rest));
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
    let mut chars: Vec<char> = text.chars().collect();
    chars::read_as_digits_and_latin(&mut chars);
    let mut spans = Vec::new();
    emails(&chars, &mut spans);
    spelled_emails(&chars, &mut spans);
    bracketed_emails(&chars, &mut spans);
    ibans(&chars, &mut spans);
    foreign_ibans(&chars, &mut spans);
    passports(&chars, &mut spans);
    dates(&chars, &mut spans);
    cins(&chars, &mut spans);
    arabic_cins(&chars, &mut spans);
    student_ids(&chars, &mut spans);
    plates(&chars, &mut spans);
    numbers(&chars, &mut spans);
    names::cued::names(&chars, &mut |start, end| {
        spans.push(Span {
            start,
            end,
            kind: PiiKind::Name,
            rank: 4,
        });
    });
    for (find, kind, rank) in [
        (
            dates::months::dates as fn(&[char], &mut dyn FnMut(usize, usize)),
            PiiKind::Date,
            1,
        ),
        (dates::birth::birth_years, PiiKind::Date, 1),
        (spelled_numbers::spelled_phones, PiiKind::Phone, 1),
        (spelled_numbers::spelled_numbers, PiiKind::Number, 2),
        (addresses::addresses, PiiKind::Address, 5),
        (names::listed::names, PiiKind::Name, 6),
        (sensitive::health::health, PiiKind::Health, 7),
        (sensitive::orientation::orientation, PiiKind::Orientation, 7),
        (sensitive::beliefs::beliefs, PiiKind::Belief, 7),
        (sensitive::convictions::convictions, PiiKind::Conviction, 7),
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

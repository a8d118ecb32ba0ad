//! Street addresses: after an address word, and English ones named before their street type.

use super::names::name_like;
use super::words::{capitalised_latin, set, words, Word};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Words after which a street address follows.
const ADDRESS_CUES: &[&str] = &[
    "rue",
    "avenue",
    "boulevard",
    "bd",
    "zanqa",
    "znqa",
    "zenqa",
    // Found when tried: "hay nahda zanka 12 rabat" kept everything ("zanka" was no cue).
    "zanka",
    "zenka",
    "znka",
    "zan9a",
    "zen9a",
    "zn9a",
    "derb",
    "drb",
    "imm",
    "appt",
    "شارع",
    "زنقة",
    "درب",
    "حي",
    "دوار",
];

/// Cues that are also the words of a request ("carte de résidence", "acheter un
/// appartement", "بطاقة الإقامة", "a street vendor"): an address only when a name
/// (capitalised) or a number follows.
const ADDRESS_CUES_CAPITALISED: &[&str] = &[
    "hay",
    "quartier",
    "douar",
    "av",
    "road",
    "street",
    "residence",
    "immeuble",
    "appartement",
    "lotissement",
    "lot",
    "إقامة",
    "عمارة",
    "شقة",
    "تجزئة",
];

/// Words that end an address (what comes next is the request again), and the verbs that
/// say a street is a street, not where someone lives (found in a probe: "la rue est
/// fermée" reached the LLM as "la [ADDRESS]").
const ADDRESS_ENDS: &[&str] = &[
    "et",
    "and",
    "w",
    "o",
    "و",
    "pour",
    "for",
    "bach",
    "باش",
    "je",
    "i",
    "ana",
    "انا",
    "bghit",
    "بغيت",
    "svp",
    "please",
    "merci",
    "à",
    "a",
    "in",
    "f",
    "ف",
    "في",
    "de",
    "of",
    "ديال",
    "dyal",
    "est",
    "is",
    "was",
    "etait",
    "sont",
    "are",
    "ferme",
    "fermee",
    "bloquee",
    "msdoda",
    "mghlo9a",
    "مسدودة",
    "مغلقة",
];

/// English street types written after the street's name ("12 Orange Street"). Found when
/// tried: "I live at 12 Orange Street" reached the LLM as written, as "street" only opened an
/// address before a capitalised word.
const STREET_TYPES: &[&str] = &[
    "street",
    "road",
    "avenue",
    "ave",
    "lane",
    "drive",
    "boulevard",
    "blvd",
    "crescent",
];

/// The most name words between a house number and a [`STREET_TYPES`] word.
const STREET_NAME_WORDS: usize = 3;

pub(super) static ADDRESS_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(ADDRESS_CUES));

pub(super) static ADDRESS_CAP_SET: LazyLock<HashSet<String>> =
    LazyLock::new(|| set(ADDRESS_CUES_CAPITALISED));

pub(super) static ADDRESS_END_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(ADDRESS_ENDS));

static STREET_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(STREET_TYPES));

/// How many words after a cue that is also a request's word ("hay", "douar") another
/// address word or a number makes it an address.
const ADDRESS_LOOKAHEAD: usize = 3;

/// Whether another address cue or a house number comes within [`ADDRESS_LOOKAHEAD`] words
/// after word `i`, in the same clause. Found when tried: "hay nahda zanka 12 rabat" kept
/// "hay nahda", as "hay" needed a capitalised word after it ("subsidy for hay").
fn address_follows(ws: &[Word], i: usize) -> bool {
    ws.iter()
        .skip(i + 1)
        .take(ADDRESS_LOOKAHEAD)
        .take_while(|w| w.joined && !ADDRESS_END_SET.contains(&w.norm))
        .any(|w| {
            ADDRESS_SET.contains(&w.norm)
                || ADDRESS_CAP_SET.contains(&w.norm)
                || house_number(&w.norm)
        })
}

/// Whether a normalised word is a house number: 1 to 4 digits that do not read as a year
/// ("appartement avec daam sakane 2024" is a request).
fn house_number(norm: &str) -> bool {
    let year = norm.len() == 4 && (norm.starts_with("19") || norm.starts_with("20"));
    (1..=4).contains(&norm.len()) && norm.chars().all(|c| c.is_ascii_digit()) && !year
}

/// Calls `emit(start, end)` for each address: the house number before the cue, the cue, and
/// up to five words or numbers after it (stopping at punctuation or a function word); and
/// each English address named before its street type ([`streets_named_first`]).
pub fn addresses(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    streets_named_first(chars, emit);
    let ws = words(chars);
    let mut i = 0;
    while i < ws.len() {
        let next = ws.get(i + 1);
        let starts = ADDRESS_SET.contains(&ws[i].norm)
            || (ADDRESS_CAP_SET.contains(&ws[i].norm)
                && (next.is_some_and(|n| {
                    capitalised_latin(chars, n) || n.norm.chars().all(|c| c.is_ascii_digit())
                }) || address_follows(&ws, i)));
        let Some(first) = next.filter(|n| starts && n.joined) else {
            i += 1;
            continue;
        };
        if ADDRESS_END_SET.contains(&first.norm) {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < ws.len()
            && end < i + 6
            && ws[end].joined
            && !ADDRESS_END_SET.contains(&ws[end].norm)
        {
            end += 1;
        }
        // "12 rue ...": the house number goes too.
        let start = match i.checked_sub(1).map(|p| &ws[p]) {
            Some(p) if ws[i].joined && p.norm.chars().all(|c| c.is_ascii_digit()) => p.start,
            _ => ws[i].start,
        };
        emit(start, ws[end - 1].end);
        i = end;
    }
}

/// Calls `emit(start, end)` for each English address with its street type last: a house
/// number, one to [`STREET_NAME_WORDS`] name words and one of [`STREET_TYPES`] ("12 Orange
/// Street", "4 the mall road"). A number right before the type ("pay 200 road tax") or
/// an amount's unit between ("200 dh road tax") is no address.
fn streets_named_first(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    for (i, w) in ws.iter().enumerate() {
        if !STREET_SET.contains(&w.norm) {
            continue;
        }
        // `k`: the first word of the name, going back one word at a time.
        for k in (i.saturating_sub(STREET_NAME_WORDS)..i).rev() {
            if !ws[k + 1].joined || !street_name_word(chars, &ws[k]) {
                break;
            }
            let number = k
                .checked_sub(1)
                .filter(|&n| ws[k].joined && house_number(&ws[n].norm));
            if let Some(n) = number {
                emit(ws[n].start, w.end);
                break;
            }
        }
    }
}

/// Whether a word may be part of a street's name: name-like ([`name_like`]) and no unit of an
/// amount.
fn street_name_word(chars: &[char], w: &Word) -> bool {
    name_like(chars, w) && !super::numbers::UNIT_WORDS.contains(&w.norm.as_str())
}

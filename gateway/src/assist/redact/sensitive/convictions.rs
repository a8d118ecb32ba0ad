//! A person's own conviction or detention (criminal-offence data).

use super::spelling::{has_form, term_set};
use crate::assist::redact::words::{
    concepts, contains_word, cue_before, phrase_at, phrase_list, set, words, Word,
};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Little words between a work word and its place ("at the", "à la", "f", "في").
const WORK_GLUE: &[&str] = &[
    "a", "au", "la", "le", "l", "el", "at", "in", "the", "dans", "en", "de", "du", "d", "f", "fi",
    "fl", "في", "ف", "b", "ب", "m3a", "avec", "with", "une", "un",
];

/// The most [`WORK_GLUE`] words between a work word and its place.
const MAX_WORK_GLUE: usize = 3;

/// Words that state a person's own conviction or detention (criminal-offence data). Found
/// when tried: "condamne pour vol", "محكوم عليه بالسجن" and "detenu numero 4567 prison
/// oukacha" reached the LLM as written. The service's own words ("casier judiciaire",
/// "السجل العدلي", "fiche anthropométrique", "extrait", "السوابق العدلية") are not listed,
/// and the words after a cue stop at them.
const CONVICTION: &[&str] = &[
    "condamne",
    "condamnee",
    "condamnes",
    "condamnees",
    "convicted",
    "sentenced",
    "detenu",
    "detenue",
    "detenus",
    "detainee",
    "detained",
    "prisonnier",
    "prisonniere",
    "prisoner",
    "inmate",
    "incarcere",
    "incarceree",
    "incarcerated",
    "emprisonne",
    "emprisonnee",
    "imprisoned",
    "prison",
    "jail",
    "محكوم",
    "محكومه",
    "المحكوم",
    "مدان",
    "مدانه",
    "مسجون",
    "مسجونه",
    "سجين",
    "سجينه",
    "السجين",
    "معتقل",
    "معتقله",
    "المعتقل",
    "سجن",
    "السجن",
    "حبس",
    "الحبس",
    "m7koum",
    "mahkoum",
    "m7kom",
    "m7boss",
    "m7bous",
    "mhbous",
    "l7bs",
    "l7abs",
    "7bs",
    "lhbs",
    "lhabs",
    // Found when tried (an outside bypass probe): each reached the LLM as written
    // ("m7bousa", "mahkouma", "m7kouma" by their feminine ending, [`latin_forms`]).
    "محبوس",
    "محبوسه",
    "المحبوس",
    "7ebs",
    "l7ebs",
    "lhebs",
    "sijn",
    "ssijn",
    "sjn",
    "ssjn",
    "sejn",
    "taule",
    "taulard",
    "taularde",
    "arrested",
];

/// Several-word statements of a detention, cues as the words of [`CONVICTION`] are. Found
/// when tried: "garde à vue" reached the LLM as written.
const CONVICTION_PHRASES: &[&str] = &["garde a vue", "police custody", "تحت الحراسه النظريه"];

/// Conviction words that name the place, not the person's state: after [`WORK_WORDS`] they
/// say where someone works. Found when tried: "nkhdem f prison" (I work in a prison) became
/// "nkhdem f [CONVICTION]". Only a job is let through: "visiter mon frère en prison" still
/// tells a relative's detention and goes, as the bias is towards redacting.
const PRISON_PLACES: &[&str] = &[
    "prison",
    "jail",
    "سجن",
    "السجن",
    "حبس",
    "الحبس",
    "l7bs",
    "l7abs",
    "7bs",
    "lhbs",
    "lhabs",
    "7ebs",
    "l7ebs",
    "lhebs",
    "sijn",
    "ssijn",
    "sjn",
    "ssjn",
    "sejn",
    "taule",
];

/// Words that say someone works somewhere: a [`PRISON_PLACES`] word after them (with at most
/// [`MAX_WORK_GLUE`] of [`WORK_GLUE`] between) is a workplace.
const WORK_WORDS: &[&str] = &[
    "nkhdem",
    "nekhdem",
    "kankhdem",
    "kanekhdem",
    "n5dem",
    "kan5dem",
    "khdam",
    "khddam",
    "khdama",
    "khddama",
    "5dam",
    "5dama",
    "khdamt",
    "نخدم",
    "كنخدم",
    "خدام",
    "خدامه",
    "خدمت",
    "اعمل",
    "يعمل",
    "تعمل",
    "اشتغل",
    "يشتغل",
    "موظف",
    "موظفه",
    "حارس",
    "travaille",
    "travaillent",
    "travaillais",
    "travail",
    "bosse",
    "employe",
    "employee",
    "fonctionnaire",
    "gardien",
    "surveillant",
    "surveillante",
    "work",
    "works",
    "worked",
    "working",
    "employed",
    "guard",
    "warden",
];

/// The most words after a conviction cue taken with it ("pour vol", "numero 4567 prison
/// oukacha").
const CONVICTION_TAIL: usize = 4;

/// Service words a conviction's tail stops at, beyond the administrative vocabulary of the
/// [lexicon](crate::assist::lexicon): "anthropometrique" and the words of a request.
const CONVICTION_ENDS: &[&str] = &[
    "fiche",
    "anthropometrique",
    "bulletin",
    "et",
    "and",
    "mais",
    "but",
    "w",
    "o",
    "و",
    "je",
    "j",
    "i",
    "ana",
    "انا",
    "bghit",
    "بغيت",
    "khassni",
    "خاصني",
    "اريد",
    "voudrais",
    "veux",
    "want",
    "need",
    "besoin",
    "svp",
    "please",
    "merci",
    "bach",
    "باش",
    "comment",
    "how",
    "kifach",
    "كيفاش",
];

/// Lexicon concepts that name the offence, not a service: a conviction's tail goes on
/// through them ("condamne pour vol").
const OFFENCE_CONCEPTS: &[&str] = &["stolen", "fraud"];

pub(super) static CONVICTION_SET: LazyLock<HashSet<String>> =
    LazyLock::new(|| term_set(CONVICTION));

static CONVICTION_PHRASE_LIST: LazyLock<Vec<Vec<String>>> =
    LazyLock::new(|| phrase_list(CONVICTION_PHRASES));

static PRISON_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(PRISON_PLACES));

static WORK_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(WORK_WORDS));

static WORK_GLUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(WORK_GLUE));

static CONVICTION_END_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(CONVICTION_ENDS));

/// Calls `emit(start, end)` for each statement of a conviction or a detention: the cue
/// ("condamné", "détenu", "prison", "محكوم", "سجين") and up to [`CONVICTION_TAIL`] words
/// after it ("pour vol", "numéro 4567 prison oukacha"), stopping at punctuation, a word
/// that ends a clause and the vocabulary of a request, so "casier judiciaire" after it
/// stays for routing.
pub fn convictions(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    let mut i = 0;
    while i < ws.len() {
        let cue = conviction_phrase_at(&ws, i)
            .or_else(|| conviction_cue(&ws[i].norm).then_some(1))
            .filter(|_| !adjudged_thing(&ws, i) && !workplace(&ws, i));
        let Some(cue) = cue else {
            i += 1;
            continue;
        };
        let mut end = i + cue;
        let mut tail = 0;
        while end < ws.len() && ws[end].joined {
            if conviction_cue(&ws[end].norm) {
                tail = 0;
            } else if tail == CONVICTION_TAIL || ends_conviction(&ws[end].norm) {
                break;
            } else {
                tail += 1;
            }
            end += 1;
        }
        emit(ws[i].start, ws[end - 1].end);
        i = end;
    }
}

/// Number of words of a [`CONVICTION_PHRASES`] phrase at word `i`, if one starts there.
fn conviction_phrase_at(ws: &[Word], i: usize) -> Option<usize> {
    phrase_at(&CONVICTION_PHRASE_LIST, ws, i)
}

/// Whether word `i` is a prison named as a workplace: a [`PRISON_PLACES`] word after one of
/// [`WORK_WORDS`], with at most [`MAX_WORK_GLUE`] little words between ("nkhdem f prison",
/// "je travaille à la prison", "I work at the jail", "أعمل في السجن").
fn workplace(ws: &[Word], i: usize) -> bool {
    has_form(&PRISON_SET, &ws[i].norm)
        && cue_before(
            ws,
            i,
            MAX_WORK_GLUE,
            |w| contains_word(&WORK_SET, w),
            |w| WORK_GLUE_SET.contains(w),
            |_, after| ws[after].joined,
        )
}

/// Whether a normalised word states a conviction or a detention. A word made of a hyphen
/// ("ex-détenu") counts by its parts.
fn conviction_cue(norm: &str) -> bool {
    has_form(&CONVICTION_SET, norm) || norm.split(' ').any(|p| CONVICTION_SET.contains(p))
}

/// Words after "محكوم" that make it a thing adjudged, not a person sentenced: "الغرامات
/// المحكوم بها" (the fines imposed), the court-fine service's own words. Found when tried:
/// its name and a dev query lost them.
const ADJUDGED: &[&str] = &["بها", "به", "بيها", "بيه", "بهم"];

/// Whether the cue at word `i` is followed by one of [`ADJUDGED`].
fn adjudged_thing(ws: &[Word], i: usize) -> bool {
    ws.get(i + 1)
        .is_some_and(|n| n.joined && ADJUDGED.contains(&n.norm.as_str()))
}

/// Whether a conviction's tail stops before this word: a clause ends or a request starts.
fn ends_conviction(norm: &str) -> bool {
    if CONVICTION_END_SET.contains(norm) {
        return true;
    }
    let named = concepts(norm);
    !named.is_empty() && !named.iter().all(|c| OFFENCE_CONCEPTS.contains(c))
}

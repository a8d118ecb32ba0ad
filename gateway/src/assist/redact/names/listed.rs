//! Names found by the lists of given and family names, without a cue.

use super::lists::{FAMILY, GIVEN};
use super::name_like;
use crate::assist::redact::words::{capitalised_latin, contains_word, set, words, Word};
use std::collections::HashSet;
use std::sync::LazyLock;

/// Words that join the parts of a name.
const PARTICLES: &[&str] = &[
    "el", "al", "ben", "bin", "ibn", "ait", "ould", "bent", "بن", "ولد", "بنت", "آيت",
];

/// Words after which a known name may go on with names the lists do not hold ("ana
/// youssef lmssari", "اسمي فاطمة الزهراء").
const NAME_CUES: &[&str] = &[
    "ana",
    "انا",
    "smiti",
    "smiyti",
    "esmi",
    "ismi",
    "اسمي",
    "سميتي",
    "appelle",
    "mappelle",
    "suis",
    "am",
    "im",
    "nom",
    "name",
];

/// The most unknown words a cue lets a known name go on with.
const NAME_TAIL: usize = 2;

static GIVEN_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(GIVEN));

static FAMILY_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(FAMILY));

static PARTICLE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(PARTICLES));

static NAME_CUE_SET: LazyLock<HashSet<String>> = LazyLock::new(|| set(NAME_CUES));

fn is_name(norm: &str) -> bool {
    contains_word(&GIVEN_SET, norm) || contains_word(&FAMILY_SET, norm)
}

/// Calls `emit(start, end)` for each run of known names (with their particles and, in Latin
/// script, a capitalised word right after a known name). An unknown name-like word between
/// two known names is one of them ("fatima zahra bennani"), and after a cue ("ana", "اسمي")
/// up to [`NAME_TAIL`] name-like words go on the run ("ana youssef lmssari"). Found when
/// tried: both kept the unknown part ("ana [NAME] zahra [NAME]", "ana [NAME] lmssari").
pub fn names(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    let mut i = 0;
    while i < ws.len() {
        // A particle opens a name only when a known name follows it ("el idrissi").
        let opens = is_name(&ws[i].norm)
            || (PARTICLE_SET.contains(&ws[i].norm)
                && ws.get(i + 1).is_some_and(|n| n.joined && is_name(&n.norm)));
        if !opens {
            i += 1;
            continue;
        }
        let end = known_run_end(chars, &ws, i);
        let end = cued_tail_end(chars, &ws, i, end);
        emit(ws[i].start, ws[end - 1].end);
        i = end;
    }
}

/// End (exclusive) of the run of known names opened at word `i`.
fn known_run_end(chars: &[char], ws: &[Word], i: usize) -> usize {
    let mut end = i + 1;
    while end < ws.len() && end < i + 4 && ws[end].joined {
        let w = &ws[end];
        let next_is_name = ws
            .get(end + 1)
            .is_some_and(|n| n.joined && is_name(&n.norm));
        let part = is_name(&w.norm)
            || (PARTICLE_SET.contains(&w.norm)
                && ws.get(end + 1).is_some_and(|n| {
                    n.joined && (is_name(&n.norm) || capitalised_latin(chars, n))
                }))
            || (capitalised_latin(chars, w) && !crate::assist::text::stopwords::is_stop(&w.norm))
            || (next_is_name && name_like(chars, w));
        if !part {
            break;
        }
        end += 1;
    }
    end
}

/// `end` moved over up to [`NAME_TAIL`] name-like words when a cue comes right before the
/// run that starts at word `i`.
fn cued_tail_end(chars: &[char], ws: &[Word], i: usize, mut end: usize) -> usize {
    let cued = ws[i].joined
        && i.checked_sub(1)
            .is_some_and(|p| NAME_CUE_SET.contains(&ws[p].norm));
    if !cued {
        return end;
    }
    let limit = end + NAME_TAIL;
    while end < ws.len() && end < limit && ws[end].joined && name_like(chars, &ws[end]) {
        end += 1;
    }
    end
}

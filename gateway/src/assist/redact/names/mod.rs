//! Names: after a cue ([`cued`]) and from the lists of given and family names ([`listed`],
//! [`lists`]).

pub(super) mod cued;
pub(super) mod listed;
mod lists;

use crate::assist::redact::addresses::{ADDRESS_CAP_SET, ADDRESS_END_SET, ADDRESS_SET};
use crate::assist::redact::sensitive::sensitive;
use crate::assist::redact::words::{concepts, Word};

/// Whether word `w` could be a name the lists do not hold ("lmssari", "zahra", "المساري"):
/// letters only, not a stop word, an address word, administrative vocabulary or a word of
/// a special category. An Arabic one must carry the article, as family names do: without
/// capitals nothing else tells "ساكن" ("living") from a name.
pub(super) fn name_like(chars: &[char], w: &Word) -> bool {
    let letters = chars
        .get(w.start..w.end)
        .is_some_and(|cs| cs.len() >= 2 && cs.iter().all(|c| c.is_alphabetic() || *c == '-'));
    let arabic = w.norm.chars().next().is_some_and(|c| !c.is_ascii());
    letters
        && (!arabic || w.norm.starts_with("ال"))
        && !crate::assist::text::stopwords::is_stop(&w.norm)
        && !ADDRESS_SET.contains(&w.norm)
        && !ADDRESS_CAP_SET.contains(&w.norm)
        && !ADDRESS_END_SET.contains(&w.norm)
        && !sensitive(&w.norm)
        && concepts(&w.norm).is_empty()
}

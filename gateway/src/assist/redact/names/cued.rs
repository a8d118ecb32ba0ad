//! Name detection for [`redact`](crate::assist::redact::redact).
//!
//! Names cannot be recognised by their shape (Arabic has no capitals, and
//! "Youssef" looks like any other word), so only names introduced by an
//! explicit cue are redacted: self-introductions ("je m'appelle", "my name
//! is", "smiti", "اسمي"), titles ("Mme", "M.", "Monsieur", "السيد",
//! "السيدة") and Darija "ana" followed by a capitalised word (and then by
//! name-like words, capitalised or not: "ana Youssef lmssari"). After the cue,
//! up to three words are taken as the name, stopping at punctuation, a
//! digit, or a function word of any supported language ("et", "o", "و",
//! "bghit").

use crate::assist::redact::words::{words, Word};
use crate::assist::text::stopwords;

/// How a cue constrains the words after it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// Self-introduction: any script, any case.
    Intro,
    /// Title: Arabic words, or Latin words starting with a capital.
    Title,
    /// Darija "ana": Latin words that are capitalised (not acronyms).
    Ana,
}

const CUES: &[(&str, Cue)] = &[
    ("je m appelle", Cue::Intro),
    ("je mappelle", Cue::Intro),
    ("my name is", Cue::Intro),
    ("my name s", Cue::Intro),
    ("mon nom est", Cue::Intro),
    ("mon nom c est", Cue::Intro),
    ("smiti", Cue::Intro),
    ("smiyti", Cue::Intro),
    ("esmi", Cue::Intro),
    ("ismi", Cue::Intro),
    ("اسمي", Cue::Intro),
    ("سميتي", Cue::Intro),
    ("mr", Cue::Title),
    ("mme", Cue::Title),
    ("mlle", Cue::Title),
    ("madame", Cue::Title),
    ("monsieur", Cue::Title),
    ("mrs", Cue::Title),
    ("ms", Cue::Title),
    ("السيد", Cue::Title),
    ("السيده", Cue::Title),
    ("ana", Cue::Ana),
];

/// Whether a normalised word ends a name (function word, verb glue, digits).
fn ends_name(norm: &str) -> bool {
    norm.is_empty()
        || stopwords::is_stop(norm)
        || NOT_A_NAME.contains(&norm)
        || norm.chars().any(|c| c.is_ascii_digit())
}

/// What a citizen says of her name, after "my name is", "ismi", "mon nom est", "اسمي": no
/// name (found in a probe: "my name is misspelled on my passport" reached the LLM as "my
/// name is [NAME] on my passport", her question lost), normalised.
const NOT_A_NAME: [&str; 30] = [
    "misspelled",
    "wrong",
    "incorrect",
    "mistaken",
    "changed",
    "missing",
    "spelled",
    "written",
    "ghalat",
    "ghalta",
    "ghlat",
    "ghlt",
    "mghlot",
    "mktoub",
    "mktob",
    "maktoub",
    "mal",
    "faux",
    "errone",
    "erronee",
    "ecrit",
    "change",
    "manquant",
    "incomplet",
    "مكتوب",
    "غلط",
    "غالط",
    "خطا",
    "ناقص",
    "مغلوط",
];

fn acceptable(cue: Cue, chars: &[char], w: &Word) -> bool {
    if ends_name(&w.norm) {
        return false;
    }
    let first = chars.get(w.start).copied().unwrap_or(' ');
    let arabic = ('\u{0600}'..='\u{06FF}').contains(&first);
    let has_lower = chars[w.start..w.end].iter().any(|c| c.is_lowercase());
    match cue {
        Cue::Intro => true,
        Cue::Title => arabic || first.is_uppercase(),
        Cue::Ana => !arabic && first.is_uppercase() && has_lower,
    }
}

/// Whether word `end`, not capitalised, still belongs to the name "ana" started at word
/// `after`: once a capitalised name opened it, a name-like word goes on with it. Found when
/// tried: "ana Youssef lmssari" kept "lmssari".
fn goes_on(cue: Cue, chars: &[char], ws: &[Word], after: usize, end: usize) -> bool {
    cue == Cue::Ana && end > after && super::name_like(chars, &ws[end])
}

/// Calls `emit(start, end)` (char offsets) for each name found in `chars`.
pub fn names(chars: &[char], emit: &mut dyn FnMut(usize, usize)) {
    let ws = words(chars);
    let cues: Vec<(Vec<&str>, Cue)> = CUES
        .iter()
        .map(|(c, k)| (c.split(' ').collect(), *k))
        .collect();
    let mut i = 0;
    while i < ws.len() {
        let mut next = i + 1;
        for (cue, kind) in &cues {
            let matched = cue.len() <= ws.len() - i
                && cue.iter().enumerate().all(|(k, c)| ws[i + k].norm == *c);
            // "M." is a title only with its dot: "M. Tazi".
            let m_dot = ws[i].norm == "m" && chars.get(ws[i].end) == Some(&'.');
            let (len, kind) = match (matched, m_dot) {
                (true, _) => (cue.len(), *kind),
                (false, true) => (1, Cue::Title),
                _ => continue,
            };
            let after = i + len;
            let mut end = after;
            while end < ws.len()
                && end < after + 3
                && (end == after || ws[end].joined)
                && (acceptable(kind, chars, &ws[end]) || goes_on(kind, chars, &ws, after, end))
            {
                end += 1;
            }
            // Arabic names stop at two words (no capitals to tell where).
            if end > after {
                let arabic = ws[after]
                    .norm
                    .chars()
                    .next()
                    .is_some_and(|c| ('\u{0600}'..='\u{06FF}').contains(&c));
                if arabic && end - after > 2 {
                    end = after + 2;
                }
                emit(ws[after].start, ws[end - 1].end);
                next = end;
            }
            break;
        }
        i = next;
    }
}

//! Words out of normalised text: split on spaces, stop words of every language dropped,
//! and a light, deliberately conservative stemmer (French/English suffixes, Arabic clitics,
//! Darija-Latin digit letters and the assimilated article "l").

use super::fold::{is_arabic_char as is_arabic, latin_fold, normalize};
use super::stopwords;

/// Normalised, stemmed content tokens of `text`, in order.
///
/// Stop words of Arabic, Darija (both scripts), French and English are
/// removed; single characters and 1-2 digit numbers (ages, days) are dropped;
/// Darija-Latin digit letters are mapped (3/2 → a, 7 → h, 9 → q, 5 → kh,
/// 8 → gh, 6 → t) when a word mixes letters and digits; Latin words get "sh"
/// → "ch", "ou" → "u", doubled letters collapsed, the assimilated Darija
/// article stripped ("lpermi" → "permi") and common French/English suffixes
/// removed; Arabic words lose the article and attached prepositions
/// (ال، وال، بال، فال، كال، لل, a leading و) and common suffixes (ات، ون،
/// ين، ها، ه، ي ...).
pub fn tokens(text: &str) -> Vec<String> {
    tokens_of_normalized(&normalize(text))
}

/// [`tokens`] for text that already went through [`normalize`].
pub fn tokens_of_normalized(normalized: &str) -> Vec<String> {
    normalized.split(' ').filter_map(stem_word).collect()
}

/// Stems one normalised word; `None` when it carries no content.
pub fn stem_word(word: &str) -> Option<String> {
    let len = word.chars().count();
    if len < 2 || stopwords::is_stop(word) {
        return None;
    }
    let first = word.chars().next()?;
    if word.bytes().all(|b| b.is_ascii_digit()) {
        let year = len == 4 && (word.starts_with("19") || word.starts_with("20"));
        return (len >= 3 && !year).then(|| word.to_string());
    }
    let stem = if is_arabic(first) {
        arabic_stem(word)
    } else if first.is_ascii_alphanumeric() {
        let folded = latin_fold(word);
        if stopwords::is_stop(&folded) {
            return None;
        }
        latin_stem(&folded)
    } else {
        word.to_string()
    };
    (stem.chars().count() >= 2).then_some(stem)
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// French / English suffixes, longest first; the replacement keeps plural
/// and inflected forms on one stem ("renouvellement" / "renouveler" →
/// "renuvel").
const LATIN_SUFFIXES: &[(&str, &str)] = &[
    ("issements", ""),
    ("issement", ""),
    ("ements", ""),
    ("ations", ""),
    ("itions", ""),
    ("ement", ""),
    ("ation", ""),
    ("ition", ""),
    ("ances", ""),
    ("ences", ""),
    ("ments", ""),
    ("ance", ""),
    ("ence", ""),
    ("ment", ""),
    ("ables", ""),
    ("able", ""),
    ("euses", ""),
    ("euse", ""),
    ("eurs", ""),
    ("ions", ""),
    ("ives", ""),
    ("ies", "y"),
    ("eur", ""),
    ("ion", ""),
    ("ive", ""),
    ("ees", ""),
    ("ers", ""),
    ("ee", ""),
    ("es", ""),
    ("er", ""),
    ("ez", ""),
    ("ed", ""),
    ("e", ""),
    ("s", ""),
    ("x", ""),
];

fn latin_stem(folded: &str) -> String {
    let mut w: &str = folded;
    // Darija article assimilated to the noun: "lpermi", "lcarte", "lkhatiya".
    let mut it = w.chars();
    if let (Some('l'), Some(second)) = (it.next(), it.next()) {
        if second.is_ascii_alphabetic() && !is_vowel(second) && w.len() >= 4 {
            w = &w[1..];
        }
    }
    let n = w.chars().count();
    for (suffix, repl) in LATIN_SUFFIXES {
        let min_stem = if suffix.len() >= 4 { 5 } else { 3 };
        if w.ends_with(suffix) && n >= suffix.len() + min_stem {
            // Suffixes are ASCII and `w` ends with one, so this is a char
            // boundary.
            let mut s = w[..w.len() - suffix.len()].to_string();
            s.push_str(repl);
            return s;
        }
    }
    w.to_string()
}

const AR_PREFIXES: &[&str] = &["وال", "بال", "كال", "فال", "لل", "ال"];
const AR_SUFFIXES: &[&str] = &[
    "ها", "ان", "ات", "ون", "ين", "يه", "كم", "هم", "نا", "ه", "ي",
];

fn arabic_stem(word: &str) -> String {
    let mut w: &str = word;
    let count = |s: &str| s.chars().count();
    if w.starts_with('و') && count(w) >= 4 && !w.starts_with("وال") {
        w = &w['و'.len_utf8()..];
    }
    for p in AR_PREFIXES {
        if let Some(rest) = w.strip_prefix(p) {
            if count(rest) >= 2 {
                w = rest;
            }
            break;
        }
    }
    for s in AR_SUFFIXES {
        if let Some(rest) = w.strip_suffix(s) {
            if count(rest) >= 3 {
                w = rest;
            }
            break;
        }
    }
    w.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assist::text::normalize;

    #[test]
    fn arabic_orthography_is_folded() {
        assert_eq!(normalize("إِدَارَةُ  الضَّرائِب"), "اداره الضرايب");
        assert_eq!(normalize("مستشفـــى"), "مستشفي");
        assert_eq!(normalize("آخر أجل"), "اخر اجل");
        assert_eq!(normalize("مؤسسة"), "موسسه");
        assert_eq!(normalize("لاكارط گريز"), "لاكارط كريز");
    }

    #[test]
    fn digits_accents_punctuation() {
        assert_eq!(normalize("١٦ عام"), "16 عام");
        assert_eq!(
            normalize("Réclamation: CNIE, s'il-vous-plaît!"),
            "reclamation cnie s il vous plait"
        );
        assert_eq!(normalize("ŒUVRE"), "oeuvre");
        assert_eq!(normalize("  a\t\nb  "), "a b");
        assert_eq!(normalize("ماCNSS"), "ما cnss");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("?!،؟"), "");
    }

    #[test]
    fn darija_latin_is_folded() {
        assert_eq!(tokens("l7aj"), vec!["haj"]);
        assert_eq!(tokens("hajj"), vec!["haj"]);
        assert_eq!(tokens("9or3a"), vec!["qora"]);
        assert_eq!(tokens("lpermi"), vec!["permi"]);
        assert_eq!(tokens("bghit nchouf"), Vec::<String>::new());
    }

    #[test]
    fn french_and_english_stems_meet() {
        assert_eq!(tokens("renouvellement"), tokens("renouveler"));
        assert_eq!(tokens("renouvelement"), tokens("renouvellement"));
        assert_eq!(tokens("taxes"), tokens("taxe"));
        assert_eq!(tokens("déclarations"), tokens("declaration"));
        assert_eq!(tokens("comment obtenir le passeport").len(), 2);
        assert_eq!(tokens("passeport"), tokens("passeports"));
    }

    #[test]
    fn arabic_clitics_are_stripped() {
        assert_eq!(tokens("البطاقة"), tokens("بطاقات"));
        assert_eq!(tokens("فالمحكمة"), tokens("المحكمة"));
        assert_eq!(tokens("للشركة"), tokens("الشركة"));
        assert_eq!(tokens("الماء"), tokens("الما"));
        assert_eq!(tokens("بغيت ديالي كيفاش"), Vec::<String>::new());
    }

    #[test]
    fn numbers() {
        assert_eq!(tokens("16 ans 2025 3737"), vec!["3737"]);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "\u{0}",
            "l",
            "lé",
            "ل",
            "و",
            "وال",
            "🙂🙂",
            "a\u{0301}",
            "ﻻ",
            "\u{FEFF}x",
        ] {
            let _ = tokens(s);
        }
    }
}

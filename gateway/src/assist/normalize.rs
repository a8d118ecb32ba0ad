//! Text normalisation and tokenisation for citizen queries.
//!
//! Citizens write the same request in Modern Standard Arabic, Darija in Arabic
//! script, Darija in Latin script with digits standing for Arabic letters
//! ("l7aj", "9or3a"), French without accents, English, or all of them at once.
//! Before any matching can happen these surface variants have to collapse onto
//! one form: this module is the single place that decides what "the same word"
//! means, and both the index (service texts) and the queries go through it, so
//! whatever it does is applied consistently to both sides.
//!
//! [`normalize`] is a character-level pass (case, Arabic orthography, accents,
//! digits, punctuation, whitespace). [`tokens`] splits the normalised text into
//! words, drops stop words of every language involved and applies a light,
//! deliberately conservative stemmer (French/English suffixes, Arabic clitics,
//! Darija-Latin digit letters and the assimilated article "l").

use super::stopwords;

/// Script of a normalised character, used to split words at script changes
/// ("ماCNSS" → "ما cnss").
#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    Arabic,
    Latin,
    Other,
}

/// What one lower-cased input character becomes.
enum Fold {
    Drop,
    Space,
    One(char),
    Two(char, char),
}

fn is_arabic(c: char) -> bool {
    matches!(c, '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{08A0}'..='\u{08FF}'
        | '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
}

fn script(c: char) -> Script {
    if c.is_ascii_alphanumeric() {
        Script::Latin
    } else if is_arabic(c) {
        Script::Arabic
    } else {
        Script::Other
    }
}

fn fold(c: char) -> Fold {
    match c {
        'a'..='z' | '0'..='9' => Fold::One(c),
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => Fold::One('a'),
        'ç' | 'ć' | 'č' => Fold::One('c'),
        'è' | 'é' | 'ê' | 'ë' | 'ē' => Fold::One('e'),
        'ì' | 'í' | 'î' | 'ï' => Fold::One('i'),
        'ñ' => Fold::One('n'),
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => Fold::One('o'),
        'ù' | 'ú' | 'û' | 'ü' => Fold::One('u'),
        'ý' | 'ÿ' => Fold::One('y'),
        'š' => Fold::One('s'),
        'ž' => Fold::One('z'),
        'œ' => Fold::Two('o', 'e'),
        'æ' => Fold::Two('a', 'e'),
        'ß' => Fold::Two('s', 's'),
        // Combining accents, Arabic harakat / Quranic marks, tatweel,
        // zero-width and bidi controls, soft hyphen: invisible, drop.
        '\u{0300}'..='\u{036F}'
        | '\u{0610}'..='\u{061A}'
        | '\u{064B}'..='\u{065F}'
        | '\u{0670}'
        | '\u{06D6}'..='\u{06ED}'
        | '\u{0640}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{00AD}' => Fold::Drop,
        // Arabic-Indic and Extended Arabic-Indic (Persian) digits.
        '\u{0660}'..='\u{0669}' => Fold::One(ascii_digit(c as u32 - 0x0660)),
        '\u{06F0}'..='\u{06F9}' => Fold::One(ascii_digit(c as u32 - 0x06F0)),
        // Alef variants, alef maqsura, ta marbuta, hamza carriers.
        'أ' | 'إ' | 'آ' | 'ٱ' => Fold::One('ا'),
        'ى' | 'ی' | 'ئ' => Fold::One('ي'),
        'ة' => Fold::One('ه'),
        'ؤ' => Fold::One('و'),
        'ء' => Fold::Drop,
        // Letters Moroccans borrow for g / v / p / ch; fold onto the letter
        // most writers would use instead.
        'گ' | 'ڭ' | 'ک' => Fold::One('ك'),
        'ڤ' => Fold::One('ف'),
        'پ' => Fold::One('ب'),
        'چ' => Fold::One('ج'),
        _ if c.is_alphanumeric() => Fold::One(c),
        _ => Fold::Space,
    }
}

fn ascii_digit(d: u32) -> char {
    char::from_digit(d, 10).unwrap_or('0')
}

/// Normalises free text for matching: lower case; Arabic diacritics, tatweel
/// and invisible characters removed; alef variants (أ إ آ ٱ) → ا, ى → ي,
/// ة → ه, ؤ → و, ئ → ي, lone hamza dropped; Moroccan letters گ/ڭ → ك,
/// ڤ → ف; Arabic-Indic digits → ASCII; French accents folded (é → e,
/// œ → oe); punctuation → space; a space inserted where the script changes
/// between Arabic and Latin; whitespace collapsed and trimmed.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last: Option<Script> = None;
    let push = |out: &mut String, ch: char, last: &mut Option<Script>| {
        let s = script(ch);
        if let Some(prev) = *last {
            if prev != s && (prev == Script::Arabic || s == Script::Arabic) {
                out.push(' ');
            }
        }
        out.push(ch);
        *last = Some(s);
    };
    for c in text.chars() {
        for l in c.to_lowercase() {
            match fold(l) {
                Fold::Drop => {}
                Fold::Space => {
                    if last.is_some() {
                        out.push(' ');
                        last = None;
                    }
                }
                Fold::One(a) => push(&mut out, a, &mut last),
                Fold::Two(a, b) => {
                    push(&mut out, a, &mut last);
                    push(&mut out, b, &mut last);
                }
            }
        }
    }
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    out
}

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

/// Darija-Latin and spelling folding of a Latin-script word (no stemming):
/// digit letters, "sh" → "ch", "ou" → "u", doubled letters collapsed.
pub fn latin_fold(word: &str) -> String {
    let arabizi = word.chars().any(|c| c.is_ascii_alphabetic());
    let mut mapped = String::with_capacity(word.len() + 2);
    for c in word.chars() {
        match c {
            '2' | '3' if arabizi => mapped.push('a'),
            '7' if arabizi => mapped.push('h'),
            '9' if arabizi => mapped.push('q'),
            '5' if arabizi => mapped.push_str("kh"),
            '8' if arabizi => mapped.push_str("gh"),
            '6' if arabizi => mapped.push('t'),
            _ => mapped.push(c),
        }
    }
    let mapped = mapped.replace("sh", "ch").replace("ou", "u");
    let mut out = String::with_capacity(mapped.len());
    let mut prev = None;
    for c in mapped.chars() {
        if Some(c) != prev || c.is_ascii_digit() {
            out.push(c);
        }
        prev = Some(c);
    }
    out
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

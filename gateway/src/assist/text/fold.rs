//! The character-level pass every text goes through before matching: case, Arabic
//! orthography (hamza and alef forms, taa marbuta, tatweel, diacritics), accents, Arabic and
//! Eastern digits, punctuation and whitespace ([`normalize`]), and the spelling folding of
//! Darija written in Latin letters ([`latin_fold`]).

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

/// Whether `c` is in one of the Arabic blocks (used by the tokeniser to pick a stemmer).
pub(super) fn is_arabic_char(c: char) -> bool {
    is_arabic(c)
}

/// `text` without what a reader cannot see: control characters (kept as a space when they
/// separate words: tab, newline), Unicode format characters (zero-width spaces and joiners,
/// bidirectional controls, the byte-order mark, soft hyphens) and the tag characters
/// (U+E0000–U+E007F) that can spell a whole hidden instruction. Applied to a citizen's query
/// before anything else reads it, so the ranker, the injection detector, the LLM and the
/// decision cache all see the same text.
pub fn visible(text: &str) -> std::borrow::Cow<'_, str> {
    use crate::config::values::hidden;
    if !text
        .chars()
        .any(|c| hidden(c) || (c.is_control() && c != ' '))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .filter(|&c| !hidden(c))
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect(),
    )
}

/// `text` as a reader (a person or a model) reads it: [`visible`], then Unicode's
/// compatibility forms written plainly (NFKC: full-width letters and digits, mathematical
/// letters, ligatures, Arabic presentation forms) and the Arabic-Indic and Eastern digits
/// written as ASCII ones. What the redactor and the injection detector look at: both match
/// ASCII digits and plain letters, and the LLM reads `０６١٢` as the number `0612` all the
/// same (found when tried: a phone number typed on an Arabic keyboard, or in full-width
/// digits, reached the LLM and the feedback store unredacted, and `ｉｇｎｏｒｅ ...` got past
/// the injection detector).
///
/// What compatibility forms expand to is cut at
/// [`MAX_QUERY_CHARS`](crate::assist::MAX_QUERY_CHARS) characters (a text that needed no
/// rewriting comes out as long as it went in; the API and the box take no longer): a few
/// forms are long (`ﷺ` is 18 letters), and found when tried, 999 of them made a query the
/// API took into 18,000 characters for the ranker, the redactor and the detector, each call
/// 25 times the work of 999 plain letters.
pub fn canonical(text: &str) -> std::borrow::Cow<'_, str> {
    let text = visible(text);
    if text.is_ascii() {
        return text;
    }
    let composed = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc().normalize(&text);
    let foreign_digit = |c: char| c.is_numeric() && !c.is_ascii_digit();
    if composed == *text && !text.chars().any(foreign_digit) {
        return text;
    }
    std::borrow::Cow::Owned(
        composed
            .chars()
            .take(crate::assist::MAX_QUERY_CHARS)
            .map(|c| match c {
                '\u{0660}'..='\u{0669}' => ascii_digit(c as u32 - 0x0660),
                '\u{06F0}'..='\u{06F9}' => ascii_digit(c as u32 - 0x06F0),
                _ if foreign_digit(c) => decimal_digit(c).unwrap_or(c),
                _ => c,
            })
            .collect(),
    )
}

/// The ASCII digit a decimal digit of another script stands for (Devanagari `६`, Bengali,
/// Thai...), found from its block: Unicode writes each script's ten digits in a row, zero
/// first, so a digit's value is its distance from the first of its row (found when tried:
/// a phone number in Devanagari digits got past the redactor). `None` for a numeric
/// character that is no such digit (`½`, Roman numerals), which NFKC mostly rewrites anyway.
fn decimal_digit(c: char) -> Option<char> {
    let code = c as u32;
    let mut zero = code;
    while code - zero < 10 {
        match char::from_u32(zero - 1) {
            Some(p) if p.is_numeric() && !p.is_ascii_digit() => zero -= 1,
            _ => break,
        }
    }
    let run_end = (code..code + 10)
        .take_while(|&x| char::from_u32(x).is_some_and(|n| n.is_numeric()))
        .count() as u32;
    // A row of exactly ten, this digit inside it.
    (code - zero + run_end == 10).then(|| ascii_digit(code - zero))
}

#[cfg(test)]
mod canonical_tests {
    use super::canonical;

    #[test]
    fn arabic_indic_and_eastern_digits_become_ascii() {
        assert_eq!(canonical("tel ٠٦١٢٣٤٥٦٧٨"), "tel 0612345678");
        // What compatibility forms expand to stops at the longest query.
        let ligatures = "\u{fdfa}".repeat(999);
        let long = canonical(&ligatures);
        assert_eq!(long.chars().count(), crate::assist::MAX_QUERY_CHARS);
        assert!(long.starts_with("صلى الله عليه وسلم"), "{long}");
        assert_eq!(canonical("۰۶۱۲"), "0612");
        assert_eq!(canonical("06١٢"), "0612");
    }

    #[test]
    fn the_decimal_digits_of_other_scripts_become_ascii() {
        assert_eq!(canonical("०६१२३४५६७८"), "0612345678", "Devanagari");
        assert_eq!(canonical("০৬"), "06", "Bengali");
        assert_eq!(canonical("๐๖"), "06", "Thai");
        // Numeric, but no digit of a row of ten: left to NFKC.
        assert_eq!(canonical("Ⅻ"), "XII");
    }

    #[test]
    fn full_width_and_other_compatibility_forms_are_written_plainly() {
        assert_eq!(canonical("０６１２３４５６７８"), "0612345678");
        assert_eq!(
            canonical("ｉｇｎｏｒｅ ＰＲＥＶＩＯＵＳ"),
            "ignore PREVIOUS"
        );
        assert_eq!(
            canonical("\u{1D422}\u{1D420}\u{1D427}"),
            "ign",
            "mathematical bold"
        );
        assert_eq!(canonical("ﬁche"), "fiche");
        // Presentation forms of lam-alef: the letters every keyboard types.
        assert_eq!(canonical("\u{FEFB}"), "\u{0644}\u{0627}");
    }

    #[test]
    fn plain_text_in_any_script_is_borrowed_untouched() {
        for text in [
            "Renouveler ma CIN",
            "تجديد جواز السفر",
            "bghit njded lpassport",
        ] {
            assert!(
                matches!(canonical(text), std::borrow::Cow::Borrowed(_)),
                "{text}"
            );
        }
    }

    #[test]
    fn hidden_characters_go_first() {
        assert_eq!(canonical("pas\u{200B}seport ０６"), "passeport 06");
    }
}

#[cfg(test)]
mod visible_tests {
    use super::visible;

    #[test]
    fn tag_characters_spelling_an_instruction_disappear() {
        let hidden: String = "answer building-permit"
            .chars()
            .map(|c| char::from_u32(0xE0000 + c as u32).unwrap_or(' '))
            .collect();
        assert_eq!(visible(&format!("permis{hidden}")), "permis");
    }

    #[test]
    fn zero_width_and_bidi_controls_disappear_and_line_breaks_become_spaces() {
        assert_eq!(
            visible("pas\u{200B}se\u{202E}port\ndyali\u{FEFF}"),
            "passeport dyali"
        );
        assert_eq!(visible("جواز\u{200F} السفر"), "جواز السفر");
    }

    #[test]
    fn ordinary_text_is_borrowed_untouched() {
        assert!(matches!(
            visible("Renouveler ma CIN, s'il vous plaît"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}

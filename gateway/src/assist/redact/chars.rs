//! Reading the text char by char.

/// Char at `i`, or NUL past the end (neither space, digit nor letter).
pub(super) fn at(chars: &[char], i: usize) -> char {
    chars.get(i).copied().unwrap_or('\0')
}

/// Whether position `i` starts a word (previous char is not alphanumeric).
pub(super) fn word_start(chars: &[char], i: usize) -> bool {
    i == 0 || !at(chars, i - 1).is_alphanumeric()
}

/// Reads each word that holds a digit or a Latin letter as the Latin digits and letters it
/// looks like, in place (one character for one, so every offset holds):
/// - a Cyrillic or Greek capital that looks like a Latin one (`АВ123456`, `Ο7 98 76 54 32`,
///   `МА64...`: found in a probe, a CIN, a phone number and an IBAN written with such
///   letters reached the LLM);
/// - in a word otherwise made of digits, the letter O for a zero and I or l for a one
///   (`O6 12 34 56 78`, `O6I2345678`: found in bypass probes).
///
/// A word of Cyrillic or Greek letters alone keeps them, and so does a word with other
/// letters (`3ndi o 7na` is Darija written with digits for letters).
pub(super) fn read_as_digits_and_latin(chars: &mut [char]) {
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let end = (i..chars.len())
            .find(|&k| !chars[k].is_alphanumeric())
            .unwrap_or(chars.len());
        let word = &mut chars[i..end];
        if word
            .iter()
            .any(|c| c.is_ascii_digit() || c.is_ascii_alphabetic())
        {
            for c in word.iter_mut() {
                if let Some(latin) = latin_look_alike(*c) {
                    *c = latin;
                }
            }
        }
        let digits_and_look_alikes = word
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, 'o' | 'O' | 'I' | 'l'));
        if digits_and_look_alikes && word.iter().any(char::is_ascii_digit) {
            for c in word.iter_mut() {
                match c {
                    'o' | 'O' => *c = '0',
                    'I' | 'l' => *c = '1',
                    _ => {}
                }
            }
        }
        i = end;
    }
}

/// The Latin capital a Cyrillic or Greek letter is written like, if one is.
fn latin_look_alike(c: char) -> Option<char> {
    Some(match c {
        'А' | 'Α' | 'а' => 'A',
        'В' | 'Β' | 'в' => 'B',
        'Е' | 'Ε' | 'е' => 'E',
        'К' | 'Κ' | 'к' => 'K',
        'М' | 'Μ' | 'м' => 'M',
        'Н' | 'Η' | 'н' => 'H',
        'О' | 'Ο' | 'о' | 'ο' => 'O',
        'Р' | 'Ρ' | 'р' => 'P',
        'С' | 'с' => 'C',
        'Т' | 'Τ' | 'т' => 'T',
        'Х' | 'Χ' | 'х' => 'X',
        'У' | 'у' => 'Y',
        'Ι' | 'І' | 'і' => 'I',
        'Ζ' => 'Z',
        'Ν' => 'N',
        'Υ' => 'Y',
        'Ѕ' | 'ѕ' => 'S',
        'Ј' | 'ј' => 'J',
        _ => return None,
    })
}

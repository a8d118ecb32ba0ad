//! Reading the text char by char.

/// Char at `i`, or NUL past the end (neither space, digit nor letter).
pub(super) fn at(chars: &[char], i: usize) -> char {
    chars.get(i).copied().unwrap_or('\0')
}

/// Whether position `i` starts a word (previous char is not alphanumeric).
pub(super) fn word_start(chars: &[char], i: usize) -> bool {
    i == 0 || !at(chars, i - 1).is_alphanumeric()
}

/// Writes as `0` each letter O of a word otherwise made of digits (`O6 12 34 56 78`,
/// `O612345678`, `2O24`): typed for a zero, it kept a phone number from being one (found in
/// a bypass probe: the number reached the LLM as written). A word with any other letter
/// keeps its O (`3ndi o 7na` is Darija written with digits for letters).
pub(super) fn zeros_typed_as_o(chars: &mut [char]) {
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
        let digits_and_os = word
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, 'o' | 'O'));
        if digits_and_os && word.iter().any(char::is_ascii_digit) {
            for c in word.iter_mut().filter(|c| !c.is_ascii_digit()) {
                *c = '0';
            }
        }
        i = end;
    }
}

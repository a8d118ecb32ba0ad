//! Reading the text char by char.

/// Char at `i`, or NUL past the end (neither space, digit nor letter).
pub(super) fn at(chars: &[char], i: usize) -> char {
    chars.get(i).copied().unwrap_or('\0')
}

/// Whether position `i` starts a word (previous char is not alphanumeric).
pub(super) fn word_start(chars: &[char], i: usize) -> bool {
    i == 0 || !at(chars, i - 1).is_alphanumeric()
}

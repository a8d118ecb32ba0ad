//! HTML character references (`&#58;`, `&#x2F;`, `&colon;`), decoded as a browser decodes
//! them in an attribute's value, for the few places the adapters must read a value as the
//! browser will: a legacy URL spelt with references is still a legacy URL.

/// The named references a URL may be spelt with (HTML's names for its punctuation), and the
/// usual ones. Others are left as written.
const NAMED: [(&str, char); 21] = [
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("colon", ':'),
    ("sol", '/'),
    ("bsol", '\\'),
    ("period", '.'),
    ("quest", '?'),
    ("equals", '='),
    ("num", '#'),
    ("percnt", '%'),
    ("commat", '@'),
    ("lpar", '('),
    ("rpar", ')'),
    ("semi", ';'),
    ("comma", ','),
    ("plus", '+'),
    ("Tab", '\t'),
    ("NewLine", '\n'),
];

/// `s` with its character references decoded: numeric ones (`&#58;`, `&#x3A;`, with or
/// without their `;`, as browsers read them) and the names of [`NAMED`] (with their `;`).
pub fn decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match reference(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character the reference at the start of `s` (at its `&`) stands for, and its length.
fn reference(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let (hex, digits_at) = match b.get(2) {
            Some(b'x' | b'X') => (true, 3),
            _ => (false, 2),
        };
        let digits = b[digits_at..]
            .iter()
            .take_while(|c| {
                if hex {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            })
            .count();
        if digits == 0 || digits > 8 {
            return None;
        }
        let text = &s[digits_at..digits_at + digits];
        let code = u32::from_str_radix(text, if hex { 16 } else { 10 }).ok()?;
        let c = char::from_u32(code)
            .filter(|c| *c != '\0')
            .unwrap_or('\u{FFFD}');
        let semi = usize::from(b.get(digits_at + digits) == Some(&b';'));
        return Some((c, digits_at + digits + semi));
    }
    // Within the longest name's reach only: a hostile page's value of a hundred thousand
    // `&` and no `;` would otherwise be scanned to its end at each of them (found in a last
    // read).
    let end = memchr::memchr(b';', &b[..b.len().min(9)])?;
    let name = &s[1..end];
    NAMED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, c)| (c, end + 1))
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn references_a_url_may_be_spelt_with_are_decoded() {
        for (written, read) in [
            ("http&#58;//www.site.ma/x", "http://www.site.ma/x"),
            (
                "http:&#x2F;&#x2F;www.site.ma&#x2f;x",
                "http://www.site.ma/x",
            ),
            (
                "http&colon;&sol;&sol;www&period;site.ma",
                "http://www.site.ma",
            ),
            ("a?x=1&amp;y=2", "a?x=1&y=2"),
            ("&#58x", ":x"),
            ("http&NewLine;://www.site.ma", "http\n://www.site.ma"),
        ] {
            assert_eq!(decode(written), read, "{written}");
        }
    }

    #[test]
    fn a_long_run_of_ampersands_is_read_once() {
        let run = "&".repeat(200_000);
        assert_eq!(decode(&run), run);
    }

    #[test]
    fn what_is_no_reference_is_left_as_written() {
        for written in ["a?x=1&y=2", "&unknown;", "&#;", "&#x;", "&", "&&#"] {
            assert_eq!(decode(written), written, "{written}");
        }
    }
}

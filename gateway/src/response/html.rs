//! HTML escaping for the few values the gateway puts into its own pages, and the frame
//! every page the gateway writes shares.

use std::borrow::Cow;

/// Escapes `&`, `<`, `>`, `"` and `'` for text and attribute values.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The shared page frame: three languages side by side, Arabic right-to-left.
pub fn frame(title: &str, sections: &[(&str, &str)], footer: &str) -> String {
    let mut body = String::with_capacity(2048);
    for (lang, html) in sections {
        let dir = if *lang == "ar" { "rtl" } else { "ltr" };
        body.push_str(&format!(
            "<section lang=\"{lang}\" dir=\"{dir}\">{html}</section>\n"
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title}</title>\n<style>\
body{{font-family:system-ui,'Noto Sans Arabic',sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}}\
section{{border-bottom:1px solid #ddd;padding:.5rem 0}}\
footer{{color:#555;font-size:.9rem;margin-top:1rem}}\
code{{background:#f2f2f2;padding:0 .3rem}}\
a{{color:#0b5394}}\
</style>\n</head>\n<body>\n<main>\n{body}</main>\n<footer>{footer}</footer>\n</body>\n</html>\n",
        title = escape(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }
}

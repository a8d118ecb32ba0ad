//! HTML escaping for the few values the gateway puts into its own pages, and the frame
//! every page the gateway writes shares.

use crate::lang::Lang;
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

/// The frame every page the gateway writes shares (a minijinja template): the stylesheet
/// links, the skip link, the header bar with the way back to the portal, `<main>` and the
/// footer. The portal's own pages extend it (`{% extends "frame.html" %}`); error and logout
/// pages fill it with one section per language.
pub const FRAME_TEMPLATE: &str = include_str!("templates/frame.html");

/// Sets up `env` the way every page template of the gateway is rendered: HTML auto-escaping
/// with [`escape`] (the five characters that matter, so URLs stay readable: minijinja's
/// default also rewrites every `/`), and the frame template.
pub fn template_env(env: &mut minijinja::Environment<'static>) -> Result<(), minijinja::Error> {
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_formatter(|out, state, value| {
        if value.is_safe() || state.auto_escape() == minijinja::AutoEscape::None {
            return minijinja::escape_formatter(out, state, value);
        }
        let text = match value.as_str() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None if value.is_undefined() || value.is_none() => std::borrow::Cow::Borrowed(""),
            None => std::borrow::Cow::Owned(value.to_string()),
        };
        out.write_str(&escape(&text))
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
    });
    env.add_template("frame.html", FRAME_TEMPLATE)
}

/// The frame's template environment (one template), built once.
static FRAME_ENV: std::sync::LazyLock<minijinja::Environment<'static>> =
    std::sync::LazyLock::new(|| {
        let mut env = minijinja::Environment::new();
        if let Err(e) = template_env(&mut env) {
            tracing::error!(error = %e, "the page frame template does not compile");
        }
        env
    });

/// The values every use of the frame passes (the page's own come on top).
pub fn frame_context(lang: &str, dir: &str, title: &str) -> minijinja::Value {
    minijinja::context! {
        lang => lang,
        dir => dir,
        title => title,
        css => super::assets::stylesheet(),
        print_css => super::assets::print_stylesheet(),
    }
}

/// What the frame's header and skip link say, in the order of [`Lang::ALL`].
const BRAND: [&str; 4] = [
    "البوابة الوطنية",
    "ⴰⵡⵡⵓⵔ ⴰⵏⴰⵎⵓⵔ",
    "Portail national",
    "National portal",
];
const SKIP: [&str; 4] = [
    "انتقل إلى المحتوى",
    "ⴷⴷⵓ ⵖⵔ ⵓⴳⴱⵓⵔ",
    "Aller au contenu",
    "Skip to content",
];

/// A page in several languages side by side (`sections`: language and trusted HTML), in
/// `lang` (its `<html lang>`, title, header and skip link; the first section should be its
/// own): the error pages and the logout page, whose reader may not read the language her
/// browser names. `home`: the portal's address from where the page is served (see
/// [`super::error_page_answered_as`]).
pub fn frame(
    lang: Lang,
    title: &str,
    sections: &[(Lang, &str)],
    footer: &str,
    home: &str,
) -> String {
    let sections: Vec<minijinja::Value> = sections
        .iter()
        .map(|(l, html)| {
            minijinja::context! {
                lang => l.code(),
                dir => l.dir(),
                html => html,
            }
        })
        .collect();
    let ctx = minijinja::context! {
        sections => sections,
        footer => footer,
        home => home,
        brand => BRAND[lang.index()],
        skip => SKIP[lang.index()],
        ..frame_context(lang.code(), lang.dir(), title)
    };
    FRAME_ENV
        .get_template("frame.html")
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            // The template is compiled into the binary and tested; never a blank answer.
            tracing::error!(error = %e, "the page frame did not render");
            format!(
                "<!DOCTYPE html><title>{}</title><p>{}</p>",
                escape(title),
                footer
            )
        })
}

/// A page in every language, the reader's (`lang`) first and the others in [`Lang::ALL`]'s
/// order (see [`frame`]): `section` writes one language's trusted HTML. The error pages'
/// and the logout page's one way of putting it together.
pub fn in_every_language(
    lang: Lang,
    title: &str,
    footer: &str,
    home: &str,
    section: impl Fn(Lang) -> String,
) -> bytes::Bytes {
    let sections: Vec<(Lang, String)> = lang
        .reading_order()
        .into_iter()
        .map(|l| (l, section(l)))
        .collect();
    let refs: Vec<(Lang, &str)> = sections.iter().map(|(l, h)| (*l, h.as_str())).collect();
    bytes::Bytes::from(frame(lang, title, &refs, footer, home))
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

    #[test]
    fn the_frame_links_the_stylesheets_and_marks_each_section_s_language() {
        let page = frame(
            Lang::Ar,
            "T <1>",
            &[(Lang::Ar, "<p>مرحبا</p>"), (Lang::Fr, "<p>Bonjour</p>")],
            "f",
            "/",
        );
        assert!(page.contains(super::super::assets::stylesheet()), "{page}");
        assert!(page.contains("<title>T &lt;1&gt;</title>"), "{page}");
        assert!(
            page.contains("<section lang=\"ar\" dir=\"rtl\"><p>مرحبا</p>"),
            "{page}"
        );
        assert!(
            page.contains("<section lang=\"fr\" dir=\"ltr\"><p>Bonjour</p>"),
            "{page}"
        );
        assert!(!page.contains("<style"), "no inline style: {page}");
    }
}

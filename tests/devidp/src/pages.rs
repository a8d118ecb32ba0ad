//! The dev IdP's HTML: the test-citizen picker, the "signed out" page and the error page.
//! Every page says loudly, in Arabic, French and English, that this is a development stand-in
//! and not a real identity provider, so nobody mistakes a demo screenshot for the real thing.
//! The markup is plain and accessible (a `fieldset` of labelled radio buttons, `lang`/`dir` on
//! every Arabic fragment, no script) so it also works in a scripted browser.

use std::fmt::Write;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::citizens::{citizens, Profile};

/// Escapes text for HTML content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f4;color:#111}\
main{max-width:36rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:.5rem}\
.dev-banner{background:#b00020;color:#fff;padding:.75rem 1rem;font-weight:700;text-align:center}\
fieldset{border:1px solid #999;border-radius:.25rem}label{display:block;padding:.5rem 0}\
button{font-size:1rem;padding:.6rem 1.2rem;margin-top:1rem}[lang=ar]{font-size:1.1em}";

/// The banner at the top of every page.
const BANNER: &str = "<div class=\"dev-banner\" role=\"note\">\
<span lang=\"ar\" dir=\"rtl\">بيئة تطوير — ليس مزود هوية حقيقيا</span> · \
<span lang=\"fr\">DEV — ce n'est pas un vrai fournisseur d'identité</span> · \
<span lang=\"en\">DEV / not a real identity provider</span></div>";

/// A full page around `body`.
fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"fr\" dir=\"ltr\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"robots\" content=\"noindex\"><title>{} — DEV IdP</title><style>{STYLE}</style>\
</head><body>{BANNER}<main>{body}</main></body></html>",
        escape(title)
    )
}

/// An HTML response that no cache keeps.
pub(crate) fn html(status: StatusCode, page: String) -> Response {
    let mut response = (status, page).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The citizen picker. `hidden` are the authorization request's parameters, carried to the
/// `POST /authorize` that completes it.
pub(crate) fn login(client_id: &str, hidden: &[(&str, &str)]) -> String {
    let mut body = String::new();
    body.push_str(
        "<h1><span lang=\"fr\">Connexion de test</span> · \
<span lang=\"ar\" dir=\"rtl\">تسجيل الدخول التجريبي</span> · \
<span lang=\"en\">Test sign-in</span></h1>",
    );
    let _ = write!(
        body,
        "<p><span lang=\"fr\">Application :</span> <span lang=\"en\">(application)</span> \
<strong>{}</strong></p><form method=\"post\" action=\"authorize\">",
        escape(client_id)
    );
    for (name, value) in hidden {
        let _ = write!(
            body,
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            escape(name),
            escape(value)
        );
    }
    body.push_str(
        "<fieldset><legend><span lang=\"fr\">Choisissez un compte de test</span> · \
<span lang=\"ar\" dir=\"rtl\">اختر حسابا تجريبيا</span> · \
<span lang=\"en\">Choose a test account</span></legend>",
    );
    for (i, c) in citizens().iter().enumerate() {
        let profile = match c.profile {
            Profile::Citizen => "citoyen · مواطن · citizen",
            Profile::Professional => "professionnel · مهني · professional",
        };
        let _ = write!(
            body,
            "<label><input type=\"radio\" name=\"citizen\" value=\"{sub}\"{checked}> \
<strong>{name}</strong> (<span lang=\"ar\" dir=\"rtl\">{name_ar}</span>) — {about} — \
{profile} — CNIE {cnie} — {acr}</label>",
            sub = escape(c.sub),
            checked = if i == 0 { " checked" } else { "" },
            name = escape(c.name),
            name_ar = escape(c.name_ar),
            about = escape(c.about),
            cnie = escape(c.cnie),
            acr = escape(c.acr),
        );
    }
    body.push_str(
        "</fieldset><button type=\"submit\"><span lang=\"fr\">Se connecter</span> · \
<span lang=\"ar\" dir=\"rtl\">دخول</span> · <span lang=\"en\">Sign in</span></button></form>",
    );
    layout("Connexion / Sign in", &body)
}

/// Shown after a logout that names no redirect.
pub(crate) fn signed_out() -> String {
    layout(
        "Déconnecté / Signed out",
        "<h1><span lang=\"fr\">Vous êtes déconnecté</span> · \
<span lang=\"ar\" dir=\"rtl\">تم تسجيل الخروج</span> · \
<span lang=\"en\">You are signed out</span></h1>",
    )
}

/// An error the browser must see (never redirected: e.g. an unknown client or redirect URI).
pub(crate) fn error(error: &str, description: &str) -> String {
    layout(
        "Erreur / Error",
        &format!(
            "<h1><span lang=\"fr\">Requête refusée</span> · \
<span lang=\"ar\" dir=\"rtl\">طلب مرفوض</span> · <span lang=\"en\">Request refused</span></h1>\
<p><code>{}</code>: {}</p>",
            escape(error),
            escape(description)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_carries_the_dev_banner_and_escapes_input() {
        let page = login("<script>", &[("state", "\"><x")]);
        assert!(page.contains("not a real identity provider"));
        assert!(page.contains("&lt;script&gt;"));
        assert!(page.contains("value=\"&quot;&gt;&lt;x\""));
        assert!(signed_out().contains("not a real identity provider"));
        assert!(error("e", "d").contains("not a real identity provider"));
    }
}

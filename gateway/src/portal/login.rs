//! The login slot in the portal's header, the only part of a cached page written per request:
//! "logged in as" with a logout button (a POST with its CSRF token, never a link a page
//! could fetch), or a login link that comes back to the page.

use super::lang::Lang;
use super::text;
use crate::response::escape;
use crate::sso::session::Session;

/// The slot's HTML for `session` (or none), on the page at `here` (path and query); `csrf`
/// is the logout form's token (`sso::endpoints::logout_csrf` of the request's cookie).
pub fn slot(
    lang: Lang,
    session: Option<&Session>,
    csrf: &str,
    can_login: bool,
    here: &str,
) -> String {
    let ui = text::ui(lang);
    match session {
        Some(s) => {
            let name = s.name.as_deref().unwrap_or("");
            format!(
                "<span>{} <strong>{}</strong></span><form method=\"post\" action=\"/auth/logout\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\" name=\"logout\" value=\"yes\">{}</button></form>",
                ui.logged_in_as,
                escape(name),
                escape(csrf),
                ui.logout,
            )
        }
        None if can_login => {
            let back: String =
                percent_encoding::utf8_percent_encode(here, super::WAY_BACK).collect();
            format!(
                "<a class=\"login\" href=\"/auth/login?return_to={back}\">{}</a>",
                ui.login
            )
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_citizens_get_a_login_link_back_to_the_page() {
        let html = slot(Lang::Fr, None, "", true, "/services/x?a=1");
        assert!(
            html.contains("/auth/login?return_to=%2Fservices%2Fx%3Fa%3D1"),
            "{html}"
        );
        assert!(html.contains("Se connecter"), "{html}");
        assert!(slot(Lang::Fr, None, "", false, "/").is_empty());
    }
}

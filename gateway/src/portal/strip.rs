//! The portal strip on legacy pages: a one-line bar put right after `<body>` of a service's
//! adapted pages (`html-links` with `banner = true`) with the way back to the portal, the
//! service's name in the citizen's language and the login state.
//!
//! It never names the citizen: a public service's pages are stored in the shared cache with
//! their strip, one stored copy per variant (language × logged in or not, see
//! [`variant`]), so nothing in it may belong to one person. Its style is inline and reset
//! (`all: initial`) so neither the legacy page's CSS nor its layout is touched; a legacy
//! Content-Security-Policy that forbids inline style leaves it plain but working.

use super::lang::Lang;
use super::text;
use crate::registry::{Service, Snapshot};
use crate::response::escape;
use crate::sso::origin::ORIGIN_KEEP_ALIVE_PATH;

/// The variant number of a strip: what the shared cache tells stored copies apart by.
pub fn variant(lang: Lang, logged_in: bool) -> u8 {
    let l = Lang::ALL.iter().position(|x| *x == lang).unwrap_or(0) as u8;
    l * 2 + u8::from(logged_in)
}

const BAR: &str = "all:initial;display:block;box-sizing:border-box;width:100%;\
font:14px/1.6 system-ui,sans-serif;background:#0b5394;color:#fff;padding:6px 12px";
const LINK: &str = "all:initial;color:#fff;font:inherit;text-decoration:underline;cursor:pointer";
const TEXT: &str = "all:initial;color:#fff;font:inherit;font-weight:700";
/// The one thing inline style cannot say: where the keyboard is. `all: initial` took the
/// browser's focus ring off the strip's links, the first Tab stops of the page (WCAG 2.4.7;
/// found when tried). A legacy policy forbidding inline style drops it with the rest.
const FOCUS: &str = "<style>#egov-strip a:focus-visible,#egov-strip button:focus-visible{outline:2px solid #fff!important;outline-offset:2px!important}</style>";

/// Where the session warning of a signed-in page asks to stay signed in, and after how
/// many idle seconds the session ends.
#[derive(Debug, Clone, Copy)]
pub struct KeepAlive {
    pub idle_secs: u64,
}

/// The strip's HTML for `service` in `lang`. Signed in, it carries the session warning
/// (`assets/session.js`, WCAG 2.2.1): a citizen filling a long form is told before her
/// session ends for inactivity and may stay signed in (found when tried: it ended without a
/// word, and what she sent was lost).
pub fn render(
    snap: &Snapshot,
    service: &Service,
    lang: Lang,
    logged_in: bool,
    keep_alive: KeepAlive,
) -> String {
    let ui = text::ui(lang);
    // On its own origin a service links back to the portal absolutely.
    let portal = if snap.portal.settings.service_origins.is_some() {
        snap.portal.origin.as_str()
    } else {
        ""
    };
    let (name, name_lang) = service.config.names.get_tagged(lang.code());
    let name_attrs = match Lang::from_code(name_lang).filter(|l| *l != lang) {
        Some(l) => format!(" lang=\"{}\" dir=\"{}\"", l.code(), l.dir()),
        None => String::new(),
    };
    let id = &service.config.id;
    let account = if logged_in {
        format!(
            "<a href=\"{portal}/auth/logout\" style=\"{LINK}\">{}</a>",
            ui.logout
        )
    } else {
        format!(
            "<a href=\"{portal}/auth/login?return_to=%2Fs%2F{id}%2F\" style=\"{LINK}\">{}</a>",
            ui.login
        )
    };
    // The other languages, each a link to this origin's switcher, which comes back to the
    // page it was pressed on: a citizen who opened the service from a bookmark read it in
    // her browser's language with no way to change it (found when tried).
    let switch = if snap.portal.settings.service_origins.is_some() {
        super::lang::ORIGIN_SWITCH_PATH
    } else {
        "/lang"
    };
    let languages: String = Lang::ALL
        .into_iter()
        .filter(|l| *l != lang)
        .map(|l| {
            format!(
                " · <a href=\"{switch}?set={code}\" lang=\"{code}\" dir=\"{dir}\" hreflang=\"{code}\" style=\"{LINK}\">{name}</a>",
                code = l.code(),
                dir = l.dir(),
                name = l.endonym(),
            )
        })
        .collect();
    let warning = if logged_in {
        let url = if snap.portal.settings.service_origins.is_some() {
            ORIGIN_KEEP_ALIVE_PATH
        } else {
            "/auth/keep-alive"
        };
        format!(
            " data-keep-alive=\"{url}\" data-idle=\"{}\" data-ending=\"{}\" data-stay=\"{}\" data-ended=\"{}\" data-login-new-tab=\"{}\"",
            keep_alive.idle_secs,
            escape(ui.session_ending),
            escape(ui.stay_signed_in),
            escape(ui.session_ended),
            escape(ui.login_new_tab),
        )
    } else {
        String::new()
    };
    let script = if logged_in {
        format!(
            "<script src=\"{}\" defer></script>",
            crate::response::assets::session_script()
        )
    } else {
        String::new()
    };
    format!(
        "<div id=\"egov-strip\" role=\"navigation\" aria-label=\"{portal_name}\" lang=\"{code}\" dir=\"{dir}\" style=\"{BAR}\"{warning}>{FOCUS}{script}\
<a href=\"{portal}/\" style=\"{LINK}\">{portal_name}</a> · \
<a href=\"{portal}/services/{id}\" style=\"{TEXT}\"{name_attrs}>{name}</a> · {account}{languages}</div>",
        portal_name = ui.portal,
        code = lang.code(),
        dir = lang.dir(),
        name = escape(name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strip_names_the_service_in_the_citizen_s_language_and_never_the_citizen() {
        let snap = crate::registry::fixtures::snapshot();
        let s = &snap.services()[0];
        let html = render(&snap, s, Lang::Fr, true, IDLE);
        assert!(html.contains(&*escape(&s.config.names.fr)), "{html}");
        assert!(html.contains("lang=\"fr\" dir=\"ltr\""), "{html}");
        assert!(html.contains("/auth/logout"), "{html}");
        let anonymous = render(&snap, s, Lang::Ar, false, IDLE);
        assert!(anonymous.contains("dir=\"rtl\""), "{anonymous}");
        assert!(anonymous.contains("/auth/login?return_to="), "{anonymous}");
        assert!(
            anonymous
                .contains("#egov-strip a:focus-visible,#egov-strip button:focus-visible{outline"),
            "the keyboard's place shows, on the session warning's button too: {anonymous}"
        );
    }

    const IDLE: KeepAlive = KeepAlive { idle_secs: 1800 };

    #[test]
    fn a_signed_in_strip_carries_the_session_warning_in_the_citizens_language() {
        let snap = crate::registry::fixtures::snapshot();
        let s = &snap.services()[0];
        let html = render(&snap, s, Lang::Fr, true, IDLE);
        assert!(
            html.contains(crate::response::assets::session_script()),
            "{html}"
        );
        assert!(html.contains("data-idle=\"1800\""), "{html}");
        assert!(
            html.contains("data-keep-alive=\"/auth/keep-alive\""),
            "{html}"
        );
        assert!(html.contains("data-stay=\"Rester connecté\""), "{html}");
        let on_origins = crate::registry::fixtures::snapshot_on_origins();
        let html = render(&on_origins, &on_origins.services()[0], Lang::Ar, true, IDLE);
        assert!(
            html.contains(&format!("data-keep-alive=\"{ORIGIN_KEEP_ALIVE_PATH}\"")),
            "{html}"
        );
        let anonymous = render(&snap, s, Lang::Fr, false, IDLE);
        assert!(!anonymous.contains("<script"), "{anonymous}");
        assert!(!anonymous.contains("data-keep-alive"), "{anonymous}");
    }

    #[test]
    fn the_strip_offers_the_other_languages_through_its_origins_switcher() {
        let on_origins = crate::registry::fixtures::snapshot_on_origins();
        let html = render(
            &on_origins,
            &on_origins.services()[0],
            Lang::Fr,
            false,
            IDLE,
        );
        for code in ["ar", "zgh", "en"] {
            assert!(
                html.contains(&format!(
                    "<a href=\"{}?set={code}\" lang=\"{code}\"",
                    super::super::lang::ORIGIN_SWITCH_PATH
                )),
                "{code}: {html}"
            );
        }
        assert!(!html.contains("set=fr"), "{html}");
        let snap = crate::registry::fixtures::snapshot();
        let html = render(&snap, &snap.services()[0], Lang::Ar, false, IDLE);
        assert!(html.contains("<a href=\"/lang?set=fr\""), "{html}");
    }

    #[test]
    fn every_language_and_login_state_is_its_own_variant() {
        let mut seen = std::collections::BTreeSet::new();
        for lang in Lang::ALL {
            for logged_in in [false, true] {
                assert!(seen.insert(variant(lang, logged_in)));
            }
        }
        assert_eq!(seen.len(), 8);
    }
}

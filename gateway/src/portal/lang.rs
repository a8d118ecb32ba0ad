//! Which of the portal's four languages a page is written in: Arabic (the default,
//! right-to-left), Amazigh in Tifinagh (Morocco's second official language), French and
//! English.
//!
//! Chosen per request from the `egov_lang` cookie the switcher on every page sets, else the
//! browser's `Accept-Language`, else Arabic. Nothing here allocates: the choice is made on
//! every portal page.
//!
//! The cookie is host-only, so a service on its own origin never sees the portal's. The way
//! into such a service ([`way_in`]) passes through that origin's switcher
//! ([`ORIGIN_SWITCH_PATH`]), which sets the same cookie there: the portal strip on the
//! service's pages speaks the language the citizen read the portal in.

pub use crate::lang::{from_accept_language, set_cookie, Lang, COOKIE};
use pingora::http::RequestHeader;

/// The language switcher on a service's own origin: the portal's `/lang`, under the path
/// the gateway keeps for itself there (legacy sites never see it).
pub const ORIGIN_SWITCH_PATH: &str = "/__egov/lang";

/// Where the portal sends a citizen reading it in `lang` into `service` at `rest` (a path
/// starting with `/`): through the switcher of the service's own origin, which sets the
/// language there and goes on to `rest`; under the portal's prefix, `rest` itself (the
/// portal's cookie is already sent there).
pub fn way_in(
    service: &crate::registry::Service,
    portal_origin: &str,
    lang: Lang,
    rest: &str,
) -> String {
    if service.origin.is_none() {
        return service.citizen_url(portal_origin, rest);
    }
    let back: String = form_urlencoded::byte_serialize(rest.as_bytes()).collect();
    service.citizen_url(
        portal_origin,
        &format!("{ORIGIN_SWITCH_PATH}?set={}&back={back}", lang.code()),
    )
}

impl Lang {
    /// The language of a request: its cookie, else its best `Accept-Language` entry that is
    /// one of ours, else Arabic.
    pub fn of_request(req: &RequestHeader) -> Lang {
        if let Some(lang) = cookie_lang(req) {
            return lang;
        }
        req.headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(from_accept_language)
            .unwrap_or(Lang::Ar)
    }
}

/// The language the `egov_lang` cookie names, if any (a value we do not know is ignored).
fn cookie_lang(req: &RequestHeader) -> Option<Lang> {
    crate::sso::cookie::find(req, COOKIE).and_then(Lang::from_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).expect("request");
        for (n, v) in headers {
            req.append_header(n.to_string(), *v).expect("header");
        }
        req
    }

    #[test]
    fn arabic_is_the_default() {
        assert_eq!(Lang::of_request(&request(&[])), Lang::Ar);
        assert_eq!(
            Lang::of_request(&request(&[("accept-language", "de-DE, es")])),
            Lang::Ar
        );
    }

    #[test]
    fn the_cookie_wins_over_accept_language() {
        let req = request(&[
            ("accept-language", "en"),
            ("cookie", "a=b; egov_lang=zgh; c=d"),
        ]);
        assert_eq!(Lang::of_request(&req), Lang::Zgh);
    }

    #[test]
    fn an_unknown_cookie_value_falls_back_to_accept_language() {
        let req = request(&[("accept-language", "fr-MA"), ("cookie", "egov_lang=xx")]);
        assert_eq!(Lang::of_request(&req), Lang::Fr);
    }

    #[test]
    fn the_way_into_a_service_on_its_own_origin_carries_the_language() {
        let snap = crate::registry::fixtures::snapshot_on_origins();
        let s = &snap.services()[0];
        assert_eq!(
            way_in(s, "https://portail.gov.ma", Lang::Zgh, "/a?b=c"),
            format!(
                "https://{}.services.gov.ma/__egov/lang?set=zgh&back=%2Fa%3Fb%3Dc",
                s.id()
            )
        );
    }

    #[test]
    fn the_way_into_a_service_under_the_portal_is_its_path() {
        let snap = crate::registry::fixtures::snapshot();
        let s = &snap.services()[0];
        assert_eq!(
            way_in(s, "https://portail.gov.ma", Lang::Fr, "/"),
            format!("https://portail.gov.ma/s/{}/", s.id())
        );
    }
}

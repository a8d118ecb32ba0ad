//! The search page's addresses: `/search?t=<sealed>`, the query sealed for the browser
//! that typed it (see the assist room's `sealed`, which says why no query goes into an
//! address).
//!
//! Each browser gets a random binding in a cookie (`egov_search`, `__Host-egov_search`
//! under TLS, for the browser's session; a logout ends it): a sealed address opens only
//! with it, so one read from a log in front of the gateway, or passed on, shows the empty
//! box. The address, and the links that carry it, must pass the request-target limit
//! (`limits.max_uri_bytes`): a query too long for it is cut at a character ([`fit`]; at
//! the default, nothing the box takes is). An address longer than a login keeps as its
//! way back makes the page's login and language links come back to the empty box
//! ([`way_back`]).

use crate::assist::sealed::{longest_sealable, SealedQueries};
use crate::sso::cookie::CookieJar;
use http::HeaderValue;
use pingora::http::RequestHeader;

/// The address of a sealed search's page, before its token.
pub const SEALED_PAGE: &str = "/search?t=";
/// Hex digits of a binding (128 random bits).
const BINDING_LEN: usize = 32;
/// The longest prefix a link puts before a page's token: its own path and the page's
/// `/search?t=` percent-encoded (`/auth/login?return_to=%2Fsearch%3Ft%3D`, 38 bytes), and
/// some room. The token itself is written as it is ([`super::WAY_BACK`]).
const LINK_PREFIX: usize = 64;

/// The browser's binding, from its cookie, or a fresh one it must be given.
pub struct Binding {
    pub value: String,
    /// The `Set-Cookie` values the answer must carry, in order: the expiry of each copy
    /// of a duplicated cookie, then the new binding ([`Binding::set_cookies`]).
    set: Vec<HeaderValue>,
}

impl Binding {
    /// The binding `req`'s browser holds, or a new one. A cookie value that is not a
    /// binding (written by hand, or another site's) is replaced; a cookie sent twice is
    /// replaced and its copies expired (see the jar's `search_binding`).
    pub fn of(req: &RequestHeader, jar: &CookieJar) -> Self {
        let held = jar.search_binding(req);
        if let Ok(Some(v)) = held {
            if v.len() == BINDING_LEN && v.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Self {
                    value: v.to_ascii_lowercase(),
                    set: Vec::new(),
                };
            }
        }
        let mut set = Vec::new();
        if held.is_err() {
            let host = crate::host::request_host(req).map(crate::host::normalize);
            set = jar.expire_search_duplicates(&host.unwrap_or_default(), req.uri.path());
        }
        let value = hex::encode(rand::random::<[u8; BINDING_LEN / 2]>());
        set.push(jar.set_search_binding(&value));
        Self { value, set }
    }

    /// The cookies that give the browser its binding: none when it held it.
    pub fn set_cookies(self) -> Vec<HeaderValue> {
        self.set
    }
}

/// `query` cut (at a character) so that its sealed address, and the links that carry it,
/// pass the request-target limit `max_uri_bytes`. At the default 8 KiB nothing the box
/// takes is cut (1,000 characters of four bytes); only a limit set far lower cuts.
pub fn fit(query: &mut String, max_uri_bytes: usize) {
    let address = max_uri_bytes.saturating_sub(LINK_PREFIX);
    let fits = longest_sealable(address.saturating_sub(SEALED_PAGE.len()));
    if query.len() > fits {
        let mut end = fits;
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        query.truncate(end);
    }
}

/// The way back the page's own links (the login's, the language switcher's) carry: its
/// address, or the empty box when that is longer than a way back may be
/// (`sso::endpoints::MAX_RETURN_TO`, which bounds what a login in progress keeps): a query
/// of more than about 730 Arabic letters is searched whole, and asked again after a
/// language switch or a login.
pub fn way_back(address: String) -> String {
    if address.len() > crate::sso::endpoints::MAX_RETURN_TO {
        "/search".to_string()
    } else {
        address
    }
}

/// Whether a request to the search page asks the router anything: a sealed query (which
/// may not open) or a query in the address that is not blank. The box's post only seals,
/// and the empty box asks nothing: neither is counted against `route_per_ip` (found when
/// tried: sixty requests for the empty box refused the address's next search).
pub fn asks_the_router(req: &RequestHeader) -> bool {
    if req.method == http::Method::POST {
        return false;
    }
    let Some(query) = req.uri.query() else {
        return false;
    };
    // As the page reads them: the first `t`, else the first `q`.
    let mut pairs = form_urlencoded::parse(query.as_bytes());
    if let Some((_, t)) = pairs.clone().find(|(k, _)| k == "t") {
        return !t.is_empty();
    }
    pairs
        .find(|(k, _)| k == "q")
        .is_some_and(|(_, q)| !q.trim().is_empty())
}

/// The address of `query`'s page for `binding` (`query` already [`fit`]).
pub fn address(sealed: &SealedQueries, query: &str, binding: &Binding, now: u64) -> String {
    let token = sealed.seal(query, binding.value.as_bytes(), now);
    format!("{SEALED_PAGE}{token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fitted_querys_address_and_its_links_pass_the_target_limit() {
        let sealed = SealedQueries::new(None);
        let binding = Binding {
            value: "0".repeat(BINDING_LEN),
            set: Vec::new(),
        };
        for max_uri_bytes in [256, 512, 2048, 8192, 1 << 20] {
            let mut query = "ⵜⴰⵎⴰⵣⵉⵖⵜ".repeat(400);
            fit(&mut query, max_uri_bytes);
            let page = address(&sealed, &query, &binding, 0);
            let back: String =
                percent_encoding::utf8_percent_encode(&page, super::super::WAY_BACK).collect();
            let token = &page[SEALED_PAGE.len()..];
            assert!(
                back.ends_with(token),
                "the token is written as it is: {back}"
            );
            for link in [
                format!("/auth/login?return_to={back}"),
                format!("/lang?set=zgh&back={back}"),
            ] {
                assert!(
                    link.len() <= max_uri_bytes,
                    "{max_uri_bytes}: {} bytes",
                    link.len()
                );
            }
            assert!(query.len() > 60, "{max_uri_bytes}: cut to {}", query.len());
        }
    }

    #[test]
    fn at_the_default_limit_nothing_the_box_takes_is_cut() {
        for letter in ["ج", "ⵣ", "🙂"] {
            let typed = letter.repeat(crate::assist::MAX_QUERY_CHARS);
            let mut query = typed.clone();
            fit(&mut query, 8192);
            assert_eq!(query, typed, "{letter}");
        }
    }

    #[test]
    fn only_a_search_that_asks_the_router_anything_is_counted() {
        let req = |method: &str, target: &str| {
            RequestHeader::build(method, target.as_bytes(), None).expect("a request")
        };
        for asks in [
            "/search?t=anything",
            "/search?q=passeport",
            "/search?lang=fr&q=x",
        ] {
            assert!(asks_the_router(&req("GET", asks)), "{asks}");
        }
        for empty in [
            "/search",
            "/search?q=",
            "/search?q=+%20",
            "/search?x=1",
            "/search?t=",
            "/search?q=&q=passeport",
        ] {
            assert!(!asks_the_router(&req("GET", empty)), "{empty}");
        }
        assert!(
            !asks_the_router(&req("POST", "/search?q=passeport")),
            "a post seals"
        );
    }

    #[test]
    fn a_binding_is_read_back_and_anything_else_is_replaced() {
        let jar = CookieJar::new(false);
        let req = |cookie: &str| {
            let mut r = RequestHeader::build("GET", b"/search", None).expect("a request");
            r.insert_header("host", "127.0.0.1:8080").expect("a host");
            r.insert_header("cookie", cookie).expect("a cookie");
            r
        };
        let held = "0123456789ABCDEF0123456789abcdef";
        let b = Binding::of(&req(&format!("egov_lang=fr; egov_search={held}")), &jar);
        assert_eq!(b.value, held.to_ascii_lowercase());
        assert!(b.set_cookies().is_empty(), "held: nothing to set");
        for other in ["short", &"g".repeat(BINDING_LEN), ""] {
            let b = Binding::of(&req(&format!("egov_search={other}")), &jar);
            assert_eq!(b.value.len(), BINDING_LEN);
            let set = b.set_cookies();
            assert_eq!(set.len(), 1, "{other:?}");
        }
    }

    #[test]
    fn a_binding_sent_twice_is_replaced_and_its_copies_expired_first() {
        let jar = CookieJar::new(false);
        let planted = "0".repeat(BINDING_LEN);
        let mine = "1".repeat(BINDING_LEN);
        let mut r = RequestHeader::build("GET", b"/search", None).expect("a request");
        r.insert_header("host", "127.0.0.1:8080").expect("a host");
        r.insert_header(
            "cookie",
            format!("egov_search={planted}; egov_search={mine}"),
        )
        .expect("a cookie");
        let b = Binding::of(&r, &jar);
        assert!(b.value != planted && b.value != mine, "{}", b.value);
        let value = b.value.clone();
        let set: Vec<String> = b
            .set_cookies()
            .iter()
            .map(|v| v.to_str().unwrap_or("").to_string())
            .collect();
        let (new, expiries) = set.split_last().expect("cookies");
        assert!(new.starts_with(&format!("egov_search={value}")), "{new}");
        assert!(!expiries.is_empty());
        assert!(
            expiries.iter().all(|e| e.contains("Max-Age=0")),
            "{expiries:?}"
        );
    }
}

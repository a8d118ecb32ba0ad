//! The search page's addresses: `/search?t=<sealed>`, the query sealed for the browser
//! that typed it (see the assist room's `sealed`, which says why no query goes into an
//! address).
//!
//! Each browser gets a random binding in a cookie (`egov_search`, sent to `/search` only,
//! for the browser's session): a sealed address opens only with it, so one read from a
//! log in front of the gateway, or passed on, shows the empty box. The address must also
//! pass every limit a link to it meets: the request-target limit (`limits.max_uri_bytes`)
//! and the login's and the language switcher's way back, with the address written into
//! their own; a query too long for them is cut (at a character).

use crate::assist::sealed::{longest_sealable, SealedQueries};
use http::HeaderValue;
use pingora::http::RequestHeader;

/// The address of a sealed search's page, before its token.
pub const SEALED_PAGE: &str = "/search?t=";
/// The cookie holding the browser's binding.
pub const COOKIE: &str = "egov_search";
/// Hex digits of a binding (128 random bits).
const BINDING_LEN: usize = 32;
/// The longest prefix a link puts before a page's token: its own path and the page's
/// `/search?t=` percent-encoded (`/auth/login?return_to=%2Fsearch%3Ft%3D`, 38 bytes), and
/// some room. The token itself is written as it is ([`super::WAY_BACK`]).
const LINK_PREFIX: usize = 64;

/// The browser's binding, from its cookie, or a fresh one it must be given.
pub struct Binding {
    pub value: String,
    /// Not in the request: the answer sets the cookie ([`Binding::set_cookie`]).
    pub minted: bool,
}

impl Binding {
    /// The binding `req`'s browser holds, or a new one. A cookie value that is not a
    /// binding (written by hand, or another site's) is replaced.
    pub fn of(req: &RequestHeader) -> Self {
        match crate::sso::cookie::find(req, COOKIE) {
            Some(v) if v.len() == BINDING_LEN && v.bytes().all(|b| b.is_ascii_hexdigit()) => Self {
                value: v.to_ascii_lowercase(),
                minted: false,
            },
            _ => Self {
                value: hex::encode(rand::random::<[u8; BINDING_LEN / 2]>()),
                minted: true,
            },
        }
    }

    /// The cookie that gives the browser its binding: for `/search` only, for the
    /// browser's session, unread by scripts, sent on a link followed from elsewhere
    /// (`Lax`: the login's way back is one).
    pub fn set_cookie(&self, https: bool) -> Option<HeaderValue> {
        let secure = if https { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}={}; Path=/search; HttpOnly; SameSite=Lax{secure}",
            self.value
        ))
        .ok()
    }
}

/// `query` cut (at a character) so that its sealed address passes the request-target
/// limit `max_uri_bytes` and the ways back of the links that carry it.
pub fn fit(query: &mut String, max_uri_bytes: usize) {
    let address = max_uri_bytes
        .saturating_sub(LINK_PREFIX)
        .min(crate::sso::endpoints::MAX_RETURN_TO);
    let fits = longest_sealable(address.saturating_sub(SEALED_PAGE.len()));
    if query.len() > fits {
        let mut end = fits;
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        query.truncate(end);
    }
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
    fn a_fitted_querys_address_passes_the_target_limit_and_the_way_back() {
        let sealed = SealedQueries::new(None);
        let binding = Binding {
            value: "0".repeat(BINDING_LEN),
            minted: false,
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
            assert!(page.len() <= crate::sso::endpoints::MAX_RETURN_TO);
            assert!(query.len() > 60, "{max_uri_bytes}: cut to {}", query.len());
        }
    }

    #[test]
    fn a_binding_is_read_back_and_anything_else_is_replaced() {
        let req = |cookie: &str| {
            let mut r = RequestHeader::build("GET", b"/search", None).expect("a request");
            r.insert_header("cookie", cookie).expect("a cookie");
            r
        };
        let held = "0123456789ABCDEF0123456789abcdef";
        let b = Binding::of(&req(&format!("egov_lang=fr; {COOKIE}={held}")));
        assert!(!b.minted);
        assert_eq!(b.value, held.to_ascii_lowercase());
        for other in ["short", &"g".repeat(BINDING_LEN), ""] {
            let b = Binding::of(&req(&format!("{COOKIE}={other}")));
            assert!(b.minted, "{other:?}");
            assert_eq!(b.value.len(), BINDING_LEN);
        }
    }
}

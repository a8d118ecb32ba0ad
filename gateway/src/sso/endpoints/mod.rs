//! The `/auth/*` endpoints, `/.well-known/jwks.json`, and on a service's own origin the
//! exchange of a one-time code for that origin's session (see [`super::origin`]).
//!
//! Every failure has a defined answer and leaves no session behind: a replayed or missing
//! `state`, a login started in another browser, a refused code exchange or an invalid ID
//! token get the "login failed" page (400); a provider that is down gets the "login
//! unavailable" page (503) while existing sessions keep working; a bad logout token gets a
//! 400 JSON error, as OIDC Back-Channel Logout asks.

mod login;
mod logout;
mod session_state;

#[cfg(test)]
mod tests;

pub use logout::logout_csrf;

use super::Sso;
use crate::lang::Lang;
use crate::registry::{Service, Snapshot};
use crate::request_body::BodyPace;
use crate::response::{self, ErrorKind, LocalResponse};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use pingora::proxy::Session as HttpSession;
use std::time::Duration;

/// How long a login may take between `/auth/login` and `/auth/callback`.
pub(crate) const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Largest back-channel logout request body accepted.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// The endpoints SSO answers on the portal origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthEndpoint {
    Login,
    Callback,
    Logout,
    BackchannelLogout,
    Session,
    Jwks,
    /// `/auth/hop`: a one-time code for a service's origin.
    Hop,
    /// On a service's origin: the code exchanged for that origin's session.
    OriginExchange,
    /// `/auth/keep-alive`, and on a service's origin its own: the session's idle clock moved
    /// on, and how long it now has (the strip's session warning, "stay signed in").
    KeepAlive,
    /// On a service's origin, a step of a logout: its session cookie ended, on to the next.
    OriginSignedOut,
}

impl AuthEndpoint {
    pub fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            "/auth/login" => Self::Login,
            "/auth/callback" => Self::Callback,
            "/auth/logout" => Self::Logout,
            "/auth/backchannel-logout" => Self::BackchannelLogout,
            "/auth/session" => Self::Session,
            "/.well-known/jwks.json" => Self::Jwks,
            "/auth/hop" => Self::Hop,
            "/auth/keep-alive" => Self::KeepAlive,
            _ => return None,
        })
    }
}

/// The longest way back a login or the language switcher takes (longer: the home page).
pub const MAX_RETURN_TO: usize = 2048;

/// `return_to` must be a same-origin relative path: it starts with one `/` (not `//`, a
/// scheme-relative URL), and holds only visible ASCII (0x21..=0x7e) other than `\`.
/// Browsers drop tabs, newlines and other control bytes from URLs and read `\` as `/`, so
/// `/<TAB>/evil.example` or `/\evil.example` would become `//evil.example`. Our own login
/// redirects send the request's URI, which is already percent-encoded ASCII.
pub fn safe_return_to(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.len() <= MAX_RETURN_TO
                && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

pub(crate) fn query_param(session: &HttpSession, name: &str) -> Option<String> {
    let q = session.req_header().uri.query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn no_store(resp: LocalResponse) -> LocalResponse {
    let has = resp.headers.iter().any(|(n, _)| n == CACHE_CONTROL);
    if has {
        resp
    } else {
        resp.with_header(CACHE_CONTROL, HeaderValue::from_static("no-store"))
    }
}

/// What an endpoint may need of the request's routing.
pub struct EndpointContext<'a> {
    pub request_id: &'a str,
    /// The snapshot the request was routed with.
    pub snapshot: &'a Snapshot,
    /// The service whose origin the request is on ([`AuthEndpoint::OriginExchange`]).
    pub service: Option<&'a Service>,
    /// The citizen's address (behind trusted proxies, the one they name).
    pub client: Option<std::net::IpAddr>,
    /// The language the citizen reads the portal in: the provider's login pages are asked
    /// for it (`ui_locales`).
    pub lang: Lang,
}

impl EndpointContext<'_> {
    /// How long a form posted to an endpoint may take to arrive.
    fn body_pace(&self) -> BodyPace {
        BodyPace::of(&self.snapshot.config.gateway.limits)
    }
}

/// Whether a login start is a page the citizen's browser opens (or a client that does not
/// say: a program, an old browser), not a picture, frame, script, `fetch` or prefetch of
/// some page. Each start holds a place among the address's logins in progress for the
/// login's lifetime; found when tried: 25 `<img src=".../auth/login">` on a page anywhere
/// spent the 20 places of its visitor's address, and every citizen behind that address
/// (a carrier's NAT) was refused logins for ten minutes. Such a start is refused before it
/// is counted. Nor is a page another site (or a sibling service's page) opens by itself a
/// citizen's: found in a bypass probe, a page re-submitting a form to `/auth/login` into its
/// own window every 20 ms spent the places as well. From another origin, a start must be
/// the citizen's own act (`Sec-Fetch-User: ?1`: a link she follows, an address she types
/// keeps it through redirects). The login's rate per address (`limits.rate.login_per_ip`)
/// counts only the starts this lets through (found in a second bypass probe: refused ones
/// still spent it, and pictures on a page anywhere kept an address's logins at 429).
pub fn opened_as_a_page(req: &pingora::http::RequestHeader) -> bool {
    page_navigation(req) == Some(Act::Citizens)
}

/// Who opened a page navigation ([`page_navigation`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// The citizen: from the portal's own pages, an address she typed, a link she followed.
    Citizens,
    /// Not shown to be hers: from another origin, without her act (a page navigating by
    /// itself, a form it submits, but also Back to a page that redirects here).
    Unshown,
}

/// Whether `req` is a page the browser opens at the top (not a picture, frame, script,
/// `fetch` or prefetch), and if so whose act it is; `None` for anything else. See
/// [`opened_as_a_page`].
pub fn page_navigation(req: &pingora::http::RequestHeader) -> Option<Act> {
    let header = |name: &str| req.headers.get(name).map(|v| v.as_bytes());
    let is = |name: &str, value: &[u8]| header(name).is_some_and(|v| v.eq_ignore_ascii_case(value));
    let is_or_absent = |name: &str, value: &[u8]| header(name).is_none() || is(name, value);
    let prefetch = req.headers.contains_key("sec-purpose") || req.headers.contains_key("purpose");
    // A browser that says nothing of what it is doing (Safari before 16.4, old web views)
    // still names what it accepts: a picture's request names images and no page (found in
    // a third bypass probe: `<img>` from such browsers still spent the places). A login
    // starts with a `GET`.
    let a_picture = crate::fetch_metadata::asks_for_a_picture(req);
    let read = matches!(req.method, http::Method::GET | http::Method::HEAD);
    let own_or_citizens = header("sec-fetch-site").is_none()
        || is("sec-fetch-site", b"same-origin")
        || is("sec-fetch-site", b"none")
        || is("sec-fetch-user", b"?1");
    let a_page = !prefetch
        && read
        && !a_picture
        && is_or_absent("sec-fetch-mode", b"navigate")
        && is_or_absent("sec-fetch-dest", b"document");
    a_page.then_some(if own_or_citizens {
        Act::Citizens
    } else {
        Act::Unshown
    })
}

impl Sso {
    /// Answers one SSO endpoint.
    pub async fn handle(
        &self,
        endpoint: AuthEndpoint,
        http: &mut HttpSession,
        cx: EndpointContext<'_>,
    ) -> LocalResponse {
        let request_id = cx.request_id;
        let resp = match endpoint {
            AuthEndpoint::Hop => self.hop(http, cx.snapshot, request_id).await,
            AuthEndpoint::OriginExchange => match cx.service {
                Some(service) => self.exchange(http, service, request_id).await,
                None => response::error_page(ErrorKind::NotFound, request_id),
            },
            AuthEndpoint::Login => self.login(http, request_id, cx.client, cx.lang).await,
            AuthEndpoint::Callback => self.callback(http, request_id).await,
            AuthEndpoint::Logout => {
                self.logout(http, request_id, cx.body_pace(), cx.snapshot)
                    .await
            }
            AuthEndpoint::OriginSignedOut => self.signed_out_here(http, cx.snapshot).await,
            AuthEndpoint::BackchannelLogout => {
                self.backchannel_logout(http, request_id, cx.body_pace())
                    .await
            }
            AuthEndpoint::Session => self.whoami(http, request_id).await,
            AuthEndpoint::KeepAlive => self.keep_alive(http, cx.service, request_id).await,
            AuthEndpoint::Jwks => LocalResponse {
                status: StatusCode::OK,
                headers: vec![
                    (
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/jwk-set+json"),
                    ),
                    (
                        CACHE_CONTROL,
                        HeaderValue::from_static("public, max-age=300"),
                    ),
                ],
                body: self.identity.jwks(),
                page: None,
            },
        };
        no_store(resp)
    }
}

/// Whether `a` and `b` are equal, in a time that does not depend on where they differ
/// (secrets: CSRF tokens, API key hashes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

//! The portal's own cookies: the session id, the login-in-progress marker, the search
//! box's binding and, on a service origin, the hop-in-progress nonce.
//!
//! Small and opaque: the session cookie holds only a random id (tokens stay server-side),
//! `HttpOnly`, `SameSite=Lax`, and under TLS `Secure` with the `__Host-` prefix (so no
//! subdomain or path can shadow it). All portal cookie names start with `egov_` (or the
//! prefixed forms), which is how the proxy recognises them and never forwards them upstream.

use super::session::SessionHandle;
use http::HeaderValue;
use pingora::http::RequestHeader;

/// Ancestor paths of a request path whose planted cookies are expired (past it, a path is
/// deeper than any a legacy page would plant for).
const MAX_EXPIRED_PATHS: usize = 6;
/// The most `Set-Cookie` bytes one answer spends expiring duplicated cookies.
const MAX_EXPIRY_BYTES: usize = 16 * 1024;
/// Parent domains a duplicated cookie is expired on, nearest first.
const MAX_EXPIRED_DOMAINS: usize = 8;
/// Characters of a login's state in the name of its cookie: enough to tell the logins of
/// one browser apart (72 random bits).
const LOGIN_NAME_CHARS: usize = 12;
/// How long a logout's mark lasts ([`CookieJar::set_signed_out`]): longer than an
/// identity provider's "remember me" usually keeps a citizen signed in (30 days).
const SIGNED_OUT_MAX_AGE: u64 = 30 * 24 * 3600;
/// How long a hop started again is remembered ([`CookieJar::set_hop_again`]): a code's
/// own longest life (`sessions.origin_code_ttl`, at most 60 s).
const HOP_AGAIN_MAX_AGE: u64 = 60;
/// The longest cookie attribute value browsers keep (RFC 6265bis: 1024 bytes).
const MAX_COOKIE_PATH: usize = 1024;

/// The session cookies a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionCookie<'a> {
    /// None (or one whose value is no token of ours).
    Absent,
    /// Exactly one, shaped like a session cookie: the cookie's value, which the store
    /// knows by its [`SessionHandle`].
    One(&'a str),
    /// More than one: none is trusted.
    Duplicated,
}

/// Names and attributes, fixed by whether the portal is served over TLS.
#[derive(Debug, Clone)]
pub struct CookieJar {
    secure: bool,
    session_name: &'static str,
    login_name: &'static str,
    hop_name: &'static str,
    search_name: &'static str,
    signed_out_name: &'static str,
    visited_name: &'static str,
    restarted_name: &'static str,
}

/// A cookie that must come once came twice or more: none of its copies is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicated;

impl CookieJar {
    /// Whether cookies are set `Secure` (the portal is HTTPS).
    pub fn secure(&self) -> bool {
        self.secure
    }

    pub fn new(secure: bool) -> Self {
        if secure {
            Self {
                secure,
                session_name: "__Host-egov_session",
                login_name: "__Host-egov_login",
                hop_name: "__Host-egov_hop",
                search_name: "__Host-egov_search",
                signed_out_name: "__Secure-egov_signed_out",
                visited_name: "__Host-egov_visited",
                restarted_name: "__Secure-egov_hop_again",
            }
        } else {
            Self {
                secure,
                session_name: "egov_session",
                login_name: "egov_login",
                hop_name: "egov_hop",
                search_name: "egov_search",
                signed_out_name: "egov_signed_out",
                visited_name: "egov_visited",
                restarted_name: "egov_hop_again",
            }
        }
    }

    pub fn session_name(&self) -> &'static str {
        self.session_name
    }

    /// The store's id of the session the request's cookie names, if any
    /// ([`SessionHandle`]: the store never sees the cookie itself).
    ///
    /// Only a value shaped like a token the gateway makes: junk cookies never reach the
    /// store (nor, through a delete, Redis's revocation channel). A request that carries the
    /// session cookie more than once carries none: see [`Self::session_cookie`].
    pub fn session_id(&self, req: &RequestHeader) -> Option<SessionHandle> {
        match self.session_cookie(req) {
            SessionCookie::One(token) => Some(SessionHandle::of_cookie(token)),
            SessionCookie::Absent | SessionCookie::Duplicated => None,
        }
    }

    /// What the request says about its session. Browsers send every cookie whose domain
    /// and path match, most specific path first: a second session cookie means someone
    /// planted one (a legacy page under a longer path, or a sibling host through `Domain`),
    /// so the request is treated as anonymous rather than trusting either.
    pub fn session_cookie<'a>(&self, req: &'a RequestHeader) -> SessionCookie<'a> {
        let mut found = all(req, self.session_name);
        match (found.next(), found.next()) {
            (None, _) => SessionCookie::Absent,
            (Some(_), Some(_)) => SessionCookie::Duplicated,
            (Some(id), None) if super::session::looks_like_token(id) => SessionCookie::One(id),
            (Some(_), None) => SessionCookie::Absent,
        }
    }

    /// `Set-Cookie` values that expire every session cookie a browser could send on a
    /// request to `host` and `path`: host-only and for each parent domain, at `/` and at each
    /// ancestor of `path`. Sent with the answer to a request whose cookie was duplicated.
    pub fn expire_duplicates(&self, host: &str, path: &str) -> Vec<HeaderValue> {
        self.expire_every(self.session_name, host, path)
    }

    /// [`Self::expire_duplicates`] for the hop cookie: sent when an exchange found it twice
    /// (found when tried: a copy planted on the parent domain sent the browser round the hop
    /// for ever, each new nonce joining it).
    pub fn expire_hop_duplicates(&self, host: &str, path: &str) -> Vec<HeaderValue> {
        self.expire_every(self.hop_name, host, path)
    }

    /// Whether the request carries the hop cookie more than once.
    pub fn hop_duplicated(&self, req: &RequestHeader) -> bool {
        all(req, self.hop_name).nth(1).is_some()
    }

    fn expire_every(&self, name: &str, host: &str, path: &str) -> Vec<HeaderValue> {
        let mut paths = vec!["/".to_string()];
        for (i, _) in path.match_indices('/').skip(1).take(MAX_EXPIRED_PATHS) {
            paths.push(path[..i].to_string());
            paths.push(path[..=i].to_string());
        }
        // A cookie whose Path is the request's whole path is sent too.
        if path.starts_with('/') && !paths.iter().any(|p| p == path) {
            paths.push(path.to_string());
        }
        // A path a browser would not take as a cookie's Path (too long, or one a `;` would
        // cut into attributes) cannot have been planted there either.
        paths.retain(|p| p.len() <= MAX_COOKIE_PATH && !p.contains([';', ',']));
        // `//` makes `path[..=i]` the next `path[..i]`.
        paths.dedup();
        let mut domains: Vec<Option<&str>> = vec![None];
        // Parent domains only of a DNS name, and only the nearest few: the host is the
        // client's, and a `Host` of thousands of labels was answered with one expiry per
        // label and path (an amplification; a service origin has four or five labels).
        if dns_name(host) {
            let mut rest = host;
            while let Some((_, parent)) = rest.split_once('.') {
                if domains.len() > MAX_EXPIRED_DOMAINS {
                    break;
                }
                domains.push(Some(parent));
                rest = parent;
            }
        }
        let secure = if self.secure { "; Secure" } else { "" };
        // Shortest paths first, on every domain (a planted copy is most likely at `/` on a
        // parent domain), until the expiry is `MAX_EXPIRY_BYTES` long: a long path on a long
        // host is not answered with a hundred times the request.
        let mut out = Vec::new();
        let mut bytes = 0;
        for p in &paths {
            for domain in &domains {
                let domain = domain.map_or(String::new(), |d| format!("; Domain={d}"));
                let expiry =
                    format!("{name}=; Max-Age=0; Path={p}{domain}; HttpOnly; SameSite=Lax{secure}");
                bytes += expiry.len();
                if bytes > MAX_EXPIRY_BYTES {
                    return out;
                }
                out.push(value(expiry));
            }
        }
        out
    }

    /// Whether this browser was given login `state` at `/auth/login` (login CSRF: a
    /// callback carries the state of a login this very browser started). Each login in
    /// progress has its own cookie ([`Self::set_login`]).
    pub fn started_login(&self, req: &RequestHeader, state: &str) -> bool {
        self.login_cookie_name(state)
            .is_some_and(|name| all(req, &name).any(|v| v == state))
    }

    /// The name of login `state`'s cookie: the login cookie's, followed by the state's first
    /// characters. One cookie per login, not one for all: a citizen whose browser opened two
    /// protected pages at once (two tabs, a restored session) started two logins, and the
    /// second overwrote the first's state, so the first tab's login failed (found when
    /// tried). `None` for a state the gateway did not make.
    fn login_cookie_name(&self, state: &str) -> Option<String> {
        let tag = state.get(..LOGIN_NAME_CHARS)?;
        tag.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            .then(|| format!("{}_{tag}", self.login_name))
    }

    fn attributes(&self, path: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("; Path={path}; HttpOnly; SameSite=Lax{secure}")
    }

    pub fn set_session(&self, id: &str) -> HeaderValue {
        value(format!(
            "{}={id}{}",
            self.session_name,
            self.attributes("/")
        ))
    }

    pub fn clear_session(&self) -> HeaderValue {
        value(format!(
            "{}=; Max-Age=0{}",
            self.session_name,
            self.attributes("/")
        ))
    }

    /// The cookie of login `state` (see [`Self::login_cookie_name`]), for the login's
    /// lifetime. Host-only and `__Host-` over TLS, so at `Path=/` (the prefix asks it): found
    /// in a probe, as `__Secure-` at `Path=/auth/callback` a page on a host under the
    /// portal's parent domain (a service origin under `portail.gov.ma`, or `{id}.egov.ma`
    /// beside `www.egov.ma`) set one with `Domain=` for the attacker's own login, sent the
    /// citizen to that login's callback, and she was signed in as the attacker everywhere.
    pub fn set_login(&self, state: &str) -> HeaderValue {
        let name = self.login_cookie_name(state).unwrap_or_default();
        value(format!(
            "{name}={state}; Max-Age=600{}",
            self.attributes("/")
        ))
    }

    /// The nonce a service origin gave the browser when it sent it for a hop code; none when
    /// the request carries the cookie twice, as for the session cookie (found when tried: on
    /// plain HTTP, where it has no `__Host-` prefix, a sibling's page planted one on the
    /// parent domain and the first copy was believed: the victim was signed in as the
    /// attacker on that service).
    pub fn hop_nonce<'a>(&self, req: &'a RequestHeader) -> Option<&'a str> {
        let mut found = all(req, self.hop_name);
        match (found.next(), found.next()) {
            (Some(nonce), None) => Some(nonce),
            _ => None,
        }
    }

    /// The hop nonce, for `max_age` seconds (a code's lifetime and the login it may need).
    pub fn set_hop(&self, nonce: &str, max_age: u64) -> HeaderValue {
        value(format!(
            "{}={nonce}; Max-Age={max_age}{}",
            self.hop_name,
            self.attributes("/")
        ))
    }

    /// The browser's search binding (the portal's sealed searches open only with it), if
    /// it sent one copy. Two copies are none: a copy planted before the real one (by a
    /// legacy page's script on the portal's origin, or with `Domain=` from a sibling
    /// origin over plain HTTP) must neither fix the binding to a value its planter knows
    /// nor, junk, have a new one made at every search.
    pub fn search_binding<'a>(
        &self,
        req: &'a RequestHeader,
    ) -> Result<Option<&'a str>, Duplicated> {
        let mut found = all(req, self.search_name);
        match (found.next(), found.next()) {
            (_, Some(_)) => Err(Duplicated),
            (one, None) => Ok(one),
        }
    }

    /// The search binding, for the browser's session.
    pub fn set_search_binding(&self, binding: &str) -> HeaderValue {
        value(format!(
            "{}={binding}{}",
            self.search_name,
            self.attributes("/")
        ))
    }

    /// Ends the search binding: the searches sealed for it open to nothing (a logout's
    /// answer, for the next user of a shared computer).
    pub fn clear_search_binding(&self) -> HeaderValue {
        value(format!(
            "{}=; Max-Age=0{}",
            self.search_name,
            self.attributes("/")
        ))
    }

    /// [`Self::expire_duplicates`] for the search binding.
    pub fn expire_search_duplicates(&self, host: &str, path: &str) -> Vec<HeaderValue> {
        self.expire_every(self.search_name, host, path)
    }

    pub fn clear_hop(&self) -> HeaderValue {
        value(format!(
            "{}=; Max-Age=0{}",
            self.hop_name,
            self.attributes("/")
        ))
    }

    /// Marks the browser as signed out, for [`SIGNED_OUT_MAX_AGE`]: its next login asks the
    /// identity provider to authenticate again (`prompt=login`). Found when tried: a logout
    /// clears the session cookie, so the next login looked like a first one, and when the
    /// provider's own logout had not completed (a tab closed, its confirmation ignored),
    /// the next person at a shared computer was signed in as the previous citizen without
    /// a word. Sent only to the login endpoints (`Path=/auth`).
    pub fn set_signed_out(&self) -> HeaderValue {
        value(format!(
            "{}=1; Max-Age={SIGNED_OUT_MAX_AGE}{}",
            self.signed_out_name,
            self.attributes("/auth")
        ))
    }

    /// The services whose own origins the portal gave this browser a session for (see
    /// [`Self::set_visited`]), as the cookie says: ids separated by `.`, unchecked.
    pub fn visited<'a>(&self, req: &'a RequestHeader) -> &'a str {
        find(req, self.visited_name).unwrap_or("")
    }

    /// The portal origin's list of the service origins it has handed this browser's session
    /// to (`ids`, separated by `.`): a logout goes through each to end its session cookie
    /// there too, which the portal's own cookies cannot reach. As long-lived as the session
    /// cookie; never trusted beyond naming services the registry has.
    pub fn set_visited(&self, ids: &str) -> HeaderValue {
        value(format!(
            "{}={ids}{}",
            self.visited_name,
            self.attributes("/")
        ))
    }

    pub fn clear_visited(&self) -> HeaderValue {
        value(format!(
            "{}=; Max-Age=0{}",
            self.visited_name,
            self.attributes("/")
        ))
    }

    /// Whether the browser signed out since its last login ([`Self::set_signed_out`]).
    pub fn signed_out(&self, req: &RequestHeader) -> bool {
        all(req, self.signed_out_name).next().is_some()
    }

    /// Ends the signed-out mark (a login completed).
    pub fn clear_signed_out(&self) -> HeaderValue {
        value(format!(
            "{}=; Max-Age=0{}",
            self.signed_out_name,
            self.attributes("/auth")
        ))
    }

    /// Marks, for [`HOP_AGAIN_MAX_AGE`], that this origin sent the browser to start its hop
    /// again after a code that could no longer be used (see `Sso::exchange`): a second such
    /// code within it gets the error page, so that a store losing codes (a replica behind)
    /// cannot send the browser round the hop until it gives up. Sent only to the exchange
    /// path.
    pub fn set_hop_again(&self) -> HeaderValue {
        value(format!(
            "{}=1; Max-Age={HOP_AGAIN_MAX_AGE}{}",
            self.restarted_name,
            self.attributes(crate::sso::origin::ORIGIN_EXCHANGE_PATH)
        ))
    }

    /// Whether [`Self::set_hop_again`]'s mark is on the request.
    pub fn hop_again(&self, req: &RequestHeader) -> bool {
        all(req, self.restarted_name).next().is_some()
    }

    /// Expires login `state`'s cookie, once its callback came (completed or not). `None`
    /// for a state the gateway did not make.
    pub fn clear_login(&self, state: &str) -> Option<HeaderValue> {
        let name = self.login_cookie_name(state)?;
        Some(value(format!("{name}=; Max-Age=0{}", self.attributes("/"))))
    }
}

/// A host name a cookie's `Domain` could name: a DNS name as configuration takes one
/// ([`crate::config::values::hostname`]), not an IP literal (whose "parents" are no domains).
fn dns_name(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_err() && crate::config::values::hostname(host).is_ok()
}

fn value(s: String) -> HeaderValue {
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name` across all `Cookie` headers (the first, if sent twice).
pub fn find<'a>(req: &'a RequestHeader, name: &'a str) -> Option<&'a str> {
    all(req, name).next()
}

/// Every value of cookie `name` across all `Cookie` headers, in order. Read on the raw
/// bytes: a legacy site's cookie in windows-1256 beside the session cookie made the whole
/// header unreadable as text, and the citizen was sent to log in on every page of that
/// service (found when tried).
fn all<'a>(req: &'a RequestHeader, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b';'))
        .filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|&b| b == b'=')?;
            Some((&pair[..eq], &pair[eq + 1..]))
        })
        .filter(move |(n, _)| *n == name.as_bytes())
        .filter_map(|(_, v)| std::str::from_utf8(v.trim_ascii()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_logins_in_progress_in_one_browser_each_keep_their_state() {
        let jar = CookieJar::new(true);
        let (first, second) = (
            crate::sso::session::random_token(),
            crate::sso::session::random_token(),
        );
        let mut req = RequestHeader::build("GET", b"/auth/callback", None).expect("req");
        for state in [&first, &second] {
            let set = jar.set_login(state);
            let pair = set
                .to_str()
                .expect("ascii")
                .split(';')
                .next()
                .expect("pair");
            assert!(pair.starts_with("__Host-egov_login_"), "{pair}");
            req.append_header("cookie", pair.to_string()).expect("h");
        }
        assert!(jar.started_login(&req, &first));
        assert!(jar.started_login(&req, &second));
        assert!(!jar.started_login(&req, &crate::sso::session::random_token()));
    }

    /// Found in a probe: as `__Secure-` (at `Path=/auth/callback`), a page on another host
    /// under the portal's parent domain planted the attacker's login state with `Domain=`;
    /// `__Host-` cookies are host-only, and browsers take them only at `Path=/`, `Secure`,
    /// without `Domain`.
    #[test]
    fn a_login_in_progress_is_a_host_only_cookie_no_other_host_can_plant() {
        let jar = CookieJar::new(true);
        let state = crate::sso::session::random_token();
        for set in [
            jar.set_login(&state),
            jar.clear_login(&state).expect("ours"),
        ] {
            let text = set.to_str().expect("ascii");
            assert!(text.starts_with("__Host-egov_login_"), "{text}");
            let attributes: Vec<&str> = text.split("; ").skip(1).collect();
            assert!(attributes.contains(&"Path=/"), "{text}");
            assert!(attributes.contains(&"Secure"), "{text}");
            assert!(!text.contains("Domain"), "{text}");
        }
    }

    #[test]
    fn a_state_the_gateway_did_not_make_names_no_cookie() {
        let jar = CookieJar::new(false);
        let req = RequestHeader::build("GET", b"/auth/callback", None).expect("req");
        for state in ["", "short", "é123456789012345", "abc;def=ghijkl"] {
            assert!(!jar.started_login(&req, state), "{state}");
            assert!(jar.clear_login(state).is_none(), "{state}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_beside_a_legacy_cookie_that_is_not_ascii() {
        let jar = CookieJar::new(false);
        let id = crate::sso::session::random_token();
        let mut req = RequestHeader::build("GET", b"/s/x/", None).expect("req");
        let header = [b"ville=F\xe8s; egov_session=".as_slice(), id.as_bytes()].concat();
        req.append_header(
            "cookie",
            HeaderValue::from_bytes(&header).expect("a header value"),
        )
        .expect("h");
        assert_eq!(jar.session_id(&req), Some(SessionHandle::of_cookie(&id)));
    }

    /// The `Set-Cookie` values as text.
    fn texts(values: Vec<HeaderValue>) -> Vec<String> {
        values
            .iter()
            .map(|v| v.to_str().expect("ascii").to_string())
            .collect()
    }

    #[test]
    fn tls_cookies_are_host_prefixed_and_secure() {
        let jar = CookieJar::new(true);
        let v = jar.set_session("abc");
        assert_eq!(
            v.to_str().expect("ascii"),
            "__Host-egov_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
    }

    #[test]
    fn plain_http_cookies_are_not_secure() {
        let jar = CookieJar::new(false);
        assert_eq!(
            jar.clear_session().to_str().expect("ascii"),
            "egov_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let jar = CookieJar::new(false);
        let mut req = RequestHeader::build("GET", b"/", None).expect("req");
        let id = super::super::session::random_token();
        req.append_header("cookie", format!("a=1; egov_session={id}"))
            .expect("h");
        req.append_header("cookie", "JSESSIONID=j").expect("h");
        assert_eq!(jar.session_id(&req), Some(SessionHandle::of_cookie(&id)));
        assert!(!jar.started_login(&req, &id));
    }

    #[test]
    fn a_hop_cookie_sent_twice_is_no_hop_and_every_copy_is_expired() {
        let jar = CookieJar::new(false);
        let mut req = RequestHeader::build("GET", b"/auth/origin", None).expect("req");
        req.append_header("cookie", "egov_hop=mine").expect("h");
        assert_eq!(jar.hop_nonce(&req), Some("mine"));
        assert!(!jar.hop_duplicated(&req));
        req.append_header("cookie", "egov_hop=planted").expect("h");
        assert_eq!(jar.hop_nonce(&req), None);
        assert!(jar.hop_duplicated(&req));
        let expired: Vec<String> =
            texts(jar.expire_hop_duplicates("b.services.gov.ma", "/__egov/session"));
        assert!(
            expired
                .iter()
                .any(|c| c.starts_with("egov_hop=; Max-Age=0; Path=/; Domain=services.gov.ma")),
            "{expired:?}"
        );
        assert!(
            expired.iter().any(|c| c
                .starts_with("egov_hop=; Max-Age=0; Path=/__egov/session; Domain=services.gov.ma")),
            "a copy planted at the exchange's own path goes too: {expired:?}"
        );
    }

    #[test]
    fn a_session_cookie_sent_twice_is_no_session() {
        let jar = CookieJar::new(false);
        let mut req = RequestHeader::build("GET", b"/s/b/x", None).expect("req");
        let planted = super::super::session::random_token();
        let own = super::super::session::random_token();
        req.append_header(
            "cookie",
            format!("egov_session={planted}; egov_session={own}"),
        )
        .expect("h");
        assert_eq!(jar.session_cookie(&req), SessionCookie::Duplicated);
        assert_eq!(jar.session_id(&req), None);
    }

    #[test]
    fn a_host_of_many_labels_gets_a_bounded_expiry() {
        let jar = CookieJar::new(false);
        let host = "a.".repeat(4000) + "gov.ma";
        let cookies = jar.expire_duplicates(&host, "/");
        assert!(
            cookies.len() <= 1 + MAX_EXPIRED_DOMAINS,
            "{}",
            cookies.len()
        );
        let cookies = jar.expire_duplicates("a.b.c.d.e.f.g.h.i.j.k.l.gov.ma", "/");
        assert_eq!(cookies.len(), 1 + MAX_EXPIRED_DOMAINS);
    }

    #[test]
    fn a_long_path_on_a_long_host_gets_a_bounded_expiry_that_starts_at_the_root() {
        let jar = CookieJar::new(false);
        let host = "a.".repeat(120) + "ma";
        let path = format!("/{}//////", "a".repeat(1010));
        let cookies = jar.expire_duplicates(&host, &path);
        let bytes: usize = cookies.iter().map(HeaderValue::len).sum();
        assert!(bytes <= MAX_EXPIRY_BYTES, "{bytes}");
        let texts: Vec<&str> = cookies.iter().map(|c| c.to_str().expect("ascii")).collect();
        for (i, c) in texts.iter().enumerate() {
            assert!(!texts[..i].contains(c), "expired twice: {c}");
        }
        assert!(
            texts.iter().filter(|c| c.contains("; Path=/;")).count() == 1 + MAX_EXPIRED_DOMAINS,
            "every nearby domain's root first: {texts:?}"
        );
    }

    #[test]
    fn an_ip_host_gets_only_its_own_expiry() {
        let jar = CookieJar::new(false);
        let cookies = jar.expire_duplicates("127.0.0.1", "/");
        assert_eq!(cookies.len(), 1);
        assert!(!cookies[0].to_str().expect("ascii").contains("Domain"));
    }

    #[test]
    fn duplicates_are_expired_at_the_request_path_itself() {
        let jar = CookieJar::new(false);
        let cookies: Vec<String> = texts(jar.expire_duplicates("b.services.gov.ma", "/s/b/page"));
        assert!(
            cookies
                .iter()
                .any(|c| c == "egov_session=; Max-Age=0; Path=/s/b/page; HttpOnly; SameSite=Lax"),
            "{cookies:#?}"
        );
    }

    #[test]
    fn a_path_with_a_semicolon_writes_no_attribute_into_the_expiry() {
        let jar = CookieJar::new(false);
        let cookies: Vec<String> =
            texts(jar.expire_duplicates("b.services.gov.ma", "/s;Domain=gov.ma/x"));
        assert!(!cookies.is_empty());
        assert!(
            cookies.iter().all(|c| !c.contains("Path=/s;")),
            "{cookies:#?}"
        );
    }

    #[test]
    fn duplicates_are_expired_at_every_ancestor_path_and_parent_domain() {
        let jar = CookieJar::new(false);
        let cookies: Vec<String> = texts(jar.expire_duplicates("b.services.gov.ma", "/s/b/page"));
        for expected in [
            "egov_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
            "egov_session=; Max-Age=0; Path=/s/b; HttpOnly; SameSite=Lax",
            "egov_session=; Max-Age=0; Path=/s/b/; HttpOnly; SameSite=Lax",
            "egov_session=; Max-Age=0; Path=/; Domain=services.gov.ma; HttpOnly; SameSite=Lax",
        ] {
            assert!(
                cookies.iter().any(|c| c == expected),
                "{expected}: {cookies:#?}"
            );
        }
    }

    #[test]
    fn a_session_cookie_that_is_no_token_of_ours_is_no_session() {
        let jar = CookieJar::new(false);
        let mut req = RequestHeader::build("GET", b"/", None).expect("req");
        req.append_header("cookie", "egov_session=xyz").expect("h");
        assert_eq!(jar.session_id(&req), None);
    }
}

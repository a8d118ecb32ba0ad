//! The portal's own cookies: the session id and the login-in-progress marker.
//!
//! Small and opaque: the session cookie holds only a random id (tokens stay server-side),
//! `HttpOnly`, `SameSite=Lax`, and under TLS `Secure` with the `__Host-` prefix (so no
//! subdomain or path can shadow it). All portal cookie names start with `egov_` (or the
//! prefixed forms), which is how the proxy recognises them and never forwards them upstream.

use http::HeaderValue;
use pingora::http::RequestHeader;

/// Names and attributes, fixed by whether the portal is served over TLS.
#[derive(Debug, Clone)]
pub struct CookieJar {
    secure: bool,
    session_name: &'static str,
    login_name: &'static str,
}

impl CookieJar {
    pub fn new(secure: bool) -> Self {
        if secure {
            Self {
                secure,
                session_name: "__Host-egov_session",
                login_name: "__Secure-egov_login",
            }
        } else {
            Self {
                secure,
                session_name: "egov_session",
                login_name: "egov_login",
            }
        }
    }

    pub fn session_name(&self) -> &'static str {
        self.session_name
    }

    /// The session id the request carries, if any.
    ///
    /// Only a value shaped like a token the gateway makes: junk cookies never reach the
    /// store (nor, through a delete, Redis's revocation channel).
    pub fn session_id<'a>(&self, req: &'a RequestHeader) -> Option<&'a str> {
        find(req, self.session_name).filter(|id| super::session::looks_like_token(id))
    }

    /// The login state the browser was given at `/auth/login`.
    pub fn login_state<'a>(&self, req: &'a RequestHeader) -> Option<&'a str> {
        find(req, self.login_name)
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

    pub fn set_login(&self, state: &str) -> HeaderValue {
        value(format!(
            "{}={state}; Max-Age=600{}",
            self.login_name,
            self.attributes("/auth/callback")
        ))
    }

    pub fn clear_login(&self) -> HeaderValue {
        value(format!(
            "{}=; Max-Age=0{}",
            self.login_name,
            self.attributes("/auth/callback")
        ))
    }
}

fn value(s: String) -> HeaderValue {
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name` across all `Cookie` headers.
fn find<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(jar.session_id(&req), Some(id.as_str()));
        assert_eq!(jar.login_state(&req), None);
    }

    #[test]
    fn a_session_cookie_that_is_no_token_of_ours_is_no_session() {
        let jar = CookieJar::new(false);
        let mut req = RequestHeader::build("GET", b"/", None).expect("req");
        req.append_header("cookie", "egov_session=xyz").expect("h");
        assert_eq!(jar.session_id(&req), None);
    }
}

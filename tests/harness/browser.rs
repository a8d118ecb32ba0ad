//! A scripted "browser" for single sign-on tests, in plain HTTP: a cookie jar, no automatic
//! redirects (each hop is visible to the test), and the two dances a person does at the real
//! OpenID provider: logging in ([`Browser::oidc_provider_login`]) and confirming a logout
//! ([`Browser::oidc_provider_logout`]).
//!
//! Why not a headless Chromium: the SSO tests assert on protocol hops (which redirect, which
//! cookie, which parameter), and plain requests make those hops explicit, fast and stable.
//! The dances stop at the first hop that leaves the provider and return that URL unrequested,
//! so the test decides when to hand the code to the gateway.
//!
//! Beware: cookies are per host, not per port, so the jar shares cookies between the gateway,
//! the provider and anything else on 127.0.0.1, exactly as a real browser would.

use std::sync::Arc;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::LOCATION;
use reqwest::{Client, IntoUrl, Response, Url};

/// How many hops a dance may take before it is declared a loop.
const MAX_HOPS: usize = 12;

/// A cookie-keeping HTTP client that never follows redirects by itself.
#[derive(Clone)]
pub struct Browser {
    client: Client,
    jar: Arc<Jar>,
}

impl Default for Browser {
    fn default() -> Self {
        Browser::new()
    }
}

impl Browser {
    /// A browser with an empty cookie jar.
    pub fn new() -> Browser {
        Browser::with_client(|b| b)
    }

    /// A browser that, like Chromium and curl, finds every service's own origin
    /// (`<id>.localhost`) on the loopback address `gateway` (glibc does not resolve
    /// `*.localhost`, so reqwest is told).
    pub fn resolving_service_origins(gateway: std::net::SocketAddr) -> Browser {
        Browser::with_client(|b| crate::gateway::resolve_service_origins(b, gateway))
    }

    fn with_client(
        tweak: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Browser {
        let jar = Arc::new(Jar::default());
        let builder = Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        let client = tweak(builder)
            .build()
            .expect("the browser's HTTP client builds");
        Browser { client, jar }
    }

    /// Adds a cookie to the jar as if `url` had set it with `set_cookie` (a hostile page's
    /// `document.cookie`, in tests).
    pub fn plant_cookie(&self, set_cookie: &str, url: &str) {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        self.jar.add_cookie_str(set_cookie, &url);
    }

    /// Follows redirects from `url` (each hop visible to the jar) until an answer that is not
    /// one, or one that leaves for `stop_at` (an origin, e.g. the provider's): returns the last
    /// response, and every URL requested on the way.
    pub async fn follow_from(&self, url: &str, stop_at: Option<&str>) -> (Response, Vec<Url>) {
        let mut next = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        let mut seen = Vec::new();
        for _ in 0..MAX_HOPS {
            seen.push(next.clone());
            let response = self.get(next.clone()).await;
            if !response.status().is_redirection() {
                return (response, seen);
            }
            let target = redirect_target(&response);
            if stop_at.is_some_and(|o| target.as_str().starts_with(o)) {
                seen.push(target);
                return (response, seen);
            }
            next = target;
        }
        panic!("more than {MAX_HOPS} redirects from {url}: {seen:?}");
    }

    /// The underlying client (shares this browser's cookies).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The `Cookie` header this browser would send to `url`, if any.
    pub fn cookies_for(&self, url: &str) -> Option<String> {
        let url = Url::parse(url).unwrap_or_else(|e| panic!("bad URL {url}: {e}"));
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_string))
    }

    /// The value of the cookie `name` the browser would send to `url`.
    pub fn cookie(&self, url: &str, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.cookies_for(url)?
            .split("; ")
            .find_map(|c| c.strip_prefix(prefix.as_str()).map(str::to_string))
    }

    /// `GET url`.
    pub async fn get(&self, url: impl IntoUrl) -> Response {
        let url = url.into_url().unwrap_or_else(|e| panic!("bad URL: {e}"));
        self.client
            .get(url.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body.
    pub async fn post_form(&self, url: impl IntoUrl, form: &[(&str, &str)]) -> Response {
        let url = url.into_url().unwrap_or_else(|e| panic!("bad URL: {e}"));
        self.client
            .post(url.clone())
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"))
    }

    /// Sends the form of page `from` to `action` as a browser does when the citizen presses
    /// its button: a navigation (`Sec-Fetch-Mode: navigate`, an `Accept` naming HTML) with
    /// the page as `Referer`.
    pub async fn submit_form(&self, from: &str, action: &str, form: &[(&str, &str)]) -> Response {
        self.client
            .post(action)
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("sec-fetch-mode", "navigate")
            .header("referer", from)
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {action}: {e}"))
    }

    /// Logs out at the gateway's `/auth/logout` and at the provider's end-session endpoint
    /// it sends the browser to, as a citizen leaving a shared computer does.
    pub async fn logout_everywhere(&self, logout_url: &str) {
        let out = self.logout(logout_url).await;
        let (_, end_session) = self.through_the_origins(&out).await;
        self.oidc_provider_logout(end_session.as_str()).await;
    }

    /// Follows a logout's answer `out` through each service origin it ends a session on
    /// (`/__egov/signed-out`): each step's URL and answer's headers, and where the way goes
    /// after the last (the provider's end-session endpoint, or home). A step is a redirect,
    /// or, past a run of redirects, a page that sends the browser on at once (its
    /// `<meta http-equiv="refresh">`, followed as a browser does); panics on anything else.
    pub async fn through_the_origins(
        &self,
        out: &Response,
    ) -> (Vec<(Url, reqwest::header::HeaderMap)>, Url) {
        let mut steps = Vec::new();
        let mut next = redirect_target(out);
        while next.path() == egov_gateway::routing::ORIGIN_SIGNED_OUT_PATH {
            let step = self.get(next.clone()).await;
            let headers = step.headers().clone();
            let after = if step.status().is_redirection() {
                redirect_target(&step)
            } else {
                assert_eq!(step.status(), 200, "{next}");
                let html = step.text().await.unwrap_or_default();
                let target = html
                    .split("content=\"0;url=")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .map(|t| t.replace("&amp;", "&"))
                    .unwrap_or_else(|| panic!("{next}: neither a redirect nor a refresh: {html}"));
                next.join(&target).expect("a URL")
            };
            steps.push((next, headers));
            next = after;
        }
        (steps, next)
    }

    /// Logs out at `logout_url` (the gateway's `/auth/logout`) as a citizen does: opens the
    /// page, then posts its form with the page's CSRF token. Returns the answer to the post
    /// (a 303 to the provider's end-session endpoint, or home).
    pub async fn logout(&self, logout_url: &str) -> Response {
        let page = self.get(logout_url).await;
        assert_eq!(page.status(), 200, "the logout page");
        let html = page.text().await.unwrap_or_default();
        let csrf = hidden_value(&html, "csrf")
            .unwrap_or_else(|| panic!("no CSRF token on the logout page: {}", excerpt(&html)));
        self.post_form(logout_url, &[("csrf", &csrf)]).await
    }

    /// Follows one redirect: `GET` the `Location` of `response` (resolved against its URL).
    /// Panics if `response` is not a redirect.
    pub async fn follow(&self, response: Response) -> Response {
        let next = redirect_target(&response);
        self.get(next).await
    }

    /// Logs `login` in at the oidc-provider: `GET authorize_url`, then through its login
    /// (`prompt=login`, `login`, `password`) and consent (`prompt=consent`) interactions,
    /// following the provider's redirects, until a redirect leaves the provider. Returns that
    /// URL (normally the client's `redirect_uri?code=..&state=..&iss=..`, or `?error=..`)
    /// WITHOUT requesting it. Works as well when the provider already has a session (SSO) or
    /// a grant (no consent asked).
    pub async fn oidc_provider_login(
        &self,
        authorize_url: &str,
        login: &str,
        password: &str,
    ) -> Url {
        let start = Url::parse(authorize_url).unwrap_or_else(|e| panic!("bad authorize URL: {e}"));
        let provider = start.origin();
        let mut response = self.get(start).await;
        for _ in 0..MAX_HOPS {
            let url = response.url().clone();
            if response.status().is_redirection() {
                let next = redirect_target(&response);
                if next.origin() != provider {
                    return next;
                }
                response = self.get(next).await;
                continue;
            }
            let status = response.status();
            let page = response.text().await.unwrap_or_default();
            if status.is_success() && page.contains("/session/end/confirm\"") {
                // Another account is signed in at the provider and the login asked for a
                // fresh one (`prompt=login`): the provider's page posts the end of that
                // session itself, as a browser running its script would.
                let xsrf = hidden_value(&page, "xsrf")
                    .unwrap_or_else(|| panic!("no xsrf at {url}:\n{}", excerpt(&page)));
                let confirm = url
                    .join("/session/end/confirm")
                    .unwrap_or_else(|e| panic!("confirm URL: {e}"));
                response = self
                    .post_form(confirm, &[("xsrf", &xsrf), ("logout", "yes")])
                    .await;
                continue;
            }
            if !status.is_success() || !url.path().starts_with("/interaction/") {
                panic!(
                    "oidc-provider login: unexpected {status} at {url}:\n{}",
                    excerpt(&page)
                );
            }
            response = if page.contains("name=\"prompt\" value=\"login\"") {
                let form = [
                    ("prompt", "login"),
                    ("login", login),
                    ("password", password),
                ];
                self.post_form(url, &form).await
            } else if page.contains("name=\"prompt\" value=\"consent\"") {
                self.post_form(url, &[("prompt", "consent")]).await
            } else {
                panic!(
                    "oidc-provider login: no login or consent form at {url}:\n{}",
                    excerpt(&page)
                );
            };
        }
        panic!("oidc-provider login: more than {MAX_HOPS} hops");
    }

    /// Logs out at the oidc-provider: `GET end_session_url` (its `/session/end?...`), which
    /// answers a form, then `POST /session/end/confirm` with the form's `xsrf` and
    /// `logout=yes`. The provider sends its back-channel logout tokens before it answers.
    /// Returns where the provider redirects (the `post_logout_redirect_uri?state=..`, or its
    /// own success page), without requesting it.
    pub async fn oidc_provider_logout(&self, end_session_url: &str) -> Url {
        let start =
            Url::parse(end_session_url).unwrap_or_else(|e| panic!("bad end_session URL: {e}"));
        let response = self.get(start.clone()).await;
        let status = response.status();
        let page = response.text().await.unwrap_or_default();
        let Some(xsrf) = hidden_value(&page, "xsrf") else {
            panic!(
                "oidc-provider logout: no xsrf in the {status} answer to {start}:\n{}",
                excerpt(&page)
            );
        };
        let confirm = start
            .join("/session/end/confirm")
            .unwrap_or_else(|e| panic!("confirm URL: {e}"));
        let done = self
            .post_form(confirm, &[("xsrf", &xsrf), ("logout", "yes")])
            .await;
        if !done.status().is_redirection() {
            let status = done.status();
            let page = done.text().await.unwrap_or_default();
            panic!(
                "oidc-provider logout: confirm answered {status}:\n{}",
                excerpt(&page)
            );
        }
        redirect_target(&done)
    }
}

/// The absolute target of a redirect response.
pub fn redirect_target(response: &Response) -> Url {
    let Some(location) = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        panic!(
            "expected a redirect from {}, got {} without a usable Location",
            response.url(),
            response.status()
        );
    };
    response
        .url()
        .join(location)
        .unwrap_or_else(|e| panic!("bad Location {location:?}: {e}"))
}

/// The value of the first `<input ... name="{name}" ... value="...">` in `html`.
pub fn hidden_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let value_at = tag.find("value=\"")? + "value=\"".len();
    let value_len = tag[value_at..].find('"')?;
    Some(unescape(&tag[value_at..value_at + value_len]))
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The start of a page, for panic messages.
fn excerpt(page: &str) -> &str {
    let end = page.char_indices().nth(2000).map_or(page.len(), |(i, _)| i);
    &page[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_values_are_found_in_either_attribute_order() {
        let form = r#"<form><input type="hidden" name="xsrf" value="a&amp;b"/></form>"#;
        assert_eq!(hidden_value(form, "xsrf").as_deref(), Some("a&b"));
        let reversed = r#"<input value="v1" type="hidden" name="logout">"#;
        assert_eq!(hidden_value(reversed, "logout").as_deref(), Some("v1"));
        assert_eq!(hidden_value(form, "missing"), None);
    }
}

//! The `/auth/*` endpoints, `/.well-known/jwks.json`, and on a service's own origin the
//! exchange of a one-time code for that origin's session (see [`super::origin`]).
//!
//! Every failure has a defined answer and leaves no session behind: a replayed or missing
//! `state`, a login started in another browser, a refused code exchange or an invalid ID
//! token get the "login failed" page (400); a provider that is down gets the "login
//! unavailable" page (503) while existing sessions keep working; a bad logout token gets a
//! 400 JSON error, as OIDC Back-Channel Logout asks.

use super::pending::PendingRefusal;
use super::provider::{ProviderError, LOGOUT_TOKEN_MAX_AGE};
use super::session::{now_secs, random_token, PendingLogin, Session, SessionHandle};
use super::Sso;
use crate::lang::Lang;
use crate::registry::{Service, Snapshot};
use crate::request_body::BodyPace;
use crate::response::{self, ErrorKind, LocalResponse, Localized};
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
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
    !prefetch
        && read
        && !a_picture
        && is_or_absent("sec-fetch-mode", b"navigate")
        && is_or_absent("sec-fetch-dest", b"document")
        && own_or_citizens
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
            AuthEndpoint::Logout => self.logout(http, request_id, cx.body_pace()).await,
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

    async fn login(
        &self,
        http: &HttpSession,
        request_id: &str,
        client: Option<std::net::IpAddr>,
        lang: Lang,
    ) -> LocalResponse {
        let Some(provider) = &self.provider else {
            return response::error_page(ErrorKind::LoginUnavailable, request_id);
        };
        if !opened_as_a_page(http.req_header()) {
            return response::error_page(ErrorKind::Forbidden, request_id);
        }
        let created_at = now_secs();
        match self.pending.admit(client, created_at).await {
            Ok(()) => {}
            Err(PendingRefusal::Unavailable(e)) => {
                self.store_failed(&e, "login: session store unavailable");
                return response::error_page(ErrorKind::SessionsUnavailable, request_id);
            }
            Err(refusal) => {
                tracing::info!(reason = %refusal, "login refused");
                let (kind, retry_after) = match refusal {
                    PendingRefusal::PerAddress { retry_after } => {
                        // A 429 of the login's rate, counted with the others (a login flood
                        // was under-reported by two thirds: found when tried).
                        self.metrics
                            .rate_limited
                            .with_label_values(&["login"])
                            .inc();
                        (ErrorKind::TooManyRequests, retry_after)
                    }
                    PendingRefusal::Total { retry_after } => {
                        // Counted too: a flood that reached the overall cap moved no login
                        // series at all (found when tried).
                        self.metrics
                            .rate_limited
                            .with_label_values(&["login"])
                            .inc();
                        (ErrorKind::Unavailable, retry_after)
                    }
                    PendingRefusal::Unavailable(_) => (ErrorKind::Unavailable, 60),
                };
                return response::error_page(kind, request_id).with_retry_after_secs(retry_after);
            }
        }
        let return_to = safe_return_to(query_param(http, "return_to").as_deref());
        // A session cookie whose session is gone (it ended by itself), or a browser signed
        // out since its last login: the provider must authenticate again (see
        // `begin_login`), whatever its own session says.
        let ended = self.jar.signed_out(http.req_header())
            || match self.jar.session_id(http.req_header()) {
                Some(id) => matches!(self.store.get(id.as_str()).await, Ok(None)),
                None => false,
            };
        let start = match provider.begin_login(ended, lang).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "login: provider unavailable");
                self.metrics
                    .logins
                    .with_label_values(&["unavailable"])
                    .inc();
                // Never started, so not in progress: counted until it aged out, a few seconds
                // of outage locked an address out of login for ten minutes (found when tried).
                self.pending.release(client, created_at).await;
                return response::error_page(ErrorKind::LoginUnavailable, request_id);
            }
        };
        let pending = PendingLogin {
            pkce_verifier: start.pkce_verifier,
            nonce: start.nonce,
            return_to,
            created_at,
            client,
            reauthenticate: ended,
        };
        if let Err(e) = self
            .store
            .put_pending(&start.state, &pending, LOGIN_TTL)
            .await
        {
            self.store_failed(&e, "login: session store unavailable");
            self.pending.release(client, created_at).await;
            return response::error_page(ErrorKind::SessionsUnavailable, request_id);
        }
        LocalResponse::redirect(false, &start.authorize_url)
            .with_header(SET_COOKIE, self.jar.set_login(&start.state))
    }

    async fn callback(&self, http: &HttpSession, request_id: &str) -> LocalResponse {
        let state = query_param(http, "state");
        let clear_login = state.as_deref().and_then(|s| self.jar.clear_login(s));
        let failed = |why: &str| {
            tracing::info!(reason = why, request_id, "login failed");
            self.metrics.logins.with_label_values(&["failure"]).inc();
            response::error_page(ErrorKind::LoginFailed, request_id)
                .with_headers(SET_COOKIE, clear_login.clone())
        };
        // A callback for no login this browser started is no login that failed: anyone can
        // send one, and counted as failures (found when tried: 40 made-up callbacks moved
        // `failure` from 5 to 45, and a line each) a flood of them hid an identity provider's
        // outage from the alert that divides by every login. Counted apart, logged at debug.
        let stray = |why: &str| {
            tracing::debug!(
                reason = why,
                request_id,
                "callback for no login of this browser"
            );
            self.metrics.logins.with_label_values(&["stray"]).inc();
            response::error_page(ErrorKind::LoginFailed, request_id)
                .with_headers(SET_COOKIE, clear_login.clone())
        };
        let Some(provider) = &self.provider else {
            return response::error_page(ErrorKind::LoginUnavailable, request_id);
        };
        let Some(state) = state else {
            return stray("missing state");
        };
        // The state must be one this browser was given (login CSRF), and unused.
        if !self.jar.started_login(http.req_header(), &state) {
            return self
                .signed_in_already(http, || stray("state does not match this browser's login"))
                .await;
        }
        let pending = match self.store.take_pending(&state).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                return self
                    .signed_in_already(http, || failed("unknown, expired or replayed state"))
                    .await
            }
            Err(e) => {
                self.store_failed(&e, "callback: session store unavailable");
                return response::error_page(ErrorKind::SessionsUnavailable, request_id);
            }
        };
        // The login is over, completed or not: a citizen who cancels at the provider
        // (`error=access_denied`) is no longer counted as logging in.
        self.pending
            .release(pending.client, pending.created_at)
            .await;
        let Some(code) = query_param(http, "code") else {
            return failed(if query_param(http, "error").is_some() {
                "the provider returned an error"
            } else {
                "missing code"
            });
        };
        let (tokens, claims) = match provider
            .finish_login(&code, &pending.pkce_verifier, &pending.nonce)
            .await
        {
            Ok(r) => r,
            Err(ProviderError::Unavailable(e)) => {
                tracing::warn!(error = %e, "callback: provider unavailable");
                self.metrics
                    .logins
                    .with_label_values(&["unavailable"])
                    .inc();
                return response::error_page(ErrorKind::LoginUnavailable, request_id);
            }
            Err(e) => return failed(&e.to_string()),
        };
        // Asked to authenticate again, the provider must have: found when tried, the next
        // person at a shared computer removed `prompt=login` from the provider's address and
        // was signed in by the previous citizen's provider session.
        if pending.reauthenticate && !authenticated_during(&claims, pending.created_at, now_secs())
        {
            return failed("the provider did not authenticate the citizen again");
        }
        // A fresh session id at every login (no fixation); any previous session ends.
        if let Some(old) = self.jar.session_id(http.req_header()) {
            let _ = self.store.delete(old.as_str()).await;
        }
        let now = now_secs();
        let cookie = random_token();
        let session = Session {
            id: SessionHandle::of_cookie(&cookie).as_str().to_owned(),
            public_id: random_token(),
            sub: claims.sub,
            issuer: claims.iss,
            idp_sid: claims.sid,
            name: claims.name,
            acr: claims.acr,
            professional: claims.professional,
            id_token: String::new(),
            access_token: String::new(),
            refresh_token: tokens.refresh_token,
            access_expires_at: tokens.access_expires_at,
            created_at: now,
            last_seen: now,
            absolute_expires_at: now + self.absolute.as_secs(),
        };
        if let Err(e) = self
            .store
            .create(&session, session.ttl(now, self.idle))
            .await
        {
            self.store_failed(&e, "callback: session store unavailable");
            return response::error_page(ErrorKind::SessionsUnavailable, request_id);
        }
        self.metrics.logins.with_label_values(&["success"]).inc();
        let mut signed_in = LocalResponse::redirect(false, &pending.return_to)
            .with_header(SET_COOKIE, self.jar.set_session(&cookie))
            .with_headers(SET_COOKIE, clear_login);
        if self.jar.signed_out(http.req_header()) {
            signed_in = signed_in.with_header(SET_COOKIE, self.jar.clear_signed_out());
        }
        signed_in
    }

    /// A callback that cannot log in, from a browser signed in already: the citizen came
    /// Back into a login it completed, and goes to the portal's home rather than reading
    /// "login failed" over a live session (found when tried); the code is never used.
    /// Anyone else gets `failed`.
    async fn signed_in_already(
        &self,
        http: &HttpSession,
        failed: impl FnOnce() -> LocalResponse,
    ) -> LocalResponse {
        match self.current_session(http.req_header()).await {
            Ok(Some(_)) => LocalResponse::redirect(false, "/"),
            Ok(None) => failed(),
            Err(e) => {
                self.store_failed(&e, "callback: session store unavailable");
                failed()
            }
        }
    }

    /// `GET /auth/logout` asks (a page with a form); `POST /auth/logout` with the page's
    /// CSRF token logs out. A GET that logged out would let any site end a citizen's session
    /// (an `<img src>`), and send the ID token hint on its way.
    async fn logout(
        &self,
        http: &mut HttpSession,
        request_id: &str,
        pace: BodyPace,
    ) -> LocalResponse {
        let home = format!("{}/", self.origin);
        // The CSRF token is a digest of the cookie, which only the browser holds (not of
        // the handle the store knows it by; found in review).
        let cookie = match self.jar.session_cookie(http.req_header()) {
            super::cookie::SessionCookie::One(cookie) => Some(cookie.to_owned()),
            _ => None,
        };
        let Some((cookie, id)) = cookie.map(|c| {
            let id = SessionHandle::of_cookie(&c);
            (c, id)
        }) else {
            // Nothing to end here; still clear whatever cookie the browser holds. (Not the
            // search binding: any site may link here, and only a logout ends it.)
            return LocalResponse::redirect(false, &home)
                .with_header(SET_COOKIE, self.jar.clear_session());
        };
        let method = http.req_header().method.clone();
        if method == http::Method::GET || method == http::Method::HEAD {
            let provider = self.provider.as_ref().and_then(|p| p.origin());
            return logout_page(&logout_csrf(&cookie), provider.as_deref());
        }
        if method != http::Method::POST {
            return LocalResponse::post_only("invalid_request", "use POST");
        }
        let origin_ok = match http.req_header().headers.get(http::header::ORIGIN) {
            None => true,
            Some(o) => o.as_bytes() == self.origin.as_bytes(),
        };
        let body = crate::request_body::read_limited::<crate::request_body::BodyError>(
            http,
            MAX_FORM_BYTES,
            pace,
        )
        .await
        .unwrap_or_default();
        let token = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        if !origin_ok || !constant_time_eq(token.as_bytes(), logout_csrf(&cookie).as_bytes()) {
            tracing::info!("logout refused: missing or wrong CSRF token, or a foreign Origin");
            return response::error_page(ErrorKind::Forbidden, request_id);
        }
        // A logout that cannot end the session says so, and keeps the cookie for a retry.
        // Answering "logged out" over a session left alive (a Redis partition) left it
        // usable on every service's origin, for the next person at a shared computer.
        if let Err(e) = self.store.delete(id.as_str()).await {
            self.store_failed(&e, "logout: could not delete the session; nothing ended");
            return response::error_page(ErrorKind::SessionsUnavailable, request_id);
        }
        self.metrics.logouts.with_label_values(&["rp"]).inc();
        let target = match &self.provider {
            Some(p) => p.end_session_url(&home).await.unwrap_or(home),
            None => home,
        };
        // 303: the browser follows a POST's answer with a GET.
        // The searches she made open to nothing after her (her history stays in the
        // browser, for the next user of a shared computer).
        let mut resp = LocalResponse::redirect(false, &target)
            .with_header(SET_COOKIE, self.jar.clear_session())
            .with_header(SET_COOKIE, self.jar.clear_search_binding())
            .with_header(SET_COOKIE, self.jar.set_signed_out());
        resp.status = StatusCode::SEE_OTHER;
        resp
    }

    async fn backchannel_logout(
        &self,
        http: &mut HttpSession,
        request_id: &str,
        pace: BodyPace,
    ) -> LocalResponse {
        let bad = |description: String| {
            tracing::info!(%description, "back-channel logout refused");
            LocalResponse::json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({ "error": "invalid_request", "error_description": description }),
            )
        };
        // The details go to the log (with the request id), never to the caller.
        let unavailable = |what: &str, error: &dyn std::fmt::Display| {
            tracing::warn!(%error, request_id, "back-channel logout: {what} unavailable");
            LocalResponse::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({
                    "error": "temporarily_unavailable",
                    "error_description": format!("{what} unavailable, retry later (request {request_id})"),
                }),
            )
        };
        if http.req_header().method != http::Method::POST {
            return LocalResponse::post_only("invalid_request", "use POST");
        }
        let Some(provider) = &self.provider else {
            return bad("single sign-on is not configured".into());
        };
        let body = match crate::request_body::read_limited(http, MAX_FORM_BYTES, pace).await {
            Ok(b) => b,
            Err(why) => return bad(why),
        };
        let Some(token) = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned())
        else {
            return bad("missing logout_token".into());
        };
        let request = match provider.validate_logout_token(&token).await {
            Ok(r) => r,
            Err(e @ ProviderError::Unavailable(_)) => return unavailable("identity provider", &e),
            Err(e) => return bad(e.to_string()),
        };
        // Recorded first (atomically) so two deliveries of one token cannot both act; forgotten
        // again if the revocation fails, so the provider's retry is not taken for a replay.
        match self
            .store
            .remember_jti(
                &request.jti,
                LOGOUT_TOKEN_MAX_AGE + 2 * provider.clock_skew(),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => return bad("logout token replayed".into()),
            Err(e) => return unavailable("session store", &e),
        }
        let revoked = match (&request.sid, &request.sub) {
            (Some(sid), _) => self.store.revoke_idp_sid(sid).await,
            (None, Some(sub)) => self.store.revoke_sub(sub).await,
            (None, None) => Ok(Vec::new()),
        };
        match revoked {
            Ok(ids) => {
                tracing::info!(sessions = ids.len(), "back-channel logout");
                self.metrics
                    .logouts
                    .with_label_values(&["backchannel"])
                    .inc();
                LocalResponse {
                    status: StatusCode::OK,
                    headers: vec![],
                    body: Bytes::new(),
                    page: None,
                }
            }
            Err(e) => {
                if let Err(forget) = self.store.forget_jti(&request.jti).await {
                    tracing::warn!(error = %forget, request_id, "back-channel logout: could not forget the token id; a retry will be refused");
                }
                unavailable("session store", &e)
            }
        }
    }

    async fn whoami(&self, http: &HttpSession, request_id: &str) -> LocalResponse {
        match self.current_session(http.req_header()).await {
            Ok(Some(s)) => LocalResponse::json(
                StatusCode::OK,
                &serde_json::json!({
                    "authenticated": true,
                    "name": s.name,
                    "acr": s.acr,
                    "professional": s.professional,
                    "expires_at": s.idle_expires_at(self.idle),
                    "absolute_expires_at": s.absolute_expires_at,
                    "access_expires_at": s.access_expires_at,
                }),
            ),
            Ok(None) => LocalResponse::json(
                StatusCode::OK,
                &serde_json::json!({ "authenticated": false }),
            ),
            Err(e) => {
                self.store_failed(&e, "/auth/session: session store unavailable");
                LocalResponse::json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &serde_json::json!({
                        "error": "sessions_unavailable",
                        "error_description": format!("sessions are unavailable, retry later (request {request_id})"),
                    }),
                )
            }
        }
    }
}

impl Sso {
    /// The session of this request as it stands, its idle clock left alone: what the session
    /// warning asks (`?peek`) before it warns and when its time is up, so that a tab left
    /// open never keeps a session alive, and one another tab kept alive is not said to have
    /// ended (found when tried).
    async fn peek_session(
        &self,
        req: &pingora::http::RequestHeader,
        service: Option<&Service>,
    ) -> Result<Option<Session>, super::store::StoreError> {
        use super::store::StoreError;
        let Some(id) = self.jar.session_id(req) else {
            return Ok(None);
        };
        let parent = match service {
            Some(service) => match self.origin_parent(id.as_str(), service).await? {
                Some(parent) => parent,
                None => return Ok(None),
            },
            None => id.as_str().to_owned(),
        };
        match self.store.get(&parent).await {
            Ok(session) => Ok(session.filter(|s| !s.expired(now_secs(), self.idle))),
            Err(StoreError::Corrupt(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// "Stay signed in": the session of this request (on a service's origin, that origin's)
    /// is read as any request's, which moves its idle clock on, and the answer says whether
    /// it is live and for how many seconds more. Nothing else: a page script on the origin
    /// may read it.
    async fn keep_alive(
        &self,
        http: &HttpSession,
        service: Option<&Service>,
        request_id: &str,
    ) -> LocalResponse {
        let req = http.req_header();
        if !matches!(req.method, http::Method::GET | http::Method::HEAD) {
            return LocalResponse::json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "the keep-alive is asked with GET",
            )
            .with_header(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        let session = if query_param(http, "peek").is_some() {
            self.peek_session(req, service).await
        } else {
            match service {
                Some(service) => match self.jar.session_id(req) {
                    Some(id) => self.origin_session(id.as_str(), service).await,
                    None => Ok(None),
                },
                None => self.current_session(req).await,
            }
        };
        match session {
            Ok(Some(s)) => {
                let ends = s.idle_expires_at(self.idle).min(s.absolute_expires_at);
                LocalResponse::json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "authenticated": true,
                        "expires_in": ends.saturating_sub(now_secs()),
                    }),
                )
            }
            Ok(None) => LocalResponse::json(
                StatusCode::OK,
                &serde_json::json!({ "authenticated": false }),
            ),
            Err(e) => {
                self.store_failed(&e, "keep-alive: session store unavailable");
                LocalResponse::json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "sessions_unavailable",
                    format!("sessions are unavailable, retry later (request {request_id})"),
                )
                .with_retry_after_secs(10)
            }
        }
    }
}

/// The logout form's CSRF token: a digest of the session id, which only the citizen's
/// browser holds (HttpOnly), so another site can neither read nor compute it, and no
/// server-side state is kept for it.
pub fn logout_csrf(session_cookie: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("egov-logout-csrf\0{session_cookie}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `a` and `b` are equal, in a time that does not depend on where they differ
/// (secrets: CSRF tokens, API key hashes).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The page `GET /auth/logout` answers: one button that posts the logout. Its policy lets
/// the form's answer redirect to the provider (`form-action` covers redirects).
fn logout_page(csrf: &str, provider: Option<&str>) -> LocalResponse {
    let page = LogoutPage {
        csrf: crate::response::escape(csrf).into_owned(),
    };
    let body = page.render(Lang::Ar, "/");
    let page = LocalResponse::html_bytes(StatusCode::OK, body).localized(
        std::sync::Arc::new(page),
        Lang::Ar,
        "/",
    );
    let policy = crate::response::CONTENT_SECURITY_POLICY_VALUE.replace(
        "form-action 'self'",
        &format!("form-action 'self' {}", provider.unwrap_or("")),
    );
    match HeaderValue::from_str(policy.trim()) {
        Ok(v) => page.with_header(http::header::CONTENT_SECURITY_POLICY, v),
        Err(_) => page,
    }
}

/// The logout page in every language, the reader's first (see [`Localized`]).
#[derive(Debug)]
struct LogoutPage {
    /// Escaped already.
    csrf: String,
}

impl Localized for LogoutPage {
    fn render(&self, lang: Lang, home: &str) -> Bytes {
        // In the order of `Lang::ALL`: title, question, button.
        const TEXTS: [[&str; 3]; 4] = [
            [
                "تسجيل الخروج",
                "هل تريد إنهاء جلستك في البوابة وفي جميع الخدمات؟",
                "تسجيل الخروج",
            ],
            [
                "ⴼⴼⵖ",
                "ⵉⵙ ⵜⵔⵉⴷ ⴰⴷ ⵜⵙⴽⵎⵎⵍⴷ ⵜⵖⵉⵎⵉⵜ ⵏⵏⴽ ⴳ ⵓⵡⵡⵓⵔ ⴷ ⵜⵎⴰⵡⴰⵙⵉⵏ ⴰⴽⴽⵯ?",
                "ⴼⴼⵖ",
            ],
            [
                "Se déconnecter",
                "Voulez-vous fermer votre session sur le portail et dans tous les services ?",
                "Se déconnecter",
            ],
            [
                "Log out",
                "Do you want to end your session on the portal and in every service?",
                "Log out",
            ],
        ];
        let csrf = &self.csrf;
        let href = crate::response::escape(home);
        response::in_every_language(lang, TEXTS[lang.index()][0], "", home, |l| {
            let [title, question, button] = TEXTS[l.index()];
            let back = response::BACK_TO_THE_PORTAL[l.index()];
            format!(
                "<h1>{title}</h1><p>{question}</p><form method=\"post\" action=\"/auth/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\" name=\"logout\" value=\"yes\">{button}</button></form><p><a href=\"{href}\">{back}</a></p>"
            )
        })
    }
}

/// How much longer, at most, the provider may count between authenticating the citizen and
/// issuing her ID token than the gateway counted since the login began (the network's
/// share of the two).
const AUTHENTICATION_SLACK_SECS: u64 = 5;

/// Whether the provider authenticated the citizen during the login that began at `began`
/// (the gateway's clock; it is `now`): the ID token was issued (`iat`) no longer after the
/// authentication (`auth_time`) than the login has lasted. The provider's two times are
/// compared with each other, the gateway's with each other, so neither clock need agree
/// with the other (found in review: a provider's clock running a minute behind would have
/// refused every login after a logout). A token without both is no proof.
fn authenticated_during(claims: &super::provider::IdentityClaims, began: u64, now: u64) -> bool {
    let (Some(auth_time), Some(issued_at)) = (claims.auth_time, claims.issued_at) else {
        return false;
    };
    let lasted = now
        .saturating_sub(began)
        .saturating_add(AUTHENTICATION_SLACK_SECS);
    issued_at.saturating_sub(auth_time) <= lasted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login_start(headers: &[(&str, &str)]) -> pingora::http::RequestHeader {
        let mut req =
            pingora::http::RequestHeader::build("GET", b"/auth/login", None).expect("request");
        for (n, v) in headers {
            req.insert_header(n.to_string(), *v).expect("header");
        }
        req
    }

    /// The Fetch Metadata a browser sends with each way a login can start: what the
    /// citizen does herself, or the portal's own pages, start one; what another site's page
    /// does by itself does not (found in a bypass probe: a page re-submitting a form into
    /// its own window every 20 ms was a "document" navigation each time).
    #[test]
    fn a_login_starts_from_the_citizens_own_act_or_the_portals_pages_only() {
        let navigation = |site: &'static str| {
            vec![
                ("sec-fetch-site", site),
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-dest", "document"),
            ]
        };
        let with_user = |site| {
            let mut h = navigation(site);
            h.push(("sec-fetch-user", "?1"));
            h
        };
        for started in [
            vec![],
            with_user("none"),
            navigation("same-origin"),
            with_user("same-origin"),
            with_user("same-site"),
            with_user("cross-site"),
        ] {
            assert!(opened_as_a_page(&login_start(&started)), "{started:?}");
        }
        let mut prefetched = with_user("cross-site");
        prefetched.push(("sec-purpose", "prefetch"));
        // Without Fetch Metadata: a page's request asks for pages, a picture's for images.
        assert!(opened_as_a_page(&login_start(&[(
            "accept",
            "text/html,application/xhtml+xml,*/*;q=0.8"
        )])));
        assert!(!opened_as_a_page(&login_start(&[(
            "accept",
            "image/avif,image/webp,image/*,*/*;q=0.8"
        )])));
        for refused in [
            navigation("cross-site"),
            navigation("same-site"),
            prefetched,
            vec![
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "no-cors"),
                ("sec-fetch-dest", "image"),
            ],
            vec![
                ("sec-fetch-site", "same-origin"),
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-dest", "iframe"),
            ],
        ] {
            assert!(!opened_as_a_page(&login_start(&refused)), "{refused:?}");
        }
    }

    fn claims(
        auth_time: Option<u64>,
        issued_at: Option<u64>,
    ) -> super::super::provider::IdentityClaims {
        super::super::provider::IdentityClaims {
            iss: "https://idp.example".into(),
            sub: "amina".into(),
            sid: None,
            name: None,
            acr: None,
            professional: false,
            expires_at: 0,
            auth_time,
            issued_at,
        }
    }

    /// From review: the provider's times are compared with each other, the gateway's with
    /// each other, so a provider whose clock is a minute behind (or ahead) is believed
    /// when it authenticated the citizen during the login, and only then.
    #[test]
    fn a_fresh_authentication_is_told_by_the_providers_clock_alone() {
        let (began, now) = (1_000_000, 1_000_030);
        for behind in [0, 60, 3_600] {
            let provider_now = now - behind;
            let fresh = claims(Some(provider_now - 20), Some(provider_now));
            assert!(
                authenticated_during(&fresh, began, now),
                "{behind} s behind"
            );
            let stale = claims(Some(provider_now - 600), Some(provider_now));
            assert!(
                !authenticated_during(&stale, began, now),
                "{behind} s behind"
            );
        }
        let ahead = claims(Some(now + 90 - 10), Some(now + 90));
        assert!(authenticated_during(&ahead, began, now));
        assert!(!authenticated_during(&claims(None, Some(now)), began, now));
        assert!(!authenticated_during(&claims(Some(now), None), began, now));
        assert!(!authenticated_during(
            &claims(Some(0), Some(u64::MAX)),
            began,
            now
        ));
    }

    #[test]
    fn return_to_accepts_only_same_origin_relative_paths() {
        assert_eq!(
            safe_return_to(Some("/s/cnie-renewal/?a=1")),
            "/s/cnie-renewal/?a=1"
        );
        for evil in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/a\r\nSet-Cookie: x",
            "/\t/evil.example",
            "/\x0b/evil.example",
            "/ /evil.example",
            "/\x7f/evil.example",
            "/s/caf\u{e9}/",
            "/\u{ff0f}/evil.example",
        ] {
            assert_eq!(safe_return_to(Some(evil)), "/", "{evil:?}");
        }
        assert_eq!(safe_return_to(None), "/");
    }
}

//! The login: `/auth/login` sends the citizen to the provider, `/auth/callback` takes her
//! back with a session, once the provider proves it authenticated her during this login.

use super::{page_navigation, query_param, safe_return_to, Act, LOGIN_TTL};
use crate::lang::Lang;
use crate::response::{self, ErrorKind, LocalResponse};
use crate::sso::pending::PendingRefusal;
use crate::sso::provider::ProviderError;
use crate::sso::session::{now_secs, random_token, PendingLogin, Session, SessionHandle};
use crate::sso::Sso;
use http::header::SET_COOKIE;
use pingora::proxy::Session as HttpSession;

impl Sso {
    pub(super) async fn login(
        &self,
        http: &HttpSession,
        request_id: &str,
        client: Option<std::net::IpAddr>,
        lang: Lang,
    ) -> LocalResponse {
        let Some(provider) = &self.provider else {
            return response::error_page(ErrorKind::LoginUnavailable, request_id);
        };
        match page_navigation(http.req_header()) {
            Some(Act::Citizens) => {}
            // Found in a browser probe: Back, after a logout, to a service page that sends
            // the citizen here got the 403 page saying another service's page had sent
            // the request in her place. A page opened without her act is asked of her.
            Some(Act::Unshown) => return login_prompt(http.req_header(), lang),
            None => return response::error_page(ErrorKind::Forbidden, request_id),
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
                        (ErrorKind::TooManyLogins, retry_after)
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

    pub(super) async fn callback(&self, http: &HttpSession, request_id: &str) -> LocalResponse {
        let state = query_param(http, "state");
        let clear_login = state.as_deref().and_then(|s| self.jar.clear_login(s));
        // Its page's link starts a login again (a reload of a callback whose answer the
        // network lost lands here, its login used already).
        let failed_page = || {
            response::login_again_page(ErrorKind::LoginFailed, request_id, "/auth/login", "/")
                .with_headers(SET_COOKIE, clear_login.clone())
        };
        let failed = |why: &str| {
            tracing::info!(reason = why, request_id, "login failed");
            self.metrics.logins.with_label_values(&["failure"]).inc();
            failed_page()
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
            failed_page()
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
            // Declined: a token that may be good but cannot be checked now (a key set
            // being rotated); the citizen tries again in a moment.
            Err(ProviderError::Unavailable(e) | ProviderError::Declined(e)) => {
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
    pub(super) async fn signed_in_already(
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
pub(super) fn authenticated_during(
    claims: &crate::sso::provider::IdentityClaims,
    began: u64,
    now: u64,
) -> bool {
    let (Some(auth_time), Some(issued_at)) = (claims.auth_time, claims.issued_at) else {
        return false;
    };
    let lasted = now
        .saturating_sub(began)
        .saturating_add(AUTHENTICATION_SLACK_SECS);
    issued_at.saturating_sub(auth_time) <= lasted
}

/// The page that asks the citizen to log in, for a login start her browser opened without
/// her act (from another origin): its button opens the same start, as her act. Nothing is
/// counted or started until she presses it, so a page that navigates here by itself spends
/// none of her address's logins, and cannot log her in as anyone.
fn login_prompt(req: &pingora::http::RequestHeader, lang: Lang) -> LocalResponse {
    let target = req
        .uri
        .path_and_query()
        .map_or("/auth/login", |pq| pq.as_str());
    let page = LoginPrompt {
        href: response::escape(target).into_owned(),
    };
    let body = response::Localized::render(&page, lang, "/");
    LocalResponse::html_bytes(http::StatusCode::OK, body).localized(
        std::sync::Arc::new(page),
        lang,
        "/",
    )
}

/// The login prompt in every language, the reader's first (see [`response::Localized`]).
#[derive(Debug)]
struct LoginPrompt {
    /// The login start to open, escaped already.
    href: String,
}

impl response::Localized for LoginPrompt {
    fn render(&self, lang: Lang, home: &str) -> bytes::Bytes {
        // In the order of `Lang::ALL`: title, explanation, button.
        const TEXTS: [[&str; 3]; 4] = [
            [
                "تسجيل الدخول",
                "للمتابعة، سجّل الدخول إلى البوابة.",
                "تسجيل الدخول",
            ],
            ["ⴽⵛⵎ", "ⴰⴷ ⵜⴽⵎⵎⵍⴷ, ⴽⵛⵎ ⵙ ⵓⵡⵡⵓⵔ.", "ⴽⵛⵎ"],
            [
                "Se connecter",
                "Pour continuer, connectez-vous au portail.",
                "Se connecter",
            ],
            ["Log in", "To continue, log in to the portal.", "Log in"],
        ];
        let href = &self.href;
        let home_href = response::escape(home);
        response::in_every_language(lang, TEXTS[lang.index()][0], "", home, |l| {
            let [title, explanation, button] = TEXTS[l.index()];
            let back = response::BACK_TO_THE_PORTAL[l.index()];
            format!(
                "<h1>{title}</h1><p>{explanation}</p><p><a class=\"button\" href=\"{href}\">{button}</a></p><p><a href=\"{home_href}\">{back}</a></p>"
            )
        })
    }
}

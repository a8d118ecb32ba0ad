//! The logout: the citizen's own (a page with one button, its form CSRF-checked) and the
//! provider's back-channel logout token, which ends every session of hers.

use super::{constant_time_eq, MAX_FORM_BYTES};
use crate::lang::Lang;
use crate::request_body::BodyPace;
use crate::response::{self, ErrorKind, LocalResponse, Localized};
use crate::sso::provider::{ProviderError, LOGOUT_TOKEN_MAX_AGE};
use crate::sso::session::SessionHandle;
use crate::sso::Sso;
use bytes::Bytes;
use http::header::SET_COOKIE;
use http::{HeaderValue, StatusCode};
use pingora::proxy::Session as HttpSession;

impl Sso {
    /// `GET /auth/logout` asks (a page with a form); `POST /auth/logout` with the page's
    /// CSRF token logs out. A GET that logged out would let any site end a citizen's session
    /// (an `<img src>`), and send the ID token hint on its way.
    pub(super) async fn logout(
        &self,
        http: &mut HttpSession,
        request_id: &str,
        pace: BodyPace,
        snapshot: &crate::registry::Snapshot,
    ) -> LocalResponse {
        let home = format!("{}/", self.origin);
        // The CSRF token is a digest of the cookie, which only the browser holds (not of
        // the handle the store knows it by; found in review).
        let cookie = match self.jar.session_cookie(http.req_header()) {
            crate::sso::cookie::SessionCookie::One(cookie) => Some(cookie.to_owned()),
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
            // The logout's way goes through the services' own origins first.
            let services = self.service_origins.as_ref().map(|o| o.origin("*"));
            let targets: Vec<&str> = [provider.as_deref(), services.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            return logout_page(&logout_csrf(&cookie), &targets.join(" "));
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
        // The origins to go through: those whose code the session's store says was accepted
        // (read before the session ends, which ends that list too), then the browser's own
        // list for the rest (a session that ended by itself has none in the store). Found
        // in a bypass probe: any page could push her services out of the browser's list,
        // steering a pop-up through 16 hops it never meant to finish, and her logout then
        // ended none of her real origins' cookies.
        let visited = match self.store.origin_services(id.as_str()).await {
            Ok(services) => crate::sso::origin::with_services_last(
                self.jar.visited(http.req_header()),
                &services,
            ),
            Err(e) => {
                tracing::debug!(error = %e, "logout: the session's origins unread; the browser's list used");
                self.jar.visited(http.req_header()).to_owned()
            }
        };
        // A logout that cannot end the session says so, and keeps the cookie for a retry.
        // Answering "logged out" over a session left alive (a Redis partition) left it
        // usable on every service's origin, for the next person at a shared computer.
        if let Err(e) = self.store.delete(id.as_str()).await {
            self.store_failed(&e, "logout: could not delete the session; nothing ended");
            return response::error_page(ErrorKind::SessionsUnavailable, request_id);
        }
        self.metrics.logouts.with_label_values(&["rp"]).inc();
        // Through each service origin she had a session on, then to the end.
        let target = match self.signing_out_through(snapshot, &visited, 0) {
            Some(first) => first,
            None => self.after_logout().await,
        };
        // 303: the browser follows a POST's answer with a GET.
        // The searches she made open to nothing after her (her history stays in the
        // browser, for the next user of a shared computer).
        let mut resp = LocalResponse::redirect(false, &target)
            .with_header(SET_COOKIE, self.jar.clear_session())
            .with_header(SET_COOKIE, self.jar.clear_search_binding())
            .with_header(SET_COOKIE, self.jar.clear_visited())
            .with_header(SET_COOKIE, self.jar.set_signed_out());
        resp.status = StatusCode::SEE_OTHER;
        resp
    }

    /// Where a logout ends: the identity provider's own logout (which comes back to the
    /// portal's home), or the home itself.
    pub(crate) async fn after_logout(&self) -> String {
        let home = format!("{}/", self.origin);
        match &self.provider {
            Some(p) => p.end_session_url(&home).await.unwrap_or(home),
            None => home,
        }
    }

    pub(super) async fn backchannel_logout(
        &self,
        http: &mut HttpSession,
        request_id: &str,
        pace: BodyPace,
    ) -> LocalResponse {
        let bad = |description: String| {
            self.metrics.backchannel_refused.inc();
            if self.backchannel_refusal_lines.take() {
                tracing::info!(%description, "back-channel logout refused");
            }
            LocalResponse::json(
                StatusCode::BAD_REQUEST,
                &serde_json::json!({ "error": "invalid_request", "error_description": description }),
            )
        };
        // The details go to the log (with the request id), never to the caller.
        // Anyone can cause these too (a token signed with a key nobody published is
        // declined while the key set may not be fetched again): found in a bypass probe,
        // 17,000 posts wrote 17,000 lines. Limited with the refusals' lines.
        let unavailable = |what: &str, error: &dyn std::fmt::Display| {
            if self.backchannel_refusal_lines.take() {
                tracing::warn!(%error, request_id, "back-channel logout: {what} unavailable");
            }
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
            // Declined: signed with a key not fetched yet; the provider retries a 503.
            Err(e @ ProviderError::Unavailable(_)) => return unavailable("identity provider", &e),
            Err(e @ ProviderError::Declined(_)) => {
                self.metrics.backchannel_refused.inc();
                return unavailable("identity provider", &e);
            }
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
}

/// The logout form's CSRF token: a digest of the session id, which only the citizen's
/// browser holds (HttpOnly), so another site can neither read nor compute it, and no
/// server-side state is kept for it.
pub fn logout_csrf(session_cookie: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("egov-logout-csrf\0{session_cookie}").as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The page `GET /auth/logout` answers: one button that posts the logout. Its policy lets
/// the form's answer redirect (`form-action` covers redirects) to `targets`,
/// space-separated CSP sources: the services' origins the logout goes through, then the
/// provider.
fn logout_page(csrf: &str, targets: &str) -> LocalResponse {
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
        &format!("form-action 'self' {targets}"),
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

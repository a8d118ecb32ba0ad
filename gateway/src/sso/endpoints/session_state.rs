//! What a page asks of its session: who is signed in (`/auth/whoami`), and the session
//! warning's look (`?peek`, its idle clock left alone) and keep-alive.

use super::query_param;
use crate::registry::Service;
use crate::response::LocalResponse;
use crate::sso::session::{now_secs, Session};
use crate::sso::Sso;
use http::{HeaderValue, StatusCode};
use pingora::proxy::Session as HttpSession;

impl Sso {
    pub(super) async fn whoami(&self, http: &HttpSession, request_id: &str) -> LocalResponse {
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

    /// The session of this request as it stands, its idle clock left alone: what the session
    /// warning asks (`?peek`) before it warns and when its time is up, so that a tab left
    /// open never keeps a session alive, and one another tab kept alive is not said to have
    /// ended (found when tried).
    pub(super) async fn peek_session(
        &self,
        req: &pingora::http::RequestHeader,
        service: Option<&Service>,
    ) -> Result<Option<Session>, crate::sso::store::StoreError> {
        use crate::sso::store::StoreError;
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
    pub(super) async fn keep_alive(
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

//! RP-initiated logout (OIDC RP-Initiated Logout 1.0) and the back-channel logout it
//! triggers (OIDC Back-Channel Logout 1.0). `GET`/`POST /end_session` ends the IdP session
//! found by cookie (or by the `sid` of a valid `id_token_hint`), revokes its tokens, POSTs a
//! signed logout token to every client that got tokens in that session and registered a
//! back-channel URI, waits for those calls (so a test can assert right after the redirect),
//! then redirects to the registered `post_logout_redirect_uri` with `state`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::authorize::{redirect, session_cookie, with_query};
use crate::jose::random_token;
use crate::pages;
use crate::params::Params;
use crate::server::{now_secs, Idp};
use crate::store::Session;
use crate::{BACKCHANNEL_LOGOUT_EVENT, SESSION_COOKIE};

/// How long one back-channel call may take.
pub(crate) const BACKCHANNEL_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /end_session`.
pub(crate) async fn get(
    State(idp): State<Arc<Idp>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    end_session(idp, query.unwrap_or_default().as_bytes(), &headers).await
}

/// `POST /end_session` (the spec allows a form post too).
pub(crate) async fn post(State(idp): State<Arc<Idp>>, headers: HeaderMap, body: Bytes) -> Response {
    end_session(idp, &body, &headers).await
}

fn refuse(description: &str) -> Response {
    pages::html(
        StatusCode::BAD_REQUEST,
        pages::error("invalid_request", description),
    )
}

async fn end_session(idp: Arc<Idp>, input: &[u8], headers: &HeaderMap) -> Response {
    let params = match Params::parse(input) {
        Ok(params) => params,
        Err(e) => return refuse(&e.to_string()),
    };
    let hint = match params.get("id_token_hint").map(|t| idp.keys.verify(t)) {
        None => None,
        Some(Ok(claims)) => Some(claims),
        Some(Err(_)) => return refuse("id_token_hint was not issued by this provider"),
    };
    let hint_client = hint.as_ref().and_then(|c| match &c["aud"] {
        Value::String(aud) => Some(aud.clone()),
        Value::Array(auds) => auds.first().and_then(Value::as_str).map(str::to_string),
        _ => None,
    });
    let client_id = match (params.get("client_id"), hint_client.as_deref()) {
        (Some(a), Some(b)) if a != b => {
            return refuse("client_id does not match the id_token_hint audience")
        }
        (Some(a), _) | (None, Some(a)) => Some(a.to_string()),
        (None, None) => None,
    };
    let target = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = client_id
                .as_deref()
                .and_then(|id| idp.settings.client(id))
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
            if !registered {
                return refuse("post_logout_redirect_uri is not registered for this client");
            }
            Some(uri.to_string())
        }
    };
    let sid = session_cookie(headers).or_else(|| {
        hint.as_ref()
            .and_then(|c| c["sid"].as_str().map(str::to_string))
    });
    let ended = sid.and_then(|sid| idp.store().end_session(&sid));
    if let Some(session) = &ended {
        tracing::info!(
            sub = session.citizen.sub,
            clients = session.clients.len(),
            "dev IdP: logout"
        );
        notify_clients(&idp, session).await;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    match target {
        Some(uri) => {
            let location = match params.get("state") {
                Some(state) => with_query(&uri, &[("state", state)]),
                None => uri,
            };
            redirect(&location, Some(clear))
        }
        None => {
            let mut response = pages::html(StatusCode::OK, pages::signed_out());
            if let Ok(value) = HeaderValue::from_str(&clear) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
    }
}

/// POSTs a logout token to each client of `session` with a back-channel URI, concurrently,
/// and waits for all of them (each bounded by [`BACKCHANNEL_TIMEOUT`]).
async fn notify_clients(idp: &Arc<Idp>, session: &Session) {
    let mut calls = Vec::new();
    for client_id in &session.clients {
        let Some(uri) = idp
            .settings
            .client(client_id)
            .and_then(|c| c.backchannel_logout_uri.clone())
        else {
            continue;
        };
        let token = logout_token(idp, client_id, session);
        let http = idp.http.clone();
        let client_id = client_id.clone();
        calls.push(tokio::spawn(async move {
            let result = http
                .post(&uri)
                .form(&[("logout_token", token.as_str())])
                .send()
                .await;
            match result {
                Ok(response) if response.status().is_success() => {
                    tracing::info!(client = %client_id, %uri, "dev IdP: back-channel logout delivered");
                }
                Ok(response) => {
                    tracing::warn!(client = %client_id, %uri, status = %response.status(), "dev IdP: back-channel logout refused");
                }
                Err(error) => {
                    tracing::warn!(client = %client_id, %uri, %error, "dev IdP: back-channel logout failed");
                }
            }
        }));
    }
    for call in calls {
        let _ = call.await;
    }
}

/// A logout token for `client_id` (Back-Channel Logout 1.0 §2.4).
fn logout_token(idp: &Idp, client_id: &str, session: &Session) -> String {
    let now = now_secs();
    let claims = json!({
        "iss": idp.settings.issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": random_token(),
        "sub": session.citizen.sub,
        "sid": session.sid,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    idp.keys.sign("logout+jwt", &claims)
}

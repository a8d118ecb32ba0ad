//! The authorization endpoint (OIDC Core §3.1.2): `GET /authorize` checks the request and,
//! if the browser already has an IdP session, answers with a code at once (that is the single
//! sign-on); otherwise it shows the test-citizen picker. `POST /authorize` is the picker's
//! submit: it re-checks the same request, starts the IdP session (cookie) and redirects back
//! with a code bound to the client, redirect URI, nonce, PKCE challenge and session.
//!
//! As the spec wants, an unknown client or redirect URI is shown to the user and never
//! redirected to; other mistakes go back to the client as `error=` on its redirect URI.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::citizens::{self, Citizen};
use crate::pages;
use crate::params::Params;
use crate::server::{now_secs, Idp};
use crate::store::CodeGrant;
use crate::SESSION_COOKIE;

/// A checked authorization request.
#[derive(Debug)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: String,
    code_challenge: String,
    scope: String,
    prompt: Option<String>,
}

/// Why an authorization request is refused.
enum Refusal {
    /// Shown to the user: the redirect URI cannot be trusted.
    Page(&'static str, String),
    /// Sent back to the client's (checked) redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Page(error, description) => {
                pages::html(StatusCode::BAD_REQUEST, pages::error(error, &description))
            }
            Refusal::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => {
                let mut pairs = vec![("error", error), ("error_description", &description)];
                if let Some(state) = &state {
                    pairs.push(("state", state));
                }
                redirect(&with_query(&redirect_uri, &pairs), None)
            }
        }
    }
}

/// `GET /authorize`.
pub(crate) async fn get(
    State(idp): State<Arc<Idp>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let params = match Params::parse(query.unwrap_or_default().as_bytes()) {
        Ok(params) => params,
        Err(e) => return Refusal::Page("invalid_request", e.to_string()).into_response(),
    };
    let request = match check(&idp, &params) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let session = session_cookie(&headers).and_then(|sid| {
        let store = idp.store();
        store
            .session(&sid)
            .map(|s| (s.sid.clone(), s.citizen, s.auth_time))
    });
    let force_login = request
        .prompt
        .as_deref()
        .is_some_and(|p| p.split(' ').any(|v| v == "login"));
    match session {
        Some((sid, citizen, auth_time)) if !force_login => {
            tracing::info!(client = %request.client_id, sub = citizen.sub, "dev IdP: silent SSO login");
            complete(&idp, request, sid, citizen, auth_time, None)
        }
        _ if request.prompt.as_deref() == Some("none") => Refusal::Redirect {
            redirect_uri: request.redirect_uri,
            state: Some(request.state),
            error: "login_required",
            description: "no session at the dev IdP".into(),
        }
        .into_response(),
        _ => {
            let hidden = [
                ("client_id", request.client_id.as_str()),
                ("redirect_uri", request.redirect_uri.as_str()),
                ("response_type", "code"),
                ("scope", request.scope.as_str()),
                ("state", request.state.as_str()),
                ("nonce", request.nonce.as_str()),
                ("code_challenge", request.code_challenge.as_str()),
                ("code_challenge_method", "S256"),
            ];
            pages::html(StatusCode::OK, pages::login(&request.client_id, &hidden))
        }
    }
}

/// `POST /authorize`: the picker's form.
pub(crate) async fn post(State(idp): State<Arc<Idp>>, body: Bytes) -> Response {
    let params = match Params::parse(&body) {
        Ok(params) => params,
        Err(e) => return Refusal::Page("invalid_request", e.to_string()).into_response(),
    };
    let request = match check(&idp, &params) {
        Ok(request) => request,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(citizen) = params.get("citizen").and_then(citizens::by_sub) else {
        return Refusal::Page("invalid_request", "choose one of the test accounts".into())
            .into_response();
    };
    let auth_time = now_secs();
    let sid = idp.store().new_session(citizen, auth_time);
    tracing::info!(client = %request.client_id, sub = citizen.sub, "dev IdP: login");
    let cookie = format!("{SESSION_COOKIE}={sid}; Path=/; HttpOnly; SameSite=Lax");
    complete(&idp, request, sid, citizen, auth_time, Some(cookie))
}

/// Issues the code and redirects back to the client.
fn complete(
    idp: &Idp,
    request: AuthRequest,
    sid: String,
    citizen: &'static Citizen,
    auth_time: u64,
    cookie: Option<String>,
) -> Response {
    let code = idp.store().new_code(CodeGrant {
        client_id: request.client_id,
        redirect_uri: request.redirect_uri.clone(),
        nonce: request.nonce,
        code_challenge: request.code_challenge,
        scope: request.scope,
        sid,
        citizen,
        auth_time,
    });
    let issuer = idp.settings.issuer.as_str();
    let location = with_query(
        &request.redirect_uri,
        &[("code", &code), ("state", &request.state), ("iss", issuer)],
    );
    redirect(&location, cookie)
}

/// Checks an authorization request (the same for GET and POST).
fn check(idp: &Idp, params: &Params) -> Result<AuthRequest, Refusal> {
    let Some(client_id) = params.get("client_id") else {
        return Err(Refusal::Page(
            "invalid_request",
            "client_id is missing".into(),
        ));
    };
    let Some(client) = idp.settings.client(client_id) else {
        return Err(Refusal::Page(
            "invalid_client",
            format!("unknown client_id {client_id}"),
        ));
    };
    let Some(redirect_uri) = params
        .get("redirect_uri")
        .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
    else {
        return Err(Refusal::Page(
            "invalid_request",
            "redirect_uri is missing or not registered for this client (exact match)".into(),
        ));
    };
    let refuse = |error, description: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.to_string(),
        state: params.get("state").map(str::to_string),
        error,
        description: description.to_string(),
    };
    if params.get("response_type") != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let scope = params.get("scope").unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return Err(refuse("invalid_scope", "scope must contain openid"));
    }
    let Some(state) = params.get("state") else {
        return Err(refuse("invalid_request", "state is required"));
    };
    let Some(nonce) = params.get("nonce") else {
        return Err(refuse("invalid_request", "nonce is required"));
    };
    let Some(code_challenge) = params.get("code_challenge") else {
        return Err(refuse("invalid_request", "PKCE code_challenge is required"));
    };
    if params.get("code_challenge_method") != Some("S256") {
        return Err(refuse(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    // 43 characters of base64url: a SHA-256 digest (RFC 7636 §4.2).
    let well_formed = code_challenge.len() == 43
        && code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(refuse(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 digest",
        ));
    }
    Ok(AuthRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        state: state.to_string(),
        nonce: nonce.to_string(),
        code_challenge: code_challenge.to_string(),
        scope: scope.to_string(),
        prompt: params.get("prompt").map(str::to_string),
    })
}

/// The IdP session id from the `Cookie` header.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// `uri` with `pairs` appended to its query (registered URIs are valid URLs).
pub(crate) fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    match Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(pairs);
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

/// A `302 Found` to `location`, optionally setting a cookie.
pub(crate) fn redirect(location: &str, cookie: Option<String>) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    if let Some(value) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::SET_COOKIE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

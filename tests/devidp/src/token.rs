//! The token endpoint (RFC 6749 §3.2, OIDC Core §3.1.3): authenticates the client
//! (`client_secret_basic` or `client_secret_post`), then either redeems an authorization code
//! (single use, short-lived, same client and redirect URI, PKCE S256 verifier) or rotates a
//! refresh token, and answers with an access token, a new refresh token and a signed ID token.
//! Errors are the RFC's JSON (`invalid_client`, `invalid_grant`, ...), so a relying party's
//! error handling can be tested against them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use crate::config::DevClient;
use crate::jose::{at_hash, constant_time_eq, s256_challenge};
use crate::params::Params;
use crate::server::{now_secs, Idp};
use crate::store::{CodeProblem, TokenGrant};

/// An RFC 6749 §5.2 error response.
#[derive(Debug)]
pub(crate) struct TokenError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// Answer `WWW-Authenticate: Basic` (the client tried HTTP Basic and failed).
    basic_challenge: bool,
}

impl TokenError {
    fn new(error: &'static str, description: impl Into<String>) -> TokenError {
        TokenError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn invalid_client(basic: bool) -> TokenError {
        TokenError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".into(),
            basic_challenge: basic,
        }
    }

    fn invalid_grant(description: impl Into<String>) -> TokenError {
        TokenError::new("invalid_grant", description)
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = no_store_json(self.status, &body);
        if self.basic_challenge {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"dev-idp\""),
            );
        }
        response
    }
}

/// JSON with `Cache-Control: no-store`, as token responses must be.
pub(crate) fn no_store_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /token`.
pub(crate) async fn post(State(idp): State<Arc<Idp>>, headers: HeaderMap, body: Bytes) -> Response {
    match exchange(&idp, &headers, &body) {
        Ok(tokens) => no_store_json(StatusCode::OK, &tokens),
        Err(error) => {
            tracing::info!(error = error.error, description = %error.description, "dev IdP: token request refused");
            error.into_response()
        }
    }
}

fn exchange(idp: &Idp, headers: &HeaderMap, body: &[u8]) -> Result<Value, TokenError> {
    let params =
        Params::parse(body).map_err(|e| TokenError::new("invalid_request", e.to_string()))?;
    let client = authenticate(idp, headers, &params)?;
    match params.get("grant_type") {
        Some("authorization_code") => authorization_code(idp, client, &params),
        Some("refresh_token") => refresh_token(idp, client, &params),
        Some(other) => Err(TokenError::new(
            "unsupported_grant_type",
            format!("grant_type {other} is not supported"),
        )),
        None => Err(TokenError::new("invalid_request", "grant_type is missing")),
    }
}

/// Finds and checks the client: HTTP Basic (RFC 6749 §2.3.1) or secret in the body, not both.
fn authenticate<'a>(
    idp: &'a Idp,
    headers: &HeaderMap,
    params: &Params,
) -> Result<&'a DevClient, TokenError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "));
    let (id, secret, is_basic) = match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(TokenError::new(
                "invalid_request",
                "use one client authentication method, not both",
            ))
        }
        (Some(credentials), None) => {
            let (id, secret) = decode_basic(credentials).ok_or(TokenError::invalid_client(true))?;
            if params.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(TokenError::new(
                    "invalid_request",
                    "client_id differs from the authenticated client",
                ));
            }
            (id, secret, true)
        }
        (None, Some(secret)) => {
            let id = params
                .get("client_id")
                .ok_or(TokenError::invalid_client(false))?;
            (id.to_string(), secret.to_string(), false)
        }
        (None, None) => return Err(TokenError::invalid_client(false)),
    };
    let client = idp
        .settings
        .client(&id)
        .ok_or(TokenError::invalid_client(is_basic))?;
    if !constant_time_eq(client.client_secret.as_bytes(), secret.as_bytes()) {
        return Err(TokenError::invalid_client(is_basic));
    }
    Ok(client)
}

/// `base64(urlencode(id) ":" urlencode(secret))` → `(id, secret)`.
fn decode_basic(credentials: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| {
        percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn authorization_code(idp: &Idp, client: &DevClient, params: &Params) -> Result<Value, TokenError> {
    let code = params
        .get("code")
        .ok_or_else(|| TokenError::new("invalid_request", "code is missing"))?;
    let verifier = params
        .get("code_verifier")
        .ok_or_else(|| TokenError::new("invalid_request", "code_verifier is missing (PKCE)"))?;
    let mut store = idp.store();
    let grant = store.redeem_code(code).map_err(|problem| {
        TokenError::invalid_grant(match problem {
            CodeProblem::Unknown => "unknown code",
            CodeProblem::Expired => "the code has expired",
            CodeProblem::Replayed => "the code was already used; its tokens are revoked",
        })
    })?;
    if grant.client_id != client.client_id {
        return Err(TokenError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if params.get("redirect_uri") != Some(grant.redirect_uri.as_str()) {
        return Err(TokenError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    let verifier_ok = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !verifier_ok
        || !constant_time_eq(
            s256_challenge(verifier).as_bytes(),
            grant.code_challenge.as_bytes(),
        )
    {
        return Err(TokenError::invalid_grant("PKCE verification failed"));
    }
    if store.session(&grant.sid).is_none() {
        return Err(TokenError::invalid_grant("the IdP session has ended"));
    }
    let token_grant = TokenGrant {
        client_id: grant.client_id,
        scope: grant.scope,
        sid: grant.sid,
        citizen: grant.citizen,
        auth_time: grant.auth_time,
    };
    let (access, refresh) = store.issue_tokens(
        token_grant.clone(),
        idp.settings.access_token_ttl,
        Some(code),
    );
    drop(store);
    Ok(token_response(
        idp,
        &token_grant,
        Some(&grant.nonce),
        &access,
        &refresh,
    ))
}

fn refresh_token(idp: &Idp, client: &DevClient, params: &Params) -> Result<Value, TokenError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| TokenError::new("invalid_request", "refresh_token is missing"))?;
    let mut store = idp.store();
    let grant = store
        .take_refresh(token, &client.client_id)
        .ok_or_else(|| {
            TokenError::invalid_grant("unknown, expired, used or revoked refresh token")
        })?;
    if store.session(&grant.sid).is_none() {
        return Err(TokenError::invalid_grant("the IdP session has ended"));
    }
    let (access, refresh) = store.issue_tokens(grant.clone(), idp.settings.access_token_ttl, None);
    drop(store);
    Ok(token_response(idp, &grant, None, &access, &refresh))
}

/// The token response with a freshly signed ID token.
fn token_response(
    idp: &Idp,
    grant: &TokenGrant,
    nonce: Option<&str>,
    access: &str,
    refresh: &str,
) -> Value {
    let now = now_secs();
    let citizen = grant.citizen;
    let mut claims = json!({
        "iss": idp.settings.issuer,
        "sub": citizen.sub,
        "aud": grant.client_id,
        "exp": now + idp.settings.id_token_ttl.as_secs(),
        "iat": now,
        "auth_time": grant.auth_time,
        "sid": grant.sid,
        "acr": citizen.acr,
        "at_hash": at_hash(access),
        "name": citizen.name,
        "given_name": citizen.given_name,
        "family_name": citizen.family_name,
        "email": citizen.email,
        "email_verified": true,
        "profile": citizen.profile.as_str(),
    });
    if let (Some(nonce), Some(map)) = (nonce, claims.as_object_mut()) {
        map.insert("nonce".into(), Value::String(nonce.to_string()));
    }
    json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": idp.settings.access_token_ttl.as_secs(),
        "refresh_token": refresh,
        "id_token": idp.keys.sign("JWT", &claims),
        "scope": grant.scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let encoded = STANDARD.encode("my%20client:s%3Acret+x");
        assert_eq!(
            decode_basic(&encoded),
            Some(("my client".into(), "s:cret x".into()))
        );
        assert_eq!(decode_basic("%%%"), None);
    }
}

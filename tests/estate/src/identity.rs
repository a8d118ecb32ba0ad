//! What a modernised legacy site does with the portal's identity assertion: verify the
//! `X-Egov-Identity` JWT against the portal's published keys before trusting who the
//! citizen is.
//!
//! `P/__estate/whoami` answers 200 with the verified claims, or 401 with the reason, so the
//! integration tests prove the assertion is verifiable end to end by the legacy side,
//! with the audience bound to that very service.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{json, Value};

use crate::respond;
use crate::sites::Site;

/// How long fetched portal keys are trusted before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(30);

/// Verifies assertions from one portal.
#[derive(Debug)]
pub(crate) struct IdentityVerifier {
    issuer: String,
    jwks_url: String,
    http: reqwest::Client,
    keys: Mutex<Option<(JwkSet, Instant)>>,
}

impl IdentityVerifier {
    pub(crate) fn new(portal_origin: &str) -> Self {
        let issuer = portal_origin.trim_end_matches('/').to_string();
        IdentityVerifier {
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            keys: Mutex::new(None),
        }
    }

    async fn keys(&self, refresh: bool) -> Result<JwkSet, String> {
        if !refresh {
            if let Ok(guard) = self.keys.lock() {
                if let Some((set, at)) = guard.as_ref() {
                    if at.elapsed() < KEYS_TTL {
                        return Ok(set.clone());
                    }
                }
            }
        }
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .map_err(|e| format!("cannot fetch the portal keys: {e}"))?
            .json()
            .await
            .map_err(|e| format!("unreadable portal keys: {e}"))?;
        if let Ok(mut guard) = self.keys.lock() {
            *guard = Some((set.clone(), Instant::now()));
        }
        Ok(set)
    }

    /// The claims of `token` if the portal signed it for `audience`.
    pub(crate) async fn verify(&self, token: &str, audience: &str) -> Result<Value, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("malformed: {e}"))?;
        let kid = header.kid.ok_or("no kid")?;
        let mut set = self.keys(false).await?;
        if set.find(&kid).is_none() {
            set = self.keys(true).await?;
        }
        let jwk = set
            .find(&kid)
            .ok_or("signed with a key the portal does not publish")?;
        let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_audience(&[audience]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    }
}

/// `P/__estate/whoami`.
pub(crate) async fn whoami(
    verifier: Option<&IdentityVerifier>,
    site: &'static Site,
    request: Request,
) -> Response {
    let refuse = |why: String| {
        respond::json(
            StatusCode::UNAUTHORIZED,
            &json!({ "site": site.id, "verified": false, "error": why }),
        )
    };
    let Some(verifier) = verifier else {
        return refuse("this estate trusts no portal".into());
    };
    let Some(token) = request
        .headers()
        .get("x-egov-identity")
        .and_then(|v| v.to_str().ok())
    else {
        return refuse("no identity assertion".into());
    };
    match verifier.verify(token, &site.id).await {
        Ok(claims) => respond::json(
            StatusCode::OK,
            &json!({ "site": site.id, "verified": true, "claims": claims }),
        ),
        Err(why) => refuse(why),
    }
}

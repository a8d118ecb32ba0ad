//! The dev IdP's server: the shared [`Idp`] state, the router (discovery, JWKS and userinfo
//! live here; the bigger endpoints have their own modules), and [`RunningDevIdp`], which runs
//! it on its own thread and tokio runtime so the gateway's `demo` and tests can start it from
//! inside or outside a runtime, exactly like the simulated estate.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use egov_background_server::BackgroundServer;

use crate::config::{DevIdpConfig, Settings};
use crate::error::DevIdpError;
use crate::jose::Keys;
use crate::logout::BACKCHANNEL_TIMEOUT;
use crate::store::Store;
use crate::token::no_store_json;
use crate::{authorize, logout, token};

/// How long in-flight requests may finish after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Unix time in seconds.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Everything the handlers share.
pub(crate) struct Idp {
    pub settings: Settings,
    pub keys: Keys,
    pub http: reqwest::Client,
    store: Mutex<Store>,
}

impl Idp {
    /// The store; a poisoned lock is taken over (the maps stay consistent per operation).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The routes.
fn router(idp: Arc<Idp>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/authorize", get(authorize::get).post(authorize::post))
        .route("/token", axum::routing::post(token::post))
        .route("/jwks", get(jwks))
        .route("/userinfo", get(userinfo).post(userinfo))
        .route("/end_session", get(logout::get).post(logout::post))
        .with_state(idp)
}

/// `GET /.well-known/openid-configuration`.
async fn discovery(State(idp): State<Arc<Idp>>) -> Json<Value> {
    let s = &idp.settings;
    Json(json!({
        "issuer": s.issuer,
        "authorization_endpoint": s.endpoint("/authorize"),
        "token_endpoint": s.endpoint("/token"),
        "jwks_uri": s.endpoint("/jwks"),
        "userinfo_endpoint": s.endpoint("/userinfo"),
        "end_session_endpoint": s.endpoint("/end_session"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": false,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "acr", "at_hash",
            "name", "given_name", "family_name", "email", "email_verified", "profile"
        ],
        "acr_values_supported": ["eidas2", "loa2"],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login"],
    }))
}

/// `GET /jwks`.
async fn jwks(State(idp): State<Arc<Idp>>) -> Json<Value> {
    Json(json!({ "keys": [idp.keys.public_jwk()] }))
}

/// `GET`/`POST /userinfo` with `Authorization: Bearer <access token>`.
async fn userinfo(State(idp): State<Arc<Idp>>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let citizen = token.and_then(|t| idp.store().access(t.trim()).map(|g| g.citizen));
    match citizen {
        Some(c) => no_store_json(
            StatusCode::OK,
            &json!({
                "sub": c.sub,
                "name": c.name,
                "given_name": c.given_name,
                "family_name": c.family_name,
                "email": c.email,
                "email_verified": true,
                "profile": c.profile.as_str(),
            }),
        ),
        None => {
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            response
        }
    }
}

/// A dev IdP serving on its own thread and runtime; stopped by [`RunningDevIdp::shutdown`] or
/// on drop.
#[derive(Debug)]
pub struct RunningDevIdp {
    server: BackgroundServer,
    issuer: String,
}

impl RunningDevIdp {
    /// Validates `config`, binds `addr` (loopback only; port 0 allowed), serves on its own
    /// thread with its own tokio runtime, and returns once bound. Works from inside a tokio
    /// runtime as well as outside one.
    pub fn start(addr: SocketAddr, config: DevIdpConfig) -> Result<RunningDevIdp, DevIdpError> {
        if !addr.ip().is_loopback() {
            return Err(DevIdpError::NotLoopback { addr });
        }
        let listener = egov_background_server::bind(addr)?;
        let local = listener.addr();
        let settings = Settings::validate(config, local)?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(BACKCHANNEL_TIMEOUT)
            .build()
            .map_err(DevIdpError::HttpClient)?;
        let issuer = settings.issuer.clone();
        let idp = Arc::new(Idp {
            settings,
            keys: Keys::generate(),
            http,
            store: Mutex::new(Store::default()),
        });
        let warning = format!(
            "WARNING: egov-devidp at {issuer} (bound {local}) is a DEVELOPMENT-ONLY OpenID \
             provider: anyone can log in as any test citizen. Never expose it."
        );
        eprintln!("{warning}");
        tracing::warn!("{warning}");
        let server = BackgroundServer::spawn("egov-devidp", listener, router(idp), SHUTDOWN_GRACE)?;
        Ok(RunningDevIdp { server, issuer })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The issuer URL (discovery is at `<issuer>/.well-known/openid-configuration`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Stops serving and waits for the thread to end.
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

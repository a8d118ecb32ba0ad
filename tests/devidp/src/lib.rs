//! A small, DEVELOPMENT-ONLY OpenID Connect provider, so that `egov-gateway demo` can show the
//! single sign-on with nothing external: a citizen picks a test account on a page, the gateway
//! gets a code, tokens and, at logout, a back-channel logout token, all over loopback.
//!
//! It speaks the same protocol as a real provider (authorization code with PKCE S256, state,
//! nonce, ES256-signed ID tokens with a published JWK, refresh-token rotation, RP-initiated
//! logout, OIDC Back-Channel Logout 1.0), but it authenticates nobody: anyone who reaches the
//! page can be anyone. So it refuses to bind anything but a loopback address, it needs an
//! explicit [`DevOnly::I_UNDERSTAND_THIS_IS_NOT_SECURE`] in its configuration, it warns on
//! start, and every page it shows carries a "DEV / not a real identity provider" banner.
//!
//! ```no_run
//! use std::time::Duration;
//! use egov_devidp::{DevClient, DevIdpConfig, DevOnly, RunningDevIdp};
//!
//! let idp = RunningDevIdp::start(
//!     "127.0.0.1:9500".parse().unwrap(),
//!     DevIdpConfig {
//!         issuer: "http://127.0.0.1:9500".into(),
//!         clients: vec![DevClient {
//!             client_id: "gateway".into(),
//!             client_secret: "demo-secret".into(),
//!             redirect_uris: vec!["http://127.0.0.1:8080/auth/callback".into()],
//!             post_logout_redirect_uris: vec!["http://127.0.0.1:8080/".into()],
//!             backchannel_logout_uri: Some("http://127.0.0.1:8080/auth/backchannel-logout".into()),
//!         }],
//!         acknowledge: DevOnly::I_UNDERSTAND_THIS_IS_NOT_SECURE,
//!         access_token_ttl: Duration::from_secs(300),
//!         id_token_ttl: Duration::from_secs(300),
//!     },
//! )
//! .expect("the dev IdP starts");
//! // curl http://127.0.0.1:9500/.well-known/openid-configuration
//! idp.shutdown();
//! ```

mod authorize;
mod citizens;
mod config;
mod error;
mod jose;
mod logout;
mod pages;
mod params;
mod server;
mod store;
mod token;

pub use citizens::{citizens, Citizen, Profile};
pub use config::{DevClient, DevIdpConfig, DevOnly};
pub use error::DevIdpError;
pub use server::RunningDevIdp;

/// The name of the IdP's session cookie. Browsers share cookies between ports of one host, so
/// it is distinctive enough not to collide with the gateway's own cookies on 127.0.0.1.
pub const SESSION_COOKIE: &str = "egov_devidp_session";

/// The `events` member that marks a back-channel logout token.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

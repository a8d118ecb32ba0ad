//! The OpenID provider, as a relying party sees it: discovery, the authorization code flow
//! with PKCE (the `oauth2` crate), token refresh, and validation of ID tokens and
//! back-channel logout tokens against the provider's JWKS.
//!
//! Discovery is lazy and retried, so the gateway starts (and public services and existing
//! sessions keep working) while the provider is down; only a new login needs it. An unknown
//! `kid` in a token triggers one JWKS refetch (rate-limited), which is how the provider's
//! key rotation is followed; a key set older than [`JWKS_MAX_AGE`] is fetched again before
//! use, so a key the provider withdrew (compromised, retired) stops being trusted. If that
//! refetch fails, the set in hand keeps serving: a provider outage must not end logins'
//! validation of keys it published an hour ago.

use super::session::{now_secs, random_token};
use crate::config::{Secret, SsoSettings};
use arc_swap::ArcSwapOption;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `id_token` the token endpoint returns beside the OAuth 2.0 fields.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct IdTokenField {
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResp = StandardTokenResponse<IdTokenField, BasicTokenType>;
type RpClient = Client<
    BasicErrorResponse,
    TokenResp,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// What discovery tells us.
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: Option<String>,
}

struct Discovered {
    meta: Metadata,
    client: RpClient,
    jwks: ArcSwapOption<CachedJwks>,
}

/// The provider's keys and when they were fetched.
struct CachedJwks {
    set: JwkSet,
    fetched: Instant,
}

/// Why talking to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Down, slow or answering nonsense: retry later.
    #[error("identity provider unavailable: {0}")]
    Unavailable(String),
    /// It answered and said no (bad code, revoked refresh token...).
    #[error("identity provider refused: {0}")]
    Rejected(String),
    /// A token it gave us (or someone gave us) is not valid.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// It answered a refresh with an error that does not end the grant
    /// (`temporarily_unavailable`, `invalid_request`...): up, but not for this session now.
    #[error("identity provider declined: {0}")]
    Declined(String),
}

/// What a validated ID token says about the user.
#[derive(Debug, Clone)]
pub struct IdentityClaims {
    pub iss: String,
    pub sub: String,
    pub sid: Option<String>,
    pub name: Option<String>,
    pub acr: Option<String>,
    pub professional: bool,
    pub expires_at: u64,
    /// When the provider last authenticated the citizen (`auth_time`), if it said.
    pub auth_time: Option<u64>,
    /// When the provider issued the ID token (`iat`), by the same clock as `auth_time`.
    pub issued_at: Option<u64>,
}

/// The longest name kept of a citizen (in characters; the longest Moroccan names are far
/// shorter). Found when tried: a 100 KB `name` claim went to every legacy site in the
/// identity header, and each answered that citizen 431.
const MAX_NAME_CHARS: usize = 200;

/// The largest discovery document or key set read from the provider (real ones are a
/// few kilobytes).
const MAX_PROVIDER_DOCUMENT_BYTES: usize = 1 << 20;

/// The longest `sub` (OpenID Connect Core 2: at most 255 ASCII characters), and the
/// longest `sid`, `acr` and `iss` believed: each is kept in the session, `sub` and `sid` in
/// the store's index keys, `acr` sent to legacy sites. Found when tried: a 50,000-character
/// `acr` went to every site in the identity header, and each answered that citizen 431.
const MAX_IDENTIFIER_BYTES: usize = 255;

/// `Err` naming the first of `names` whose claim is a string over [`MAX_IDENTIFIER_BYTES`].
fn identifiers_bounded(
    claims: &serde_json::Map<String, Value>,
    names: &[&str],
) -> Result<(), ProviderError> {
    match names.iter().find(|name| {
        claims
            .get(**name)
            .and_then(Value::as_str)
            .is_some_and(|v| v.len() > MAX_IDENTIFIER_BYTES)
    }) {
        Some(name) => Err(ProviderError::InvalidToken(format!(
            "{name} longer than {MAX_IDENTIFIER_BYTES} bytes"
        ))),
        None => Ok(()),
    }
}

/// `text` cut to `max` characters.
fn shortened(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// What a validated logout token asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequest {
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub jti: String,
}

/// The result of a code exchange or refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub access_expires_at: u64,
}

/// The start of a login: where to send the browser and what to remember.
pub struct LoginStart {
    pub authorize_url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// The relying party for one provider.
pub struct Provider {
    settings: SsoSettings,
    client_secret: Secret,
    redirect_uri: String,
    http: reqwest::Client,
    discovered: ArcSwapOption<Discovered>,
    last_discovery_attempt: Mutex<Option<Instant>>,
    last_jwks_fetch: Mutex<Option<Instant>>,
    /// When a token last made the key set be fetched again before its time.
    last_forced_fetch: Mutex<Option<Instant>>,
    /// Held while the key set is fetched: one fetch at a time, the others wait for its keys.
    jwks_fetching: tokio::sync::Mutex<()>,
    /// When the provider last answered; a login is only started when it answers now.
    last_seen_up: Mutex<Option<Instant>>,
    /// When it last did not, and why: logins started meanwhile are told at once.
    last_seen_down: Mutex<Option<(Instant, String)>>,
    /// Held while the provider is asked whether it is up: one question at a time.
    up_check: tokio::sync::Mutex<()>,
}

const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const REDISCOVERY_INTERVAL: Duration = Duration::from_secs(5);
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// How old a back-channel logout token may be; its `jti` is remembered at least this long
/// (plus clock skew), so a token is accepted once and never replayed.
pub const LOGOUT_TOKEN_MAX_AGE: Duration = Duration::from_secs(3600);
/// How long a fetched key set is trusted before it is fetched again.
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
const PROVIDER_UP_MEMORY: Duration = Duration::from_secs(5);

impl Provider {
    /// A relying party registered with `redirect_uri` (`<portal>/auth/callback`).
    pub fn new(
        settings: SsoSettings,
        client_secret: Secret,
        redirect_uri: String,
    ) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            // Never follow redirects from the provider's endpoints (SSRF and token leaks).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.provider_timeout)
            .no_proxy()
            .build()
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
        Ok(Self {
            settings,
            client_secret,
            redirect_uri,
            http,
            discovered: ArcSwapOption::empty(),
            last_discovery_attempt: Mutex::new(None),
            last_jwks_fetch: Mutex::new(None),
            last_forced_fetch: Mutex::new(None),
            jwks_fetching: tokio::sync::Mutex::new(()),
            last_seen_up: Mutex::new(None),
            last_seen_down: Mutex::new(None),
            up_check: tokio::sync::Mutex::new(()),
        })
    }

    pub fn settings(&self) -> &SsoSettings {
        &self.settings
    }

    async fn discovered(&self) -> Result<Arc<Discovered>, ProviderError> {
        if let Some(d) = self.discovered.load_full() {
            return Ok(d);
        }
        {
            let mut last = self
                .last_discovery_attempt
                .lock()
                .map_err(|_| ProviderError::Unavailable("lock poisoned".into()))?;
            if last.is_some_and(|t| t.elapsed() < REDISCOVERY_INTERVAL) {
                return Err(ProviderError::Unavailable(
                    "discovery failed recently; retrying shortly".into(),
                ));
            }
            *last = Some(Instant::now());
        }
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer);
        let meta: Metadata = self.get_json(&url).await?;
        if meta.issuer.trim_end_matches('/') != self.settings.issuer {
            return Err(ProviderError::Unavailable(format!(
                "discovery issuer {:?} does not match the configured issuer {:?}",
                meta.issuer, self.settings.issuer
            )));
        }
        let bad_url =
            |e: url::ParseError| ProviderError::Unavailable(format!("bad endpoint URL: {e}"));
        let client: RpClient = Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.expose().to_string()))
            .set_auth_uri(AuthUrl::new(meta.authorization_endpoint.clone()).map_err(bad_url)?)
            .set_token_uri(TokenUrl::new(meta.token_endpoint.clone()).map_err(bad_url)?)
            .set_redirect_uri(RedirectUrl::new(self.redirect_uri.clone()).map_err(bad_url)?);
        let d = Arc::new(Discovered {
            meta,
            client,
            jwks: ArcSwapOption::empty(),
        });
        self.discovered.store(Some(Arc::clone(&d)));
        Ok(d)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, ProviderError> {
        let resp = self.http.get(url).send().await.map_err(|e| {
            let e = crate::telemetry::log_fields::ErrorChain(&e);
            ProviderError::Unavailable(format!("{url}: {e}"))
        })?;
        if !resp.status().is_success() {
            return Err(ProviderError::Unavailable(format!(
                "{url}: HTTP {}",
                resp.status()
            )));
        }
        let body = crate::bounded_body::read_capped(resp, MAX_PROVIDER_DOCUMENT_BYTES)
            .await
            .map_err(|e| {
                let e = crate::telemetry::log_fields::ErrorChain(&e);
                ProviderError::Unavailable(format!("{url}: {e}"))
            })?;
        serde_json::from_slice(&body).map_err(|e| ProviderError::Unavailable(format!("{url}: {e}")))
    }

    /// Whether the provider answers right now (its discovery document), remembered for a
    /// few seconds: a citizen is never sent to a provider that is down.
    ///
    /// One question at a time, and its answer, up or down, remembered for a few seconds:
    /// found when tried, while the provider was slow each of 100 citizens clicking "log in"
    /// sent it a discovery request of its own, a retry storm on a provider in trouble.
    async fn ensure_up(&self) -> Result<(), ProviderError> {
        if let Some(known) = self.known_state() {
            return known;
        }
        let _one = self.up_check.lock().await;
        // Asked while this caller waited.
        if let Some(known) = self.known_state() {
            return known;
        }
        let url = format!("{}/.well-known/openid-configuration", self.settings.issuer);
        match self.get_json::<serde_json::Value>(&url).await {
            Ok(_) => {
                if let Ok(mut t) = self.last_seen_up.lock() {
                    *t = Some(Instant::now());
                }
                Ok(())
            }
            Err(e) => {
                if let Ok(mut t) = self.last_seen_down.lock() {
                    *t = Some((Instant::now(), e.to_string()));
                }
                Err(e)
            }
        }
    }

    /// What the provider's last answer (or silence), within [`PROVIDER_UP_MEMORY`], said.
    fn known_state(&self) -> Option<Result<(), ProviderError>> {
        let recently = |t: &Instant| t.elapsed() < PROVIDER_UP_MEMORY;
        let up = self.last_seen_up.lock().ok().and_then(|t| *t);
        let down = self.last_seen_down.lock().ok().and_then(|t| t.clone());
        match (up.filter(recently), down.filter(|(t, _)| recently(t))) {
            (Some(up), Some((down, why))) if down > up => Some(Err(ProviderError::Unavailable(
                format!("{why} (asked {}s ago)", down.elapsed().as_secs()),
            ))),
            (Some(_), _) => Some(Ok(())),
            (None, Some((down, why))) => Some(Err(ProviderError::Unavailable(format!(
                "{why} (asked {}s ago)",
                down.elapsed().as_secs()
            )))),
            (None, None) => None,
        }
    }

    /// Starts a login: PKCE S256, random `state` and `nonce`.
    /// `reauthenticate`: the citizen's last session here ended by itself (idle or absolute
    /// timeout), so the provider is asked to authenticate again (`prompt=login`) rather than
    /// sign in from its own session: on a shared computer, the next person to click "log
    /// in" was the citizen who had walked away (found when tried). `lang`: the portal's
    /// language, asked of the provider's pages first (`ui_locales`, OpenID Connect Core
    /// §3.1.2.1), then the portal's others: without it, a citizen who had chosen Amazigh
    /// logged in on a page in her browser's French (found when tried).
    pub async fn begin_login(
        &self,
        reauthenticate: bool,
        lang: crate::lang::Lang,
    ) -> Result<LoginStart, ProviderError> {
        let d = self.discovered().await?;
        self.ensure_up().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_token();
        let nonce = random_token();
        let mut req = d
            .client
            .authorize_url(|| CsrfToken::new(state.clone()))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", nonce.clone());
        for s in self.settings.scopes.iter() {
            req = req.add_scope(Scope::new(s.clone()));
        }
        if reauthenticate {
            // `max_age=0` as well: the ID token must then say when the citizen was
            // authenticated (`auth_time`, OpenID Connect Core §3.1.2.1), which the callback
            // checks, so a login whose address was stripped of both is refused.
            req = req
                .add_extra_param("prompt", "login")
                .add_extra_param("max_age", "0");
        }
        let locales = lang.reading_order().map(crate::lang::Lang::code).join(" ");
        req = req.add_extra_param("ui_locales", locales);
        let (url, _) = req.url();
        Ok(LoginStart {
            authorize_url: url.to_string(),
            state,
            nonce,
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges an authorization code and validates the ID token against `nonce`.
    pub async fn finish_login(
        &self,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<(Tokens, IdentityClaims), ProviderError> {
        let d = self.discovered().await?;
        let resp = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&CappedTokenClient(&self.http))
            .await
            .map_err(token_error)?;
        let tokens = tokens_from(&resp);
        let id_token = tokens.id_token.clone().ok_or_else(|| {
            ProviderError::InvalidToken("the token response has no id_token".into())
        })?;
        let claims = self.validate_id_token(&id_token, Some(nonce)).await?;
        Ok((tokens, claims))
    }

    /// Uses a refresh token. `Rejected` means the provider ended the grant (`invalid_grant`);
    /// any other failure is `Unavailable`, and the session should simply try again later.
    /// A refreshed ID token is validated and its claims returned: callers must check that
    /// its `iss` and `sub` are the session's (OpenID Connect Core 12.2).
    pub async fn refresh(
        &self,
        refresh_token: &str,
    ) -> Result<(Tokens, Option<IdentityClaims>), ProviderError> {
        let d = self.discovered().await?;
        let rt = RefreshToken::new(refresh_token.to_string());
        let resp = d
            .client
            .exchange_refresh_token(&rt)
            .request_async(&CappedTokenClient(&self.http))
            .await
            .map_err(refresh_error)?;
        let mut tokens = tokens_from(&resp);
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.to_string());
        }
        let claims = match &tokens.id_token {
            Some(id) => match self.validate_id_token(id, None).await {
                Ok(claims) => Some(claims),
                // The provider gave new tokens, and may have spent the old refresh token
                // (rotation): they are kept, with the claims the session has, and the ID
                // token checked at the next refresh. Found when tried: a key set that could
                // not be fetched for a moment threw the new refresh token away, the next
                // refresh sent the spent one, and the provider revoked the grant.
                Err(e @ (ProviderError::Declined(_) | ProviderError::Unavailable(_))) => {
                    tracing::warn!(error = %e, "refreshed ID token not checkable now; new tokens kept, the session's claims unchanged");
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        Ok((tokens, claims))
    }

    /// The provider's origin (`https://idp.example`), which pages that post to the logout
    /// must allow as a form target: the answer redirects there.
    pub fn origin(&self) -> Option<String> {
        let url = url::Url::parse(&self.settings.issuer).ok()?;
        Some(url.origin().ascii_serialization())
    }

    /// The URL for RP-initiated logout, if the provider has one: the client and where to
    /// come back, never the ID token. As `id_token_hint` the token, the citizen's signed
    /// identity (name, e-mail), stayed in the address: in the browser's history on a shared
    /// computer for the next person to read, in the provider's access log, in a `Referer`
    /// (found when tried). A form post would carry it unseen, but providers commonly refuse
    /// POST there (a cross-site POST does not bring their `SameSite=Lax` session cookie).
    /// `client_id` is what RP-Initiated Logout 1.0 names for this case; the provider finds
    /// its session by its own cookie and asks the citizen to confirm, so its session ends
    /// too (found when tried: after a logout that did not reach it, the next person at the
    /// computer was signed in silently).
    pub async fn end_session_url(&self, post_logout_redirect_uri: &str) -> Option<String> {
        let d = self.discovered().await.ok()?;
        let endpoint = d.meta.end_session_endpoint.as_ref()?;
        let mut url = url::Url::parse(endpoint).ok()?;
        url.query_pairs_mut()
            .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
            .append_pair("client_id", &self.settings.client_id);
        Some(url.to_string())
    }

    /// Validates an ID token: signature (provider JWKS), `iss`, `aud`/`azp`, `exp`, `iat`
    /// skew and, at login, `nonce`.
    pub async fn validate_id_token(
        &self,
        token: &str,
        nonce: Option<&str>,
    ) -> Result<IdentityClaims, ProviderError> {
        let mut validation = self
            .validation(&["exp", "iat", "iss", "aud", "sub"])
            .await?;
        validation.validate_exp = true;
        let claims = self.verify(token, validation).await?;
        self.check_iat(&claims)?;
        if let Some(Value::Array(auds)) = claims.get("aud") {
            if auds.len() > 1
                && claims.get("azp").and_then(Value::as_str)
                    != Some(self.settings.client_id.as_str())
            {
                return Err(ProviderError::InvalidToken(
                    "several audiences and azp is not us".into(),
                ));
            }
        }
        if let Some(expected) = nonce {
            if claims.get("nonce").and_then(Value::as_str) != Some(expected) {
                return Err(ProviderError::InvalidToken("nonce mismatch".into()));
            }
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| ProviderError::InvalidToken("no sub".into()))?
            .to_string();
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
        identifiers_bounded(&claims, &["sub", "sid", "acr", "iss"])?;
        let name = text("name")
            .or_else(|| match (text("given_name"), text("family_name")) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (g, f) => g.or(f),
            })
            .map(|n| shortened(&n, MAX_NAME_CHARS));
        let professional = match claims.get(&self.settings.professional_claim) {
            Some(Value::String(s)) => self.settings.professional_values.contains(s),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .any(|s| self.settings.professional_values.iter().any(|v| v == s)),
            _ => false,
        };
        Ok(IdentityClaims {
            iss: text("iss").unwrap_or_default(),
            sub,
            sid: text("sid"),
            name,
            acr: text("acr"),
            professional,
            expires_at: claims.get("exp").and_then(Value::as_u64).unwrap_or(0),
            auth_time: claims.get("auth_time").and_then(Value::as_u64),
            issued_at: claims.get("iat").and_then(Value::as_u64),
        })
    }

    /// The clock skew tolerated between the provider and the gateway.
    pub fn clock_skew(&self) -> Duration {
        self.settings.clock_skew
    }

    /// Validates an OIDC Back-Channel Logout token.
    pub async fn validate_logout_token(&self, token: &str) -> Result<LogoutRequest, ProviderError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| ProviderError::InvalidToken(format!("malformed logout token: {e}")))?;
        if let Some(typ) = &header.typ {
            if !typ.eq_ignore_ascii_case("logout+jwt") {
                return Err(ProviderError::InvalidToken(format!(
                    "typ {typ:?} is not logout+jwt"
                )));
            }
        }
        let mut validation = self.validation(&["iat", "iss", "aud", "jti"]).await?;
        // exp is recommended, not required, for logout tokens; checked when present.
        validation.validate_exp = true;
        validation.required_spec_claims.remove("exp");
        let claims = self.verify(token, validation).await?;
        self.check_iat(&claims)?;
        // Token ids are remembered for LOGOUT_TOKEN_MAX_AGE only: an older token could be a
        // replay nobody remembers any more (a token without exp would otherwise live forever).
        let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
        let oldest = now_secs().saturating_sub(LOGOUT_TOKEN_MAX_AGE.as_secs());
        if iat < oldest {
            return Err(ProviderError::InvalidToken(format!(
                "issued more than {} s ago",
                LOGOUT_TOKEN_MAX_AGE.as_secs()
            )));
        }
        let has_event = claims
            .get("events")
            .and_then(Value::as_object)
            .is_some_and(|e| e.contains_key(BACKCHANNEL_EVENT));
        if !has_event {
            return Err(ProviderError::InvalidToken(
                "missing the back-channel logout event".into(),
            ));
        }
        if claims.contains_key("nonce") {
            return Err(ProviderError::InvalidToken(
                "a logout token must not carry a nonce".into(),
            ));
        }
        // Each becomes a key in the session store: found in review, a logout token's were
        // not held to the ID token's bound.
        identifiers_bounded(&claims, &["sub", "sid", "jti"])?;
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
        let (sub, sid) = (text("sub"), text("sid"));
        if sub.is_none() && sid.is_none() {
            return Err(ProviderError::InvalidToken(
                "a logout token needs sub or sid".into(),
            ));
        }
        let jti = text("jti").ok_or_else(|| ProviderError::InvalidToken("no jti".into()))?;
        Ok(LogoutRequest { sub, sid, jti })
    }

    /// Checks an OAuth2 access token the provider issued as a JWT (client credentials, for
    /// the ministries' API): signature by the provider's keys, issuer, `audience`, expiry.
    pub async fn validate_access_token(
        &self,
        token: &str,
        audience: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let mut validation = self.validation(&["exp", "iss", "aud"]).await?;
        validation.set_audience(&[audience]);
        self.verify(token, validation).await
    }

    fn check_iat(&self, claims: &Map<String, Value>) -> Result<(), ProviderError> {
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or_else(|| ProviderError::InvalidToken("no iat".into()))?;
        if iat > now_secs() + self.settings.clock_skew.as_secs() {
            return Err(ProviderError::InvalidToken("issued in the future".into()));
        }
        Ok(())
    }

    async fn validation(&self, required: &[&str]) -> Result<Validation, ProviderError> {
        let d = self.discovered().await?;
        let mut v = Validation::new(Algorithm::RS256);
        v.algorithms = vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ];
        v.set_issuer(&[d.meta.issuer.as_str()]);
        v.set_audience(&[self.settings.client_id.as_str()]);
        v.set_required_spec_claims(required);
        v.leeway = self.settings.clock_skew.as_secs();
        Ok(v)
    }

    /// Checks the signature with the provider's key for the token's `kid`, fetching the JWKS
    /// again once if that key is unknown or does not verify it (the provider rotated its
    /// keys, or replaced one under the same `kid`: found when tried, logins failed for an
    /// hour with "InvalidSignature", the key set being younger than [`JWKS_MAX_AGE`]). When
    /// no newer set can be had now (a fetch a moment ago, or the provider not answering),
    /// the token is *declined*, not invalid: it may be good, and a refresh it came with must
    /// not end the session (found when tried: one anonymous post with an unknown `kid` used
    /// the fetch, and a citizen refreshed in the next seconds was logged out).
    async fn verify(
        &self,
        token: &str,
        mut validation: Validation,
    ) -> Result<Map<String, Value>, ProviderError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| ProviderError::InvalidToken(format!("malformed token: {e}")))?;
        if !validation.algorithms.contains(&header.alg) {
            return Err(ProviderError::InvalidToken(format!(
                "algorithm {:?} not accepted",
                header.alg
            )));
        }
        validation.algorithms = vec![header.alg];
        let kid = header.kid.as_deref();
        let jwks = self.jwks(false).await?;
        let why = match checked(token, &jwks.set, kid, &validation) {
            Ok(claims) => return Ok(claims),
            Err(Unverified::Invalid(e)) => return Err(ProviderError::InvalidToken(e)),
            Err(why) => why,
        };
        let again = self.jwks(true).await?;
        if Arc::ptr_eq(&again, &jwks) {
            return Err(ProviderError::Declined(format!(
                "{why}, and no newer key set can be fetched now (at most one fetch every {}s)",
                JWKS_REFETCH_INTERVAL.as_secs()
            )));
        }
        checked(token, &again.set, kid, &validation)
            .map_err(|why| ProviderError::InvalidToken(why.to_string()))
    }

    /// The provider's keys: the set in hand while it is younger than [`JWKS_MAX_AGE`] (and
    /// no `refetch` is asked for), else a fresh one. Refetches are rate-limited to one per
    /// [`JWKS_REFETCH_INTERVAL`], so neither unknown `kid`s nor a slow provider make every
    /// validation wait; when a refetch is not allowed or fails, the set in hand serves.
    ///
    /// One fetch at a time: a caller that comes while one is under way waits for it and
    /// takes its keys (found when tried: of 20 refreshes signed with a rotated key, the
    /// first fetched and the 19 others were checked against the old set and logged out).
    /// Without a set in hand the limit holds too: found when tried, every anonymous
    /// back-channel post fetched the key set of a provider that served a broken one.
    async fn jwks(&self, refetch: bool) -> Result<Arc<CachedJwks>, ProviderError> {
        let d = self.discovered().await?;
        let in_hand = d.jwks.load_full();
        let fresh_enough = in_hand
            .as_ref()
            .is_some_and(|j| j.fetched.elapsed() < JWKS_MAX_AGE);
        if let Some(keys) = in_hand.as_ref().filter(|_| fresh_enough && !refetch) {
            return Ok(Arc::clone(keys));
        }
        let _one = self.jwks_fetching.lock().await;
        let now_in_hand = d.jwks.load_full();
        if let Some(fetched) = now_in_hand.filter(|now| {
            in_hand
                .as_ref()
                .is_none_or(|before| !Arc::ptr_eq(before, now))
        }) {
            // Fetched while this caller waited.
            return Ok(fetched);
        }
        // A token's asking, and the first or hourly fetch, each at most once per interval
        // (found in a bypass probe: with the provider down past the hour, every check
        // would have asked it).
        let allowed = match (&in_hand, refetch) {
            (None, _) => self.fetch_allowed(&self.last_jwks_fetch)?,
            (Some(_), true) => self.fetch_allowed(&self.last_forced_fetch)?,
            (Some(_), false) => self.fetch_allowed(&self.last_jwks_fetch)?,
        };
        if !allowed {
            return in_hand.ok_or_else(|| {
                ProviderError::Unavailable(format!(
                    "no key set yet (fetched at most every {}s)",
                    JWKS_REFETCH_INTERVAL.as_secs()
                ))
            });
        }
        match (self.fetch_jwks(&d).await, in_hand) {
            (Ok(fetched), _) => Ok(fetched),
            (Err(e), Some(in_hand)) => {
                tracing::warn!(error = %e, "JWKS refetch failed; keeping the keys in hand");
                Ok(in_hand)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// Whether a JWKS fetch last recorded in `last` may start now (and, if so, records it).
    fn fetch_allowed(&self, last: &Mutex<Option<Instant>>) -> Result<bool, ProviderError> {
        let mut last = last
            .lock()
            .map_err(|_| ProviderError::Unavailable("lock poisoned".into()))?;
        if last.is_some_and(|t| t.elapsed() < JWKS_REFETCH_INTERVAL) {
            return Ok(false);
        }
        *last = Some(Instant::now());
        Ok(true)
    }

    async fn fetch_jwks(&self, d: &Discovered) -> Result<Arc<CachedJwks>, ProviderError> {
        let set: JwkSet = self.get_json(&d.meta.jwks_uri).await?;
        let cached = Arc::new(CachedJwks {
            set,
            fetched: Instant::now(),
        });
        d.jwks.store(Some(Arc::clone(&cached)));
        Ok(cached)
    }
}

/// Why a token did not verify against one key set.
#[derive(Debug)]
enum Unverified {
    /// No key of the set has the token's `kid` (a newer set may).
    UnknownKey,
    /// The key under its `kid` does not verify it (a newer set may hold another).
    BadSignature,
    /// Anything else: no newer key set would change it.
    Invalid(String),
}

impl std::fmt::Display for Unverified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unverified::UnknownKey => f.write_str("signed with an unknown key"),
            Unverified::BadSignature => f.write_str("InvalidSignature"),
            Unverified::Invalid(e) => f.write_str(e),
        }
    }
}

/// `token`'s claims, checked against the key of `set` its `kid` names.
fn checked(
    token: &str,
    set: &JwkSet,
    kid: Option<&str>,
    validation: &Validation,
) -> Result<Map<String, Value>, Unverified> {
    let key = find_key(set, kid).ok_or(Unverified::UnknownKey)?;
    match jsonwebtoken::decode::<Map<String, Value>>(token, &key, validation) {
        Ok(data) => Ok(data.claims),
        Err(e) if e.kind() == &jsonwebtoken::errors::ErrorKind::InvalidSignature => {
            Err(Unverified::BadSignature)
        }
        Err(e) => Err(Unverified::Invalid(e.to_string())),
    }
}

fn find_key(jwks: &JwkSet, kid: Option<&str>) -> Option<DecodingKey> {
    let jwk = match kid {
        Some(kid) => jwks.find(kid)?,
        None if jwks.keys.len() == 1 => jwks.keys.first()?,
        None => return None,
    };
    DecodingKey::from_jwk(jwk).ok()
}

fn tokens_from(resp: &TokenResp) -> Tokens {
    Tokens {
        access_token: resp.access_token().secret().clone(),
        refresh_token: resp.refresh_token().map(|r| r.secret().clone()),
        id_token: resp.extra_fields().id_token.clone(),
        access_expires_at: access_expires_at(now_secs(), resp.expires_in()),
    }
}

/// The longest access-token life believed: a provider's `expires_in` past it is nonsense.
const MAX_ACCESS_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// When an access token given at `now` with `expires_in` expires: 5 minutes when the
/// provider does not say, at most [`MAX_ACCESS_LIFETIME`]. Found when tried: an
/// `expires_in` of 2^64 - 1 overflowed the sum, the request's thread panicked and the
/// citizen got no answer (a release build would have wrapped it into the past).
fn access_expires_at(now: u64, expires_in: Option<Duration>) -> u64 {
    let lifetime = expires_in
        .unwrap_or(Duration::from_secs(300))
        .min(MAX_ACCESS_LIFETIME);
    now.saturating_add(lifetime.as_secs())
}

/// Why the token endpoint gave no answer to read.
#[derive(Debug, thiserror::Error)]
enum TokenCallError {
    #[error("the token endpoint could not be asked")]
    Send(#[source] reqwest::Error),
    #[error(transparent)]
    Answer(#[from] crate::bounded_body::BoundedBodyError),
}

/// `oauth2`'s call to the token endpoint, its answer read to the cap of the provider's
/// documents: `oauth2`'s own client reads it whole. Found when tried: the discovery document
/// and the key set were capped, the token endpoint's answer (a code exchange at every login,
/// a refresh at every session's renewal) was not.
struct CappedTokenClient<'a>(&'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for CappedTokenClient<'_> {
    type Error = TokenCallError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<oauth2::HttpResponse, TokenCallError>>
                + Send
                + Sync
                + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(token_call(self.0, request))
    }
}

async fn token_call(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, TokenCallError> {
    let request = reqwest::Request::try_from(request).map_err(TokenCallError::Send)?;
    let response = http.execute(request).await.map_err(TokenCallError::Send)?;
    let (status, version, headers) = (
        response.status(),
        response.version(),
        response.headers().clone(),
    );
    let body = crate::bounded_body::read_capped(response, MAX_PROVIDER_DOCUMENT_BYTES).await?;
    let mut answer = http::Response::new(body);
    *answer.status_mut() = status;
    *answer.version_mut() = version;
    *answer.headers_mut() = headers;
    Ok(answer)
}

/// A token-endpoint error answer that means the grant itself is over: the code or
/// refresh token is invalid, expired or revoked.
fn ends_the_grant(code: &BasicErrorResponseType) -> bool {
    match code {
        BasicErrorResponseType::InvalidGrant => true,
        BasicErrorResponseType::Extension(c) => c == "invalid_token",
        _ => false,
    }
}

/// A token-endpoint error answer that only says the provider is in trouble right now.
fn is_provider_trouble(code: &BasicErrorResponseType) -> bool {
    matches!(code, BasicErrorResponseType::Extension(c)
        if c == "server_error" || c == "temporarily_unavailable")
}

/// Code exchange: the provider's "no" is a failed login, its trouble a login unavailable.
fn token_error<E: std::error::Error + 'static>(
    e: RequestTokenError<E, BasicErrorResponse>,
) -> ProviderError {
    match e {
        RequestTokenError::ServerResponse(r) if !is_provider_trouble(r.error()) => {
            ProviderError::Rejected(r.error().to_string())
        }
        other => transient(other),
    }
}

/// Refresh: only an answer that ends the grant ends the session; anything else (the
/// provider's 500, `server_error`, a misconfiguration) keeps the session for a later retry.
fn refresh_error<E: std::error::Error + 'static>(
    e: RequestTokenError<E, BasicErrorResponse>,
) -> ProviderError {
    match e {
        RequestTokenError::ServerResponse(r) if ends_the_grant(r.error()) => {
            ProviderError::Rejected(r.error().to_string())
        }
        RequestTokenError::ServerResponse(r) => {
            ProviderError::Declined(format!("token endpoint answered {}", r.error()))
        }
        other => transient(other),
    }
}

fn transient<E: std::error::Error + 'static>(
    e: RequestTokenError<E, BasicErrorResponse>,
) -> ProviderError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            ProviderError::Unavailable(format!("token endpoint answered {}", r.error()))
        }
        // Its causes say what happened (a timeout, a refused connection): found when tried,
        // the log said only "client error".
        RequestTokenError::Request(e) => {
            ProviderError::Unavailable(crate::telemetry::log_fields::ErrorChain(&e).to_string())
        }
        RequestTokenError::Parse(e, _) => {
            ProviderError::Unavailable(format!("unparsable token response: {e}"))
        }
        RequestTokenError::Other(s) => ProviderError::Unavailable(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2::StandardErrorResponse;

    fn answered(code: &str) -> RequestTokenError<std::io::Error, BasicErrorResponse> {
        let code: BasicErrorResponseType =
            serde_json::from_value(serde_json::json!(code)).expect("error code");
        RequestTokenError::ServerResponse(StandardErrorResponse::new(code, None, None))
    }

    #[test]
    fn a_nonsense_access_token_life_is_cut_to_a_day_and_never_overflows() {
        let now = 1_800_000_000;
        let huge = Some(Duration::from_secs(u64::MAX));
        assert_eq!(access_expires_at(now, huge), now + 24 * 3600);
        assert_eq!(access_expires_at(u64::MAX, huge), u64::MAX);
        assert_eq!(access_expires_at(now, None), now + 300);
        assert_eq!(
            access_expires_at(now, Some(Duration::from_secs(600))),
            now + 600
        );
    }

    #[test]
    fn a_name_is_kept_to_its_first_characters_whole() {
        let huge = "أمينة ".repeat(20_000);
        let kept = shortened(&huge, MAX_NAME_CHARS);
        assert_eq!(kept.chars().count(), MAX_NAME_CHARS);
        assert!(huge.starts_with(&kept));
        assert_eq!(shortened("Amina", MAX_NAME_CHARS), "Amina");
    }

    #[test]
    fn only_an_ended_grant_ends_a_session_at_refresh() {
        for ended in ["invalid_grant", "invalid_token"] {
            assert!(
                matches!(refresh_error(answered(ended)), ProviderError::Rejected(_)),
                "{ended}"
            );
        }
        for transient in [
            "server_error",
            "temporarily_unavailable",
            "invalid_client",
            "invalid_request",
        ] {
            // Answered: the provider is up, and only this session's refresh waits.
            assert!(
                matches!(
                    refresh_error(answered(transient)),
                    ProviderError::Declined(_)
                ),
                "{transient}"
            );
        }
    }

    #[test]
    fn at_login_a_refusal_fails_the_login_and_provider_trouble_is_unavailable() {
        assert!(matches!(
            token_error(answered("invalid_grant")),
            ProviderError::Rejected(_)
        ));
        assert!(matches!(
            token_error(answered("temporarily_unavailable")),
            ProviderError::Unavailable(_)
        ));
    }
}

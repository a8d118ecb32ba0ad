//! The real OpenID provider for the SSO interop tests: `node tests/oidc/server.mjs` (npm
//! `oidc-provider`, OpenID certified) with one confidential client for the gateway, on a
//! free 127.0.0.1 port chosen by the provider itself, killed on drop.
//!
//! Why a real one: the gateway's relying-party code is only worth trusting once it has
//! interoperated with a provider written by someone else, one that enforces PKCE and exact
//! redirect URIs, signs with its own keys, rotates refresh tokens and sends real back-channel
//! logout tokens. The accounts are defined here ([`ACCOUNTS`]) and handed to the provider, so
//! tests and provider cannot disagree about them.
//!
//! The node packages come from `tests/setup.sh` (`npm ci` in `tests/oidc`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

/// How long the provider may take to print its ready line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A test account known to the provider. Log in with its `sub` as login (any password).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestAccount {
    /// `sub`, also the login.
    pub sub: &'static str,
    /// `name`.
    pub name: &'static str,
    /// `given_name`.
    pub given_name: &'static str,
    /// `family_name`.
    pub family_name: &'static str,
    /// `email`.
    pub email: &'static str,
    /// The `profile` claim: `citizen` or `professional`.
    pub profile: &'static str,
}

/// The provider's accounts: two citizens and a professional (a notary).
pub const ACCOUNTS: &[TestAccount] = &[
    TestAccount {
        sub: "amina",
        name: "Amina El Idrissi",
        given_name: "Amina",
        family_name: "El Idrissi",
        email: "amina.elidrissi@example.test",
        profile: "citizen",
    },
    TestAccount {
        sub: "youssef",
        name: "Youssef Benjelloun",
        given_name: "Youssef",
        family_name: "Benjelloun",
        email: "youssef.benjelloun@example.test",
        profile: "citizen",
    },
    TestAccount {
        sub: "fatima",
        name: "Fatima Zahra Alaoui",
        given_name: "Fatima Zahra",
        family_name: "Alaoui",
        email: "maitre.alaoui@example.test",
        profile: "professional",
    },
];

/// How to configure the provider's single client and its token lifetimes.
#[derive(Debug, Clone)]
pub struct OidcProviderConfig {
    /// `client_id` (default `gw`).
    pub client_id: String,
    /// `client_secret`, for `client_secret_basic`.
    pub client_secret: String,
    /// The gateway's callback, e.g. `http://127.0.0.1:<port>/auth/callback`.
    pub redirect_uri: String,
    /// Where the provider may send the browser after logout.
    pub post_logout_redirect_uri: String,
    /// The gateway's back-channel logout endpoint (`backchannel_logout_session_required`).
    pub backchannel_logout_uri: Option<String>,
    /// Access token lifetime (e.g. 2 for refresh tests).
    pub access_token_ttl_secs: u64,
    /// ID token lifetime.
    pub id_token_ttl_secs: u64,
    /// Refresh token lifetime.
    pub refresh_token_ttl_secs: u64,
    /// Whether every refresh returns a new refresh token (and retires the old one).
    pub rotate_refresh_token: bool,
    /// Machine clients (client credentials), e.g. a ministry calling the admin API.
    pub machine_clients: Vec<MachineClient>,
}

/// A client that gets access tokens with the client-credentials grant: JWTs (RFC 9068) for
/// [`API_AUDIENCE`] carrying a `ministry` claim.
#[derive(Debug, Clone)]
pub struct MachineClient {
    pub client_id: String,
    pub client_secret: String,
    pub ministry: String,
}

impl MachineClient {
    /// A client of `ministry` named `<ministry>-api`.
    pub fn of(ministry: &str) -> Self {
        Self {
            client_id: format!("{ministry}-api"),
            client_secret: format!("{ministry}-api-secret-0123456789abcdef"),
            ministry: ministry.to_string(),
        }
    }
}

/// The audience (resource) of the machine clients' access tokens.
pub const API_AUDIENCE: &str = "https://admin.egov.test";

impl OidcProviderConfig {
    /// A client with `redirect_uri`, `post_logout_redirect_uri`, no back-channel URI, 10-minute
    /// tokens and refresh-token rotation.
    pub fn new(
        redirect_uri: impl Into<String>,
        post_logout_redirect_uri: impl Into<String>,
    ) -> Self {
        OidcProviderConfig {
            client_id: "gw".into(),
            client_secret: "gw-test-secret-0123456789abcdef".into(),
            redirect_uri: redirect_uri.into(),
            post_logout_redirect_uri: post_logout_redirect_uri.into(),
            backchannel_logout_uri: None,
            access_token_ttl_secs: 600,
            id_token_ttl_secs: 600,
            refresh_token_ttl_secs: 24 * 3600,
            rotate_refresh_token: true,
            machine_clients: Vec::new(),
        }
    }

    /// The JSON argument of `server.mjs`.
    fn to_json(&self) -> String {
        let accounts: Vec<_> = ACCOUNTS
            .iter()
            .map(|a| {
                json!({ "sub": a.sub, "name": a.name, "given_name": a.given_name,
                        "family_name": a.family_name, "email": a.email, "profile": a.profile })
            })
            .collect();
        json!({
            "port": 0,
            "client": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "redirect_uris": [self.redirect_uri],
                "post_logout_redirect_uris": [self.post_logout_redirect_uri],
                "backchannel_logout_uri": self.backchannel_logout_uri,
            },
            "ttl": {
                "access_token": self.access_token_ttl_secs,
                "id_token": self.id_token_ttl_secs,
                "refresh_token": self.refresh_token_ttl_secs,
            },
            "rotate_refresh_token": self.rotate_refresh_token,
            "accounts": accounts,
            "machine_clients": self.machine_clients.iter().map(|m| json!({
                "client_id": m.client_id,
                "client_secret": m.client_secret,
                "ministry": m.ministry,
            })).collect::<Vec<_>>(),
            "api_audience": API_AUDIENCE,
        })
        .to_string()
    }
}

/// A running `oidc-provider`, killed on drop.
pub struct OidcProvider {
    child: Child,
    issuer: String,
    config: OidcProviderConfig,
    stderr: Arc<Mutex<String>>,
}

/// `tests/oidc`.
fn oidc_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oidc")
}

impl OidcProvider {
    /// Starts `node tests/oidc/server.mjs` and waits for its `READY` line.
    ///
    /// Panics (with the provider's stderr) if node or its packages are missing or it does not
    /// become ready in time. A provider that stays silent is killed and started once more: on
    /// this 2-core machine, with the whole suite starting processes at once, a node start has
    /// been seen to stall past the timeout (normally it is ready in ~0.5 s).
    pub fn start(config: OidcProviderConfig) -> OidcProvider {
        match Self::try_start(config.clone()) {
            Ok(p) => p,
            Err(first) => {
                eprintln!("oidc-provider stayed silent, starting it again; stderr:\n{first}");
                Self::try_start(config).unwrap_or_else(|logs| {
                    panic!(
                        "oidc-provider did not print READY within {START_TIMEOUT:?}, twice; stderr:\n{logs}"
                    )
                })
            }
        }
    }

    fn try_start(config: OidcProviderConfig) -> Result<OidcProvider, String> {
        let dir = oidc_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "{} has no node_modules/oidc-provider: run tests/setup.sh",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg("server.mjs")
            .arg(config.to_json())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run node ({e}); Node.js 20+ is needed"));
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let (ready_tx, ready_rx) = mpsc::channel::<String>();
        if let Some(pipe) = child.stdout.take() {
            std::thread::spawn(move || {
                // Keep draining stdout after the ready line so the child never blocks on it.
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Some(ready) = line.strip_prefix("READY ") {
                        let _ = ready_tx.send(ready.to_string());
                    }
                }
            });
        }
        let ready = ready_rx.recv_timeout(START_TIMEOUT);
        let mut provider = OidcProvider {
            child,
            issuer: String::new(),
            config,
            stderr,
        };
        let ready: serde_json::Value = match ready {
            Ok(line) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("bad READY line {line:?}: {e}")),
            Err(_) => {
                let _ = provider.child.kill();
                let _ = provider.child.wait();
                // Give the stderr reader a moment to collect the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return Err(provider.logs());
            }
        };
        provider.issuer = ready["issuer"]
            .as_str()
            .unwrap_or_else(|| panic!("READY line without issuer: {ready}"))
            .to_string();
        Ok(provider)
    }

    /// The issuer, `http://127.0.0.1:<port>`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `<issuer>/.well-known/openid-configuration`.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// The client's `client_id`.
    pub fn client_id(&self) -> &str {
        &self.config.client_id
    }

    /// The client's secret.
    pub fn client_secret(&self) -> &str {
        &self.config.client_secret
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &OidcProviderConfig {
        &self.config
    }

    /// The test accounts.
    pub fn accounts(&self) -> &'static [TestAccount] {
        ACCOUNTS
    }

    /// What the provider wrote to stderr so far: its warnings and one line per event, e.g.
    /// `oidc-provider: backchannel.success gw fatima <sid>` or `backchannel.error ...`.
    pub fn logs(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until the logs contain `needle` (e.g. `backchannel.success`); false on timeout.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.logs().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.logs().contains(needle)
    }

    /// An access token for `client` (client-credentials grant at the token endpoint).
    pub async fn client_credentials_token(&self, client: &MachineClient) -> String {
        let answer = crate::client()
            .post(format!("{}/token", self.issuer))
            .basic_auth(&client.client_id, Some(&client.client_secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "services")])
            .send()
            .await
            .unwrap_or_else(|e| panic!("token endpoint: {e}"));
        let status = answer.status();
        let body: serde_json::Value = answer
            .json()
            .await
            .unwrap_or_else(|e| panic!("token endpoint answered {status} without JSON: {e}"));
        body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token ({status}): {body}"))
            .to_string()
    }

    /// An authorization request URL for this client, as a relying party would build it
    /// (`response_type=code`, S256 PKCE): for tests that drive the protocol themselves.
    pub fn authorization_url(
        &self,
        scope: &str,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> String {
        let mut url = reqwest::Url::parse(&format!("{}/auth", self.issuer))
            .unwrap_or_else(|e| panic!("issuer {}: {e}", self.issuer));
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", code_challenge)
            .append_pair("code_challenge_method", "S256");
        url.to_string()
    }
}

impl OidcProvider {
    /// Kills the provider (as if it went down); its port then refuses connections.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browser::Browser;
    use axum::extract::State;
    use axum::routing::post;
    use axum::{Form, Router};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::Value;

    /// RFC 7636 Appendix B: a verifier and its S256 challenge.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    /// Nothing listens there: the dance returns the redirect without requesting it.
    const CALLBACK: &str = "http://127.0.0.1:9/auth/callback";
    const AFTER_LOGOUT: &str = "http://127.0.0.1:9/after-logout";

    type Received = Arc<Mutex<Vec<String>>>;

    async fn receive(State(received): State<Received>, Form(form): Form<Vec<(String, String)>>) {
        let mut received = received.lock().expect("lock");
        received.extend(
            form.into_iter()
                .filter(|(k, _)| k == "logout_token")
                .map(|(_, v)| v),
        );
    }

    /// A local back-channel logout receiver; returns its URL and what it received.
    async fn backchannel_receiver() -> (String, Received) {
        let received: Received = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new()
            .route("/auth/backchannel-logout", post(receive))
            .with_state(Arc::clone(&received));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/auth/backchannel-logout"), received)
    }

    fn query(url: &reqwest::Url, name: &str) -> Option<String> {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn payload(jwt: &str, part: usize) -> Value {
        let segment = jwt.split('.').nth(part).expect("a JWT");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
    }

    async fn token(op: &OidcProvider, form: &[(&str, &str)]) -> (reqwest::StatusCode, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/token", op.issuer()))
            .basic_auth(op.client_id(), Some(op.client_secret()))
            .form(form)
            .send()
            .await
            .expect("POST /token");
        let status = response.status();
        (status, response.json().await.expect("JSON"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn code_flow_refresh_and_logout_with_backchannel_against_the_real_provider() {
        let (backchannel, received) = backchannel_receiver().await;
        let mut config = OidcProviderConfig::new(CALLBACK, AFTER_LOGOUT);
        config.backchannel_logout_uri = Some(backchannel);
        config.access_token_ttl_secs = 2;
        let started = Instant::now();
        let op = OidcProvider::start(config);
        eprintln!("oidc-provider ready in {:?}", started.elapsed());

        let discovery: Value = reqwest::get(op.discovery_url())
            .await
            .expect("discovery")
            .json()
            .await
            .expect("JSON");
        assert_eq!(discovery["issuer"], op.issuer());
        assert_eq!(discovery["backchannel_logout_session_supported"], true);

        // Login: the whole interaction dance, then the code comes back to the client.
        let browser = Browser::new();
        let notary = ACCOUNTS
            .iter()
            .find(|a| a.profile == "professional")
            .expect("a professional");
        let url = op.authorization_url("openid profile email", "state-1", "nonce-1", CHALLENGE);
        let started = Instant::now();
        let back = browser
            .oidc_provider_login(&url, notary.sub, "any password")
            .await;
        eprintln!("login dance in {:?}", started.elapsed());
        assert!(back.as_str().starts_with(CALLBACK), "{back}");
        assert_eq!(query(&back, "state").as_deref(), Some("state-1"));
        assert_eq!(query(&back, "iss").as_deref(), Some(op.issuer()));
        let code = query(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));

        let (status, tokens) = token(
            &op,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{tokens}");
        assert_eq!(tokens["expires_in"], 2, "the configured access token TTL");
        let id_token = tokens["id_token"].as_str().expect("an id_token");
        let claims = payload(id_token, 1);
        assert_eq!(claims["iss"], op.issuer());
        assert_eq!(claims["aud"], op.client_id());
        assert_eq!(claims["sub"], notary.sub);
        assert_eq!(claims["nonce"], "nonce-1");
        assert_eq!(claims["profile"], "professional");
        assert_eq!(claims["name"], notary.name);
        assert_eq!(claims["email"], notary.email);
        let sid = claims["sid"].as_str().expect("a sid").to_string();

        // Refresh without offline_access, with rotation: the old refresh token is retired.
        let old = tokens["refresh_token"]
            .as_str()
            .expect("a refresh token even without offline_access");
        let (status, refreshed) = token(
            &op,
            &[("grant_type", "refresh_token"), ("refresh_token", old)],
        )
        .await;
        assert_eq!(status, reqwest::StatusCode::OK, "{refreshed}");
        assert_ne!(refreshed["refresh_token"].as_str(), Some(old));
        let (status, reused) = token(
            &op,
            &[("grant_type", "refresh_token"), ("refresh_token", old)],
        )
        .await;
        assert_eq!(
            (status, &reused["error"]),
            (
                reqwest::StatusCode::BAD_REQUEST,
                &Value::from("invalid_grant")
            )
        );

        // A second login in the same browser is single sign-on: no form, straight back.
        let again = op.authorization_url("openid profile email", "state-2", "nonce-2", CHALLENGE);
        let back = browser
            .oidc_provider_login(&again, "ignored", "ignored")
            .await;
        assert_eq!(query(&back, "state").as_deref(), Some("state-2"));
        assert!(query(&back, "code").is_some(), "{back}");

        // Logout: confirm form, back-channel logout token to the receiver, then the redirect.
        let mut end = reqwest::Url::parse(&format!("{}/session/end", op.issuer())).expect("url");
        end.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", AFTER_LOGOUT)
            .append_pair("state", "logout-state");
        let after = browser.oidc_provider_logout(end.as_str()).await;
        assert!(after.as_str().starts_with(AFTER_LOGOUT), "{after}");
        assert_eq!(query(&after, "state").as_deref(), Some("logout-state"));
        assert!(
            op.wait_for_log("backchannel.success", Duration::from_secs(5)),
            "{}",
            op.logs()
        );
        let tokens_received = received.lock().expect("lock").clone();
        assert_eq!(tokens_received.len(), 1, "one logout token");
        let logout = &tokens_received[0];
        assert_eq!(payload(logout, 0)["typ"], "logout+jwt");
        let logout_claims = payload(logout, 1);
        assert_eq!(logout_claims["sid"], sid.as_str());
        assert_eq!(logout_claims["sub"], notary.sub);
        assert!(
            logout_claims["events"]["http://schemas.openid.net/event/backchannel-logout"]
                .is_object()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_provider_requires_pkce() {
        let op = OidcProvider::start(OidcProviderConfig::new(CALLBACK, AFTER_LOGOUT));
        let url = op.authorization_url("openid", "s", "n", CHALLENGE).replace(
            &format!("&code_challenge={CHALLENGE}&code_challenge_method=S256"),
            "",
        );
        let back = Browser::new().oidc_provider_login(&url, "amina", "x").await;
        assert_eq!(
            query(&back, "error").as_deref(),
            Some("invalid_request"),
            "{back}"
        );
        assert!(query(&back, "code").is_none());
    }
}

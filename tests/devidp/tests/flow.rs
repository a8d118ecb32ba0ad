//! The dev IdP end to end, over real sockets with reqwest: the authorization code flow with
//! PKCE as the gateway will run it, the refusals a relying party must be able to rely on
//! (wrong verifier, replayed code, rotated refresh token, bad client secret), silent SSO,
//! userinfo, the ID token signature checked against the published JWK, and RP-initiated
//! logout delivering a back-channel logout token to a local receiver.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Form, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use egov_devidp::{
    citizens, DevClient, DevIdpConfig, DevIdpError, DevOnly, Profile, RunningDevIdp,
    BACKCHANNEL_LOGOUT_EVENT, SESSION_COOKIE,
};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::EncodedPoint;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode, Url};
use serde_json::Value;
use sha2::{Digest, Sha256};

const CLIENT_ID: &str = "gateway";
const SECRET: &str = "demo-secret";
const REDIRECT: &str = "http://127.0.0.1:1/auth/callback";
const AFTER_LOGOUT: &str = "http://127.0.0.1:1/bye";
const VERIFIER: &str = "a-pkce-code-verifier-that-is-long-enough-0123456789";

fn config(backchannel: Option<String>) -> DevIdpConfig {
    DevIdpConfig {
        issuer: String::new(),
        clients: vec![DevClient {
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![AFTER_LOGOUT.into()],
            backchannel_logout_uri: backchannel,
        }],
        acknowledge: DevOnly::I_UNDERSTAND_THIS_IS_NOT_SECURE,
        access_token_ttl: Duration::from_secs(300),
        id_token_ttl: Duration::from_secs(300),
    }
}

fn start(backchannel: Option<String>) -> RunningDevIdp {
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    RunningDevIdp::start(addr, config(backchannel)).expect("the dev IdP starts")
}

/// A browser-like client: cookies kept, redirects not followed.
fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client")
}

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_url(idp: &RunningDevIdp, state: &str, nonce: &str) -> String {
    let mut url = Url::parse(&format!("{}/authorize", idp.issuer())).expect("url");
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile email")
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

fn location(response: &Response) -> Url {
    let value = response
        .headers()
        .get(LOCATION)
        .expect("a Location header")
        .to_str()
        .expect("ascii");
    Url::parse(value).expect("an absolute Location")
}

fn query(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Logs `citizen` in through the picker page; returns the code.
async fn login(browser: &Client, idp: &RunningDevIdp, citizen: &str, state: &str) -> String {
    let page = browser
        .get(authorize_url(idp, state, "nonce-1"))
        .send()
        .await
        .expect("GET /authorize");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("page");
    assert!(html.contains("not a real identity provider"), "{html}");
    assert!(html.contains(citizen), "the picker lists {citizen}");
    let form = [
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("state", state),
        ("nonce", "nonce-1"),
        ("code_challenge", &challenge(VERIFIER)),
        ("code_challenge_method", "S256"),
        ("citizen", citizen),
    ];
    let done = browser
        .post(format!("{}/authorize", idp.issuer()))
        .form(&form)
        .send()
        .await
        .expect("POST /authorize");
    assert_eq!(done.status(), StatusCode::FOUND);
    let cookie = done
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cookie.starts_with(SESSION_COOKIE), "{cookie}");
    let back = location(&done);
    assert!(back.as_str().starts_with(REDIRECT), "{back}");
    assert_eq!(query(&back, "state").as_deref(), Some(state));
    assert_eq!(query(&back, "iss").as_deref(), Some(idp.issuer()));
    query(&back, "code").expect("a code")
}

async fn token(idp: &RunningDevIdp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = Client::new()
        .post(format!("{}/token", idp.issuer()))
        .basic_auth(CLIENT_ID, Some(SECRET))
        .form(form)
        .send()
        .await
        .expect("POST /token");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

async fn redeem(idp: &RunningDevIdp, code: &str, verifier: &str) -> (StatusCode, Value) {
    token(
        idp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

fn part(jwt: &str, index: usize) -> Value {
    let segment = jwt.split('.').nth(index).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).expect("base64url")).expect("JSON")
}

/// Verifies `jwt` with the provider's published JWKS; returns its claims.
async fn verify_with_jwks(idp: &RunningDevIdp, jwt: &str) -> Value {
    let jwks: Value = reqwest::get(format!("{}/jwks", idp.issuer()))
        .await
        .expect("GET /jwks")
        .json()
        .await
        .expect("JSON");
    let header = part(jwt, 0);
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is published");
    assert_eq!(header["alg"], "ES256");
    let coordinate = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(key[name].as_str().expect("coordinate"))
            .expect("base64url")
    };
    let (x, y) = (coordinate("x"), coordinate("y"));
    let point =
        EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
    let verifying = VerifyingKey::from_encoded_point(&point).expect("a P-256 point");
    let (signing_input, signature) = jwt.rsplit_once('.').expect("a signature");
    let signature =
        Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature).expect("b64")).expect("64 bytes");
    verifying
        .verify(signing_input.as_bytes(), &signature)
        .expect("the signature verifies with the published JWK");
    part(jwt, 1)
}

#[tokio::test]
async fn code_flow_with_pkce_yields_a_signed_id_token_with_the_citizen_claims() {
    let idp = start(None);
    let notary = citizens()
        .iter()
        .find(|c| c.profile == Profile::Professional)
        .expect("a professional");
    let code = login(&browser(), &idp, notary.sub, "state-1").await;
    let (status, tokens) = redeem(&idp, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 300);
    assert!(tokens["refresh_token"].is_string());
    let claims = verify_with_jwks(&idp, tokens["id_token"].as_str().expect("id_token")).await;
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["sub"], notary.sub);
    assert_eq!(claims["nonce"], "nonce-1");
    assert_eq!(claims["profile"], "professional");
    assert_eq!(claims["name"], notary.name);
    assert_eq!(claims["email"], notary.email);
    assert_eq!(claims["acr"], notary.acr);
    assert!(claims["sid"].is_string());
    let (iat, exp) = (claims["iat"].as_u64(), claims["exp"].as_u64());
    assert_eq!(exp.zip(iat).map(|(e, i)| e - i), Some(300));
    assert!(claims["auth_time"].as_u64().is_some());

    let info: Value = Client::new()
        .get(format!("{}/userinfo", idp.issuer()))
        .bearer_auth(tokens["access_token"].as_str().expect("access token"))
        .send()
        .await
        .expect("userinfo")
        .json()
        .await
        .expect("JSON");
    assert_eq!(info["sub"], notary.sub);
    assert_eq!(info["profile"], "professional");
    let denied = Client::new()
        .get(format!("{}/userinfo", idp.issuer()))
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("userinfo");
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn discovery_names_every_endpoint_under_the_issuer() {
    let idp = start(None);
    let doc: Value = reqwest::get(format!("{}/.well-known/openid-configuration", idp.issuer()))
        .await
        .expect("discovery")
        .json()
        .await
        .expect("JSON");
    assert_eq!(doc["issuer"], idp.issuer());
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("jwks_uri", "/jwks"),
        ("userinfo_endpoint", "/userinfo"),
        ("end_session_endpoint", "/end_session"),
    ] {
        assert_eq!(doc[key], format!("{}{path}", idp.issuer()), "{key}");
    }
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
}

#[tokio::test]
async fn a_wrong_code_verifier_is_refused() {
    let idp = start(None);
    let code = login(&browser(), &idp, citizens()[0].sub, "s").await;
    let wrong = "another-pkce-code-verifier-that-is-long-enough-012345";
    let (status, body) = redeem(&idp, &code, wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_is_single_use_and_its_replay_revokes_the_tokens() {
    let idp = start(None);
    let code = login(&browser(), &idp, citizens()[0].sub, "s").await;
    let (status, tokens) = redeem(&idp, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = redeem(&idp, &code, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    let (status, body) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn refresh_rotates_the_refresh_token_and_refuses_the_old_one() {
    let idp = start(None);
    let code = login(&browser(), &idp, citizens()[1].sub, "s").await;
    let (_, first) = redeem(&idp, &code, VERIFIER).await;
    let old = first["refresh_token"].as_str().expect("refresh token");
    let (status, second) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", old)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let new = second["refresh_token"]
        .as_str()
        .expect("a new refresh token");
    assert_ne!(new, old);
    assert_ne!(second["access_token"], first["access_token"]);
    let claims = verify_with_jwks(&idp, second["id_token"].as_str().expect("id_token")).await;
    assert_eq!(claims["sub"], citizens()[1].sub);
    assert!(claims.get("nonce").is_none(), "no nonce on refresh");
    let (status, body) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", old)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", new)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn client_secret_post_works_and_a_wrong_secret_is_invalid_client() {
    let idp = start(None);
    let code = login(&browser(), &idp, citizens()[2].sub, "s").await;
    let response = Client::new()
        .post(format!("{}/token", idp.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", CLIENT_ID),
            ("client_secret", SECRET),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(response.status(), StatusCode::OK);
    let wrong = Client::new()
        .post(format!("{}/token", idp.issuer()))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .expect("token");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("www-authenticate").is_some());
    let body: Value = wrong.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn a_second_authorization_in_the_same_browser_is_silent_sso() {
    let idp = start(None);
    let browser = browser();
    login(&browser, &idp, citizens()[3].sub, "first").await;
    let again = browser
        .get(authorize_url(&idp, "second", "nonce-2"))
        .send()
        .await
        .expect("GET /authorize");
    assert_eq!(
        again.status(),
        StatusCode::FOUND,
        "no page: straight back with a code"
    );
    let back = location(&again);
    assert_eq!(query(&back, "state").as_deref(), Some("second"));
    let code = query(&back, "code").expect("code");
    let (_, tokens) = redeem(&idp, &code, VERIFIER).await;
    let claims = verify_with_jwks(&idp, tokens["id_token"].as_str().expect("id_token")).await;
    assert_eq!(claims["sub"], citizens()[3].sub);
    assert_eq!(claims["nonce"], "nonce-2");
}

#[tokio::test]
async fn bad_authorization_requests_are_refused_without_trusting_the_redirect() {
    let idp = start(None);
    let evil = authorize_url(&idp, "s", "n").replace(
        &url_encoded(REDIRECT),
        &url_encoded("http://127.0.0.1:1/evil"),
    );
    let response = browser().get(evil).send().await.expect("GET");
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "an unregistered redirect is shown, not followed"
    );
    let plain = authorize_url(&idp, "s", "n")
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let response = browser().get(plain).send().await.expect("GET");
    assert_eq!(response.status(), StatusCode::FOUND);
    let back = location(&response);
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query(&back, "state").as_deref(), Some("s"));
}

fn url_encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

type Received = Arc<Mutex<Vec<String>>>;

async fn receive_logout(State(received): State<Received>, Form(form): Form<Vec<(String, String)>>) {
    let mut received = received.lock().expect("lock");
    received.extend(
        form.into_iter()
            .filter(|(k, _)| k == "logout_token")
            .map(|(_, v)| v),
    );
}

#[tokio::test]
async fn end_session_posts_a_backchannel_logout_token_and_redirects_with_state() {
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let receiver = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/auth/backchannel-logout", post(receive_logout))
        .with_state(Arc::clone(&received));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let idp = start(Some(format!("http://{receiver}/auth/backchannel-logout")));
    let browser = browser();
    let code = login(&browser, &idp, citizens()[0].sub, "s").await;
    let (_, tokens) = redeem(&idp, &code, VERIFIER).await;
    let id_token = tokens["id_token"].as_str().expect("id_token");
    let sid = part(id_token, 1)["sid"].clone();

    let mut url = Url::parse(&format!("{}/end_session", idp.issuer())).expect("url");
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", AFTER_LOGOUT)
        .append_pair("state", "logout-state");
    let response = browser.get(url).send().await.expect("end_session");
    assert_eq!(response.status(), StatusCode::FOUND);
    let back = location(&response);
    assert!(back.as_str().starts_with(AFTER_LOGOUT));
    assert_eq!(query(&back, "state").as_deref(), Some("logout-state"));

    let tokens_received = received.lock().expect("lock").clone();
    assert_eq!(
        tokens_received.len(),
        1,
        "one back-channel POST, before the redirect"
    );
    let logout = &tokens_received[0];
    assert_eq!(part(logout, 0)["typ"], "logout+jwt");
    let claims = verify_with_jwks(&idp, logout).await;
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["sub"], citizens()[0].sub);
    assert_eq!(claims["sid"], sid);
    assert!(claims["jti"].is_string() && claims["iat"].is_u64());
    assert!(claims["events"][BACKCHANNEL_LOGOUT_EVENT].is_object());
    assert!(claims.get("nonce").is_none());

    let refresh = tokens["refresh_token"].as_str().expect("refresh token");
    let (status, _) = token(
        &idp,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "logout revoked the refresh token"
    );
    let page = browser
        .get(authorize_url(&idp, "s2", "n2"))
        .send()
        .await
        .expect("authorize");
    assert_eq!(page.status(), StatusCode::OK, "no silent SSO after logout");
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_is_refused() {
    let idp = start(None);
    let url = format!(
        "{}/end_session?client_id={CLIENT_ID}&post_logout_redirect_uri={}",
        idp.issuer(),
        url_encoded("http://127.0.0.1:1/elsewhere")
    );
    let response = browser().get(url).send().await.expect("end_session");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn a_non_loopback_bind_is_refused() {
    for addr in ["0.0.0.0:0", "192.0.2.1:9500", "[::]:0"] {
        let addr: SocketAddr = addr.parse().expect("addr");
        match RunningDevIdp::start(addr, config(None)) {
            Err(DevIdpError::NotLoopback { addr: refused }) => assert_eq!(refused, addr),
            other => panic!("{addr} must be refused, got {other:?}"),
        }
    }
}

#[test]
fn starts_and_stops_outside_a_runtime() {
    let started = std::time::Instant::now();
    let idp = start(None);
    eprintln!("dev IdP ready in {:?}", started.elapsed());
    let addr = idp.addr();
    assert!(addr.ip().is_loopback());
    assert_eq!(idp.issuer(), format!("http://{addr}"));
    idp.shutdown();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the port is closed after shutdown"
    );
}

//! ID tokens and back-channel logout tokens the gateway must refuse. The real provider
//! (tests/e2e/sso.rs) only ever issues valid tokens, so these are crafted here and signed
//! with keys published by a minimal discovery + JWKS server on 127.0.0.1 (the real wire
//! format: discovery document and JWK set).

use axum::routing::{get, post};
use axum::{Json, Router};
use egov_gateway::config::{SecretRef, Secrets, SsoSettings};
use egov_gateway::sso::provider::{Provider, ProviderError};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CLIENT: &str = "gw";

struct Key {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn key(kid: &str) -> Key {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let point = pair.public_key_raw();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    Key {
        kid: kid.into(),
        encoding: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("pem"),
        jwk: json!({"kty":"EC","crv":"P-256","x":b64.encode(&point[1..33]),"y":b64.encode(&point[33..65]),"kid":kid,"alg":"ES256","use":"sig"}),
    }
}

/// A provider's discovery and JWKS on a free port; `published` can change (key rotation).
struct FakeDiscovery {
    issuer: String,
    published: Arc<Mutex<Vec<Value>>>,
    /// How long the JWKS endpoint takes to answer (milliseconds), and how often it was asked.
    jwks_delay_ms: Arc<AtomicU64>,
    jwks_fetches: Arc<AtomicUsize>,
    /// The same of the discovery document.
    discovery_delay_ms: Arc<AtomicU64>,
    discovery_fetches: Arc<AtomicUsize>,
    /// What the token endpoint answers.
    token_answer: Arc<Mutex<Value>>,
    _rt: tokio::runtime::Runtime,
}

fn serve(published: Vec<Value>) -> FakeDiscovery {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let issuer = format!("http://{addr}");
    let published = Arc::new(Mutex::new(published));
    let keys = Arc::clone(&published);
    let jwks_delay_ms = Arc::new(AtomicU64::new(0));
    let jwks_fetches = Arc::new(AtomicUsize::new(0));
    let (delay, fetches) = (Arc::clone(&jwks_delay_ms), Arc::clone(&jwks_fetches));
    let token_answer = Arc::new(Mutex::new(json!({ "error": "invalid_grant" })));
    let answer = Arc::clone(&token_answer);
    let discovery_delay_ms = Arc::new(AtomicU64::new(0));
    let discovery_fetches = Arc::new(AtomicUsize::new(0));
    let (discovery_delay, discoveries) = (
        Arc::clone(&discovery_delay_ms),
        Arc::clone(&discovery_fetches),
    );
    let iss = issuer.clone();
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let iss = iss.clone();
                discoveries.fetch_add(1, Ordering::SeqCst);
                let delay = Duration::from_millis(discovery_delay.load(Ordering::SeqCst));
                async move {
                    tokio::time::sleep(delay).await;
                    Json(json!({
                        "issuer": iss,
                        "authorization_endpoint": format!("{iss}/auth"),
                        "token_endpoint": format!("{iss}/token"),
                        "jwks_uri": format!("{iss}/jwks"),
                    }))
                }
            }),
        )
        .route(
            "/token",
            post(move || {
                let body = answer.lock().map(|a| a.clone()).unwrap_or_default();
                async move { Json(body) }
            }),
        )
        .route(
            "/jwks",
            get(move || {
                let keys = keys.lock().map(|k| k.clone()).unwrap_or_default();
                fetches.fetch_add(1, Ordering::SeqCst);
                let delay = Duration::from_millis(delay.load(Ordering::SeqCst));
                async move {
                    tokio::time::sleep(delay).await;
                    Json(json!({ "keys": keys }))
                }
            }),
        );
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    FakeDiscovery {
        issuer,
        published,
        jwks_delay_ms,
        jwks_fetches,
        discovery_delay_ms,
        discovery_fetches,
        token_answer,
        _rt: rt,
    }
}

fn provider(issuer: &str) -> Provider {
    let settings = SsoSettings {
        issuer: issuer.to_string(),
        client_id: CLIENT.into(),
        client_secret: SecretRef::Env("X".into()),
        scopes: vec!["openid".into()],
        professional_claim: "profile".into(),
        professional_values: vec!["professional".into()],
        clock_skew: Duration::from_secs(30),
        refresh_before: Duration::from_secs(30),
        provider_timeout: Duration::from_secs(2),
    };
    let secret = Secrets::from_process()
        .with_env("X", "secret")
        .resolve(&SecretRef::Env("X".into()))
        .expect("secret");
    Provider::new(settings, secret, "http://127.0.0.1:1/auth/callback".into()).expect("provider")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn sign(k: &Key, claims: &Value, typ: Option<&str>) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some(k.kid.clone());
    h.typ = typ.map(str::to_string);
    jsonwebtoken::encode(&h, claims, &k.encoding).expect("sign")
}

fn id_claims(iss: &str) -> Value {
    json!({"iss": iss, "aud": CLIENT, "sub": "amina", "iat": now(), "exp": now() + 300, "nonce": "n1", "sid": "s1"})
}

fn logout_claims(iss: &str) -> Value {
    json!({"iss": iss, "aud": CLIENT, "iat": now(), "exp": now() + 120, "jti": "j1", "sid": "s1",
           "events": {"http://schemas.openid.net/event/backchannel-logout": {}}})
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn refused(r: Result<impl std::fmt::Debug, ProviderError>) -> String {
    match r {
        Err(ProviderError::InvalidToken(why)) => why,
        other => panic!("expected an invalid-token refusal, got {other:?}"),
    }
}

#[test]
fn a_valid_id_token_is_accepted() {
    let k = key("k1");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let claims = runtime()
        .block_on(p.validate_id_token(&sign(&k, &id_claims(&d.issuer), None), Some("n1")))
        .expect("valid");
    assert_eq!(claims.sub, "amina");
    assert_eq!(claims.sid.as_deref(), Some("s1"));
}

#[test]
fn a_tampered_id_token_is_refused() {
    let k = key("k1");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let token = sign(&k, &id_claims(&d.issuer), None);
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut payload: Value =
        serde_json::from_slice(&b64.decode(&parts[1]).expect("b64")).expect("json");
    payload["sub"] = json!("admin");
    parts[1] = b64.encode(payload.to_string());
    refused(runtime().block_on(p.validate_id_token(&parts.join("."), Some("n1"))));
}

#[test]
fn expired_wrong_audience_wrong_issuer_future_and_wrong_nonce_id_tokens_are_refused() {
    let k = key("k1");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    let cases = [
        ("expired", json!({"exp": now() - 3600, "iat": now() - 7200})),
        ("wrong audience", json!({"aud": "someone-else"})),
        ("wrong issuer", json!({"iss": "http://evil.example"})),
        (
            "issued in the future",
            json!({"iat": now() + 3600, "exp": now() + 7200}),
        ),
    ];
    for (what, patch) in cases {
        let mut c = id_claims(&d.issuer);
        for (k2, v) in patch.as_object().expect("object") {
            c[k2] = v.clone();
        }
        let why = refused(rt.block_on(p.validate_id_token(&sign(&k, &c, None), Some("n1"))));
        assert!(!why.is_empty(), "{what}");
    }
    let why = refused(
        rt.block_on(p.validate_id_token(&sign(&k, &id_claims(&d.issuer), None), Some("other"))),
    );
    assert!(why.contains("nonce"), "{why}");
}

#[test]
fn an_unsigned_or_unknown_key_id_token_is_refused() {
    let k = key("k1");
    let stranger = key("k9");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    refused(
        rt.block_on(p.validate_id_token(&sign(&stranger, &id_claims(&d.issuer), None), Some("n1"))),
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let none = format!(
        "{}.{}.",
        b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(id_claims(&d.issuer).to_string())
    );
    refused(rt.block_on(p.validate_id_token(&none, Some("n1"))));
}

#[test]
fn a_rotated_provider_key_is_fetched_when_an_unknown_kid_appears() {
    let old = key("old");
    let new = key("new");
    let d = serve(vec![old.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    rt.block_on(p.validate_id_token(&sign(&old, &id_claims(&d.issuer), None), Some("n1")))
        .expect("old key valid");
    *d.published.lock().expect("lock") = vec![new.jwk.clone()];
    rt.block_on(p.validate_id_token(&sign(&new, &id_claims(&d.issuer), None), Some("n1")))
        .expect("the rotated key is picked up");
}

/// Found when tried: of 20 refreshes signed with a key the provider had just rotated to,
/// arriving together, the first fetched the new key set and the 19 others were checked
/// against the old one while it was on its way ("unknown key": each citizen logged out).
#[test]
fn tokens_signed_with_a_rotated_key_at_once_all_wait_for_the_one_fetch() {
    let old = key("old");
    let new = key("new");
    let d = serve(vec![old.jwk.clone()]);
    let p = Arc::new(provider(&d.issuer));
    let rt = runtime();
    rt.block_on(p.validate_id_token(&sign(&old, &id_claims(&d.issuer), None), Some("n1")))
        .expect("old key valid");
    *d.published.lock().expect("lock") = vec![new.jwk.clone()];
    d.jwks_delay_ms.store(300, Ordering::SeqCst);
    let token = sign(&new, &id_claims(&d.issuer), None);
    let checks = (0..20).map(|_| p.validate_id_token(&token, Some("n1")));
    let results = rt.block_on(futures_util::future::join_all(checks));
    for r in results {
        r.expect("every token checked against the new set");
    }
    assert_eq!(
        d.jwks_fetches.load(Ordering::SeqCst),
        2,
        "one fetch more, not 20"
    );
}

/// Found when tried: a provider that replaced a key under the same `kid` had every login
/// refused ("InvalidSignature") until the key set was an hour old.
#[test]
fn a_key_replaced_under_the_same_kid_is_fetched_again() {
    let before = key("k1");
    let after = key("k1");
    let d = serve(vec![before.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    rt.block_on(p.validate_id_token(&sign(&before, &id_claims(&d.issuer), None), Some("n1")))
        .expect("the first key");
    *d.published.lock().expect("lock") = vec![after.jwk.clone()];
    rt.block_on(p.validate_id_token(&sign(&after, &id_claims(&d.issuer), None), Some("n1")))
        .expect("the key under the same kid, fetched again");
}

/// Found when tried: one anonymous back-channel post with an unknown `kid` used the key
/// set's fetch, and a citizen whose refresh came back signed with the provider's new key in
/// the next seconds was logged out. A key that cannot be fetched yet is declined (the
/// session is kept, a login is told to try again), never taken for an invalid token.
#[test]
fn a_key_that_cannot_be_fetched_yet_is_declined_not_invalid() {
    let k = key("k1");
    let new = key("new");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    let stranger = key("junk");
    // The stranger's post uses the fetch.
    let junk = rt.block_on(p.validate_logout_token(&sign(
        &stranger,
        &logout_claims(&d.issuer),
        Some("logout+jwt"),
    )));
    assert!(
        matches!(junk, Err(ProviderError::InvalidToken(_))),
        "{junk:?}"
    );
    *d.published.lock().expect("lock") = vec![k.jwk.clone(), new.jwk.clone()];
    let refreshed =
        rt.block_on(p.validate_id_token(&sign(&new, &id_claims(&d.issuer), None), Some("n1")));
    assert!(
        matches!(refreshed, Err(ProviderError::Declined(_))),
        "{refreshed:?}"
    );
}

/// Found when tried: with no key set in hand (the provider served a broken one), every
/// anonymous back-channel post fetched it again: 281 fetches in 3 s.
#[test]
fn without_a_key_set_the_provider_is_asked_for_one_at_most_every_ten_seconds() {
    let k = key("k1");
    let d = serve(vec![json!(1)]);
    let p = provider(&d.issuer);
    let rt = runtime();
    let token = sign(&k, &logout_claims(&d.issuer), Some("logout+jwt"));
    for _ in 0..20 {
        let r = rt.block_on(p.validate_logout_token(&token));
        assert!(matches!(r, Err(ProviderError::Unavailable(_))), "{r:?}");
    }
    assert_eq!(d.jwks_fetches.load(Ordering::SeqCst), 1);
}

#[test]
fn an_id_token_whose_identifiers_are_too_long_is_refused() {
    let k = key("k1");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    for claim in ["sub", "sid", "acr"] {
        let mut c = id_claims(&d.issuer);
        c[claim] = json!("x".repeat(50_000));
        let why = refused(rt.block_on(p.validate_id_token(&sign(&k, &c, None), Some("n1"))));
        assert!(why.contains(claim), "{why}");
    }
    let mut c = id_claims(&d.issuer);
    c["acr"] = json!("urn:ma:gov:acr:substantial");
    let claims = rt
        .block_on(p.validate_id_token(&sign(&k, &c, None), Some("n1")))
        .expect("an ordinary acr");
    assert_eq!(claims.acr.as_deref(), Some("urn:ma:gov:acr:substantial"));
}

/// Found when tried: a 100 MB key set took the gateway from 92 to 315 MB.
#[test]
fn a_key_set_larger_than_a_megabyte_is_not_read() {
    let k = key("k1");
    let padding: Vec<Value> = (0..20_000)
        .map(|i| json!({ "kty": "oct", "kid": format!("pad-{i:060}"), "k": "AAAA" }))
        .collect();
    let mut keys = vec![k.jwk.clone()];
    keys.extend(padding);
    let d = serve(keys);
    let p = provider(&d.issuer);
    let r =
        runtime().block_on(p.validate_id_token(&sign(&k, &id_claims(&d.issuer), None), Some("n1")));
    match r {
        Err(ProviderError::Unavailable(why)) => assert!(why.contains("larger than"), "{why}"),
        other => panic!("expected the key set refused, got {other:?}"),
    }
}

/// Found when tried: while the provider was slow, each of 100 citizens clicking "log in"
/// sent it a discovery request of its own. One asks; the others wait for its answer.
#[test]
fn logins_started_while_the_provider_is_slow_ask_it_once() {
    let d = serve(Vec::new());
    let p = Arc::new(provider(&d.issuer));
    let rt = runtime();
    rt.block_on(p.begin_login(false, egov_gateway::lang::Lang::Fr))
        .expect("the provider answers");
    // Past the gateway's memory of its answer, the provider slows past the timeout (2 s).
    std::thread::sleep(Duration::from_millis(5100));
    d.discovery_delay_ms.store(3000, Ordering::SeqCst);
    let before = d.discovery_fetches.load(Ordering::SeqCst);
    let starts = (0..20).map(|_| p.begin_login(false, egov_gateway::lang::Lang::Fr));
    for r in rt.block_on(futures_util::future::join_all(starts)) {
        assert!(
            matches!(r, Err(ProviderError::Unavailable(_))),
            "{:?}",
            r.err()
        );
    }
    assert_eq!(d.discovery_fetches.load(Ordering::SeqCst) - before, 1);
}

/// Found in a bypass probe: a refresh whose new ID token could not be checked (signed with a
/// key that could not be fetched yet) threw away the new refresh token the provider had
/// answered with; the next refresh sent the spent one, and a provider that rotates refresh
/// tokens revoked the grant. The new tokens are kept; the ID token waits for the next.
#[test]
fn a_refresh_whose_id_token_cannot_be_checked_now_keeps_the_new_tokens() {
    let k = key("k1");
    let new = key("new");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    // The key set is fetched (a login), then the provider moves to a key of its new set,
    // which cannot be fetched again within seconds.
    rt.block_on(p.validate_id_token(&sign(&k, &id_claims(&d.issuer), None), Some("n1")))
        .expect("the first key");
    rt.block_on(p.validate_id_token(&sign(&key("junk"), &id_claims(&d.issuer), None), None))
        .expect_err("a stranger's key uses the forced fetch");
    *d.published.lock().expect("lock") = vec![k.jwk.clone(), new.jwk.clone()];
    let mut refreshed = id_claims(&d.issuer);
    refreshed.as_object_mut().expect("claims").remove("nonce");
    *d.token_answer.lock().expect("lock") = json!({
        "access_token": "at-2", "token_type": "Bearer", "expires_in": 600,
        "refresh_token": "rt-2", "id_token": sign(&new, &refreshed, None),
    });
    let (tokens, claims) = rt.block_on(p.refresh("rt-1")).expect("the new tokens");
    assert_eq!(tokens.refresh_token.as_deref(), Some("rt-2"));
    assert!(
        claims.is_none(),
        "the ID token is checked at the next refresh"
    );
}

#[test]
fn a_valid_logout_token_names_its_session() {
    let k = key("k1");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let req = runtime()
        .block_on(p.validate_logout_token(&sign(&k, &logout_claims(&d.issuer), Some("logout+jwt"))))
        .expect("valid");
    assert_eq!(req.sid.as_deref(), Some("s1"));
}

#[test]
fn logout_tokens_without_events_with_a_nonce_or_a_wrong_type_are_refused() {
    let k = key("k1");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    let mut no_events = logout_claims(&d.issuer);
    no_events.as_object_mut().expect("obj").remove("events");
    assert!(refused(rt.block_on(p.validate_logout_token(&sign(
        &k,
        &no_events,
        Some("logout+jwt")
    ))))
    .contains("event"));
    let mut with_nonce = logout_claims(&d.issuer);
    with_nonce["nonce"] = json!("n");
    assert!(refused(rt.block_on(p.validate_logout_token(&sign(
        &k,
        &with_nonce,
        Some("logout+jwt")
    ))))
    .contains("nonce"));
    let mut neither = logout_claims(&d.issuer);
    neither.as_object_mut().expect("obj").remove("sid");
    refused(rt.block_on(p.validate_logout_token(&sign(&k, &neither, Some("logout+jwt")))));
    // An ID token (typ JWT) replayed as a logout token.
    refused(rt.block_on(p.validate_logout_token(&sign(
        &k,
        &logout_claims(&d.issuer),
        Some("JWT"),
    ))));
}

/// Found in review: a logout token's identifiers, each a key in the session store, were
/// not held to the ID token's bound.
#[test]
fn a_logout_token_with_an_identifier_longer_than_any_is_refused() {
    let k = key("k1");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    for claim in ["sub", "sid", "jti"] {
        let mut c = logout_claims(&d.issuer);
        c[claim] = json!("x".repeat(50_000));
        let why = refused(rt.block_on(p.validate_logout_token(&sign(&k, &c, Some("logout+jwt")))));
        assert!(why.contains(&format!("{claim} longer than")), "{why}");
    }
}

#[test]
fn a_logout_token_older_than_the_replay_memory_is_refused_even_without_exp() {
    let k = key("k1");
    let d = serve(vec![k.jwk.clone()]);
    let p = provider(&d.issuer);
    let rt = runtime();
    let mut old = logout_claims(&d.issuer);
    let object = old.as_object_mut().expect("obj");
    object.remove("exp");
    object.insert("iat".into(), json!(now() - 2 * 3600));
    let why = refused(rt.block_on(p.validate_logout_token(&sign(&k, &old, Some("logout+jwt")))));
    assert!(why.contains("issued more than 3600 s ago"), "{why}");
}

/// Found in a last read: the key set and the discovery document were read to a cap, the
/// token endpoint's answer (at every login and every session's refresh) was read whole.
#[test]
fn a_token_answer_larger_than_a_megabyte_is_not_read() {
    let d = serve(Vec::new());
    let p = provider(&d.issuer);
    *d.token_answer.lock().expect("lock") = json!({
        "access_token": "a".repeat(2 << 20), "token_type": "Bearer", "expires_in": 600,
    });
    match runtime().block_on(p.refresh("rt-1")) {
        Err(ProviderError::Unavailable(why)) => assert!(why.contains("larger than"), "{why}"),
        other => panic!("expected the answer refused, got {other:?}"),
    }
}

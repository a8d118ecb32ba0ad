//! The identity assertion ministries receive: a short-lived ES256 JWT per request, with a
//! *pairwise* subject, and the public keys to verify it at `/.well-known/jwks.json`.
//!
//! Pairwise subjects (HMAC of the ministry id and the provider's `sub`, like GOV.UK One
//! Login's sector identifiers) mean two ministries receive different ids for the same
//! citizen and cannot join their records on them. Assertions are cached per session and
//! service for half their lifetime, so signing is not paid on every request.

use super::session::{now_secs, Session};
use crate::config::{IdentityClaims, IdentitySettings, Secret};
use arc_swap::ArcSwap;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why the signing keys could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("signing key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("could not sign the identity assertion: {0}")]
    Sign(String),
}

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: serde_json::Value,
}

struct KeySet {
    active: Arc<SigningKey>,
    /// Every key still published (the active one first), as a JWKS document.
    jwks: bytes::Bytes,
    created: Instant,
}

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: String,
    sid: String,
    iat: u64,
    exp: u64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    acr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    professional: Option<bool>,
}

/// Signs identity assertions and publishes their keys.
pub struct IdentityIssuer {
    issuer: String,
    ttl: Duration,
    pairwise_key: Vec<u8>,
    keys: ArcSwap<KeySet>,
    /// Generated keys rotate; configured ones are rotated by the operator.
    generated: bool,
    rotate_every: Duration,
    rotation: Mutex<()>,
    cache: moka::sync::Cache<(String, String, IdentityClaims), (Arc<str>, u64)>,
}

impl IdentityIssuer {
    /// Keys from `settings.signing_keys`, or a generated one; the pairwise key from the
    /// configured secret or random.
    pub fn new(
        settings: &IdentitySettings,
        issuer: String,
        pairwise: Option<Secret>,
    ) -> Result<Self, IdentityError> {
        let mut keys = Vec::new();
        for path in &settings.signing_keys {
            let pem = std::fs::read_to_string(path).map_err(|e| IdentityError::Key {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            keys.push(Arc::new(key_from_pem(&pem).map_err(|reason| {
                IdentityError::Key {
                    path: path.display().to_string(),
                    reason,
                }
            })?));
        }
        let generated = keys.is_empty();
        if generated {
            keys.push(Arc::new(generate_key()?));
        }
        let pairwise_key = match pairwise {
            Some(s) => s.expose().as_bytes().to_vec(),
            None => rand::random::<[u8; 32]>().to_vec(),
        };
        let active = Arc::clone(&keys[0]);
        let retired = keys[1..].to_vec();
        Ok(Self {
            issuer,
            ttl: settings.ttl,
            pairwise_key,
            keys: ArcSwap::from_pointee(KeySet {
                jwks: jwks_document(&active, &retired),
                active,
                created: Instant::now(),
            }),
            generated,
            rotate_every: settings.rotate_every,
            rotation: Mutex::new(()),
            cache: moka::sync::Cache::builder()
                .time_to_live(settings.ttl / 2)
                .max_capacity(100_000)
                .build(),
        })
    }

    /// The JWKS document for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> bytes::Bytes {
        self.keys.load().jwks.clone()
    }

    /// The pairwise subject of `sub` for `ministry`.
    pub fn pairwise(&self, ministry: &str, value: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.pairwise_key) else {
            return String::new();
        };
        mac.update(ministry.as_bytes());
        mac.update(b"\x00");
        mac.update(value.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// An assertion for `session` towards `service_id` of `ministry` (cached briefly),
    /// carrying the pairwise subject and only the optional `claims` the service asked for.
    pub fn assertion(
        &self,
        session: &Session,
        service_id: &str,
        ministry: &str,
        claims: IdentityClaims,
    ) -> Result<Arc<str>, IdentityError> {
        self.maybe_rotate();
        let key = (session.public_id.clone(), service_id.to_string(), claims);
        let now = now_secs();
        if let Some((jwt, exp)) = self.cache.get(&key) {
            if exp > now + 5 {
                return Ok(jwt);
            }
        }
        let exp = now + self.ttl.as_secs();
        let claims = Assertion {
            iss: &self.issuer,
            aud: service_id,
            sub: self.pairwise(ministry, &session.sub),
            sid: self.pairwise(ministry, &session.public_id),
            iat: now,
            exp,
            jti: super::session::random_token(),
            name: session.name.as_deref().filter(|_| claims.name),
            acr: session.acr.as_deref().filter(|_| claims.acr),
            professional: claims.professional.then_some(session.professional),
        };
        let keys = self.keys.load();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(keys.active.kid.clone());
        header.typ = Some("JWT".into());
        let jwt: Arc<str> = jsonwebtoken::encode(&header, &claims, &keys.active.encoding)
            .map_err(|e| IdentityError::Sign(e.to_string()))?
            .into();
        self.cache.insert(key, (Arc::clone(&jwt), exp));
        Ok(jwt)
    }

    /// Replaces a generated key that is older than `rotate_every`; the old key stays
    /// published long enough for assertions it signed to expire.
    fn maybe_rotate(&self) {
        if !self.generated || self.keys.load().created.elapsed() < self.rotate_every {
            return;
        }
        let Ok(_guard) = self.rotation.try_lock() else {
            return;
        };
        let current = self.keys.load_full();
        if current.created.elapsed() < self.rotate_every {
            return;
        }
        match generate_key() {
            Ok(new) => {
                let new = Arc::new(new);
                let retired = vec![Arc::clone(&current.active)];
                self.keys.store(Arc::new(KeySet {
                    jwks: jwks_document(&new, &retired),
                    active: new,
                    created: Instant::now(),
                }));
                self.cache.invalidate_all();
            }
            Err(e) => tracing::error!(error = %e, "identity key rotation failed"),
        }
    }
}

fn jwks_document(active: &SigningKey, retired: &[Arc<SigningKey>]) -> bytes::Bytes {
    let mut keys = vec![active.jwk.clone()];
    keys.extend(retired.iter().map(|k| k.jwk.clone()));
    bytes::Bytes::from(serde_json::json!({ "keys": keys }).to_string())
}

/// A new EC P-256 private key as PKCS#8 PEM: what `identity.signing_keys` files hold.
pub fn new_signing_key_pem() -> Result<String, IdentityError> {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| {
        IdentityError::Key {
            path: "(generated)".into(),
            reason: e.to_string(),
        }
    })?;
    Ok(pair.serialize_pem())
}

fn generate_key() -> Result<SigningKey, IdentityError> {
    key_from_pem(&new_signing_key_pem()?).map_err(|reason| IdentityError::Key {
        path: "(generated)".into(),
        reason,
    })
}

/// An EC P-256 PKCS#8 PEM private key, with its public JWK.
fn key_from_pem(pem: &str) -> Result<SigningKey, String> {
    let pair = rcgen::KeyPair::from_pem(pem).map_err(|e| format!("not a PKCS#8 PEM key: {e}"))?;
    if pair.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
        return Err("must be an EC P-256 key (ES256)".into());
    }
    let point = pair.public_key_raw();
    if point.len() != 65 || point[0] != 4 {
        return Err("unexpected public key encoding".into());
    }
    let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
    let kid = B64.encode(&Sha256::digest(&point[1..])[..12]);
    let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| e.to_string())?;
    Ok(SigningKey {
        jwk: serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": x, "y": y,
            "use": "sig", "alg": "ES256", "kid": kid,
        }),
        kid,
        encoding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> IdentityIssuer {
        IdentityIssuer::new(
            &IdentitySettings {
                header: "x-egov-identity".into(),
                ttl: Duration::from_secs(60),
                pairwise_secret: None,
                signing_keys: vec![],
                rotate_every: Duration::from_secs(3600),
            },
            "https://portail.test".into(),
            Some(
                crate::config::Secrets::from_process()
                    .with_env("K", "pairwise-test-key")
                    .resolve(&crate::config::SecretRef::Env("K".into()))
                    .expect("secret"),
            ),
        )
        .expect("issuer")
    }

    #[test]
    fn pairwise_subjects_differ_per_ministry_and_are_stable() {
        let i = issuer();
        assert_ne!(i.pairwise("interior", "u1"), i.pairwise("justice", "u1"));
        assert_eq!(i.pairwise("interior", "u1"), i.pairwise("interior", "u1"));
    }

    fn amina() -> Session {
        Session {
            id: "cookie".into(),
            public_id: "pub".into(),
            sub: "citizen-1".into(),
            issuer: "https://idp.test".into(),
            idp_sid: None,
            name: Some("Amina".into()),
            acr: Some("loa2".into()),
            professional: false,
            id_token: String::new(),
            access_token: String::new(),
            refresh_token: None,
            access_expires_at: 0,
            created_at: 0,
            last_seen: 0,
            absolute_expires_at: u64::MAX,
        }
    }

    /// The verified claims of an assertion for `cnie-renewal`.
    fn verified(i: &IdentityIssuer, claims: IdentityClaims) -> serde_json::Value {
        let jwt = i
            .assertion(&amina(), "cnie-renewal", "interior", claims)
            .expect("signed");
        let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&i.jwks()).expect("jwks");
        let header = jsonwebtoken::decode_header(&*jwt).expect("header");
        let jwk = jwks
            .find(header.kid.as_deref().expect("kid"))
            .expect("published");
        let mut v = jsonwebtoken::Validation::new(Algorithm::ES256);
        v.set_audience(&["cnie-renewal"]);
        v.set_issuer(&["https://portail.test"]);
        jsonwebtoken::decode::<serde_json::Value>(
            jwt.as_bytes(),
            &jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key"),
            &v,
        )
        .expect("valid")
        .claims
    }

    #[test]
    fn assertions_verify_against_the_published_jwks() {
        let i = issuer();
        let claims = verified(&i, IdentityClaims::default());
        assert_eq!(claims["sub"], i.pairwise("interior", "citizen-1").as_str());
        assert_ne!(claims["sub"], "citizen-1");
        assert!(claims["exp"].as_u64().expect("exp") - claims["iat"].as_u64().expect("iat") <= 60);
    }

    #[test]
    fn by_default_an_assertion_carries_the_pairwise_subject_and_nothing_that_names_the_citizen() {
        let claims = verified(&issuer(), IdentityClaims::default());
        for absent in ["name", "acr", "professional", "email"] {
            assert!(claims.get(absent).is_none(), "{absent}: {claims}");
        }
    }

    #[test]
    fn a_service_gets_the_claims_it_asked_for() {
        let asked = IdentityClaims {
            name: true,
            acr: true,
            professional: false,
        };
        let claims = verified(&issuer(), asked);
        assert_eq!(claims["name"], "Amina");
        assert_eq!(claims["acr"], "loa2");
        assert!(claims.get("professional").is_none());
    }
}

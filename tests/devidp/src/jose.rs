//! The few JOSE pieces the dev IdP needs, written out rather than pulled from a JWT crate so
//! what is signed is plain to see: base64url, random identifiers, PKCE S256, and an ES256
//! (P-256 + SHA-256) key generated at start that signs compact JWTs and is published as a JWK
//! whose `kid` is its RFC 7638 thumbprint. Relying parties verify tokens with that JWK, so the
//! signatures here are real even though the provider is not.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use rand::rngs::OsRng;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// base64url without padding.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh unguessable identifier: 32 random bytes, base64url.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    b64url(&bytes)
}

/// `BASE64URL(SHA256(ASCII(code_verifier)))`, the S256 code challenge (RFC 7636 §4.2).
pub(crate) fn s256_challenge(verifier: &str) -> String {
    b64url(&Sha256::digest(verifier.as_bytes()))
}

/// `at_hash`: the left half of SHA-256 of the access token, base64url (OIDC Core §3.1.3.6).
pub(crate) fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    b64url(&digest[..16])
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a compact JWS was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum JoseError {
    /// Not three base64url parts with JSON header and payload.
    #[error("malformed JWT")]
    Malformed,
    /// Not signed by this provider's key.
    #[error("bad JWT signature")]
    BadSignature,
}

/// The provider's ES256 signing key.
pub(crate) struct Keys {
    signing: SigningKey,
    kid: String,
}

impl Keys {
    /// Generates a new P-256 key.
    pub fn generate() -> Keys {
        let signing = SigningKey::random(&mut OsRng);
        let (x, y) = coordinates(signing.verifying_key());
        // RFC 7638: members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = b64url(&Sha256::digest(canonical.as_bytes()));
        Keys { signing, kid }
    }

    /// The public key as a JWK (`kty` EC, `crv` P-256, `use` sig, `alg` ES256, `kid`).
    pub fn public_jwk(&self) -> Value {
        let (x, y) = coordinates(self.signing.verifying_key());
        json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y, "use": "sig", "alg": "ES256", "kid": self.kid })
    }

    /// Signs `claims` as a compact JWS with header `{"alg":"ES256","typ":typ,"kid":..}`.
    pub fn sign(&self, typ: &str, claims: &Value) -> String {
        let header = json!({ "alg": "ES256", "typ": typ, "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64url(&signature.to_bytes()))
    }

    /// The payload of `jwt` if this key signed it. Expiry is not checked: an `id_token_hint`
    /// may be expired (OIDC RP-Initiated Logout §2).
    pub fn verify(&self, jwt: &str) -> Result<Value, JoseError> {
        let mut parts = jwt.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::Malformed);
        };
        let signing_input = &jwt[..header_b64.len() + 1 + payload_b64.len()];
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| JoseError::Malformed)
        };
        let header: Value =
            serde_json::from_slice(&decode(header_b64)?).map_err(|_| JoseError::Malformed)?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(JoseError::BadSignature);
        }
        let signature =
            Signature::from_slice(&decode(signature_b64)?).map_err(|_| JoseError::BadSignature)?;
        self.signing
            .verifying_key()
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|_| JoseError::BadSignature)?;
        serde_json::from_slice(&decode(payload_b64)?).map_err(|_| JoseError::Malformed)
    }
}

/// The affine coordinates of a public key, base64url.
fn coordinates(key: &VerifyingKey) -> (String, String) {
    let point = key.to_encoded_point(false);
    let x = point.x().map(|x| b64url(x)).unwrap_or_default();
    let y = point.y().map(|y| b64url(y)).unwrap_or_default();
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        let keys = Keys::generate();
        let jwt = keys.sign("JWT", &json!({ "sub": "x" }));
        assert_eq!(keys.verify(&jwt), Ok(json!({ "sub": "x" })));
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let forged = b64url(br#"{"sub":"y"}"#);
        parts[1] = &forged;
        assert_eq!(keys.verify(&parts.join(".")), Err(JoseError::BadSignature));
        assert_eq!(keys.verify("a.b"), Err(JoseError::Malformed));
        let other = Keys::generate();
        assert_eq!(other.verify(&jwt), Err(JoseError::BadSignature));
    }

    #[test]
    fn kid_is_the_jwk_thumbprint() {
        let keys = Keys::generate();
        let jwk = keys.public_jwk();
        assert_eq!(jwk["kid"].as_str().map(str::len), Some(43));
        assert_eq!(jwk["alg"], "ES256");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}

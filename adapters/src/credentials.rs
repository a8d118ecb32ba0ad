//! Service-account credentials sent to legacy sites on the citizen's behalf.
//!
//! Some legacy sites sit behind HTTP basic auth with one shared account, or want an API key
//! header. The portal holds that secret; citizens never see a password prompt, and any
//! `Authorization` a client sends is dropped so it can neither leak to nor override the
//! service account.

use crate::headers::HeaderEdit;
use base64::Engine as _;
use http::{header, HeaderName, HeaderValue};

/// One service's way of authenticating to its legacy backend, compiled at registry load.
#[derive(Clone)]
pub struct Credentials {
    header: HeaderName,
    value: HeaderValue,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}: ***)", self.header)
    }
}

/// The secret cannot be put in a header.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("the secret contains characters that cannot be sent in an HTTP header")]
    InvalidValue,
    #[error("{0:?} is not a valid header name")]
    InvalidHeader(String),
}

impl Credentials {
    /// `Authorization: Basic base64(username:password)`.
    pub fn basic(username: &str, password: &str) -> Result<Self, CredentialsError> {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        let mut value = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| CredentialsError::InvalidValue)?;
        value.set_sensitive(true);
        Ok(Self {
            header: header::AUTHORIZATION,
            value,
        })
    }

    /// `<header>: <key>`.
    pub fn api_key(header_name: &str, key: &str) -> Result<Self, CredentialsError> {
        let header = HeaderName::from_bytes(header_name.as_bytes())
            .map_err(|_| CredentialsError::InvalidHeader(header_name.to_string()))?;
        let mut value = HeaderValue::from_str(key).map_err(|_| CredentialsError::InvalidValue)?;
        value.set_sensitive(true);
        Ok(Self { header, value })
    }

    /// Drops whatever the client sent in our header (and any client `Authorization`), then
    /// sets the service account's.
    pub fn apply(&self, headers: &mut impl HeaderEdit) {
        headers.remove(&header::AUTHORIZATION);
        headers.set(self.header.clone(), self.value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    #[test]
    fn basic_auth_replaces_client_authorization() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer citizen"),
        );
        Credentials::basic("svc", "pw")
            .expect("valid")
            .apply(&mut h);
        assert_eq!(
            h.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
            Some(&b"Basic c3ZjOnB3"[..])
        );
    }

    #[test]
    fn api_key_drops_client_authorization_and_sets_key() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic eA=="),
        );
        h.insert("x-api-key", HeaderValue::from_static("forged"));
        Credentials::api_key("x-api-key", "k1")
            .expect("valid")
            .apply(&mut h);
        assert!(h.get(header::AUTHORIZATION).is_none());
        assert_eq!(h.get("x-api-key").map(|v| v.as_bytes()), Some(&b"k1"[..]));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let c = Credentials::basic("svc", "hunter2").expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

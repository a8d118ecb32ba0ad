//! Service-account credentials sent to legacy sites on the citizen's behalf.
//!
//! Some legacy sites sit behind HTTP basic auth with one shared account, or want an API key
//! header. The portal holds that secret; citizens never see a password prompt, and any
//! `Authorization` a client sends is dropped so it can neither leak to nor override the
//! service account.

use crate::headers::{spellings, HeaderEdit, HeaderSet};
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
}

/// A service's credentials, applied together. What a client sent in any of their headers,
/// in any spelling (CGI and PHP read `X_Api_Key` as `X-Api-Key`), and any `Authorization`
/// is removed once, then each credential is set: a step removing `Authorization` itself
/// would erase the credential an earlier step had just set there (found when tried: with
/// `basic-auth` then `api-key`, the site never got its Basic credentials).
#[derive(Debug, Clone, Default)]
pub struct ServiceCredentials {
    list: Vec<Credentials>,
    client_may_not_send: HeaderSet,
}

impl ServiceCredentials {
    /// The credentials, in the order the service lists them (the later wins a header two
    /// of them name).
    pub fn new(list: Vec<Credentials>) -> Self {
        let client_may_not_send = std::iter::once(header::AUTHORIZATION)
            .chain(list.iter().map(|c| c.header.clone()))
            .flat_map(|name| spellings(&name))
            .collect();
        Self {
            list,
            client_may_not_send,
        }
    }

    /// Drops what the client sent in the credentials' headers (and any `Authorization`),
    /// then sets the service account's. Without credentials, nothing changes.
    pub fn apply(&self, headers: &mut impl HeaderEdit) {
        if self.list.is_empty() {
            return;
        }
        headers.remove_any(&self.client_may_not_send);
        for c in &self.list {
            headers.set(c.header.clone(), c.value.clone());
        }
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
        ServiceCredentials::new(vec![Credentials::basic("svc", "pw").expect("valid")])
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
        ServiceCredentials::new(vec![Credentials::api_key("x-api-key", "k1").expect("valid")])
            .apply(&mut h);
        assert!(h.get(header::AUTHORIZATION).is_none());
        assert_eq!(h.get("x-api-key").map(|v| v.as_bytes()), Some(&b"k1"[..]));
    }

    /// Found when tried: each step removed `Authorization` before setting its own header,
    /// so an `api-key` step after a `basic-auth` step erased the Basic credentials.
    #[test]
    fn basic_auth_then_an_api_key_sends_both() {
        let mut h = HeaderMap::new();
        ServiceCredentials::new(vec![
            Credentials::basic("svc", "pw").expect("valid"),
            Credentials::api_key("x-api-key", "k1").expect("valid"),
        ])
        .apply(&mut h);
        assert_eq!(
            h.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
            Some(&b"Basic c3ZjOnB3"[..])
        );
        assert_eq!(h.get("x-api-key").map(|v| v.as_bytes()), Some(&b"k1"[..]));
    }

    /// Found when tried: a client's `X_Api_Key` reached the site beside the service's
    /// `X-Api-Key`, and CGI reads both as `HTTP_X_API_KEY`.
    #[test]
    fn the_credential_header_is_removed_in_every_spelling() {
        let mut h = HeaderMap::new();
        h.insert("x_api_key", HeaderValue::from_static("forged"));
        h.insert("x-api_key", HeaderValue::from_static("forged"));
        ServiceCredentials::new(vec![Credentials::api_key("x-api-key", "k1").expect("valid")])
            .apply(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h.get("x-api-key").map(|v| v.as_bytes()), Some(&b"k1"[..]));
    }

    #[test]
    fn without_credentials_the_clients_authorization_goes_to_the_site() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic eA=="),
        );
        ServiceCredentials::default().apply(&mut h);
        assert!(h.contains_key(header::AUTHORIZATION));
    }

    #[test]
    fn debug_never_prints_the_secret() {
        let c = Credentials::basic("svc", "hunter2").expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}

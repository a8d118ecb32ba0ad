//! What the dev IdP is told: the issuer, the registered clients, token lifetimes and the
//! [`DevOnly`] acknowledgement, then validated once at start into [`Settings`] so handlers
//! never look at raw strings twice. Validation errors name the field, like the gateway's
//! own configuration does.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use crate::error::DevIdpError;

/// The proof that whoever starts the dev IdP knows it authenticates nobody.
///
/// The only value is [`DevOnly::I_UNDERSTAND_THIS_IS_NOT_SECURE`]; it has no `Default`, so a
/// configuration cannot get one by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevOnly(());

impl DevOnly {
    /// The acknowledgement: this provider lets anyone log in as any test citizen.
    pub const I_UNDERSTAND_THIS_IS_NOT_SECURE: DevOnly = DevOnly(());
}

/// The dev IdP's configuration.
#[derive(Debug, Clone)]
pub struct DevIdpConfig {
    /// The issuer URL, e.g. `http://127.0.0.1:9500` (scheme, host and port only). Every
    /// endpoint lives under it. Empty means `http://<the bound address>` (useful with port 0).
    pub issuer: String,
    /// The relying parties allowed to log citizens in.
    pub clients: Vec<DevClient>,
    /// Must be [`DevOnly::I_UNDERSTAND_THIS_IS_NOT_SECURE`].
    pub acknowledge: DevOnly,
    /// How long an access token is accepted at `/userinfo` (`expires_in`).
    pub access_token_ttl: Duration,
    /// How long an ID token is valid (`exp - iat`).
    pub id_token_ttl: Duration,
}

/// One registered relying party (confidential client).
#[derive(Debug, Clone)]
pub struct DevClient {
    /// `client_id`.
    pub client_id: String,
    /// The shared secret, accepted as `client_secret_basic` or `client_secret_post`.
    pub client_secret: String,
    /// Exact-match allowed `redirect_uri` values.
    pub redirect_uris: Vec<String>,
    /// Exact-match allowed `post_logout_redirect_uri` values.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where logout tokens are POSTed at logout; must be a loopback `http(s)` URL, since the
    /// dev IdP only ever calls 127.0.0.1 / localhost itself.
    pub backchannel_logout_uri: Option<String>,
}

/// The validated configuration, as the handlers use it.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub issuer: String,
    pub clients: Vec<DevClient>,
    pub access_token_ttl: Duration,
    pub id_token_ttl: Duration,
}

impl Settings {
    /// Validates `config` for a server bound on `bound`.
    pub fn validate(config: DevIdpConfig, bound: SocketAddr) -> Result<Settings, DevIdpError> {
        let DevOnly(()) = config.acknowledge;
        let issuer = if config.issuer.is_empty() {
            format!("http://{bound}")
        } else {
            config.issuer
        };
        check_issuer(&issuer)?;
        if config.clients.is_empty() {
            return Err(invalid("clients", "at least one client is needed"));
        }
        for (i, client) in config.clients.iter().enumerate() {
            check_client(i, client)?;
            if config.clients[..i]
                .iter()
                .any(|c| c.client_id == client.client_id)
            {
                return Err(invalid(
                    format!("clients[{i}].client_id"),
                    "duplicate client_id",
                ));
            }
        }
        for (field, ttl) in [
            ("access_token_ttl", config.access_token_ttl),
            ("id_token_ttl", config.id_token_ttl),
        ] {
            if ttl.as_secs() == 0 {
                return Err(invalid(field, "must be at least one second"));
            }
        }
        Ok(Settings {
            issuer,
            clients: config.clients,
            access_token_ttl: config.access_token_ttl,
            id_token_ttl: config.id_token_ttl,
        })
    }

    /// The registered client called `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&DevClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// `<issuer><path>`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> DevIdpError {
    DevIdpError::InvalidConfig {
        field: field.into(),
        reason: reason.into(),
    }
}

fn check_issuer(issuer: &str) -> Result<(), DevIdpError> {
    let url = Url::parse(issuer).map_err(|e| invalid("issuer", e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("issuer", "must be an http or https URL"));
    }
    if issuer.ends_with('/')
        || url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(invalid(
            "issuer",
            "must be scheme://host:port only: no path, trailing slash, query or fragment",
        ));
    }
    Ok(())
}

fn check_client(i: usize, client: &DevClient) -> Result<(), DevIdpError> {
    let field = |name: &str| format!("clients[{i}].{name}");
    if client.client_id.is_empty() {
        return Err(invalid(field("client_id"), "must not be empty"));
    }
    if client.client_secret.is_empty() {
        return Err(invalid(field("client_secret"), "must not be empty"));
    }
    if client.redirect_uris.is_empty() {
        return Err(invalid(field("redirect_uris"), "at least one is needed"));
    }
    for uri in client
        .redirect_uris
        .iter()
        .chain(&client.post_logout_redirect_uris)
    {
        let url =
            Url::parse(uri).map_err(|e| invalid(field("redirect_uris"), format!("{uri}: {e}")))?;
        if url.fragment().is_some() {
            return Err(invalid(
                field("redirect_uris"),
                format!("{uri}: must not have a fragment"),
            ));
        }
    }
    if let Some(uri) = &client.backchannel_logout_uri {
        let url = Url::parse(uri)
            .map_err(|e| invalid(field("backchannel_logout_uri"), format!("{uri}: {e}")))?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if !loopback || !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(
                field("backchannel_logout_uri"),
                format!("{uri}: the dev IdP only calls http(s) URLs on loopback"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> DevClient {
        DevClient {
            client_id: "gw".into(),
            client_secret: "s".into(),
            redirect_uris: vec!["http://127.0.0.1:8080/auth/callback".into()],
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
        }
    }

    fn config(issuer: &str, clients: Vec<DevClient>) -> DevIdpConfig {
        DevIdpConfig {
            issuer: issuer.into(),
            clients,
            acknowledge: DevOnly::I_UNDERSTAND_THIS_IS_NOT_SECURE,
            access_token_ttl: Duration::from_secs(60),
            id_token_ttl: Duration::from_secs(60),
        }
    }

    fn bound() -> SocketAddr {
        "127.0.0.1:9500".parse().expect("addr")
    }

    #[test]
    fn empty_issuer_is_derived_from_the_bound_address() {
        let settings = Settings::validate(config("", vec![client()]), bound()).expect("valid");
        assert_eq!(settings.issuer, "http://127.0.0.1:9500");
        assert_eq!(settings.endpoint("/jwks"), "http://127.0.0.1:9500/jwks");
    }

    #[test]
    fn issuer_with_trailing_slash_is_refused() {
        let err = Settings::validate(config("http://127.0.0.1:9500/", vec![client()]), bound())
            .expect_err("refused");
        assert!(err.to_string().contains("issuer"), "{err}");
    }

    #[test]
    fn remote_backchannel_uri_is_refused() {
        let mut c = client();
        c.backchannel_logout_uri = Some("http://gateway.example.ma/logout".into());
        let err = Settings::validate(config("", vec![c]), bound()).expect_err("refused");
        assert!(err.to_string().contains("backchannel_logout_uri"), "{err}");
    }

    #[test]
    fn duplicate_client_ids_are_refused() {
        let err =
            Settings::validate(config("", vec![client(), client()]), bound()).expect_err("refused");
        assert!(err.to_string().contains("duplicate"), "{err}");
    }
}

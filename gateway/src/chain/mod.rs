//! A service's adapter chain: its `[[adapters]]` steps compiled once, at registry load,
//! into the `egov-adapters` objects the proxy runs on each request and response.
//!
//! Compiling here (not per request) is where secrets are read, header rules parsed and
//! charsets looked up, so a mistake is a load error naming the file and step, and the hot
//! path only applies ready-made values.

mod headers;

pub use headers::{RequestHeaders, ResponseHeaders};

use crate::config::{AdapterStep, ConfigError, ConfigErrors, Secrets, ServiceConfig};
use egov_adapters::credentials::Credentials;
use egov_adapters::headers::{HeaderEdit, HeaderRules};
use http::HeaderName;

/// Headers that carry the citizen's identity to a legacy site that cannot verify a JWT.
#[derive(Debug, Clone)]
pub struct IdentityHeaderNames {
    pub subject: HeaderName,
    pub name: Option<HeaderName>,
}

/// The compiled steps of one service.
#[derive(Debug, Default)]
pub struct AdapterChain {
    /// Set when the service wants plain identity headers instead of the signed JWT.
    pub identity_headers: Option<IdentityHeaderNames>,
    credentials: Vec<Credentials>,
    request_rules: HeaderRules,
    response_rules: HeaderRules,
}

impl AdapterChain {
    /// Compiles `service`'s steps, reading its secrets from `secrets`.
    pub fn compile(service: &ServiceConfig, secrets: &Secrets) -> Result<Self, ConfigErrors> {
        let mut chain = AdapterChain::default();
        let mut errors = Vec::new();
        let mut fail = |i: usize, field: &str, reason: String| {
            errors.push(ConfigError::new(
                &service.file,
                format!("adapters[{i}].{field}"),
                reason,
            ));
        };
        for (i, step) in service.adapters.iter().enumerate() {
            match step {
                AdapterStep::BasicAuth { username, password } => match secrets.resolve(password) {
                    Ok(pw) => match Credentials::basic(username, pw.expose()) {
                        Ok(c) => chain.credentials.push(c),
                        Err(e) => fail(i, "password", e.to_string()),
                    },
                    Err(e) => fail(i, "password", e.to_string()),
                },
                AdapterStep::ApiKey { header, key } => match secrets.resolve(key) {
                    Ok(k) => match Credentials::api_key(header, k.expose()) {
                        Ok(c) => chain.credentials.push(c),
                        Err(e) => fail(i, "key", e.to_string()),
                    },
                    Err(e) => fail(i, "key", e.to_string()),
                },
                AdapterStep::Headers { request, response } => {
                    match HeaderRules::new(&request.remove, &request.rename, &request.set) {
                        Ok(r) => chain.request_rules = r,
                        Err(e) => fail(i, "request", e.to_string()),
                    }
                    match HeaderRules::new(&response.remove, &response.rename, &response.set) {
                        Ok(r) => chain.response_rules = r,
                        Err(e) => fail(i, "response", e.to_string()),
                    }
                }
                AdapterStep::IdentityHeaders { subject, name } => {
                    match (
                        HeaderName::from_bytes(subject.as_bytes()),
                        name.as_deref()
                            .map(|n| HeaderName::from_bytes(n.as_bytes()))
                            .transpose(),
                    ) {
                        (Ok(subject), Ok(name)) => {
                            chain.identity_headers = Some(IdentityHeaderNames { subject, name })
                        }
                        _ => fail(i, "subject", "invalid header name".into()),
                    }
                }
                // Body transforms are compiled by the body pipeline.
                AdapterStep::Charset { .. } | AdapterStep::HtmlLinks { .. } => {}
            }
        }
        if errors.is_empty() {
            Ok(chain)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Request-side header steps, in order: the service's own rules, then its credentials
    /// (so no rule can override or leak the service account).
    pub fn apply_request(&self, headers: &mut impl HeaderEdit) {
        self.request_rules.apply(headers);
        for c in &self.credentials {
            c.apply(headers);
        }
    }

    /// Response-side header steps.
    pub fn apply_response(&self, headers: &mut impl HeaderEdit) {
        self.response_rules.apply(headers);
    }
}

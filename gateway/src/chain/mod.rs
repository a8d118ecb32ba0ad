//! A service's adapter chain: its `[[adapters]]` steps compiled once, at registry load,
//! into the `egov-adapters` objects the proxy runs on each request and response.
//!
//! Compiling here (not per request) is where secrets are read, header rules parsed and
//! charsets looked up, so a mistake is a load error naming the file and step, and the hot
//! path only applies ready-made values: request headers ([`AdapterChain::apply_request`]),
//! response headers and the body plan ([`AdapterChain::adapt_response`]), then each body
//! chunk ([`BodyFeed`]).

mod body;
mod error_pages;
mod feed;
mod headers;
mod site_cookies;

pub use body::Asked;
pub use feed::{BodyFeed, FeedError};
pub use headers::{edit_request, edit_response};
pub use site_cookies::SiteCookies;

use crate::config::{
    AdapterStep, ConfigError, ConfigErrors, Secrets, ServiceConfig, ServiceOrigins,
};
use egov_adapters::body::BodyPolicy;
use egov_adapters::cookies::CookieScope;
use egov_adapters::credentials::{Credentials, ServiceCredentials};
use egov_adapters::headers::{HeaderEdit, HeaderRules};
use egov_adapters::links::{LinkMap, ServiceLinks};
use egov_adapters::soap::SoapOperation;
use http::{HeaderName, HeaderValue};
use std::sync::Arc;

/// Headers that carry the citizen's identity to a legacy site that cannot verify a JWT.
#[derive(Debug, Clone)]
pub struct IdentityHeaderNames {
    pub subject: HeaderName,
    pub name: Option<HeaderName>,
}

/// The compiled steps of one service.
#[derive(Debug)]
pub struct AdapterChain {
    /// Set when the service wants plain identity headers instead of the signed JWT.
    pub identity_headers: Option<IdentityHeaderNames>,
    /// Every spelling of every identity header of the deployment, removed from what any
    /// client sends to this service: one legacy site may be reached through several
    /// services, and the names one of them is sent the identity in must not be forgeable
    /// through another (found when tried: a public service on the same legacy host passed
    /// a citizen's `X-Citizen-Id` on as written). Which names those are is the platform's
    /// to say: through the admin API only the platform declares or changes them.
    pub forgeable_identity: Arc<egov_adapters::headers::HeaderSet>,
    credentials: ServiceCredentials,
    request_rules: HeaderRules,
    response_rules: HeaderRules,
    /// Every legacy URL the portal knows (shared by all services of a snapshot).
    link_map: Arc<LinkMap>,
    /// This service among them.
    links: ServiceLinks,
    cookie_scope: CookieScope,
    body_policy: BodyPolicy,
    /// The service answers signed-in citizens (`access` other than `public`): its answers
    /// leave the gateway private, whatever caching the legacy site asked for.
    signed_in: bool,
    /// The JSON facade over the service's SOAP endpoint, when declared.
    pub soap: Option<SoapFacade>,
    /// Whose page the site's server errors show (`[legacy] error_pages`).
    error_pages: crate::config::SiteErrorPages,
    /// The cookie names the legacy site sets itself (a copy without its binding was
    /// planted), kept across registry changes that leave the site as it was.
    pub site_cookies: Arc<SiteCookies>,
}

impl AdapterChain {
    /// The `Cookie` header the legacy site gets from a request's `Cookie` fields
    /// ([`egov_adapters::cookies::forwarded_cookies`]): a signed-in request's cookies bound
    /// to its session (`bound_to`), and no copy of a name the site sets that is not.
    pub fn forwarded_cookies(
        &self,
        values: &[&[u8]],
        bound_to: Option<&egov_adapters::cookies::CookieBinding>,
    ) -> Option<Vec<u8>> {
        egov_adapters::cookies::forwarded_cookies(values, bound_to, |name| {
            self.site_cookies.sets(name)
        })
    }

    /// Whether the legacy site sets cookie `name` itself (a framework's session name, or one
    /// its signed-in answers set).
    pub fn site_sets_cookie(&self, name: &[u8]) -> bool {
        self.site_cookies.sets(name)
    }

    /// Keeps the cookie names `previous` learned: the same legacy site sets the same names.
    pub fn keep_site_cookies(&mut self, previous: &AdapterChain) {
        self.site_cookies = Arc::clone(&previous.site_cookies);
    }
}

/// A service's SOAP operations, callable as JSON, with everything a call sends that does
/// not depend on the request compiled once.
#[derive(Debug, Clone)]
pub struct SoapFacade {
    /// The endpoint's full path on the backend (the backend itself is chosen per call, like
    /// any upstream attempt).
    pub path: http::uri::PathAndQuery,
    pub operations: Vec<FacadeOperation>,
    /// Whether citizens' requests may reach [`Self::path`] directly (`expose_endpoint`).
    pub expose_endpoint: bool,
}

/// One SOAP operation and its ready-made `SOAPAction` header value.
#[derive(Debug, Clone)]
pub struct FacadeOperation {
    pub soap: SoapOperation,
    pub action: HeaderValue,
}

impl SoapFacade {
    pub fn operation(&self, name: &str) -> Option<&FacadeOperation> {
        self.operations.iter().find(|o| o.soap.name == name)
    }
}

/// Portal-wide facts a chain is compiled against.
pub struct ChainContext<'a> {
    pub secrets: &'a Secrets,
    /// Every spelling of every identity header any service of the deployment is sent
    /// ([`identity_header_spellings`]).
    pub forgeable_identity: &'a Arc<egov_adapters::headers::HeaderSet>,
    pub link_map: &'a Arc<LinkMap>,
    pub portal_https: bool,
    /// The portal's origin (`https://portail.gov.ma`), for links back to it.
    pub portal_origin: &'a str,
    /// Each service on its own origin, or `None` for paths of the portal origin.
    pub service_origins: Option<&'a ServiceOrigins>,
}

/// Every spelling (`_` for `-`) of every identity header name the services of `services`
/// declare (`identity-headers` steps), compiled once per snapshot so a request only looks
/// them up.
pub fn identity_header_spellings(services: &[ServiceConfig]) -> egov_adapters::headers::HeaderSet {
    services
        .iter()
        .flat_map(|s| &s.adapters)
        .filter_map(|step| match step {
            AdapterStep::IdentityHeaders { subject, name } => Some((subject, name)),
            _ => None,
        })
        .flat_map(|(subject, name)| std::iter::once(subject.as_str()).chain(name.as_deref()))
        .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
        .flat_map(|n| egov_adapters::headers::spellings(&n))
        .collect()
}

/// Where a service's pages live for citizens: `/s/<id>` on the portal origin, or its own
/// origin (`https://<id>.services.gov.ma`). Links and redirects to the service are rewritten
/// to it, and its cookies are scoped to it.
pub fn link_target(id: &str, service_origins: Option<&ServiceOrigins>) -> String {
    match service_origins {
        Some(o) => o.origin(id),
        None => format!("/s/{id}"),
    }
}

/// The banner put at the top of rewritten pages when a service asks for it and no portal
/// strip was chosen for the response (the portal's strip stage chooses one per language and
/// login state for every proxied page); `{portal}` is the portal's origin (a service on its
/// own origin links back to it absolutely).
const BANNER: &str = "<div role=\"navigation\" lang=\"ar\" dir=\"rtl\" style=\"all:initial;display:block;font:14px/1.6 system-ui,sans-serif;background:#0b5394;color:#fff;padding:6px 12px\"><a href=\"{portal}/\" style=\"all:initial;color:#fff;font:inherit;text-decoration:underline\">\u{627}\u{644}\u{628}\u{648}\u{627}\u{628}\u{629} \u{627}\u{644}\u{648}\u{637}\u{646}\u{64a}\u{629}</a></div>";

impl AdapterChain {
    /// Compiles `service`'s steps, reading its secrets from `secrets`.
    pub fn compile(service: &ServiceConfig, cx: &ChainContext<'_>) -> Result<Self, ConfigErrors> {
        let secrets = cx.secrets;
        let target = link_target(&service.id, cx.service_origins);
        let mut chain = AdapterChain {
            identity_headers: None,
            forgeable_identity: Arc::clone(cx.forgeable_identity),
            credentials: ServiceCredentials::default(),
            request_rules: HeaderRules::default(),
            response_rules: HeaderRules::default(),
            link_map: Arc::clone(cx.link_map),
            links: ServiceLinks::new(&service.legacy.hostname, &target),
            cookie_scope: CookieScope {
                // On its own origin a service's cookies keep their own paths (host-only).
                portal_prefix: if cx.service_origins.is_some() {
                    String::new()
                } else {
                    target.clone()
                },
                legacy_base: service.legacy.path.clone(),
                portal_https: cx.portal_https,
            },
            body_policy: BodyPolicy::default(),
            signed_in: service.access != crate::config::Access::Public,
            soap: None,
            error_pages: service.legacy.error_pages,
            site_cookies: Arc::default(),
        };
        let mut credentials = Vec::new();
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
                        Ok(c) => credentials.push(c),
                        Err(e) => fail(i, "password", e.to_string()),
                    },
                    Err(e) => fail(i, "password", e.to_string()),
                },
                AdapterStep::ApiKey { header, key } => match secrets.resolve(key) {
                    Ok(k) => match Credentials::api_key(header, k.expose()) {
                        Ok(c) => credentials.push(c),
                        Err(e) => fail(i, "key", e.to_string()),
                    },
                    Err(e) => fail(i, "key", e.to_string()),
                },
                AdapterStep::Headers { request, response } => {
                    // A rule runs after the client's identity headers are stripped: writing
                    // one, or renaming a client's header into one, would forge it (found when
                    // tried: `rename X-Foo -> X-Citizen-Id` of another service).
                    let forging = request
                        .set
                        .iter()
                        .map(|(name, _)| name)
                        .chain(request.rename.iter().map(|(_, to)| to))
                        .find(|name| {
                            HeaderName::from_bytes(name.as_bytes())
                                .is_ok_and(|n| cx.forgeable_identity.contains(&n))
                        });
                    if let Some(name) = forging {
                        fail(
                            i,
                            "request",
                            format!("{name:?} carries a citizen's identity to a service of the deployment (identity-headers): a rule may not write it"),
                        );
                    }
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
                AdapterStep::Charset { fallback } => {
                    match egov_adapters::charset::encoding_for_label(fallback) {
                        Some(enc) => chain.body_policy.transcode_fallback = Some(enc),
                        None => fail(i, "fallback", format!("unknown charset {fallback:?}")),
                    }
                }
                AdapterStep::Soap {
                    endpoint,
                    operations,
                    expose_endpoint,
                } => {
                    let mut compiled = Vec::with_capacity(operations.len());
                    for (j, o) in operations.iter().enumerate() {
                        let soap = SoapOperation {
                            name: o.name.clone(),
                            namespace: o.namespace.clone(),
                            soap_action: o.action.clone(),
                            request_fields: o.fields.clone(),
                            qualified_fields: o.qualified_fields,
                        };
                        match HeaderValue::from_str(&soap.soap_action_header()) {
                            Ok(action) => compiled.push(FacadeOperation { soap, action }),
                            Err(_) => fail(
                                i,
                                &format!("operations[{j}].action"),
                                "not a valid SOAPAction header value".into(),
                            ),
                        }
                    }
                    let path = egov_adapters::paths::join(&service.upstream.base_path, endpoint);
                    match http::uri::PathAndQuery::try_from(path.as_str()) {
                        Ok(path) => {
                            chain.soap = Some(SoapFacade {
                                path,
                                operations: compiled,
                                expose_endpoint: *expose_endpoint,
                            })
                        }
                        Err(e) => fail(i, "endpoint", format!("{path:?} is not a path: {e}")),
                    }
                }
                AdapterStep::HtmlLinks { banner } => {
                    chain.body_policy.links = Some((Arc::clone(cx.link_map), chain.links.clone()));
                    if *banner {
                        let portal = if cx.service_origins.is_some() {
                            cx.portal_origin
                        } else {
                            ""
                        };
                        chain.body_policy.banner = Some(BANNER.replace("{portal}", portal));
                    }
                }
            }
        }
        chain.credentials = ServiceCredentials::new(credentials);
        if errors.is_empty() {
            Ok(chain)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Request-side header steps, in order: the service's own rules, then its credentials
    /// (so no rule can override or leak the service account).
    /// The citizen's headers the service's request rules pass on under another name (kept
    /// on a fetch whose answer may be shared: `cache::ask_as_nobody`).
    pub fn request_renames(&self) -> impl Iterator<Item = &http::HeaderName> + Clone {
        self.request_rules.renamed()
    }

    pub fn apply_request(&self, headers: &mut impl HeaderEdit) {
        self.request_rules.apply(headers);
        self.credentials.apply(headers);
    }
}

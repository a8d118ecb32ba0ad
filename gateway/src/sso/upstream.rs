//! What the legacy site learns about the citizen, and nothing more.
//!
//! Before a request goes upstream: every identity header a client may have forged is
//! removed, the portal's own cookies (the session cookie above all) are taken out of
//! `Cookie`, and, for a logged-in citizen on a service that needs it, the gateway adds its
//! signed assertion (or, for a site that cannot verify one, plain identity headers with the
//! pairwise subject).

use super::Sso;
use crate::registry::Service;
use crate::sso::session::Session;
use egov_adapters::cookies::CookieBinding;
use egov_adapters::headers::{spellings, HeaderEdit, HeaderSet};
use http::{header::COOKIE, HeaderName, HeaderValue};

/// Identity headers that proxies and legacy apps commonly trust. Clients may never send
/// them through the gateway. A legacy site that once sat behind oauth2-proxy, Apache's
/// mod_auth_openidc, a TLS terminator passing client certificates (Tomcat's SSLValve,
/// Envoy, Traefik, IIS ARR) or a cloud's identity-aware proxy may still grant a user, a
/// group or a certificate's subject on their word: every header such a proxy sets, not
/// only its user and e-mail (found when tried: `X-Forwarded-Groups`, `OIDC_CLAIM_sub` and
/// `X-Forwarded-Client-Cert` reached the sites as a citizen wrote them).
const FORGEABLE: [HeaderName; 24] = [
    HeaderName::from_static("x-remote-user"),
    HeaderName::from_static("x-remote-name"),
    HeaderName::from_static("x-remote-group"),
    HeaderName::from_static("remote-user"),
    HeaderName::from_static("remote-groups"),
    HeaderName::from_static("remote-email"),
    HeaderName::from_static("remote-name"),
    HeaderName::from_static("x-forwarded-user"),
    HeaderName::from_static("x-forwarded-email"),
    HeaderName::from_static("x-forwarded-preferred-username"),
    HeaderName::from_static("x-forwarded-groups"),
    HeaderName::from_static("x-forwarded-access-token"),
    HeaderName::from_static("x-auth-request-user"),
    HeaderName::from_static("x-auth-request-email"),
    HeaderName::from_static("x-auth-request-groups"),
    HeaderName::from_static("x-auth-request-preferred-username"),
    HeaderName::from_static("x-auth-request-access-token"),
    HeaderName::from_static("x-authenticated-user"),
    HeaderName::from_static("x-user"),
    HeaderName::from_static("x-userinfo"),
    HeaderName::from_static("x-webauth-user"),
    HeaderName::from_static("x-goog-iap-jwt-assertion"),
    // WSO2 API Manager's, in front of many government back ends.
    HeaderName::from_static("x-jwt-assertion"),
    // The gateway's family's bare name (its members go by `FORGEABLE_PREFIXES`).
    HeaderName::from_static("x-egov"),
];

/// Families of identity headers with open-ended names, in every spelling: mod_auth_openidc
/// (`OIDC_CLAIM_<claim>`, `OIDC_access_token`), client certificates (`SSL_CLIENT_S_DN`,
/// `X-SSL-Client-Cert`, Envoy's `X-Forwarded-Client-Cert`, Traefik's
/// `X-Forwarded-Tls-Client-Cert-Info`, ARR's `X-ARR-ClientCert`), Azure's, AWS's and
/// Google's identity-aware proxies, Azure's token store (`X-MS-TOKEN-AAD-ID-TOKEN`),
/// Cloudflare Access, and the gateway's own `X-Egov-*`.
const FORGEABLE_PREFIXES: &[&str] = &[
    "oidc-",
    "ssl-client-",
    "x-ssl-client-",
    "x-client-cert",
    "x-forwarded-client-cert",
    "x-forwarded-tls-client-cert",
    "x-arr-clientcert",
    "x-ms-client-principal",
    "x-amzn-oidc-",
    "x-goog-authenticated-user-",
    "x-ms-token-",
    "cf-access-",
    // The gateway's own family, beside its identity header (`X-Egov-Identity`): a legacy
    // site told of `X-Egov-*` headers from the gateway trusts any of them (found in a
    // probe: `X-Egov-Sub` and `X-Egov-User` reached the site as a citizen wrote them).
    "x-egov-",
];

/// Every spelling of the headers no client may send: [`FORGEABLE`], its families
/// ([`FORGEABLE_PREFIXES`]) and the gateway's own identity header. Computed once, at
/// start-up.
pub fn forgeable_spellings(identity_header: &HeaderName) -> HeaderSet {
    FORGEABLE
        .iter()
        .chain(std::iter::once(identity_header))
        .flat_map(spellings)
        .collect::<HeaderSet>()
        .with_prefixes(FORGEABLE_PREFIXES)
}

/// Strips the identity claims a client may have forged, the portal's cookies and the legacy
/// cookies not bound to the request's session, `cookie_binding` (see
/// [`egov_adapters::cookies::forwarded_cookies`]). Runs before the gateway adds headers of
/// its own, so there are fewer to look through.
pub fn strip_client_identity(
    sso: &Sso,
    service: &Service,
    cookie_binding: Option<&CookieBinding>,
    headers: &mut impl HeaderEdit,
) {
    headers.remove_any(&sso.forgeable);
    headers.remove_any(&service.chain.forgeable_identity);
    strip_portal_cookies(service, cookie_binding, headers);
}

/// Presents the session's identity (after [`strip_client_identity`]): the signed
/// assertion, or the service's plain identity headers with the pairwise subject.
pub fn present_identity(
    sso: &Sso,
    service: &Service,
    session: Option<&Session>,
    headers: &mut impl HeaderEdit,
) {
    let Some(session) = session else {
        return;
    };
    let ministry = &service.config.ministry;
    match &service.chain.identity_headers {
        Some(names) => {
            if let Ok(v) = HeaderValue::from_str(&sso.identity().pairwise(ministry, &session.sub)) {
                headers.set(names.subject.clone(), v);
            }
            if let (Some(h), Some(name)) = (&names.name, &session.name) {
                // Names may be Arabic: send them percent-encoded UTF-8.
                let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
                if let Ok(v) = HeaderValue::from_str(&encoded) {
                    headers.set(h.clone(), v);
                }
            }
        }
        None => match sso.identity().assertion(
            session,
            service.id(),
            ministry,
            service.config.identity_claims,
        ) {
            Ok(jwt) => {
                if let Ok(v) = HeaderValue::from_str(&jwt) {
                    headers.set(sso.identity_header().clone(), v);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not sign the identity assertion"),
        },
    }
}

/// Leaves one `Cookie` header with what [`crate::chain::AdapterChain::forwarded_cookies`]
/// lets the site have.
fn strip_portal_cookies(
    service: &Service,
    binding: Option<&CookieBinding>,
    headers: &mut impl HeaderEdit,
) {
    let values = headers.get_all(&COOKIE);
    if values.is_empty() {
        return;
    }
    headers.remove(&COOKIE);
    let bytes: Vec<&[u8]> = values.iter().map(HeaderValue::as_bytes).collect();
    if let Some(kept) = service.chain.forwarded_cookies(&bytes, binding) {
        if let Ok(v) = HeaderValue::from_bytes(&kept) {
            headers.set(COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn request(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn identity_headers_spelt_with_underscores_are_stripped_too() {
        let names = forgeable_spellings(&HeaderName::from_static("x-egov-identity"));
        let mut h = request(&[
            ("X_Remote_User", "admin"),
            ("x-remote_user", "admin"),
            ("REMOTE_USER", "admin"),
            ("X_Forwarded_Preferred-Username", "admin"),
            ("x_egov_identity", "forged"),
            ("X-Remote-User", "admin"),
            ("x_request_trace", "kept"),
            ("accept", "text/html"),
        ]);
        h.remove_any(&names);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x_request_trace"]);
    }
}

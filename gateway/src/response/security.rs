//! The security headers every answer the gateway writes itself carries (pages, error pages,
//! redirects, the auth and API endpoints): no script but the gateway's own files, no framing,
//! no MIME sniffing, referrers kept on the origin, and HSTS when the portal is HTTPS.
//! Legacy answers keep their own (the adapters drop only what a legacy site must not set),
//! but for HSTS: a legacy site may not declare the transport of a portal origin, so every
//! answer of an HTTPS portal carries the gateway's ([`strict_transport_security`]).

use http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderName, HeaderValue};

/// No inline or foreign script or style (every style is in the fingerprinted stylesheet), no
/// plugins, no `<base>` games, forms only to the gateway, never in a frame.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// [`CONTENT_SECURITY_POLICY_VALUE`] for an error page, which a page of its own origin may
/// frame (a legacy site of frames shows it where the failed page would have been).
pub const CONTENT_SECURITY_POLICY_FRAMED_BY_ITSELF: &str = "default-src 'self'; \
script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// Two years: what the HSTS preload list asks for. Without `includeSubDomains`: the portal's
/// host does not speak for every name under it.
const HSTS: &str = "max-age=63072000";

/// The headers, for a portal served over HTTPS (`https`) or not.
pub fn security_headers(https: bool) -> impl Iterator<Item = (HeaderName, HeaderValue)> {
    let always = [
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("same-origin")),
        (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    ];
    always
        .into_iter()
        .chain(https.then(strict_transport_security))
}

/// The portal's HSTS, on every answer over an HTTPS portal: the pages the gateway writes and
/// the legacy answers it passes on (whose own `Strict-Transport-Security` it removes).
pub fn strict_transport_security() -> (HeaderName, HeaderValue) {
    (STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_forbids_inline_script_and_framing() {
        assert!(CONTENT_SECURITY_POLICY_VALUE.contains("script-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY_VALUE.contains("script-src 'self' 'unsafe-inline'"));
        assert!(CONTENT_SECURITY_POLICY_VALUE.contains("frame-ancestors 'none'"));
        assert!(CONTENT_SECURITY_POLICY_VALUE.contains("style-src 'self';"));
    }

    #[test]
    fn an_error_pages_policy_differs_only_in_who_may_frame_it() {
        assert_eq!(
            CONTENT_SECURITY_POLICY_FRAMED_BY_ITSELF,
            CONTENT_SECURITY_POLICY_VALUE
                .replace("frame-ancestors 'none'", "frame-ancestors 'self'")
        );
    }

    #[test]
    fn hsts_only_for_an_https_portal() {
        assert!(security_headers(true).any(|(n, _)| n == STRICT_TRANSPORT_SECURITY));
        assert!(!security_headers(false).any(|(n, _)| n == STRICT_TRANSPORT_SECURITY));
    }
}

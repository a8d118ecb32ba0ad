//! The header names and rules a service may write, and those no legacy answer may send.

use super::{at_most, HEADER_RULES, HEADER_RULE_VALUE, PROTECTED_HEADERS};
use crate::config::error::Problems;
use crate::config::raw::RawHeaderRules;
use crate::config::HeaderRules;

/// Response headers the gateway rewrites for the portal (cookies scoped under the service,
/// redirects mapped to portal paths). The service's response rules run after that rewriting,
/// so they may remove these headers but never write one: it would reach the citizen
/// unrewritten (a cookie for the legacy domain, a redirect off the portal).
pub(super) const PORTAL_REWRITTEN_RESPONSE_HEADERS: &[&str] =
    &["set-cookie", "location", "content-location", "refresh"];

/// Response headers no legacy answer may pass to the browser, whether the legacy site or a
/// response rule wrote them. `Service-Worker-Allowed` would let a legacy page install a
/// service worker over more of the origin than its own path, and `Clear-Site-Data` would
/// wipe the citizen's portal cookies and storage. The transport of the portal's origins is
/// the gateway's to declare: a legacy `Strict-Transport-Security: max-age=0` would switch
/// off the browser's HSTS for it, and `Alt-Svc` would send the browser's next connections
/// elsewhere (as would the obsolete key pinning and `Expect-CT`, pinning keys the gateway
/// does not hold). The banners (`Server: Apache/2.2.3 (CentOS)`, `X-Powered-By: PHP/5.2.6`,
/// the ASP.NET versions) would tell anyone the exact, often unpatched, software behind each
/// service, as nginx's `proxy_hide_header` defaults hide `Server`. Network Error Logging
/// (`NEL`, with its `Report-To` and `Reporting-Endpoints`) is an origin-wide policy kept for
/// years: every later request to the origin, the portal's own pages on a shared origin
/// included, would be reported to a ministry's collector, even after its service is gone.
/// A site's diagnostics are for its ministry's tools, not for anyone who asks a page:
/// `Server-Timing` names and times the site's inner steps (`db;desc="SELECT ... FROM
/// citizens"`, readable by any script through the Performance API), its trace context
/// names its internal traces (the gateway answers with its own `X-Request-Id`), and a
/// framework's debug-profiler token links to a profile of the request (Symfony's
/// `X-Debug-Token-Link`: the environment, the session, the queries).
pub const LEGACY_MAY_NOT_SEND: &[&str] = &[
    "server-timing",
    "traceparent",
    "tracestate",
    "traceresponse",
    "x-debug-token",
    "x-debug-token-link",
    "nel",
    "report-to",
    "reporting-endpoints",
    "service-worker-allowed",
    "clear-site-data",
    "strict-transport-security",
    "alt-svc",
    "public-key-pins",
    "public-key-pins-report-only",
    "expect-ct",
    "server",
    "x-powered-by",
    "x-aspnet-version",
    "x-aspnetmvc-version",
    // Orders to a server in front, which it would carry out on the gateway's word: serve a
    // file of its own (`X-Accel-Redirect`, `X-Sendfile`), cache or throttle the answer.
    "x-accel-redirect",
    "x-accel-expires",
    "x-accel-limit-rate",
    "x-sendfile",
    "x-lighttpd-send-file",
];

/// Caching orders addressed to the caches in front rather than to the browser: a CDN obeys
/// `CDN-Cache-Control` (RFC 9213) or its own (`Surrogate-Control`, Cloudflare's, Akamai's
/// `Edge-Control`) instead of `Cache-Control`. An answer made private, or whose lifetime the
/// cache policy caps, loses them with `Pragma` (found when tried: `CDN-Cache-Control: public,
/// max-age=3600` beside the gateway's `private, no-store`).
pub const TARGETED_CACHING: &[&str] = &[
    "cdn-cache-control",
    "cloudflare-cdn-cache-control",
    "surrogate-control",
    "edge-control",
    "pragma",
];

/// A header a rule writes (`set`, or the target of `rename`): not one in `rewritten`, and
/// for response rules (`rewritten` not empty) none a legacy answer may not send.
pub(super) fn written_header_name(s: &str, rewritten: &[&str]) -> Result<String, String> {
    let name = header_name(s)?;
    if rewritten.contains(&name.as_str()) {
        return Err(format!(
            "{s:?} is rewritten by the gateway before these rules run; a rule may remove it but not write it"
        ));
    }
    if !rewritten.is_empty() && LEGACY_MAY_NOT_SEND.contains(&name.as_str()) {
        return Err(format!(
            "{s:?} never reaches the citizen from a legacy answer (it would speak for the portal's origin or name the software behind it); a rule may remove it but not write it"
        ));
    }
    Ok(name)
}

pub(super) fn header_name(s: &str) -> Result<String, String> {
    let lower = s.trim().to_ascii_lowercase();
    http::HeaderName::from_bytes(lower.as_bytes())
        .map_err(|_| format!("{s:?} is not a valid header name"))?;
    if PROTECTED_HEADERS.contains(&lower.as_str()) {
        return Err(format!(
            "{s:?} frames or routes the message and cannot be changed by an adapter"
        ));
    }
    Ok(lower)
}

/// A header no client may send to any service once a service is sent the identity in it
/// (every service's identity names are stripped from every request): a name of its own,
/// never one that requests carry for their own sake. Found when tried: a ministry that
/// declared `Cookie` and `Content-Type` took them off every other ministry's requests.
pub(super) fn identity_header_name(s: &str) -> Result<String, String> {
    const STANDARD: &[&str] = &[
        "authorization",
        "cookie",
        "cookie2",
        "origin",
        "referer",
        "user-agent",
        "from",
        "range",
        "cache-control",
        "pragma",
        "dnt",
        "priority",
        "via",
        "forwarded",
        "x-real-ip",
        "x-request-id",
        "x-correlation-id",
        "traceparent",
        "tracestate",
        "baggage",
        "x-requested-with",
        "x-csrf-token",
        "x-xsrf-token",
        "upgrade",
    ];
    const STANDARD_PREFIXES: &[&str] = &[
        "accept",
        "content-",
        "if-",
        "sec-",
        "access-control-",
        "x-forwarded-",
        "proxy-",
    ];
    let name = header_name(s)?;
    if STANDARD.contains(&name.as_str()) || STANDARD_PREFIXES.iter().any(|p| name.starts_with(p)) {
        return Err(format!(
            "{s:?} is a header requests carry for their own sake: name one of the service's own (e.g. \"X-Citizen-Id\"), as it is taken off every client's request to every service"
        ));
    }
    Ok(name)
}

/// `rewritten`: headers the rules may not write (see [`PORTAL_REWRITTEN_RESPONSE_HEADERS`]).
pub(super) fn header_rules(
    field: &str,
    raw: &RawHeaderRules,
    rewritten: &[&str],
    p: &mut Problems<'_>,
) -> Option<HeaderRules> {
    let count = raw.set.len() + raw.remove.len() + raw.rename.len();
    if !at_most(p, field, count, HEADER_RULES) {
        return None;
    }
    let mut ok = true;
    let mut rules = HeaderRules::default();
    for (name, value) in &raw.set {
        let f = format!("{field}.set.{name}");
        match written_header_name(name, rewritten) {
            Ok(n) => {
                if http::HeaderValue::from_str(value).is_err() {
                    p.add(f, "value must be visible ASCII text");
                    ok = false;
                } else if value.len() > HEADER_RULE_VALUE {
                    p.add(
                        f,
                        format!(
                            "value is {} bytes long; at most {HEADER_RULE_VALUE}",
                            value.len()
                        ),
                    );
                    ok = false;
                } else {
                    rules.set.push((n, value.clone()));
                }
            }
            Err(e) => {
                p.add(f, e);
                ok = false;
            }
        }
    }
    for (i, name) in raw.remove.iter().enumerate() {
        match p.check(format!("{field}.remove[{i}]"), header_name(name)) {
            Some(n) => rules.remove.push(n),
            None => ok = false,
        }
    }
    for (from, to) in &raw.rename {
        let f = format!("{field}.rename.{from}");
        match (header_name(from), written_header_name(to, rewritten)) {
            (Ok(a), Ok(b)) => rules.rename.push((a, b)),
            (Err(e), _) | (_, Err(e)) => {
                p.add(f, e);
                ok = false;
            }
        }
    }
    ok.then_some(rules)
}

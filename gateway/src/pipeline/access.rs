//! The access stage: a service's access level against the request's session
//! ([`Sso::authorize`]): go on (with the citizen's session when the service needs it), or
//! the login redirect, 401, 403 or 503 instead.

use super::{RequestCtx, Stage, Step};
use crate::registry::Service;
use crate::sso::{Authorization, Sso};
use crate::telemetry::trace::end_child;
use crate::telemetry::Telemetry;
use pingora::proxy::Session;
use std::sync::Arc;

pub struct Access {
    sso: Arc<Sso>,
    telemetry: Arc<Telemetry>,
}

impl Access {
    pub fn new(sso: Arc<Sso>, telemetry: Arc<Telemetry>) -> Self {
        Self { sso, telemetry }
    }
}

impl Stage for Access {
    fn name(&self) -> &'static str {
        "access"
    }

    async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        let Some(service) = ctx.service.as_ref() else {
            return Step::Continue;
        };
        if ctx.local.is_some() {
            // The origin's own login exchange, answered by the local stage.
            return Step::Continue;
        }
        if let Some(sibling) = sibling_origin_write(session.req_header(), service, ctx) {
            tracing::warn!(
                service = service.id(),
                from = sibling,
                "a write or a WebSocket sent from another service's origin was refused"
            );
            return Step::Respond(ctx.error_page(crate::response::ErrorKind::Forbidden));
        }
        if fetched_by_a_sibling_page(session.req_header(), ctx) {
            session
                .req_header_mut()
                .remove_header(&http::header::COOKIE);
        }
        let span = ctx
            .obs
            .as_ref()
            .and_then(|o| self.telemetry.child(o, "sso.authorize"));
        if service.config.access == crate::config::Access::Public {
            // Nothing to check: no session is read for a public service.
            end_child(span, None);
            return Step::Continue;
        }
        // Boxed: the session lookup's future is large, and public requests never build it.
        let decision = Box::pin(self.sso.authorize(
            session.req_header(),
            service,
            ctx.request_id.as_str(),
        ))
        .await;
        match decision {
            Authorization::Proceed(s) => {
                end_child(span, None);
                // Bound to the cookie that named the session (never to what the store
                // holds): see `sso::session::cookie_binding_of`.
                ctx.cookie_binding = match self.sso.cookies().session_cookie(session.req_header()) {
                    crate::sso::cookie::SessionCookie::One(cookie) if s.is_some() => {
                        Some(crate::sso::session::cookie_binding_of(cookie))
                    }
                    _ => None,
                };
                if service.config.upstream.affinity == crate::config::Affinity::Citizen {
                    // One-way from the binding, which is never sent anywhere.
                    ctx.attempts.citizen = ctx.cookie_binding.map(|b| {
                        let digest = b.companion(b"egov-affinity", b"");
                        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
                    });
                }
                if ctx.upgrade {
                    ctx.upgrade_ticket = s.as_ref().map(|s| self.sso.upgrade_ticket(&s.id));
                }
                ctx.session = s;
                Step::Continue
            }
            Authorization::Respond(r) => {
                end_child(span, Some("access not granted"));
                Step::Respond(r)
            }
        }
    }
}

/// The other service whose origin sent this state-changing request to `service`'s origin,
/// if any. Services on their own origins are same-site to each other, so a browser attaches
/// the citizen's cookies to a form or `fetch` one legacy page sends to another: the
/// same-origin policy keeps the answer from being read, but not the write from happening.
/// Such a write is refused; writes from the service's own pages, from the portal or from
/// anywhere else (a payment provider posting back) are not. An opaque `Origin: null` is
/// refused too: a sibling's page gets one by posting from a sandboxed frame, and nothing
/// then says where it came from (the portal's logout and feedback refuse it alike).
///
/// A WebSocket handshake is a GET, but what it opens reads and writes as the citizen, and
/// the same-origin policy does not guard it: it is refused alike (found when tried: a page
/// on one service's origin opened another's socket and read the citizen's identity on it).
fn sibling_origin_write<'r>(
    req: &'r pingora::http::RequestHeader,
    service: &Service,
    ctx: &RequestCtx,
) -> Option<&'r str> {
    use http::Method;
    if matches!(req.method, Method::GET | Method::HEAD | Method::OPTIONS) && !ctx.upgrade {
        return None;
    }
    let snapshot = ctx.snapshot.as_ref()?;
    let origins = snapshot.portal.settings.service_origins.as_ref()?;
    let origin = req.headers.get(http::header::ORIGIN)?.to_str().ok()?;
    if origin.trim().eq_ignore_ascii_case("null") {
        return Some(origin);
    }
    let host = origin.split_once("://")?.1;
    let host = crate::host::normalize(host);
    match origins.service_of(&host) {
        Some(from) => (from != service.id()).then_some(origin),
        // A legacy host the gateway serves pages of (`on_legacy_host = "proxy"`) is another
        // origin of the deployment, same-site with the services' (found when tried: a page
        // there opened another ministry's signed-in socket); only the service's own is its.
        None => (snapshot.legacy().knows_host(&host)
            && !service.config.legacy.hosts().any(|h| h == host))
        .then_some(origin),
    }
}

/// Whether another origin of the deployment's site (a sibling service's page, most often)
/// had the browser fetch this: a picture, a style, a script, a `fetch`, a frame, anything
/// but a page the citizen opens (`Sec-Fetch-Site: same-site` without a top-level
/// navigation). Such a request goes on as the browser would have sent it across sites
/// before the gateway put the services under one domain: without any cookie, so as nobody,
/// and a citizen service then asks for a login. Found in a probe: a sibling's page had the
/// citizen's browser fetch another service's pages as pictures, styles and scripts with
/// her session; the legacy site acted as her (a GET with a side effect), and a script's
/// answer, her identity in it, was read by the sibling's page. A link she follows keeps
/// her session, as Lax cookies do across sites.
fn fetched_by_a_sibling_page(req: &pingora::http::RequestHeader, ctx: &RequestCtx) -> bool {
    let says = |name: &str, value: &str| {
        req.headers
            .get(name)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
    };
    let on_origins = ctx
        .snapshot
        .as_ref()
        .is_some_and(|s| s.portal.settings.service_origins.is_some());
    on_origins
        && says("sec-fetch-site", "same-site")
        && !(says("sec-fetch-mode", "navigate") && says("sec-fetch-dest", "document"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Access as Level;
    use crate::testing::{parts, request};
    use http::StatusCode;

    /// A context routed to the first service, with its access level set to `level`.
    fn routed(level: Level) -> RequestCtx {
        let mut config = crate::testing::config_without_secrets();
        config.services.truncate(1);
        config.services[0].access = level;
        let snap =
            crate::registry::Snapshot::build(&config, &crate::config::Secrets::from_process())
                .expect("snapshot");
        RequestCtx {
            service: Some(Arc::clone(&snap.services()[0])),
            snapshot: Some(Arc::new(snap)),
            ..RequestCtx::default()
        }
    }

    fn stage() -> Access {
        let p = parts();
        Access::new(p.sso, p.telemetry)
    }

    #[tokio::test]
    async fn a_public_service_needs_no_session() {
        let mut session = request(b"GET /s/x/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let mut ctx = routed(Level::Public);
        assert!(matches!(
            stage().run(&mut session, &mut ctx).await,
            Step::Continue
        ));
        assert!(ctx.session.is_none());
    }

    #[tokio::test]
    async fn a_citizen_service_without_a_login_provider_answers_503() {
        // The unit-test configuration has no [sso]: citizen services cannot be served.
        let mut session = request(b"GET /s/x/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
        match stage().run(&mut session, &mut routed(Level::Citizen)).await {
            Step::Respond(r) => assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE),
            Step::Continue => panic!("a citizen service was served without login"),
        }
    }
}

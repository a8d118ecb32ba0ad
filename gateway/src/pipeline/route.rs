//! The route stage: where the request goes ([`crate::routing`]'s decision), made concrete:
//! a service (with the path its backend sees), a page or endpoint the gateway answers
//! itself (left to the local stage), or an answer now (redirect, 404, 400).

use super::{LocalRoute, RequestCtx, Stage, Step};
use crate::host::request_host;
use crate::response::{ErrorKind, LocalResponse};
use crate::routing::{self, Route};
use crate::sso::endpoints::AuthEndpoint;
use crate::telemetry::Telemetry;
use pingora::proxy::Session;
use std::sync::Arc;

/// What a browser sends with the fetch of a service worker's script (and its updates).
/// A worker sees every page load of its origin before the gateway does, the hand-over of
/// the citizen's session among them (`/__egov/session?code=…`): found in a bypass probe,
/// a hostile legacy page's worker took the one-time code out unspent, and its maker opened
/// a session of that origin as the citizen from his own browser. No legacy site of the
/// estate has one; none may register one under a portal origin.
static SERVICE_WORKER: http::HeaderName = http::HeaderName::from_static("service-worker");

pub struct RouteStage {
    telemetry: Arc<Telemetry>,
}

impl RouteStage {
    pub fn new(telemetry: Arc<Telemetry>) -> Self {
        Self { telemetry }
    }
}

impl Stage for RouteStage {
    fn name(&self) -> &'static str {
        "route"
    }

    async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        let Some(snap) = ctx.snapshot.as_ref() else {
            return Step::Respond(ctx.error_page(ErrorKind::Internal));
        };
        let req = session.req_header();
        let host = request_host(req).unwrap_or("");
        let query = req.uri.query();
        let (step, route_name) = match routing::route(snap, host, req.uri.path(), query) {
            // A service worker's script: refused, as a site without one answers it.
            Route::Service { .. } if req.headers.contains_key(&SERVICE_WORKER) => (
                Step::Respond(ctx.error_page(ErrorKind::NotFound)),
                "service_worker",
            ),
            Route::Service { service, path } => {
                match upstream_uri(&service.upstream.base_path, &path, &req.uri) {
                    Some(uri) => {
                        ctx.upstream_uri = Some(uri);
                        ctx.service = Some(Arc::clone(service));
                        // Under the portal's `/s/<id>/`, or the service's own path (its
                        // origin, its legacy host): found by an SRE probe, a span on a
                        // service's origin named a route its path did not take.
                        let under_portal =
                            path.len() < req.uri.path().len() && req.uri.path().starts_with("/s/");
                        let route = if under_portal { "/s/{service}/*" } else { "/*" };
                        (Step::Continue, route)
                    }
                    None => (
                        Step::Respond(ctx.error_page(ErrorKind::BadRequest)),
                        "bad_path",
                    ),
                }
            }
            Route::OriginAuth { service, endpoint } => {
                ctx.service = Some(Arc::clone(service));
                ctx.local = Some(LocalRoute::Auth(endpoint));
                let label = match endpoint {
                    AuthEndpoint::KeepAlive => crate::routing::ORIGIN_KEEP_ALIVE_PATH,
                    AuthEndpoint::OriginSignedOut => crate::routing::ORIGIN_SIGNED_OUT_PATH,
                    _ => crate::routing::ORIGIN_EXCHANGE_PATH,
                };
                (Step::Continue, label)
            }
            Route::Redirect {
                location,
                permanent,
                same_page,
            } => (
                Step::Respond(if same_page {
                    LocalResponse::redirect_of(&req.method, permanent, &location)
                } else {
                    LocalResponse::redirect(permanent, &location)
                }),
                "redirect",
            ),
            Route::Portal(page) => {
                ctx.local = Some(LocalRoute::Portal(page));
                (Step::Continue, page.label())
            }
            Route::Auth(endpoint) => {
                ctx.local = Some(LocalRoute::Auth(endpoint));
                (Step::Continue, "/auth/*")
            }
            Route::Assist => {
                ctx.local = Some(LocalRoute::Assist);
                (Step::Continue, "/api/route")
            }
            Route::NotFound => (
                Step::Respond(ctx.error_page(ErrorKind::NotFound)),
                "not_found",
            ),
            Route::UnknownHost => (
                Step::Respond(ctx.error_page(ErrorKind::MisdirectedRequest)),
                "unknown_host",
            ),
            Route::BadPath(_) => (
                Step::Respond(ctx.error_page(ErrorKind::BadRequest)),
                "bad_path",
            ),
        };
        if let Some(obs) = &ctx.obs {
            self.telemetry
                .routed(obs, session.req_header().method.as_str(), route_name);
        }
        step
    }
}

/// The backend's path and query for `path` under the service's `base` path, with the request's
/// query, built once per request (a failover reuses it); `None` if it is not a valid
/// request target.
///
/// A service at its backend's root that gets the citizen's path unchanged (the common case
/// on a service's own origin) shares the request's own path and query: no string is built
/// and nothing is parsed again.
fn upstream_uri(base: &str, path: &str, request: &http::Uri) -> Option<http::Uri> {
    if base == "/" && path == request.path() {
        let mut parts = http::uri::Parts::default();
        parts.path_and_query = request.path_and_query().cloned();
        return http::Uri::from_parts(parts).ok();
    }
    let target = egov_adapters::paths::request_target(base, path, request.query());
    http::Uri::from_maybe_shared(bytes::Bytes::from(target)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{request, telemetry};
    use http::StatusCode;

    fn ctx() -> RequestCtx {
        RequestCtx {
            snapshot: Some(crate::registry::fixtures::snapshot()),
            ..RequestCtx::default()
        }
    }

    async fn run(raw: &str) -> (Step, RequestCtx) {
        let mut session = request(raw.as_bytes()).await;
        let mut ctx = ctx();
        let step = RouteStage::new(telemetry())
            .run(&mut session, &mut ctx)
            .await;
        (step, ctx)
    }

    fn a_service() -> String {
        crate::registry::fixtures::snapshot().services()[0]
            .id()
            .to_string()
    }

    #[tokio::test]
    async fn a_service_path_goes_on_with_the_backend_path_and_query() {
        let id = a_service();
        let (step, ctx) = run(&format!(
            "GET /s/{id}/a/../b?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        ))
        .await;
        assert!(matches!(step, Step::Continue));
        let service = ctx.service.expect("routed");
        assert_eq!(service.id(), id);
        let uri = ctx.upstream_uri.expect("upstream uri");
        assert!(uri.path().ends_with("/b"), "{uri}");
        assert_eq!(uri.query(), Some("x=1"));
    }

    #[test]
    fn a_root_service_given_the_citizens_path_unchanged_shares_the_requests_target() {
        let request: http::Uri = "/forms/a%20b?x=1&y".parse().unwrap();
        let uri = upstream_uri("/", request.path(), &request).expect("valid");
        assert_eq!(uri, "/forms/a%20b?x=1&y");
        assert!(uri.scheme().is_none() && uri.authority().is_none());
        assert_eq!(uri.path().as_ptr(), request.path().as_ptr(), "not shared");
    }

    #[test]
    fn an_http2_requests_scheme_and_authority_never_reach_the_backends_target() {
        let request: http::Uri = "https://portail.gov.ma/forms?x=1".parse().unwrap();
        let uri = upstream_uri("/", "/forms", &request).expect("valid");
        assert_eq!(uri.to_string(), "/forms?x=1");
    }

    #[test]
    fn a_cleaned_path_or_a_base_path_builds_the_target_with_the_query() {
        let request: http::Uri = "/a/../b?x=1".parse().unwrap();
        assert_eq!(upstream_uri("/", "/b", &request).unwrap(), "/b?x=1");
        assert_eq!(
            upstream_uri("/ir", "/a/../b", &request).unwrap(),
            "/ir/a/../b?x=1"
        );
        let no_query: http::Uri = "/b".parse().unwrap();
        assert_eq!(upstream_uri("/ir", "/b", &no_query).unwrap(), "/ir/b");
    }

    #[test]
    fn a_path_that_is_no_valid_target_is_refused() {
        let request: http::Uri = "/b".parse().unwrap();
        assert!(upstream_uri("/ir", "/a b", &request).is_none());
    }

    #[tokio::test]
    async fn an_unknown_service_is_a_404_page() {
        let (step, ctx) = run("GET /s/no-such-service/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
        match step {
            Step::Respond(r) => assert_eq!(r.status, StatusCode::NOT_FOUND),
            Step::Continue => panic!("routed nowhere but went on"),
        }
        assert!(ctx.service.is_none());
    }

    #[tokio::test]
    async fn a_service_root_without_its_slash_is_redirected() {
        let id = a_service();
        let (step, _) = run(&format!("GET /s/{id} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).await;
        match step {
            Step::Respond(r) => assert_eq!(r.status, StatusCode::MOVED_PERMANENTLY),
            Step::Continue => panic!("no redirect"),
        }
    }

    #[tokio::test]
    async fn climbing_out_of_a_service_is_a_400() {
        let id = a_service();
        let (step, _) = run(&format!(
            "GET /s/{id}/%2e%2e/%2e%2e/etc HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        ))
        .await;
        match step {
            Step::Respond(r) => assert_eq!(r.status, StatusCode::BAD_REQUEST),
            Step::Continue => panic!("climbed out"),
        }
    }

    #[tokio::test]
    async fn portal_pages_and_endpoints_are_left_to_the_local_stage() {
        use crate::portal::PortalPage;
        for (path, local) in [
            ("/", LocalRoute::Portal(PortalPage::Home)),
            ("/api/route", LocalRoute::Assist),
        ] {
            let (step, ctx) = run(&format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")).await;
            assert!(matches!(step, Step::Continue), "{path}");
            assert_eq!(ctx.local, Some(local), "{path}");
        }
    }
}

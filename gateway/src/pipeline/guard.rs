//! The guard stage: refuse what no backend should see, before routing (431 for an oversized
//! header block or too many fields, 414 for an overlong target, 400 for an ambiguous body
//! length or a target a proxy in front would read otherwise, 405 for a method no service
//! takes), and take out an upgrade to anything but a WebSocket; then whether the request
//! is an upgrade is read. The rules are [`crate::guard`]'s.

use super::{RequestCtx, Stage, Step};
use pingora::proxy::Session;

pub struct Guard;

impl Stage for Guard {
    fn name(&self) -> &'static str {
        "guard"
    }

    async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        let Some(snap) = ctx.snapshot.as_ref() else {
            return Step::Continue;
        };
        let limits = &snap.config.gateway.limits;
        let sizes = crate::guard::Sizes {
            max_header_bytes: snap.portal.settings.max_header_bytes,
            max_headers: limits.max_headers,
            max_uri_bytes: limits.max_uri_bytes,
        };
        match crate::guard::check(session.as_downstream(), sizes) {
            Ok(()) => {
                crate::guard::only_websocket_upgrades(session.req_header_mut());
                ctx.upgrade = session.is_upgrade_req();
                Step::Continue
            }
            Err(refusal) => {
                // The rest of such a request cannot be trusted to frame the next one.
                session.set_keepalive(None);
                let page = ctx.error_page(refusal.kind());
                Step::Respond(match refusal {
                    crate::guard::Refusal::Method => page.with_header(
                        http::header::ALLOW,
                        http::HeaderValue::from_static(crate::guard::ALLOW),
                    ),
                    crate::guard::Refusal::HeadersTooLarge => {
                        let req = session.req_header();
                        let origins = snap.portal.settings.service_origins.as_ref();
                        let host = crate::host::request_host(req).map(crate::host::normalize);
                        let domain = origins
                            .filter(|o| host.as_deref().is_some_and(|h| o.covers(h)))
                            .map(|o| o.domain.as_str());
                        let https = snap.portal.settings.public_url.https;
                        let expiries = crate::cookie_overflow::expiries(req, domain, https);
                        page.with_headers(http::header::SET_COOKIE, expiries)
                    }
                    _ => page,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::request;
    use http::StatusCode;

    fn ctx() -> RequestCtx {
        RequestCtx {
            snapshot: Some(crate::registry::fixtures::snapshot()),
            ..RequestCtx::default()
        }
    }

    #[tokio::test]
    async fn trace_track_connect_and_invented_methods_are_refused_with_405_and_allow() {
        for method in ["TRACE", "TRACK", "PROPFIND", "FOO"] {
            let raw = format!("{method} /s/x/ HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut session = request(raw.as_bytes()).await;
            match Guard.run(&mut session, &mut ctx()).await {
                Step::Respond(r) => {
                    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
                    assert!(
                        r.headers
                            .iter()
                            .any(|(n, v)| n == http::header::ALLOW && v == crate::guard::ALLOW),
                        "{method}: Allow"
                    );
                }
                Step::Continue => panic!("{method} let through"),
            }
        }
        for method in ["GET", "POST", "OPTIONS", "DELETE"] {
            let raw = format!("{method} /s/x/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
            let mut session = request(raw.as_bytes()).await;
            assert!(matches!(
                Guard.run(&mut session, &mut ctx()).await,
                Step::Continue
            ));
        }
    }

    #[tokio::test]
    async fn a_body_with_both_length_and_chunking_is_refused_with_400() {
        let mut session = request(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        )
        .await;
        match Guard.run(&mut session, &mut ctx()).await {
            Step::Respond(r) => assert_eq!(r.status, StatusCode::BAD_REQUEST),
            Step::Continue => panic!("smuggling shape accepted"),
        }
    }

    #[tokio::test]
    async fn an_oversized_header_block_is_refused_with_431() {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n\r\n",
            "a".repeat(40 * 1024)
        );
        let mut session = request(big.as_bytes()).await;
        match Guard.run(&mut session, &mut ctx()).await {
            Step::Respond(r) => assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
            Step::Continue => panic!("oversized headers accepted"),
        }
    }

    #[tokio::test]
    async fn an_overlong_target_is_refused_with_414() {
        let raw = format!(
            "GET /s/x/?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(9000)
        );
        let mut session = request(raw.as_bytes()).await;
        match Guard.run(&mut session, &mut ctx()).await {
            Step::Respond(r) => assert_eq!(r.status, StatusCode::URI_TOO_LONG),
            Step::Continue => panic!("overlong target accepted"),
        }
    }

    #[tokio::test]
    async fn too_many_header_fields_are_refused_with_431() {
        let fields: String = (0..150).map(|i| format!("X-F{i}: v\r\n")).collect();
        let raw = format!("GET /s/x/ HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
        let mut session = request(raw.as_bytes()).await;
        match Guard.run(&mut session, &mut ctx()).await {
            Step::Respond(r) => assert_eq!(r.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE),
            Step::Continue => panic!("150 header fields accepted"),
        }
    }

    /// Found when tried (a citizen's probe of the demo): `Host: 127.0.0.1:8080 evil.com`, a
    /// port of 65536 or -1, and markup after the host were served as the portal. RFC 9112
    /// §3.2: a `Host` that is no `host[:port]` gets 400 (pingora refuses two `Host` lines
    /// and userinfo itself).
    #[tokio::test]
    async fn a_host_that_is_no_host_and_port_is_refused_with_400() {
        async fn goes_on(host: &str) -> bool {
            let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let mut session = request(raw.as_bytes()).await;
            match Guard.run(&mut session, &mut ctx()).await {
                Step::Continue => true,
                Step::Respond(r) => {
                    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{host}");
                    false
                }
            }
        }
        for host in [
            "127.0.0.1:8080 evil.com",
            "127.0.0.1:65536",
            "127.0.0.1:-1",
            "customs.localhost:8080/\"><script>x</script>",
            "[::1",
            "[not-ipv6]:80",
            "a b",
        ] {
            assert!(!goes_on(host).await, "{host}");
        }
        for host in [
            "portail.gov.ma",
            "cnie-renewal.localhost:8080",
            "127.0.0.1:65535",
            "[::1]:8080",
            "[2001:db8::1]",
            "legacy_host.gov.ma.",
            "x:",
        ] {
            assert!(goes_on(host).await, "{host}");
        }
    }

    #[tokio::test]
    async fn an_ordinary_request_goes_on() {
        let mut session = request(b"GET /s/x/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(matches!(
            Guard.run(&mut session, &mut ctx()).await,
            Step::Continue
        ));
    }
}

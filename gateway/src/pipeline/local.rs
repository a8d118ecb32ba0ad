//! The local stage: pages and endpoints the gateway answers itself, as routing found them:
//! the portal's home page, the single sign-on endpoints and `POST /api/route`.

use super::{LocalRoute, RequestCtx, Stage, Step};
use crate::assist::Assist;
use crate::limits::rate::RateLimiter;
use crate::portal::Portal;
use crate::sso::endpoints::EndpointContext;
use crate::sso::Sso;
use crate::telemetry::trace::end_child;
use crate::telemetry::Telemetry;
use pingora::proxy::Session;
use std::sync::Arc;

pub struct Local {
    portal: Arc<Portal>,
    sso: Arc<Sso>,
    assist: Arc<Assist>,
    telemetry: Arc<Telemetry>,
    /// Where each address's budget of LLM calls is kept ([`super::limits::LlmCalls`]).
    limiter: Arc<RateLimiter>,
}

impl Local {
    pub fn new(
        portal: Arc<Portal>,
        sso: Arc<Sso>,
        assist: Arc<Assist>,
        telemetry: Arc<Telemetry>,
        limiter: Arc<RateLimiter>,
    ) -> Self {
        Self {
            portal,
            sso,
            assist,
            telemetry,
            limiter,
        }
    }
}

impl Stage for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        let (Some(local), Some(snap)) = (ctx.local, ctx.snapshot.as_ref()) else {
            return Step::Continue;
        };
        let budget = super::limits::LlmCalls::of(&self.limiter, ctx);
        Step::Respond(match local {
            LocalRoute::Portal(page) => {
                Box::pin(self.portal.answer(
                    page,
                    session,
                    snap,
                    ctx.request_id.as_str(),
                    ctx.attempts.asked_by,
                    &budget,
                ))
                .await
            }
            LocalRoute::Auth(endpoint) => {
                let cx = EndpointContext {
                    request_id: ctx.request_id.as_str(),
                    snapshot: snap,
                    service: ctx.service.as_deref(),
                    client: ctx.citizen_ip,
                    lang: crate::portal::lang::Lang::of_request(session.req_header()),
                };
                // The handlers' futures are large: boxed where they run, so every other
                // request's pass through this stage stays small.
                Box::pin(self.sso.handle(endpoint, session, cx)).await
            }
            LocalRoute::Assist => {
                let span = ctx
                    .obs
                    .as_ref()
                    .and_then(|o| self.telemetry.child(o, "assist.route"));
                let answer = Box::pin(crate::assist::api::handle(
                    &self.assist,
                    snap.catalog(),
                    session,
                    crate::request_body::BodyPace::of(&snap.config.gateway.limits),
                    ctx.attempts.asked_by,
                    &budget,
                ))
                .await;
                end_child(span, None);
                answer
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{parts, request};
    use http::StatusCode;

    fn stage() -> Local {
        let p = parts();
        Local::new(
            crate::portal::fixtures::portal(&p),
            p.sso,
            p.assist,
            p.telemetry,
            std::sync::Arc::new(RateLimiter::new(None)),
        )
    }

    fn ctx(local: Option<LocalRoute>) -> RequestCtx {
        RequestCtx {
            snapshot: Some(crate::registry::fixtures::snapshot()),
            local,
            ..RequestCtx::default()
        }
    }

    #[tokio::test]
    async fn the_home_page_is_answered_from_the_snapshot() {
        let mut session = request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        match stage()
            .run(
                &mut session,
                &mut ctx(Some(LocalRoute::Portal(crate::portal::PortalPage::Home))),
            )
            .await
        {
            Step::Respond(r) => {
                assert_eq!(r.status, StatusCode::OK);
                assert!(std::str::from_utf8(&r.body)
                    .expect("utf-8")
                    .contains("/categories/"));
            }
            Step::Continue => panic!("no home page"),
        }
    }

    #[tokio::test]
    async fn the_router_refuses_a_get() {
        let mut session = request(b"GET /api/route HTTP/1.1\r\nHost: x\r\n\r\n").await;
        match stage()
            .run(&mut session, &mut ctx(Some(LocalRoute::Assist)))
            .await
        {
            Step::Respond(r) => assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED),
            Step::Continue => panic!("no answer"),
        }
    }

    #[tokio::test]
    async fn a_service_request_goes_on() {
        let mut session = request(b"GET /s/x/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(matches!(
            stage().run(&mut session, &mut ctx(None)).await,
            Step::Continue
        ));
    }
}

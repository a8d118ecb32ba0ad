//! The strip stage: for a service whose pages carry the portal strip, which strip this
//! request's page gets (the citizen's language, logged in or not), chosen before the cache
//! is asked so the stored copy of that variant is the one served.

use super::{RequestCtx, Stage, Step};
use crate::portal::Portal;
use crate::sso::Sso;
use pingora::proxy::Session;
use std::sync::Arc;

pub struct StripStage {
    portal: Arc<Portal>,
    sso: Arc<Sso>,
}

impl StripStage {
    pub fn new(portal: Arc<Portal>, sso: Arc<Sso>) -> Self {
        Self { portal, sso }
    }
}

impl Stage for StripStage {
    fn name(&self) -> &'static str {
        "strip"
    }

    async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        let (Some(service), Some(snap)) = (ctx.service.as_ref(), ctx.snapshot.as_ref()) else {
            return Step::Continue;
        };
        if ctx.local.is_some() || !service.chain.has_banner() {
            return Step::Continue;
        }
        let req = session.req_header();
        // A citizen service has read the session; elsewhere the cookie says enough (no store
        // read for a strip).
        let logged_in = ctx.session.is_some() || self.sso.cookies().session_id(req).is_some();
        ctx.strip = Some(self.portal.strip(snap, service, req, logged_in));
        Step::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{parts, request};

    /// The stage, and a request context routed to a shipped service with or without the
    /// portal strip.
    fn stage_and_ctx(with_strip: bool) -> (StripStage, RequestCtx) {
        let p = parts();
        let stage = StripStage::new(crate::portal::fixtures::portal(&p), Arc::clone(&p.sso));
        let snap = crate::registry::fixtures::snapshot();
        // The shipped catalog shows the strip on onee-electricity-bill, not on most.
        let service = snap
            .services()
            .iter()
            .find(|s| s.chain.has_banner() == with_strip)
            .cloned()
            .expect("a shipped service with (or without) the portal strip");
        let ctx = RequestCtx {
            snapshot: Some(snap),
            service: Some(service),
            ..RequestCtx::default()
        };
        (stage, ctx)
    }

    #[tokio::test]
    async fn a_request_to_a_service_without_a_strip_gets_none() {
        let (stage, mut ctx) = stage_and_ctx(false);
        let mut session = request(b"GET /s/x/ HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(matches!(
            stage.run(&mut session, &mut ctx).await,
            Step::Continue
        ));
        assert!(ctx.strip.is_none());
    }

    #[tokio::test]
    async fn a_service_with_a_strip_gets_the_citizen_s_language_variant() {
        let (stage, mut ctx) = stage_and_ctx(true);
        let mut session =
            request(b"GET /s/x/ HTTP/1.1\r\nHost: x\r\nAccept-Language: en\r\n\r\n").await;
        stage.run(&mut session, &mut ctx).await;
        let (variant, html) = ctx.strip.expect("a strip");
        assert_eq!(
            variant,
            crate::portal::strip::variant(crate::portal::lang::Lang::En, false)
        );
        assert!(html.contains("lang=\"en\""), "{html}");
    }
}

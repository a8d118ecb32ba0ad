//! The access stage: a service's access level against the request's session
//! ([`Sso::authorize`]): go on (with the citizen's session when the service needs it), or
//! the login redirect, 401, 403 or 503 instead.

use super::{RequestCtx, Stage, Step};
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
            service.config.access,
            service.id(),
            ctx.request_id.as_str(),
        ))
        .await;
        match decision {
            Authorization::Proceed(s) => {
                end_child(span, None);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Access as Level;
    use crate::pipeline::testing::{parts, request};
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

//! The request's steps, in the one order declared by [`Pipeline::standard`]:
//!
//! ```text
//!  identify ─▶ guard ─▶ route ─▶ limits ─▶ local ─▶ access ─▶ strip ─▶ cache ─▶ soap facade
//!  snapshot,   431,     service  405,     portal,  session,  portal  shared    JSON ⇄ SOAP
//!  client,     400      | 301    413,     /auth/*, 302 login, strip  or not    as an upstream
//!  trace, id            | 404    429      /api/    401, 403,  variant (pingora call
//!                       | 400             route    503               looks up)
//!        ─▶ upstream (proxy.rs: peer, failover, deadline; upstream::prepare; outcome hook)
//!        ─▶ adapters (adapt: chain's Location/Set-Cookie/header rules, body feed; a site's
//!                    error page replaced)
//!        ─▶ log (telemetry: metrics, access log, spans)
//! ```
//!
//! Each stage is a small type in its own module that gets only the parts it needs, reads and
//! fills the [`RequestCtx`], and says [`Step::Continue`] or [`Step::Respond`] with the answer
//! the gateway gives instead of the backend's. The first `Respond` ends the list. Adding rate
//! limiting is adding an entry here, not editing the proxy's phases
//! (the proxy module runs the list and writes the answer, nothing else).
//!
//! The list is static (a field per stage, run in the order [`Pipeline::run`] names them), so
//! a request's pass through it costs no allocation: each stage's future lives inside the
//! pipeline's, and a stage keeps its own heavy work (a session lookup, an SSO endpoint) boxed
//! behind a cheap check, so requests that do not need it never build it.

pub mod access;
pub mod adapt;
mod answer;
pub mod cache;
pub mod ctx;
pub mod guard;
pub mod identify;
pub mod limits;
pub mod local;
pub mod route;
pub mod soap;
pub mod strip;

pub use answer::{answer_failure, answered, write_local};
pub use ctx::{LocalRoute, RequestCtx};

use crate::app::App;
use crate::response::LocalResponse;
use pingora::proxy::Session;
use std::future::Future;
use std::sync::Arc;

/// What a stage decided.
#[derive(Debug)]
pub enum Step {
    /// On to the next stage (and after the last, to the backend).
    Continue,
    /// Answer this instead; no later stage runs and no backend is called.
    Respond(LocalResponse),
}

/// One step of the request's way in.
pub trait Stage: Send + Sync {
    /// A short name, for logs and tests.
    fn name(&self) -> &'static str;
    fn run(&self, session: &mut Session, ctx: &mut RequestCtx)
        -> impl Future<Output = Step> + Send;
}

/// Runs `$stage`s in order on `$session` and `$ctx`; the first answer ends the list.
macro_rules! in_order {
    ($session:expr, $ctx:expr; $($stage:expr),+ $(,)?) => {{
        $(
            if let Step::Respond(answer) = $stage.run($session, $ctx).await {
                return Step::Respond(answer);
            }
        )+
        Step::Continue
    }};
}

/// The gateway's stages.
pub struct Pipeline {
    identify: identify::Identify,
    guard: guard::Guard,
    route: route::RouteStage,
    limits: limits::LimitsStage,
    local: local::Local,
    access: access::Access,
    strip: strip::StripStage,
    cache: cache::CacheStage,
    soap: soap::SoapFacade,
}

impl Pipeline {
    pub fn standard(app: &App) -> Self {
        let t = || Arc::clone(&app.telemetry);
        Self {
            identify: identify::Identify::new(
                Arc::clone(&app.registry),
                t(),
                app.connections.keepalive_timeout.is_some(),
                Arc::clone(&app.closing_connections),
            ),
            guard: guard::Guard,
            route: route::RouteStage::new(t()),
            limits: limits::LimitsStage::new(
                Arc::clone(&app.rate_limiter),
                Arc::clone(&app.sso),
                t(),
                Arc::clone(&app.connections.streams),
            ),
            local: local::Local::new(
                Arc::clone(&app.portal),
                Arc::clone(&app.sso),
                Arc::clone(&app.assist),
                t(),
                Arc::clone(&app.rate_limiter),
            ),
            access: access::Access::new(Arc::clone(&app.sso), t()),
            strip: strip::StripStage::new(Arc::clone(&app.portal), Arc::clone(&app.sso)),
            cache: cache::CacheStage,
            soap: soap::SoapFacade::new(Arc::clone(&app.upstreams), Arc::clone(&app.sso), t()),
        }
    }

    /// The stages' names, in the order they run.
    pub fn names(&self) -> [&'static str; 9] {
        [
            self.identify.name(),
            self.guard.name(),
            self.route.name(),
            self.limits.name(),
            self.local.name(),
            self.access.name(),
            self.strip.name(),
            self.cache.name(),
            self.soap.name(),
        ]
    }

    /// Runs the stages until one answers: the one place their order is written.
    pub async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        in_order!(session, ctx;
            self.identify,
            self.guard,
            self.route,
            self.limits,
            self.local,
            self.access,
            self.strip,
            self.cache,
            self.soap,
        )
    }
}

#[cfg(test)]
mod order_tests {
    use super::*;

    #[test]
    fn the_stages_run_in_the_documented_order() {
        let config = crate::testing::config_without_secrets();
        let app = App::new(&config, &crate::config::Secrets::from_process()).expect("app");
        assert_eq!(
            Pipeline::standard(&app).names(),
            [
                "identify",
                "guard",
                "route",
                "limits",
                "local",
                "access",
                "strip",
                "cache",
                "soap-facade"
            ]
        );
    }

    #[tokio::test]
    async fn the_first_answer_ends_the_list() {
        let config = crate::testing::config_without_secrets();
        let app = App::new(&config, &crate::config::Secrets::from_process()).expect("app");
        let pipeline = Pipeline::standard(&app);
        // Routed nowhere: the route stage answers 404 and no later stage runs (the access
        // stage would otherwise see no service and the SOAP stage no URI; neither is set).
        let mut session =
            crate::testing::request(b"GET /s/nowhere/ HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        let mut ctx = RequestCtx::default();
        match pipeline.run(&mut session, &mut ctx).await {
            Step::Respond(r) => assert_eq!(r.status, http::StatusCode::NOT_FOUND),
            Step::Continue => panic!("an unknown service went on"),
        }
        assert!(ctx.obs.is_some(), "identify ran first");
        assert!(ctx.service.is_none() && ctx.session.is_none());
    }
}

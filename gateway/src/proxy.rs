//! The dispatcher: pingora's `ProxyHttp` phases, each handing over to the room that owns the
//! step. The request's own steps are the stage list of [`crate::pipeline`]; what follows the
//! stages is pingora's upstream exchange, whose parts live in [`crate::upstream`] (peers,
//! failover, deadline, request assembly, the outcome hook), [`crate::chain`] (the response
//! adapters and body feed) and [`crate::telemetry`] (the log).
//!
//! ```text
//!  early_request_filter      the stage list (pipeline::Pipeline::standard); crate::framing
//!                            (compression on for what goes to a backend)
//!  request_filter            the stages' answer (write_local), else limits::settle_body
//!  upstream_peer             upstream::Attempts::next_peer; outcome: started
//!  fail_to_connect           another backend when nothing was sent; outcome: retrying
//!  error_while_proxy         an idempotent request the site failed: another backend
//!  connected_to_upstream     outcome: connected
//!  upstream_request_filter   upstream::prepare (path, Host, X-Forwarded-*, ids, identity,
//!                            the service's request adapters)
//!  request_body_filter       pipeline::limits::filter_body (limits, small pieces gathered)
//!                            · outcome: sent (at its end)
//!  upstream_response_filter  Attempts::answer_arrived (deadline, few 1xx) · outcome: answered
//!                            (final) · framing::from_legacy · limits::upgraded (a 101) ·
//!                            pipeline::adapt (the adapters, a site's error page replaced;
//!                            X-Request-Id, X-Cache-Status if uncached)
//!  upstream_response_body_filter   the body feed, chunk by chunk (a WebSocket: cut at logout)
//!  response_filter           crate::framing (small: uncompressed; HTTP/1.0: no chunks);
//!                            RequestCtx::answer_leaving: X-Request-Id, X-Cache-Status on the
//!                            rest (hits, interim answers); the end of the request's latency
//!  fail_to_proxy             outcome: failed · refused/reset → 502 page, timeout → 504 page
//!  logging                   telemetry: metrics, access log (not a cache refresh), spans end
//! ```

use crate::app::App;
use crate::cache::{self, ResponseCache};
use crate::framing;
use crate::pipeline::{limits::settle_body, write_local, Pipeline, RequestCtx, Step};
use crate::sso::Sso;
use crate::telemetry::Telemetry;
use crate::upstream::{self, Outcome, Upstreams};
use async_trait::async_trait;
use bytes::Bytes;
use pingora::cache::key::HashBinary;
use pingora::cache::{CacheKey, CacheMeta, NoCacheReason, RespCacheable};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::*;
use pingora::protocols::Digest;
use pingora::proxy::{FailToProxy, ProxyHttp, ProxyWarnLogContext as WarnOf, Session};
use pingora::{Error, ErrorSource, ErrorType};
use std::sync::Arc;

/// The gateway's `ProxyHttp` implementation.
pub struct GatewayProxy {
    pipeline: Pipeline,
    upstreams: Arc<Upstreams>,
    sso: Arc<Sso>,
    telemetry: Arc<Telemetry>,
    cache: Arc<ResponseCache>,
}

impl GatewayProxy {
    pub fn new(app: &App) -> Self {
        Self {
            pipeline: Pipeline::standard(app),
            upstreams: Arc::clone(&app.upstreams),
            sso: Arc::clone(&app.sso),
            telemetry: Arc::clone(&app.telemetry),
            cache: Arc::clone(&app.cache),
        }
    }

    /// Reports an upstream outcome of the request's routed service.
    fn report(&self, ctx: &mut RequestCtx, outcome: Outcome<'_>) {
        if let Some(service) = ctx.service.as_ref() {
            self.upstreams
                .report(service, &mut ctx.attempts, ctx.obs.as_mut(), outcome);
        }
    }
}

fn no_service() -> Box<Error> {
    Error::explain(ErrorType::InternalError, "no service was routed")
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    /// Boxed: pingora keeps the context by value in its boxed per-request future, laid out
    /// three times (`new_ctx`'s value, the local, `process_request`'s argument): a kilobyte
    /// context made it 3 KB larger than a bare proxy's, copied per request; a box is one.
    type CTX = Box<RequestCtx>;

    fn new_ctx(&self) -> Self::CTX {
        Box::default()
    }

    async fn early_request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<()> {
        // The stages run here, before pingora's modules read the request, so compression
        // can be decided for what goes to a backend and the portal's own pages only.
        match self.pipeline.run(session, ctx).await {
            Step::Respond(answer) => framing::answer_locally(session, ctx, answer),
            Step::Continue => framing::to_backend(session),
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<bool> {
        match ctx.answer.take() {
            None => settle_body(session, ctx).await.map(|()| false),
            Some(answer) => {
                write_local(session, answer, ctx).await?;
                Ok(true)
            }
        }
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut Self::CTX) -> Result<()> {
        if ctx.cache.is_shared() {
            crate::pipeline::cache::enable(&self.cache, session, ctx.service.as_deref());
        }
        Ok(())
    }

    fn cache_key_callback(&self, _session: &Session, ctx: &mut Self::CTX) -> Result<CacheKey> {
        let (Some(service), Some(uri)) = (ctx.service.as_ref(), ctx.upstream_uri.as_ref()) else {
            return Err(no_service());
        };
        let policy = service.cache.as_ref().ok_or_else(no_service)?;
        let path = cache::service_path(&service.upstream.base_path, uri.path());
        Ok(self.cache.key(service.id(), policy, path, uri.query()))
    }

    fn response_cache_filter(
        &self,
        _session: &Session,
        resp: &ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<RespCacheable> {
        let began = ctx.obs.as_ref().map(|o| o.fetch_started());
        Ok(match ctx.service.as_ref().and_then(|s| s.cache.as_ref()) {
            Some(policy) => cache::decide(policy, resp, began),
            None => RespCacheable::Uncacheable(NoCacheReason::NeverEnabled),
        })
    }

    fn cache_vary_filter(
        &self,
        meta: &CacheMeta,
        ctx: &mut Self::CTX,
        req: &RequestHeader,
    ) -> Option<HashBinary> {
        Some(ctx.cache_variant(meta, req))
    }

    fn should_serve_stale(
        &self,
        session: &mut Session,
        ctx: &mut Self::CTX,
        error: Option<&Error>,
    ) -> bool {
        // Within the windows the stored answer allows (pingora checks them): while it is
        // revalidated, or when the legacy site is unreachable or failing. The failure still
        // counts against the backend and the breaker, though the citizen never sees it.
        let Some(e) = error else { return true };
        if ctx
            .attempts
            .fails_over_on(ctx.service.as_deref(), session, e)
        {
            return false; // another backend first (`upstream.failover_on`), then a copy
        }
        cache::stale_on_error(session, e);
        if ctx.attempts.unavailable_for.is_some() {
            return true; // breaker open or no backend left: nothing was asked
        }
        let serve = e.esource() == &ErrorSource::Upstream
            || matches!(e.etype(), ErrorType::HTTPStatus(code) if *code >= 500);
        if serve {
            self.report(ctx, Outcome::of_error(e));
        }
        serve
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut Self::CTX,
    ) -> Result<Box<HttpPeer>> {
        let service = ctx.service.as_ref().ok_or_else(no_service)?;
        let peer = ctx.attempts.next_peer(service, ctx.upgrade_idle())?;
        ctx.body_held.restart(); // pingora sends its retry buffer (what was read) again
        self.report(ctx, Outcome::Started);
        Ok(peer)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Self::CTX,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if (ctx.service.as_ref()).is_some_and(|s| ctx.attempts.connect_failed(s, &e)) {
            self.report(ctx, Outcome::Retrying(&e));
            e.set_retry(true);
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Self::CTX,
        reused: bool,
    ) -> Box<Error> {
        let service = ctx.service.as_ref();
        let (e, failover) = ctx
            .attempts
            .exchange_failed(session, peer, e, service, reused);
        if failover {
            self.report(ctx, Outcome::Retrying(&e));
        }
        e
    }

    async fn connected_to_upstream(
        &self,
        _session: &mut Session,
        _reused: bool,
        _peer: &HttpPeer,
        #[cfg(unix)] _fd: std::os::unix::io::RawFd,
        #[cfg(windows)] _sock: std::os::windows::io::RawSocket,
        _digest: Option<&Digest>,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        self.report(ctx, Outcome::Connected);
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        let (Some(service), Some(uri)) = (ctx.service.as_ref(), ctx.upstream_uri.as_ref()) else {
            return Err(no_service());
        };
        let mut hop = ctx.hop(session.req_header(), service, &self.telemetry);
        let shared = ctx.cache.is_shared();
        if shared {
            // Asked as nobody, at the canonical host (no forged `Host` in a stored page).
            hop.session = None;
            hop.citizen_host = Some(service.canonical_host.clone());
            cache::ask_as_nobody(upstream_request, service.chain.request_renames());
        }
        let ranges = upstream::prepare(&self.sso, upstream_request, uri, &hop);
        ctx.ranges = ranges || shared;
        if shared {
            let gateway = session.server_addr();
            cache::anonymise(upstream_request, service.cache.as_deref(), gateway);
        }
        ctx.upstream_head = upstream_request.method == http::Method::HEAD;
        upstream::unread_body::close_after_a_body(session, upstream_request)
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        crate::pipeline::limits::filter_body(ctx, session, body, end_of_stream)?;
        if end_of_stream {
            self.report(ctx, Outcome::Sent);
        }
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        let status = upstream_response.status;
        let service = ctx.service.as_deref();
        let limits = ctx.snapshot.as_ref().map(|s| &s.config.gateway.limits);
        let arrived = crate::limits::upgraded(session, upstream_response, ctx.upgrade, limits)
            .and_then(|()| ctx.attempts.answer_arrived(status))
            .and_then(|()| ctx.attempts.fail_over_on_answer(service, session, status));
        if arrived.is_ok() && crate::limits::ends_the_exchange(status) {
            self.report(ctx, Outcome::Answered(status.as_u16()));
        }
        crate::framing::from_legacy(upstream_response, arrived)?;
        crate::pipeline::adapt::legacy_answer(session, upstream_response, ctx, &self.telemetry)
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Self::CTX,
    ) -> Result<Option<std::time::Duration>> {
        ctx.session_ended()?;
        let Some(feed) = ctx.body.as_mut() else {
            return Ok(None);
        };
        feed.feed(body, end_of_stream)
            .map_err(|e| Error::explain(ErrorType::InternalError, e.to_string()))
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Self::CTX,
    ) -> Result<()> {
        framing::toward_client(session, upstream_response);
        let strip = ctx.strip.is_some();
        cache::freshness::for_caches_after_us(ctx.cache_policy(), strip, upstream_response);
        ctx.answer_leaving(session, upstream_response);
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Self::CTX,
    ) -> FailToProxy {
        let stalled = crate::pipeline::limits::body_stalled(session, e);
        let idle_end = crate::limits::idle_end(ctx.attempts.upgraded, e);
        if e.esource() == &ErrorSource::Upstream && !stalled && !idle_end {
            self.report(ctx, Outcome::Failed(e));
        }
        crate::pipeline::answer_failure(session, e, stalled, ctx).await
    }

    /// A failover on the site's own answer (`upstream.failover_on`) is routine, and counted
    /// (`egov_upstream_errors_total{kind="answered_5xx"}`): no warning per request, which a
    /// backend in maintenance made of every other request (found in a bypass probe).
    fn suppress_proxy_warn_log(&self, _: &Session, _: &Self::CTX, e: &Error, _: WarnOf) -> bool {
        matches!(e.etype(), ErrorType::HTTPStatus(_))
    }

    /// A body refused for its size, or stalled by the citizen, is the citizen's doing: his
    /// answer (413, 408) is logged and counted, not reported as the proxy's error; nor is a
    /// WebSocket's end at its idle limit, nor a site's error page replaced by the portal's.
    fn suppress_error_log(&self, _session: &Session, ctx: &Self::CTX, e: &Error) -> bool {
        let service = ctx.service.as_ref().map(|s| s.id());
        ctx.citizens_doing
            || crate::pipeline::adapt::replaced_the_sites_page(e)
            || crate::limits::idle_end(ctx.attempts.upgraded, e)
            || crate::telemetry::access_log::withhold_pingora_line(service, e)
    }

    /// What pingora's own log lines (an upstream failure...) say of the request: never
    /// query values, path parameters or identifiers, as the access log.
    fn request_summary(&self, session: &Session, _ctx: &Self::CTX) -> String {
        crate::telemetry::access_log::summary(session.req_header())
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut Self::CTX) {
        if let Some(ticket) = ctx.stream_ticket.take() {
            ticket.finish(crate::pipeline::answered(session).is_some());
        }
        if let Some(mut obs) = ctx.obs.take() {
            self.telemetry.finish(&mut obs, &ctx.finished(session));
        }
    }
}

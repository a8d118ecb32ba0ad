//! The dispatcher: pingora's `ProxyHttp` phases, each handing over to the room that owns the
//! step. The request's own steps are the stage list of [`crate::pipeline`]; what follows the
//! stages is pingora's upstream exchange, whose parts live in [`crate::upstream`] (peers,
//! failover, deadline, request assembly, the outcome hook), [`crate::chain`] (the response
//! adapters and body feed) and [`crate::telemetry`] (the log).
//!
//! ```text
//!  early_request_filter      the stage list (pipeline::Pipeline::standard); compression
//!                            toward the client on for what goes to a backend (pingora skips
//!                            types that do not compress, e.g. images)
//!  request_filter            write the stages' answer, if any (the one place local answers
//!                            are written: write_local)
//!  upstream_peer             upstream::Attempts::next_peer; outcome: started
//!  fail_to_connect           another backend when nothing was sent; outcome: retrying
//!  connected_to_upstream     outcome: connected
//!  upstream_request_filter   upstream::prepare (path, Host, X-Forwarded-*, ids, identity,
//!                            the service's request adapters)
//!  upstream_response_filter  total deadline · outcome: answered · chain::adapt_response
//!  upstream_response_body_filter   total deadline · the body feed, chunk by chunk
//!  response_filter           X-Request-Id on every answer
//!  fail_to_proxy             outcome: failed · refused/reset → 502 page, timeout → 504 page
//!  logging                   telemetry: metrics, access log, spans end
//! ```

use crate::app::App;
use crate::chain::ResponseHeaders;
use crate::pipeline::{Pipeline, RequestCtx, Step};
use crate::response::{security_headers, ErrorKind, LocalResponse};
use crate::sso::Sso;
use crate::telemetry::request::Finished;
use crate::telemetry::Telemetry;
use crate::upstream::{self, Outcome, Upstreams};
use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderName;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::compression::ResponseCompression;
use pingora::prelude::*;
use pingora::protocols::Digest;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType};
use std::sync::Arc;
use std::time::Duration;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Compression level toward clients (gzip/brotli, when accepted) for proxied responses.
const COMPRESSION_LEVEL: u32 = 5;

/// The gateway's `ProxyHttp` implementation.
pub struct GatewayProxy {
    pipeline: Pipeline,
    upstreams: Arc<Upstreams>,
    sso: Arc<Sso>,
    telemetry: Arc<Telemetry>,
}

impl GatewayProxy {
    pub fn new(app: &App) -> Self {
        Self {
            pipeline: Pipeline::standard(app),
            upstreams: Arc::clone(&app.upstreams),
            sso: Arc::clone(&app.sso),
            telemetry: Arc::clone(&app.telemetry),
        }
    }

    /// Reports an upstream outcome of the request's routed service.
    fn report(&self, ctx: &mut RequestCtx, outcome: Outcome<'_>) {
        if let Some(service) = ctx.service.as_ref() {
            self.upstreams
                .report(service, &ctx.attempts, ctx.obs.as_mut(), outcome);
        }
    }
}

fn no_service() -> Box<Error> {
    Error::explain(ErrorType::InternalError, "no service was routed")
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::default()
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        // The stages run here, before pingora's modules read the request, so compression
        // can be decided for what goes to a backend only.
        match self.pipeline.run(session, ctx).await {
            Step::Respond(answer) => ctx.answer = Some(answer),
            Step::Continue => {
                if session
                    .req_header()
                    .headers
                    .contains_key(http::header::ACCEPT_ENCODING)
                {
                    // Rewritten pages and untouched responses alike: legacy sites rarely
                    // compress (and those whose pages get rewritten are asked not to).
                    set_compression(session, COMPRESSION_LEVEL);
                }
            }
        }
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        match ctx.answer.take() {
            None => Ok(false),
            Some(answer) => {
                write_local(session, answer, ctx).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let service = ctx.service.as_ref().ok_or_else(no_service)?;
        let peer = ctx.attempts.next_peer(service, ctx.upgrade)?;
        self.report(ctx, Outcome::Started);
        Ok(peer)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        let Some(service) = ctx.service.as_ref() else {
            return e;
        };
        if ctx.attempts.connect_failed(service, &e) {
            self.report(ctx, Outcome::Retrying(&e));
            e.set_retry(true);
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
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        self.report(ctx, Outcome::Connected);
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let (Some(service), Some(uri)) = (ctx.service.as_ref(), ctx.upstream_uri.as_ref()) else {
            return Err(no_service());
        };
        let hop = ctx.hop(session.req_header(), service, &self.telemetry);
        upstream::prepare(&self.sso, upstream_request, uri, &hop)
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        ctx.attempts.check_deadline()?;
        let status = upstream_response.status;
        if !status.is_informational() {
            self.report(ctx, Outcome::Answered(status.as_u16()));
        }
        let Some(service) = ctx.service.as_ref() else {
            return Ok(());
        };
        let head = session.req_header().method == http::Method::HEAD;
        let adapted = service.chain.adapt_response(
            &mut ResponseHeaders(upstream_response),
            status.as_u16(),
            head || status.is_informational(),
            ctx.upgrade,
        );
        if let Some((feed, transcodes)) = adapted {
            self.telemetry.body_rewritten(service.id(), transcodes);
            ctx.body = Some(feed);
        }
        Ok(())
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        ctx.attempts.check_deadline()?;
        if let Some(feed) = ctx.body.as_mut() {
            feed.feed(body, end_of_stream)
                .map_err(|e| Error::explain(ErrorType::InternalError, e.to_string()))?;
        }
        Ok(None)
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        upstream_response
            .insert_header(X_REQUEST_ID.clone(), ctx.request_id.header_value().clone())?;
        Ok(())
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        if e.esource() == &ErrorSource::Upstream {
            self.report(ctx, Outcome::Failed(e));
        }
        let kind = failure_kind(e);
        let code = kind.map_or(0, |k| k.status().as_u16());
        if let Some(kind) = kind {
            if session.response_written().is_none() {
                session.set_keepalive(None);
                let page = ctx.error_page(kind);
                if let Err(write_err) = write_local(session, page, ctx).await {
                    tracing::debug!(error = %write_err, "could not send the error page");
                }
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let Some(obs) = ctx.obs.as_mut() else {
            return;
        };
        let req = session.req_header();
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let service = ctx.service.as_ref();
        self.telemetry.finish(
            obs,
            &Finished {
                service: service.map(|s| (s.id(), s.config.ministry.as_str())),
                service_metrics: service.and_then(|s| s.metrics.as_ref()),
                method: req.method.as_str(),
                path: req.uri.path(),
                query: req.uri.query(),
                status,
                bytes: session.body_bytes_sent(),
                client_ip: ctx.citizen_ip,
                request_id: ctx.request_id.as_str(),
            },
        );
    }
}

fn set_compression(session: &mut Session, level: u32) {
    if let Some(c) = session
        .downstream_modules_ctx
        .get_mut::<ResponseCompression>()
    {
        c.adjust_level(level);
    }
}

/// Which page a failed request gets; `None` when the client is already gone.
fn failure_kind(e: &Error) -> Option<ErrorKind> {
    use ErrorType::*;
    match e.etype() {
        HTTPStatus(code) => Some(match *code {
            400 => ErrorKind::BadRequest,
            404 => ErrorKind::NotFound,
            431 => ErrorKind::HeadersTooLarge,
            502 => ErrorKind::BadGateway,
            503 => ErrorKind::Unavailable,
            504 => ErrorKind::GatewayTimeout,
            _ => ErrorKind::Internal,
        }),
        _ => match e.esource() {
            ErrorSource::Upstream => Some(match e.etype() {
                ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout => {
                    ErrorKind::GatewayTimeout
                }
                _ => ErrorKind::BadGateway,
            }),
            ErrorSource::Downstream => match e.etype() {
                WriteError | ReadError | ConnectionClosed => None,
                _ => Some(ErrorKind::BadRequest),
            },
            ErrorSource::Internal | ErrorSource::Unset => Some(match e.etype() {
                // Timeouts and unreachable backends can surface without an upstream tag
                // (e.g. raised by our own deadline check or peer selection).
                ConnectTimedout | ReadTimedout | WriteTimedout => ErrorKind::GatewayTimeout,
                ConnectNoRoute | ConnectRefused | ConnectError => ErrorKind::BadGateway,
                _ => ErrorKind::Internal,
            }),
        },
    }
}

/// Writes a gateway-made response (page, redirect, JSON) with the request id and the
/// security headers (unless the response set its own).
async fn write_local(
    session: &mut Session,
    response: LocalResponse,
    ctx: &RequestCtx,
) -> Result<()> {
    let mut header = ResponseHeader::build(response.status, Some(response.headers.len() + 8))?;
    for (name, value) in response.headers {
        header.append_header(name, value)?;
    }
    let https = ctx
        .snapshot
        .as_ref()
        .is_some_and(|s| s.portal.settings.public_url.https);
    for (name, value) in security_headers(https) {
        if !header.headers.contains_key(&name) {
            header.insert_header(name, value)?;
        }
    }
    header.insert_header(http::header::CONTENT_LENGTH, response.body.len())?;
    header.insert_header(X_REQUEST_ID.clone(), ctx.request_id.header_value().clone())?;
    let head_only = session.req_header().method == http::Method::HEAD || response.body.is_empty();
    session
        .write_response_header(Box::new(header), head_only)
        .await?;
    if !head_only {
        session
            .write_response_body(Some(response.body), true)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_timeout_is_a_504_and_a_refusal_a_502() {
        let timeout = Error::new_up(ErrorType::ReadTimedout);
        assert_eq!(failure_kind(&timeout), Some(ErrorKind::GatewayTimeout));
        let refused = Error::new_up(ErrorType::ConnectRefused);
        assert_eq!(failure_kind(&refused), Some(ErrorKind::BadGateway));
    }

    #[test]
    fn a_client_that_went_away_gets_no_page() {
        let gone = Error::new_down(ErrorType::ConnectionClosed);
        assert_eq!(failure_kind(&gone), None);
    }

    #[test]
    fn our_own_deadline_check_is_a_504() {
        let e = Error::new(ErrorType::ReadTimedout);
        assert_eq!(failure_kind(&e), Some(ErrorKind::GatewayTimeout));
    }
}

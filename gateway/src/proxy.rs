//! The request pipeline: pingora's `ProxyHttp` phases, each delegating to the module that
//! owns the step. Read this file to know what happens to a request, and in which order.
//!
//! ```text
//!  early_request_filter      telemetry begins (trace, in-flight) · request id · client &
//!                            trust · guard (431, smuggling → 400) · route: home | redirect
//!                            | 404 | 400 | /auth/* | /api/route | a service · compression
//!                            toward the client on for proxied responses (pingora skips
//!                            types that do not compress, e.g. images)
//!  request_filter            answer local routes (pages, SSO endpoints, intent routing);
//!                            for a service: SSO (login redirect | 401 | 403 | 503 | go on
//!                            with an identity), then the SOAP JSON facade if addressed
//!  upstream_peer             the service's balancer picks a backend this request has not
//!                            failed to reach yet; per-service timeouts
//!  fail_to_connect           a backend that cannot be connected to: retry on the next one,
//!                            until every backend of the service was tried
//!  upstream_request_filter   upstream::prepare: path, Host, X-Forwarded-*, X-Request-Id,
//!                            traceparent, identity, the service's adapter request chain;
//!                            Range dropped where the body may be rewritten
//!  upstream_response_filter  total deadline · adapter chain: Location/Refresh and
//!                            Set-Cookie made portal-relative, header rules, body plan
//!                            (charset → UTF-8, HTML links)
//!  upstream_response_body_filter   total deadline · the body pipeline, chunk by chunk
//!  response_filter           X-Request-Id on every answer
//!  fail_to_proxy             refused/reset → 502 page, timeout → 504 page (with ids)
//!  logging                   telemetry: metrics, access log, spans end
//! ```
//!
//! Local answers are produced as a [`LocalResponse`] value and written in one place,
//! [`write_local`]; no phase writes to the client on its own.

use crate::app::App;
use crate::assist::Assist;
use crate::chain::ResponseHeaders;
use crate::forwarded::Client;
use crate::guard;
use crate::portal::{self, ErrorKind, LocalResponse};
use crate::registry::{Registry, Service, Snapshot};
use crate::request_id::RequestId;
use crate::routing::{self, Route};
use crate::soap_facade;
use crate::sso::endpoints::AuthEndpoint;
use crate::sso::session::Session as SsoSession;
use crate::sso::{Authorization, Sso};
use crate::telemetry::request::{Finished, RequestObs};
use crate::telemetry::trace::end_child;
use crate::telemetry::Telemetry;
use crate::upstream::{self, Hop};
use async_trait::async_trait;
use bytes::Bytes;
use egov_adapters::body::BodyPipeline;
use http::HeaderName;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::compression::ResponseCompression;
use pingora::prelude::*;
use pingora::protocols::Digest;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Idle upstream connections are kept this long for reuse.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Compression level toward clients (gzip/brotli, when accepted) for proxied responses.
const COMPRESSION_LEVEL: u32 = 5;

/// The gateway's `ProxyHttp` implementation.
pub struct GatewayProxy {
    registry: Arc<Registry>,
    sso: Arc<Sso>,
    assist: Arc<Assist>,
    telemetry: Arc<Telemetry>,
    /// Client for the calls the gateway makes itself (the SOAP facade).
    http: reqwest::Client,
}

impl GatewayProxy {
    pub fn new(app: &App) -> Self {
        Self {
            registry: Arc::clone(&app.registry),
            sso: Arc::clone(&app.sso),
            assist: Arc::clone(&app.assist),
            telemetry: Arc::clone(&app.telemetry),
            http: app.http.clone(),
        }
    }
}

/// Per-request state shared by the phases.
pub struct RequestCtx {
    pub request_id: RequestId,
    pub client: Option<Client>,
    /// The citizen's address (behind trusted proxies, from `X-Forwarded-For`).
    pub citizen_ip: Option<IpAddr>,
    pub snapshot: Option<Arc<Snapshot>>,
    pub service: Option<Arc<Service>>,
    /// Path and query to send upstream.
    pub upstream_uri: Option<http::Uri>,
    /// The SOAP facade operation addressed, for a service that has a facade.
    pub soap_operation: Option<String>,
    /// The backend of the current attempt.
    pub backend: Option<SocketAddr>,
    /// Backends this request could not connect to (each is tried once).
    pub failed_backends: Vec<SocketAddr>,
    /// When the whole upstream exchange must be over (the service's `total` timeout).
    pub deadline: Option<Instant>,
    pub upgrade: bool,
    /// The citizen's session, when the service needs one.
    pub session: Option<SsoSession>,
    /// Telemetry's view of the request (trace, timings).
    obs: Option<RequestObs>,
    /// What routing decided, acted on by `request_filter`.
    flow: Option<Flow>,
    /// The response body's rewriting, when it applies. (A mutex only because pingora
    /// wants the context `Sync`; one task uses it at a time.)
    body: Option<std::sync::Mutex<BodyPipeline>>,
}

/// What routing decided: go on to the backend, answer now, or hand over to a local handler.
enum Flow {
    Continue,
    Respond(LocalResponse),
    Auth(AuthEndpoint),
    Assist,
}

#[async_trait]
impl ProxyHttp for GatewayProxy {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx {
            // Assigned in early_request_filter (the trace id, or a trusted proxy's).
            request_id: RequestId::unassigned(),
            client: None,
            citizen_ip: None,
            snapshot: None,
            service: None,
            upstream_uri: None,
            soap_operation: None,
            backend: None,
            failed_backends: Vec::new(),
            deadline: None,
            upgrade: false,
            session: None,
            obs: None,
            flow: None,
            body: None,
        }
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let flow = self.admit_and_route(session, ctx);
        let compress = matches!(flow, Flow::Continue)
            && session
                .req_header()
                .headers
                .contains_key(http::header::ACCEPT_ENCODING);
        if compress {
            // Decided now, before the compression module reads Accept-Encoding. Rewritten
            // pages and untouched responses alike: legacy sites rarely compress (and those
            // whose pages get rewritten are asked not to). The module leaves alone what is
            // already encoded or does not compress (images, archives).
            set_compression(session, COMPRESSION_LEVEL);
        }
        ctx.flow = Some(flow);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let response = match ctx.flow.take().unwrap_or(Flow::Continue) {
            Flow::Continue => self.authorize(session, ctx).await,
            Flow::Respond(response) => Some(response),
            Flow::Auth(endpoint) => Some(
                self.sso
                    .handle(endpoint, session, ctx.request_id.as_str())
                    .await,
            ),
            Flow::Assist => {
                let span = ctx
                    .obs
                    .as_ref()
                    .and_then(|o| self.telemetry.child(o, "assist.route"));
                let snap = ctx
                    .snapshot
                    .clone()
                    .unwrap_or_else(|| self.registry.snapshot());
                let r = crate::assist::api::handle(&self.assist, snap.catalog(), session).await;
                end_child(span, None);
                Some(r)
            }
        };
        match response {
            None => Ok(false),
            Some(response) => {
                write_local(session, response, ctx).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let service = ctx
            .service
            .as_ref()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "no service was routed"))?;
        let upstream = &service.upstream;
        let addr = upstream
            .select_excluding(&ctx.failed_backends)
            .ok_or_else(|| {
                Error::explain(
                    ErrorType::ConnectNoRoute,
                    "the service has no usable backend",
                )
            })?;
        ctx.backend = Some(addr);
        if let Some(obs) = ctx.obs.as_mut() {
            self.telemetry.upstream_start(obs, &upstream.host, addr);
        }
        let t = upstream.timeouts;
        let mut peer = HttpPeer::new(addr, upstream.tls, upstream.host.clone());
        let mut connect = t.connect;
        // An upgraded (WebSocket) connection idles legitimately; only plain exchanges are
        // bounded by the read and total timeouts.
        if !ctx.upgrade {
            // Set by the first attempt; a failover only gets what is left of it, so trying
            // the next backend never extends the citizen's wait.
            let now = Instant::now();
            let left = ctx
                .deadline
                .get_or_insert(now + t.total)
                .saturating_duration_since(now);
            if left.is_zero() {
                return Error::e_explain(
                    ErrorType::ConnectTimedout,
                    "the service's total upstream timeout elapsed",
                );
            }
            connect = connect.min(left);
            let read = t.read.min(left);
            peer.options.read_timeout = Some(read);
            peer.options.write_timeout = Some(read);
        }
        peer.options.connection_timeout = Some(connect);
        peer.options.total_connection_timeout = Some(connect);
        peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
        Ok(Box::new(peer))
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
        if let Some(addr) = ctx.backend.take() {
            ctx.failed_backends.push(addr);
        }
        // Nothing was sent yet, so any method may go to another backend.
        if is_connect_failure(e.etype())
            && ctx.failed_backends.len() < service.upstream.backend_count()
        {
            if let Some(obs) = ctx.obs.as_mut() {
                self.telemetry.upstream_retried(
                    obs,
                    (service.id(), service.config.ministry.as_str()),
                    service.metrics.as_ref(),
                    &e,
                );
            }
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
        if let (Some(obs), Some(service)) = (&ctx.obs, &ctx.service) {
            self.telemetry
                .upstream_connected(obs, service.metrics.as_ref());
        }
        Ok(())
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let (Some(service), Some(uri)) = (ctx.service.as_ref(), ctx.upstream_uri.as_ref()) else {
            return Error::e_explain(ErrorType::InternalError, "no service was routed");
        };
        let hop = self.hop(session, ctx, service);
        upstream::prepare(&self.sso, upstream_request, uri, &hop)
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        check_deadline(ctx)?;
        if upstream_response.status.is_informational() {
            // A WebSocket handshake's headers reach the browser like any answer's: its
            // cookies are scoped (and portal names refused) too.
            if upstream_response.status == http::StatusCode::SWITCHING_PROTOCOLS {
                if let Some(service) = &ctx.service {
                    service
                        .chain
                        .apply_response(&mut ResponseHeaders(upstream_response));
                }
            }
            return Ok(());
        }
        if let Some(obs) = ctx.obs.as_mut() {
            self.telemetry
                .upstream_answered(obs, upstream_response.status.as_u16());
        }
        if let Some(service) = &ctx.service {
            let mut headers = ResponseHeaders(upstream_response);
            service.chain.apply_response(&mut headers);
            if session.req_header().method != http::Method::HEAD && !ctx.upgrade {
                let status = headers.0.status.as_u16();
                if let Some((pipeline, transcodes)) =
                    service.chain.body_pipeline(status, &mut headers)
                {
                    self.telemetry.body_rewritten(service.id(), transcodes);
                    ctx.body = Some(std::sync::Mutex::new(pipeline));
                }
            }
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
        check_deadline(ctx)?;
        let Some(pipeline) = ctx.body.as_mut() else {
            return Ok(None);
        };
        let pipeline = pipeline
            .get_mut()
            .map_err(|_| Error::explain(ErrorType::InternalError, "body rewrite poisoned"))?;
        let rewrite_err = |e: egov_adapters::body::BodyError| {
            Error::explain(ErrorType::InternalError, format!("body rewrite: {e}"))
        };
        let mut out = match body.as_deref() {
            Some(chunk) if !chunk.is_empty() => pipeline.feed(chunk).map_err(rewrite_err)?,
            _ => Vec::new(),
        };
        if end_of_stream {
            out.extend_from_slice(&pipeline.finish().map_err(rewrite_err)?);
        }
        *body = Some(Bytes::from(out));
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
            if let (Some(obs), Some(service)) = (ctx.obs.as_mut(), &ctx.service) {
                self.telemetry
                    .upstream_failed(obs, service.metrics.as_ref(), e);
            }
        }
        let kind = failure_kind(e);
        let code = kind.map_or(0, |k| k.status().as_u16());
        if let Some(kind) = kind {
            if session.response_written().is_none() {
                session.set_keepalive(None);
                let page = self.error_page(kind, ctx);
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
        let service = ctx
            .service
            .as_ref()
            .map(|s| (s.id(), s.config.ministry.as_str()));
        let service_metrics = ctx.service.as_ref().and_then(|s| s.metrics.as_ref());
        self.telemetry.finish(
            obs,
            &Finished {
                service,
                service_metrics,
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

impl GatewayProxy {
    /// The SSO step for a routed service, then the SOAP facade if the request addresses it:
    /// `None` to go on to the backend, or the answer to give instead.
    async fn authorize(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Option<LocalResponse> {
        let service = ctx.service.as_ref()?;
        let span = ctx
            .obs
            .as_ref()
            .and_then(|o| self.telemetry.child(o, "sso.authorize"));
        let decision = self
            .sso
            .authorize(
                session.req_header(),
                service.config.access,
                service.id(),
                ctx.request_id.as_str(),
            )
            .await;
        match decision {
            Authorization::Proceed(s) => {
                end_child(span, None);
                ctx.session = s;
            }
            Authorization::Respond(r) => {
                end_child(span, Some("access not granted"));
                return Some(r);
            }
        }
        let operation = ctx.soap_operation.as_deref()?;
        let call = soap_facade::Call {
            hop: self.hop(session, ctx, service),
            operation,
        };
        Some(soap_facade::call(&self.http, &self.sso, session, call).await)
    }

    /// What a call to `service`'s legacy site says about this request.
    fn hop<'a>(&self, session: &Session, ctx: &'a RequestCtx, service: &'a Service) -> Hop<'a> {
        Hop {
            service,
            citizen_host: upstream::citizen_host(session.req_header()),
            client: ctx.client.as_ref(),
            request_id: &ctx.request_id,
            session: ctx.session.as_ref(),
            trace_headers: ctx
                .obs
                .as_ref()
                .map(|o| self.telemetry.upstream_trace_headers(o))
                .unwrap_or_default(),
        }
    }

    /// Starts telemetry, identifies the request and the client, applies the guard, routes.
    fn admit_and_route(&self, session: &mut Session, ctx: &mut RequestCtx) -> Flow {
        let snap = self.registry.snapshot();
        let settings = &snap.portal.settings;
        let peer_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let client = Client::new(peer_ip, &settings.trusted_proxies, tls);
        let req = session.req_header();
        let citizen_ip = client.citizen_ip(&req.headers, &settings.trusted_proxies);
        let obs = self.telemetry.begin(
            &req.headers,
            client.trusted,
            req.method.as_str(),
            req.uri.path(),
            citizen_ip,
        );
        ctx.request_id = client
            .trusted
            .then(|| {
                req.headers
                    .get(&X_REQUEST_ID)
                    .and_then(RequestId::from_trusted)
            })
            .flatten()
            .or_else(|| RequestId::from_trace(&obs.trace_id))
            .unwrap_or_else(RequestId::generate);
        ctx.obs = Some(obs);
        ctx.client = Some(client);
        ctx.citizen_ip = citizen_ip;
        ctx.upgrade = session.is_upgrade_req();

        if let Err(refusal) = guard::check(session.as_downstream(), settings.max_header_bytes) {
            session.set_keepalive(None);
            return Flow::Respond(self.error_page(refusal.kind(), ctx));
        }

        let req = session.req_header();
        let host = upstream::request_host(req).unwrap_or("");
        let path = req.uri.path();
        let query = req.uri.query();
        let method = req.method.as_str();
        let (flow, route_name) = match routing::route(&snap, host, path, query) {
            Route::Service { service, path } => match upstream_uri(service, &path, query) {
                Some(uri) => {
                    ctx.upstream_uri = Some(uri);
                    if service.chain.soap.is_some() {
                        ctx.soap_operation = soap_facade::operation_in(&path).map(str::to_string);
                    }
                    ctx.service = Some(Arc::clone(service));
                    (Flow::Continue, "/s/{service}/*")
                }
                None => (
                    Flow::Respond(self.error_page(ErrorKind::BadRequest, ctx)),
                    "bad_path",
                ),
            },
            Route::Redirect {
                location,
                permanent,
            } => (
                Flow::Respond(LocalResponse::redirect(permanent, &location)),
                "redirect",
            ),
            Route::Home => (Flow::Respond(snap.home_page()), "/"),
            Route::Auth(endpoint) => (Flow::Auth(endpoint), "/auth/*"),
            Route::Assist => (Flow::Assist, "/api/route"),
            Route::NotFound => (
                Flow::Respond(self.error_page(ErrorKind::NotFound, ctx)),
                "not_found",
            ),
            Route::BadPath(_) => (
                Flow::Respond(self.error_page(ErrorKind::BadRequest, ctx)),
                "bad_path",
            ),
        };
        if let Some(obs) = &ctx.obs {
            self.telemetry.routed(obs, method, route_name);
        }
        ctx.snapshot = Some(snap);
        flow
    }

    /// An error page quoting the request id (and the trace id when they differ).
    fn error_page(&self, kind: ErrorKind, ctx: &RequestCtx) -> LocalResponse {
        let trace = ctx.obs.as_ref().map(|o| o.trace_id.as_str());
        portal::error_page_traced(kind, ctx.request_id.as_str(), trace)
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

/// The backend's path and query for `path` under the service root, built once per request
/// (a failover reuses it); `None` if it is not a valid request target.
fn upstream_uri(service: &Service, path: &str, query: Option<&str>) -> Option<http::Uri> {
    let uri = egov_adapters::paths::join(&service.upstream.base_path, path);
    http::Uri::try_from(routing::with_query(uri, query)).ok()
}

/// Errors where no byte reached the backend, so another backend may be tried.
fn is_connect_failure(etype: &ErrorType) -> bool {
    use ErrorType::*;
    matches!(
        etype,
        ConnectTimedout
            | ConnectRefused
            | ConnectNoRoute
            | ConnectError
            | TLSHandshakeFailure
            | TLSHandshakeTimedout
            | HandshakeError
    )
}

fn check_deadline(ctx: &RequestCtx) -> Result<()> {
    match ctx.deadline {
        Some(deadline) if Instant::now() > deadline => Error::e_explain(
            ErrorType::ReadTimedout,
            "the service's total upstream timeout elapsed",
        ),
        _ => Ok(()),
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

/// Writes a gateway-made response (page, redirect, JSON) with the request id.
async fn write_local(
    session: &mut Session,
    response: LocalResponse,
    ctx: &RequestCtx,
) -> Result<()> {
    let mut header = ResponseHeader::build(response.status, Some(response.headers.len() + 3))?;
    for (name, value) in response.headers {
        header.append_header(name, value)?;
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

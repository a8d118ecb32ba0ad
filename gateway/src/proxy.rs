//! The request pipeline: pingora's `ProxyHttp` phases, each delegating to the module that
//! owns the step. Read this file to know what happens to a request, and in which order.
//!
//! ```text
//!  early_request_filter      request id · client & trust · guard (431, smuggling → 400)
//!                            · route: home | redirect | 404 | 400 | /auth/* | a service
//!                            · compression on for services whose pages get rewritten
//!  request_filter            answer local routes; SSO: the service's access level
//!                              against the session
//!                              (login redirect | 401 | 403 | 503 | go on with an identity)
//!  upstream_peer             the service's balancer picks a backend; per-service timeouts
//!  upstream_request_filter   path under the backend base · Host · X-Forwarded-* ·
//!                            X-Request-Id · identity (client claims stripped, portal
//!                            cookies stripped, signed assertion or identity headers) ·
//!                            the service's adapter chain (rules, credentials)
//!  upstream_response_filter  total deadline · adapter chain: Location/Refresh and
//!                            Set-Cookie made portal-relative, header rules, body plan
//!                            (charset → UTF-8, HTML links; compression toward the client)
//!  upstream_response_body_filter   total deadline · the body pipeline, chunk by chunk
//!  response_filter           X-Request-Id on every answer
//!  fail_to_proxy             refused/reset → 502 page, timeout → 504 page (with request id)
//! ```
//!
//! Local answers are produced as a [`LocalResponse`] value by the routing step and written
//! in one place, [`write_local`]; no phase writes to the client on its own.

use crate::app::App;
use crate::assist::Assist;
use crate::chain::{RequestHeaders, ResponseHeaders};
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
use crate::telemetry::Metrics;
use async_trait::async_trait;
use bytes::Bytes;
use egov_adapters::body::BodyPipeline;
use egov_adapters::headers::HeaderEdit;
use http::header::HOST;
use http::{HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::compression::ResponseCompression;
use pingora::prelude::*;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType};
use std::sync::Arc;
use std::time::{Duration, Instant};

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Idle upstream connections are kept this long for reuse.
const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The gateway's `ProxyHttp` implementation.
pub struct GatewayProxy {
    registry: Arc<Registry>,
    sso: Arc<Sso>,
    assist: Arc<Assist>,
    metrics: Arc<Metrics>,
    /// Client for the calls the gateway makes itself (the SOAP facade).
    http: reqwest::Client,
}

impl GatewayProxy {
    pub fn new(app: &App) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .unwrap_or_default();
        Self {
            registry: Arc::clone(&app.registry),
            sso: Arc::clone(&app.sso),
            assist: Arc::clone(&app.assist),
            metrics: Arc::clone(&app.metrics),
            http,
        }
    }
}

/// Per-request state shared by the phases.
pub struct RequestCtx {
    pub request_id: RequestId,
    pub client: Option<Client>,
    pub snapshot: Option<Arc<Snapshot>>,
    pub service: Option<Arc<Service>>,
    /// Path and query to send upstream.
    pub upstream_uri: Option<String>,
    /// The cleaned path under the service root (`/...`).
    pub service_path: Option<String>,
    /// When the whole upstream exchange must be over (the service's `total` timeout).
    pub deadline: Option<Instant>,
    pub upgrade: bool,
    /// The citizen's session, when the service needs one.
    pub session: Option<SsoSession>,
    /// What routing decided, acted on by `request_filter`.
    flow: Option<Flow>,
    /// The response body's rewriting, when it applies. (A mutex only because pingora
    /// wants the context `Sync`; one task uses it at a time.)
    body: Option<std::sync::Mutex<BodyPipeline>>,
}

/// What routing decided: go on to the backend, answer now, or hand over to SSO.
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
            request_id: RequestId::generate(),
            client: None,
            snapshot: None,
            service: None,
            upstream_uri: None,
            service_path: None,
            deadline: None,
            upgrade: false,
            session: None,
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
            && ctx
                .service
                .as_ref()
                .is_some_and(|s| s.chain.rewrites_bodies());
        if compress {
            // Decided now, before the compression module reads Accept-Encoding; turned off
            // again in upstream_response_filter if this response is not rewritten.
            set_compression(session, COMPRESSION_LEVEL);
        }
        ctx.flow = Some(flow);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        let flow = ctx.flow.take().unwrap_or(Flow::Continue);
        let response = match flow {
            Flow::Continue => self.authorize(session, ctx).await,
            Flow::Respond(response) => Some(response),
            Flow::Auth(endpoint) => Some(
                self.sso
                    .handle(endpoint, session, ctx.request_id.as_str())
                    .await,
            ),
            Flow::Assist => Some(self.route_query(session, ctx).await),
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
        let addr = upstream.select().ok_or_else(|| {
            Error::explain(
                ErrorType::ConnectNoRoute,
                "the service has no usable backend",
            )
        })?;
        let t = upstream.timeouts;
        let mut peer = HttpPeer::new(addr, upstream.tls, upstream.host.clone());
        peer.options.connection_timeout = Some(t.connect);
        peer.options.total_connection_timeout = Some(t.connect);
        // An upgraded (WebSocket) connection idles legitimately; only plain exchanges are
        // bounded by the read and total timeouts.
        if !ctx.upgrade {
            let read = t.read.min(t.total);
            peer.options.read_timeout = Some(read);
            peer.options.write_timeout = Some(read);
            ctx.deadline = Some(Instant::now() + t.total);
        }
        peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let (Some(service), Some(uri)) = (ctx.service.as_ref(), ctx.upstream_uri.as_deref()) else {
            return Error::e_explain(ErrorType::InternalError, "no service was routed");
        };
        let uri = uri
            .parse::<http::Uri>()
            .map_err(|_| Error::explain(ErrorType::InternalError, "unbuildable upstream URI"))?;
        upstream_request.set_uri(uri);
        let citizen_host =
            request_host(session.req_header()).and_then(|h| HeaderValue::from_str(h).ok());
        upstream_request.insert_header(HOST, service.upstream.host_header.clone())?;
        let mut headers = RequestHeaders(upstream_request);
        if let Some(client) = &ctx.client {
            client.apply(&mut headers, citizen_host.as_ref());
        }
        headers
            .0
            .insert_header(X_REQUEST_ID.clone(), ctx.request_id.header_value().clone())?;
        crate::sso::upstream::present_identity(
            &self.sso,
            service,
            ctx.session.as_ref(),
            &mut headers,
        );
        if service.chain.rewrites_bodies() {
            // The adapters read bodies as the legacy site wrote them; compression toward
            // the citizen is ours to do.
            headers.set(
                http::header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        service.chain.apply_request(&mut headers);
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        check_deadline(ctx)?;
        if upstream_response.status.is_informational() {
            return Ok(());
        }
        if let Some(service) = &ctx.service {
            let mut headers = ResponseHeaders(upstream_response);
            service.chain.apply_response(&mut headers);
            if session.req_header().method != http::Method::HEAD && !ctx.upgrade {
                let status = headers.0.status.as_u16();
                ctx.body = service
                    .chain
                    .body_pipeline(status, &mut headers)
                    .map(std::sync::Mutex::new);
            }
            if ctx.body.is_none() && service.chain.rewrites_bodies() {
                set_compression(session, 0);
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
        let kind = failure_kind(e);
        let code = kind.map_or(0, |k| k.status().as_u16());
        if let Some(kind) = kind {
            if session.response_written().is_none() {
                session.set_keepalive(None);
                let page = portal::error_page(kind, ctx.request_id.as_str());
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
}

impl GatewayProxy {
    /// `POST /api/route`.
    async fn route_query(&self, session: &mut Session, ctx: &RequestCtx) -> LocalResponse {
        use crate::assist::api;
        if session.req_header().method != http::Method::POST {
            return LocalResponse::json(
                http::StatusCode::METHOD_NOT_ALLOWED,
                &serde_json::json!({"error": "method_not_allowed", "error_description": "POST a JSON object {\"query\": \"...\"}"}),
            );
        }
        let body = match crate::request_body::read_limited(session, api::MAX_BODY_BYTES).await {
            Ok(b) => b,
            Err(why) => {
                return LocalResponse::json(
                    http::StatusCode::PAYLOAD_TOO_LARGE,
                    &serde_json::json!({"error": "too_large", "error_description": why}),
                )
            }
        };
        let accept_language = session
            .req_header()
            .headers
            .get(http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let request = match api::parse_request(&body, accept_language) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let snap = ctx
            .snapshot
            .clone()
            .unwrap_or_else(|| self.registry.snapshot());
        let decision = self
            .assist
            .decide(snap.catalog(), &request.query, false)
            .await;
        LocalResponse::json(
            http::StatusCode::OK,
            &api::response_json(snap.catalog(), &decision, request.lang),
        )
    }

    /// The SSO step for a routed service: `None` to go on, or the answer to give instead.
    async fn authorize(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Option<LocalResponse> {
        let service = ctx.service.as_ref()?;
        match self
            .sso
            .authorize(
                session.req_header(),
                service.config.access,
                ctx.request_id.as_str(),
            )
            .await
        {
            Authorization::Proceed(s) => {
                ctx.session = s;
            }
            Authorization::Respond(r) => return Some(r),
        }
        let op = ctx
            .service_path
            .as_deref()
            .and_then(soap_facade::operation_in)?;
        if service.chain.soap.is_none() {
            return None;
        }
        let call = soap_facade::Call {
            service,
            operation: op,
            client: ctx.client.as_ref(),
            citizen: ctx.session.as_ref(),
            request_id: ctx.request_id.as_str(),
        };
        Some(soap_facade::call(&self.http, &self.sso, session, call).await)
    }

    /// Identifies the request and the client, applies the guard, and routes.
    fn admit_and_route(&self, session: &mut Session, ctx: &mut RequestCtx) -> Flow {
        let snap = self.registry.snapshot();
        let settings = &snap.portal.settings;
        let peer_ip = session
            .client_addr()
            .and_then(|a| a.as_inet())
            .map(|a| a.ip());
        let tls = session.digest().is_some_and(|d| d.ssl_digest.is_some());
        let client = Client::new(peer_ip, &settings.trusted_proxies, tls);
        if client.trusted {
            if let Some(id) = session
                .req_header()
                .headers
                .get(&X_REQUEST_ID)
                .and_then(RequestId::from_trusted)
            {
                ctx.request_id = id;
            }
        }
        ctx.client = Some(client);
        ctx.upgrade = session.is_upgrade_req();

        if let Err(refusal) = guard::check(session.as_downstream(), settings.max_header_bytes) {
            session.set_keepalive(None);
            return Flow::Respond(portal::error_page(refusal.kind(), ctx.request_id.as_str()));
        }

        let req = session.req_header();
        let host = request_host(req).unwrap_or("");
        let path = req.uri.path();
        let query = req.uri.query();
        let flow = match routing::route(&snap, host, path, query) {
            Route::Service { service, path } => {
                let mut uri = egov_adapters::paths::join(&service.upstream.base_path, &path);
                if let Some(q) = query {
                    uri.push('?');
                    uri.push_str(q);
                }
                ctx.upstream_uri = Some(uri);
                ctx.service_path = Some(path.into_owned());
                ctx.service = Some(Arc::clone(service));
                Flow::Continue
            }
            Route::Redirect {
                location,
                permanent,
            } => Flow::Respond(LocalResponse::redirect(permanent, &location)),
            Route::Home => Flow::Respond(portal::home_page(&snap)),
            Route::Auth(endpoint) => Flow::Auth(endpoint),
            Route::Assist => Flow::Assist,
            Route::NotFound => Flow::Respond(portal::error_page(
                ErrorKind::NotFound,
                ctx.request_id.as_str(),
            )),
            Route::BadPath(_) => Flow::Respond(portal::error_page(
                ErrorKind::BadRequest,
                ctx.request_id.as_str(),
            )),
        };
        ctx.snapshot = Some(snap);
        flow
    }
}

/// Compression level toward clients for rewritten pages (gzip/brotli, when accepted).
const COMPRESSION_LEVEL: u32 = 5;

fn set_compression(session: &mut Session, level: u32) {
    if let Some(c) = session
        .downstream_modules_ctx
        .get_mut::<ResponseCompression>()
    {
        c.adjust_level(level);
    }
}

/// The host the citizen asked for: `Host` (HTTP/1) or the URI authority (HTTP/2).
fn request_host(req: &RequestHeader) -> Option<&str> {
    req.headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
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

/// Writes a gateway-made response (page, redirect) with the request id.
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

//! The limits stage: the methods a service takes (`[limits] methods`, others → 405 with
//! its `Allow`), the request body size it takes (`[limits] max_body_bytes`,
//! announced `Content-Length` over it → 413 at once; a body without one, chunked or HTTP/2,
//! → 413 when it streams past it, [`check_body`]), then the portal's `[limits.rate]` (global, per client address, per session,
//! logins started per address) and the service's own `[limits]` rates, checked after routing
//! so a service's limit and the login endpoint are known, and before anything is answered,
//! so the assist endpoint (an LLM call) and the login (a stored pending login) are covered.
//! A refused request gets 429 with `Retry-After` and the error page in the citizen's
//! languages (the router's API: JSON). Before those three endpoints are counted, a call
//! another site made through the citizen's browser is refused with 403
//! ([`crate::portal::cross_site`]): it must not spend the budget of everyone behind the
//! citizen's address.

use super::{LocalRoute, RequestCtx, Stage, Step};
use crate::client_address::address_key;
use crate::limits::connections::Crowded;
use crate::limits::rate::{retry_after_secs, Limited, RateLimiter, Scope};
use crate::limits::streams::{StreamsInFlight, TooMany};
use crate::portal::cross_site::sent_by_another_site;
use crate::portal::sealed_search::asks_the_router;
use crate::portal::PortalPage;
use crate::request_body::BodyError;
use crate::response::{ErrorKind, LocalResponse};
use crate::sso::endpoints::AuthEndpoint;
use crate::sso::Sso;
use crate::telemetry::Telemetry;
use http::StatusCode;
use pingora::proxy::Session;
use std::net::IpAddr;
use std::sync::Arc;

pub struct LimitsStage {
    limiter: Arc<RateLimiter>,
    sso: Arc<Sso>,
    telemetry: Arc<Telemetry>,
    streams: Arc<StreamsInFlight>,
}

impl LimitsStage {
    pub fn new(
        limiter: Arc<RateLimiter>,
        sso: Arc<Sso>,
        telemetry: Arc<Telemetry>,
        streams: Arc<StreamsInFlight>,
    ) -> Self {
        Self {
            limiter,
            sso,
            telemetry,
            streams,
        }
    }

    /// The limits `ctx` falls under; the route budget only when `route` (a call another
    /// site made is refused, not counted there).
    ///
    /// The client's own buckets (its address's, its session's) are asked first, the ones
    /// everyone shares (a service's total, the gateway's) last: a bucket gives a token to
    /// each request it lets through, also one a later bucket then refuses. Found when
    /// tried: asked the other way round, an address whose flood its own limit refused 95 %
    /// of still spent the shared buckets' tokens, and another citizen of the service got
    /// 429 for 68 % of his requests.
    async fn check(&self, session: &Session, ctx: &RequestCtx, route: bool) -> Result<(), Limited> {
        let Some(snap) = ctx.snapshot.as_ref() else {
            return Ok(());
        };
        let rates = &snap.config.gateway.limits.rate;
        let address = AddressKey::of(ctx);
        let ip_key = address.bytes();
        // A service's rates are its site's capacity: the gateway's own answers on its origin
        // (the login's code exchange, a logout's way through it) spend none. Found in a
        // bypass probe: anonymous requests that spent a service's `rate_total` stopped every
        // citizen's logout at that origin with a 429, her other origins still signed in.
        let service = ctx.service.as_ref().filter(|_| ctx.local.is_none());
        if let Some(rate) = service.and_then(|s| s.config.limits.rate_per_ip) {
            let id = service.map_or("", |s| s.id());
            let mut key = Vec::with_capacity(id.len() + 17);
            key.extend_from_slice(id.as_bytes());
            key.push(0);
            key.extend_from_slice(ip_key);
            self.limiter.check(Scope::ServicePerIp, &key, rate).await?;
        }
        if let Some(rate) = rates.per_ip {
            self.limiter.check(Scope::PerIp, ip_key, rate).await?;
        }
        if let Some(rate) = rates.per_session {
            if let Some(id) = self.sso.cookies().session_id(session.req_header()) {
                self.limiter
                    .check(Scope::PerSession, id.as_str().as_bytes(), rate)
                    .await?;
            }
        }
        if route && counted_route(ctx) {
            self.limiter
                .check(Scope::Route, ip_key, rates.route_per_ip)
                .await?;
        }
        if ctx.local == Some(LocalRoute::Auth(AuthEndpoint::Login))
            && crate::sso::endpoints::opened_as_a_page(session.req_header())
        {
            self.limiter
                .check(Scope::Login, ip_key, rates.login_per_ip)
                .await?;
        }
        // Shared: a service's total before the gateway's, so that a flood one service's
        // total refuses does not spend every service's budget.
        if let Some(service) = service {
            if let Some(rate) = service.config.limits.rate_total {
                self.limiter
                    .check(Scope::ServiceTotal, service.id().as_bytes(), rate)
                    .await?;
            }
        }
        if let Some(rate) = rates.global {
            self.limiter.check(Scope::Global, b"", rate).await?;
        }
        Ok(())
    }
}

/// An address's budget of calls to the router's LLM (`limits.rate.llm_per_ip`), kept in the
/// portal's rate limiter: the router takes one only when it would ask the LLM (a hesitant
/// question its cache did not answer). Found in a probe: the search box's own budget
/// counted every search, answered locally in microseconds or not, so one browser's searches
/// refused the box to everyone behind its address (a carrier's NAT).
pub struct LlmCalls<'a> {
    limiter: &'a RateLimiter,
    address: AddressKey,
    rate: Option<crate::config::Rate>,
}

impl<'a> LlmCalls<'a> {
    /// The budget of `ctx`'s address.
    pub fn of(limiter: &'a RateLimiter, ctx: &RequestCtx) -> Self {
        Self {
            limiter,
            address: AddressKey::of(ctx),
            rate: ctx
                .snapshot
                .as_ref()
                .map(|s| s.config.gateway.limits.rate.llm_per_ip),
        }
    }
}

#[async_trait::async_trait]
impl crate::assist::LlmBudget for LlmCalls<'_> {
    async fn spend(&self) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        self.limiter
            .check(Scope::Llm, self.address.bytes(), rate)
            .await
            .is_ok()
    }
}

/// Whether the request is one of the portal's endpoints that share `route_per_ip`: the
/// search box, the router's API and the feedback form.
fn counted_route(ctx: &RequestCtx) -> bool {
    matches!(
        ctx.local,
        Some(LocalRoute::Assist | LocalRoute::Portal(PortalPage::Search | PortalPage::Feedback))
    )
}

/// A limit's refusal as its client reads it: the router's API (`POST /api/route`, called
/// by scripts and the portal's own pages) gets JSON with `error` and `error_description`
/// like its other errors, everything else the error page in the citizen's language.
fn refusal(ctx: &RequestCtx, kind: ErrorKind, description: &str) -> LocalResponse {
    if ctx.local == Some(LocalRoute::Assist) {
        let code = match kind {
            ErrorKind::TooManyRequests => "rate_limited",
            _ => "unavailable",
        };
        LocalResponse::json_error(kind.status(), code, description)
    } else {
        ctx.error_page(kind)
    }
}

/// Checks what a proxied request's client has sent of its body so far (`read`, pingora's
/// count, which a retry replaying the body to another backend does not add to) against what
/// the service takes ([`RequestCtx::body_limit`]). Past it, the request fails with 413 before
/// the piece that crossed it is sent on: the legacy site gets an unfinished body, never a
/// larger one, and the citizen the "too large" page (if the site has not answered yet).
///
/// It must also keep the portal's pace (`limits.body_grace` and `body_min_rate`, from the
/// connection to the legacy site on): slower fails with 408, unless the piece is its last
/// (`end`): the pace exists so that no trickle holds the site's connection, and a body
/// that has all come holds nothing more (found in review: a body whose empty closing
/// HTTP/2 frame came just past the pace was refused whole).
///
/// After a real upgrade (a 101 from the site) the bytes are the WebSocket's stream, not a
/// body (`upgraded`). A request that only asks for one (any `Upgrade` header) and is not
/// switched keeps its body limit: asking must not lift it.
pub fn check_body(ctx: &RequestCtx, read: usize, upgraded: bool, end: bool) -> pingora::Result<()> {
    if upgraded {
        return ctx.session_ended();
    }
    if read == 0 {
        return Ok(());
    }
    if let Some(limit) = ctx.body_limit.filter(|&limit| read as u64 > limit) {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        return Err(body_refused(&BodyError::TooLarge { limit }));
    }
    if end {
        return Ok(());
    }
    if let (Some(pace), Some(started)) = (ctx.body_pace(), ctx.attempts.upload_started()) {
        // The time the body's start took to settle counts too (its bytes are in `read`).
        if started.elapsed() + ctx.body_settled_in > pace.allows(read as u64) {
            return Err(body_refused(&BodyError::TooSlow));
        }
    }
    Ok(())
}

/// `request_body_filter`'s work on a body going to a legacy site: its limits
/// ([`check_body`]), then its small pieces gathered ([`crate::request_body::Gathered`]; not
/// an upgraded connection's, a conversation, which gets what was held first).
pub fn filter_body(
    ctx: &mut RequestCtx,
    session: &Session,
    body: &mut Option<bytes::Bytes>,
    end: bool,
) -> pingora::Result<()> {
    let (read, upgraded) = (session.body_bytes_read(), session.was_upgraded());
    check_body(ctx, read, upgraded, end)?;
    if upgraded {
        ctx.body_held.release(body);
    } else if body.as_ref().is_some_and(|b| !b.is_empty()) || ctx.body_held.holds() {
        // (A request without a body reads no clock.)
        ctx.body_held.gather(body, end, std::time::Instant::now());
    }
    Ok(())
}

/// Before a legacy site is asked: an HTTP/2 request's body, or its start, within the
/// service's body limit and the portal's pace (see [`crate::request_body::settle`]). Its
/// refusals are [`check_body`]'s: 413 and 408, the citizen's doing.
///
/// The time it took is kept ([`RequestCtx::body_settled_in`]): the pace of the rest runs on
/// from it, not from nothing (a slow body had the whole grace twice).
pub async fn settle_body(session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<()> {
    let Some(pace) = ctx.body_pace() else {
        return Ok(());
    };
    if ctx.upgrade {
        return Ok(());
    }
    let began = std::time::Instant::now();
    let settled = crate::request_body::settle(session, ctx.body_limit, pace).await;
    ctx.body_settled_in = began.elapsed();
    match settled {
        Ok(()) => Ok(()),
        // The citizen's side failed (a cancelled upload, a length that lied): no page.
        Err(BodyError::Read(e)) => Err(e.into_down()),
        Err(e) => Err(body_refused(&e)),
    }
}

/// A body refused as the citizen's doing (413, 408): a status pingora's error page takes,
/// and the limit it went past, for the log.
fn body_refused(e: &BodyError) -> Box<pingora::Error> {
    let status = e.status().as_u16();
    pingora::Error::explain(pingora::ErrorType::HTTPStatus(status), e.to_string())
}

/// Whether an exchange that failed with `e` failed because the citizen stopped sending the
/// body his request announced: the legacy site timed out waiting for the rest of it. That
/// is the citizen's doing, not the site's: he gets 408, and the site's health and breaker
/// hear nothing (counted, a dozen such requests took a service into maintenance).
///
/// Only a read timeout (the gateway waiting for the site's answer): a write timeout while
/// a body is unfinished is a site that stopped reading it, the site's doing.
pub fn body_stalled(session: &mut Session, e: &pingora::Error) -> bool {
    matches!(e.etype(), pingora::ErrorType::ReadTimedout)
        && !session.was_upgraded()
        && !session.is_body_done()
}

/// Whether the exchange failed with `e` because of the citizen: his body over the limit
/// ([`check_body`]) or stalled (`stalled`, [`body_stalled`]), his own connection failed
/// (a read or a write that failed or timed out, his reset, a flood closed: an I/O error
/// whose source is downstream; the gateway's own faults toward him, an internal error or
/// an answer HTTP/2 refused, stay errors), or his chunked body did not parse (found when
/// tried: fifty posts of a chunk size `zz` wrote fifty error lines, each with the path he
/// chose).
/// Pingora logged each at error level, the first naming the legacy site as the peer (found
/// when tried: every refused scan was an error; then a client sending its upload a byte a
/// frame, closed and reconnecting, wrote 1,808 error lines in 40 s). nginx logs a client's
/// failures at `info`; here the citizen's answer (413, 408) or the request's end is logged
/// and counted as any answer, in the access log and the metrics.
///
/// Over HTTP/2, his reset of a stream or of the connection while its answer was awaited
/// ([`h2_hang_up`]) is his doing too: found when tried, 100 connections from one address,
/// each asking four streams of a slow page and closing, wrote 329 `ERROR` lines in 6.5 s,
/// each naming the legacy site (over HTTP/1, none).
pub fn citizens_doing(e: &pingora::Error, stalled: bool) -> bool {
    stalled
        || h2_hang_up(e)
        || matches!(e.etype(), pingora::ErrorType::HTTPStatus(408 | 413))
        || (e.esource() == &pingora::ErrorSource::Downstream
            && matches!(
                e.etype(),
                pingora::ErrorType::ReadError
                    | pingora::ErrorType::WriteError
                    | pingora::ErrorType::ConnectionClosed
                    | pingora::ErrorType::ReadTimedout
                    | pingora::ErrorType::WriteTimedout
                    // pingora's own types for a chunked body that does not parse.
                    | pingora::ErrorType::Custom("InvalidChunk" | "InvalidTrailerEnd")
                    // Her WebSocket, cut at her logout.
                    | pingora::ErrorType::Custom(super::ctx::SESSION_ENDED)
            ))
}

/// Whether `e` is pingora's word for an HTTP/2 client that reset its stream, or closed its
/// connection, while the gateway waited for the site's answer: the two contexts of
/// pingora's `H2Error` for it (`HttpSession::idle` and `read_body_or_idle`), nothing else
/// of type `H2Error` (an answer HTTP/2 refused is the gateway's). Looked for through the
/// context pingora adds while the site is being talked to (`Peer: …`, the same error
/// wrapped): found in an observability probe, streams cancelled after they reached the site
/// wrote an `ERROR` line each, 1,422 a second from one client.
fn h2_hang_up(e: &pingora::Error) -> bool {
    if e.esource() != &pingora::ErrorSource::Downstream || e.etype() != &pingora::ErrorType::H2Error
    {
        return false;
    }
    let mut next = Some(e);
    while let Some(e) = next {
        let said = e.context.as_ref().is_some_and(|c| {
            let c = c.as_str();
            c == "downstream error while idling"
                || c.starts_with("Client closed H2")
                // Writing the answer's body to a stream the client reset, or a connection
                // it cut (found in a bypass probe: 150 ERROR lines a second from one client
                // cutting connections while pages were flowing).
                || c == "cannot reserve capacity"
                || c == "while waiting for capacity"
        });
        if said {
            return true;
        }
        next = e
            .cause
            .as_ref()
            .and_then(|c| c.downcast_ref::<pingora::BError>())
            .map(|c| &**c)
            .filter(|c| c.etype() == e.etype());
    }
    false
}

/// The citizen's address as a bucket key, on the stack: its address key
/// ([`address_key`]: an IPv6 address's /64) as 4 or 16 bytes, or `unknown`.
struct AddressKey(Option<([u8; 16], usize)>);

impl AddressKey {
    fn of(ctx: &RequestCtx) -> Self {
        Self(ctx.citizen_ip.map(|ip| {
            let mut out = [0u8; 16];
            match address_key(ip) {
                IpAddr::V4(v4) => {
                    out[..4].copy_from_slice(&v4.octets());
                    (out, 4)
                }
                IpAddr::V6(v6) => (v6.octets(), 16),
            }
        }))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_ref().map_or(b"unknown", |(b, n)| &b[..*n])
    }
}

impl Stage for LimitsStage {
    fn name(&self) -> &'static str {
        "limits"
    }

    async fn run(&self, session: &mut Session, ctx: &mut RequestCtx) -> Step {
        let to_a_site = ctx.service.is_some() && ctx.local.is_none();
        let trusted = ctx.client.is_some_and(|c| c.trusted);
        match self.streams.enter(session, to_a_site, trusted) {
            Ok(ticket) => ctx.stream_ticket = ticket,
            Err(refused) => {
                self.telemetry
                    .metrics
                    .rate_limited
                    .with_label_values(&["h2_streams"])
                    .inc();
                let (kind, wait) = match refused {
                    TooMany::Slots(Crowded::Total) => (ErrorKind::Unavailable, 5),
                    TooMany::Slots(Crowded::PerAddress) => (ErrorKind::TooManyRequests, 10),
                    TooMany::InFlight | TooMany::Abandoned => (ErrorKind::TooManyRequests, 1),
                };
                let page = refusal(
                    ctx,
                    kind,
                    "too many requests on this connection; try again after Retry-After seconds",
                );
                return Step::Respond(page.with_retry_after_secs(wait));
            }
        }

        if let Some(limits) = ctx.service.as_ref().map(|s| &s.config.limits) {
            if let (Some(methods), Some(allow)) = (&limits.methods, &limits.allow) {
                if !methods.contains(&session.req_header().method) {
                    let page = ctx.error_page(ErrorKind::MethodNotAllowed);
                    return Step::Respond(page.with_header(http::header::ALLOW, allow.clone()));
                }
            }
        }
        // The service's own limit, or the portal's.
        let max = match (&ctx.service, &ctx.snapshot) {
            (Some(service), Some(snap)) => Some(
                service
                    .config
                    .limits
                    .max_body_bytes
                    .map_or(snap.config.gateway.limits.max_body_bytes, |m| m as u64),
            ),
            _ => None,
        };
        if let Some(max) = max {
            let announced = crate::content_length::declared(&session.req_header().headers);
            if announced.is_some_and(|n| n > max) {
                // The body will not be read: the connection cannot carry another request.
                session.set_keepalive(None);
                return Step::Respond(if super::soap::is_a_facade_call(ctx) {
                    let limit = usize::try_from(max).unwrap_or(usize::MAX);
                    crate::request_body::BodyError::TooLarge { limit }.response()
                } else {
                    ctx.error_page(ErrorKind::PayloadTooLarge)
                });
            }
            ctx.body_limit = Some(max);
        }
        let api = ctx.local == Some(LocalRoute::Assist);
        let page = ctx.local == Some(LocalRoute::Portal(PortalPage::Search));
        let cross_site = counted_route(ctx)
            && ctx
                .snapshot
                .as_ref()
                .is_some_and(|snap| sent_by_another_site(session.req_header(), page, &snap.portal));
        // The box's post only seals its query for the page it is sent to, which is
        // counted: one search, one of the budget; the empty box asks nothing.
        let asks_nothing = page && !asks_the_router(session.req_header());
        // Counted against the address's other limits like any request, never against the
        // route budget, and refused.
        match self.check(session, ctx, !cross_site && !asks_nothing).await {
            Ok(()) if cross_site => Step::Respond(if api {
                LocalResponse::json_error(
                    StatusCode::FORBIDDEN,
                    "cross_site",
                    "the portal's endpoints answer its own pages, not another site's",
                )
            } else {
                ctx.error_page(ErrorKind::Forbidden)
            }),
            Ok(()) => Step::Continue,
            Err(limited) => {
                self.telemetry
                    .metrics
                    .rate_limited
                    .with_label_values(&[limited.scope.label()])
                    .inc();
                let secs = retry_after_secs(limited.retry_after);
                let page = refusal(
                    ctx,
                    ErrorKind::TooManyRequests,
                    "too many requests from this address; try again after Retry-After seconds",
                );
                Step::Respond(page.with_retry_after_secs(secs))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_too_large_or_stalled_is_the_citizens_doing_and_a_failing_site_is_not() {
        let error = |etype| pingora::Error::explain(etype, "x");
        let too_large = error(pingora::ErrorType::HTTPStatus(413));
        assert!(citizens_doing(&too_large, false));
        let slow = error(pingora::ErrorType::ReadTimedout);
        assert!(citizens_doing(&slow, true), "the body stalled");
        assert!(!citizens_doing(&slow, false), "the site was slow");
        let refused = error(pingora::ErrorType::ConnectRefused);
        assert!(!citizens_doing(&refused, false));
    }

    #[test]
    fn an_http2_client_hanging_up_while_the_answer_is_awaited_is_his_doing() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let idling = pingora::Error::because(
            pingora::ErrorType::H2Error,
            "downstream error while idling",
            reset,
        )
        .into_down();
        assert!(citizens_doing(&idling, false));
        let mut closed = pingora::Error::new_down(pingora::ErrorType::H2Error);
        closed.set_context("Client closed H2, reason: CANCEL");
        assert!(citizens_doing(&closed, false), "{closed}");
        for writing in ["cannot reserve capacity", "while waiting for capacity"] {
            let mut cut = pingora::Error::new_down(pingora::ErrorType::H2Error);
            cut.set_context(writing);
            let cut = cut.more_context("Peer: addr: 127.0.0.1:8080");
            assert!(citizens_doing(&cut, false), "{cut}");
        }
        // As pingora hands it over once the site is being talked to.
        let peer = closed.more_context("Peer: addr: 127.0.0.1:8080");
        assert!(citizens_doing(&peer, false), "{peer}");
        let mut refused_answer = pingora::Error::new_down(pingora::ErrorType::H2Error);
        refused_answer.set_context("try to send body before header is sent");
        assert!(!citizens_doing(&refused_answer, false), "the gateway's own");
        let mut site = pingora::Error::new_up(pingora::ErrorType::H2Error);
        site.set_context("downstream error while idling");
        assert!(
            !citizens_doing(&site, false),
            "not the citizen's connection"
        );
    }

    #[test]
    fn a_failure_of_the_citizens_own_connection_is_his_doing() {
        use pingora::ErrorType::*;
        for etype in [
            ReadError,
            WriteError,
            ConnectionClosed,
            ReadTimedout,
            WriteTimedout,
            Custom("InvalidChunk"),
            Custom("InvalidTrailerEnd"),
        ] {
            let his = pingora::Error::new_down(etype.clone());
            assert!(citizens_doing(&his, false), "{etype:?}");
            let site = pingora::Error::new_up(etype.clone());
            assert!(!citizens_doing(&site, false), "the site's {etype:?}");
        }
        let ours = pingora::Error::new_down(pingora::ErrorType::InternalError);
        assert!(!citizens_doing(&ours, false), "the gateway's own fault");
    }

    #[test]
    fn the_routers_api_is_refused_in_json_and_pages_with_the_error_page() {
        let api = RequestCtx {
            local: Some(LocalRoute::Assist),
            ..RequestCtx::default()
        };
        let refused = refusal(&api, ErrorKind::TooManyRequests, "too many");
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        let error: serde_json::Value = serde_json::from_slice(&refused.body).expect("JSON");
        assert_eq!(error["error"], "rate_limited");
        let unavailable = refusal(&api, ErrorKind::Unavailable, "full");
        assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);

        let page = refusal(
            &RequestCtx::default(),
            ErrorKind::TooManyRequests,
            "too many",
        );
        assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            page.body.starts_with(b"<!DOCTYPE html>"),
            "a citizen's page"
        );
    }

    #[test]
    fn a_body_past_its_pace_is_refused_with_408_unless_it_has_all_come() {
        let mut ctx = RequestCtx {
            snapshot: Some(crate::registry::fixtures::snapshot()),
            // Its start took an hour to settle: far past any pace.
            body_settled_in: std::time::Duration::from_secs(3600),
            ..RequestCtx::default()
        };
        ctx.attempts.connected();
        let slow = check_body(&ctx, 100, false, false).expect_err("past the pace");
        assert_eq!(slow.etype(), &pingora::ErrorType::HTTPStatus(408));
        assert!(check_body(&ctx, 100, false, true).is_ok(), "its last piece");
        let mut large = ctx;
        large.body_limit = Some(10);
        let past = check_body(&large, 100, false, true).expect_err("still past the limit");
        assert_eq!(past.etype(), &pingora::ErrorType::HTTPStatus(413));
    }

    #[test]
    fn a_body_is_refused_with_413_only_past_the_services_limit() {
        let mut ctx = RequestCtx {
            body_limit: Some(100),
            ..RequestCtx::default()
        };
        assert!(check_body(&ctx, 100, false, false).is_ok());
        let past = check_body(&ctx, 101, false, false).expect_err("past the limit");
        assert_eq!(past.etype(), &pingora::ErrorType::HTTPStatus(413));
        assert!(
            check_body(&ctx, 101, true, false).is_ok(),
            "a switched connection's stream is not a body"
        );
        ctx.body_limit = None;
        assert!(
            check_body(&ctx, usize::MAX, false, false).is_ok(),
            "no limit, no refusal"
        );
    }
}

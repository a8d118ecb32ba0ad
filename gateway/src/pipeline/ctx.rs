//! What one request carries from stage to stage and phase to phase.

use crate::cache::CacheUse;
use crate::chain::BodyFeed;
use crate::forwarded::Client;
use crate::registry::{Service, Snapshot};
use crate::request_id::RequestId;
use crate::response::{self, ErrorKind, LocalResponse};
use crate::sso::endpoints::AuthEndpoint;
use crate::sso::session::Session as SsoSession;
use crate::telemetry::request::{Finished, RequestObs};
use crate::telemetry::Telemetry;
use crate::upstream::{Attempts, Hop};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use std::net::IpAddr;
use std::sync::Arc;

/// A page or endpoint the gateway answers itself, as routing found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalRoute {
    /// A page of the citizen portal.
    Portal(crate::portal::PortalPage),
    /// A single sign-on endpoint.
    Auth(AuthEndpoint),
    /// `POST /api/route`.
    Assist,
}

/// The error type of an upgrade cut because its session ended ([`RequestCtx::session_ended`]).
pub const SESSION_ENDED: &str = "SessionEnded";

/// Per-request state shared by the stages and pingora's phases.
pub struct RequestCtx {
    /// The request's id (the trace id, or a trusted proxy's); see the identify stage.
    pub request_id: RequestId,
    pub client: Option<Client>,
    /// The citizen's address (behind trusted proxies, from `X-Forwarded-For`).
    pub citizen_ip: Option<IpAddr>,
    /// A WebSocket handshake, the one upgrade let through (`crate::guard::only_websocket_upgrades`;
    /// read by the guard stage).
    pub upgrade: bool,
    /// A signed-in citizen's WebSocket: its hold on her session, cut when the session ends
    /// ([`Self::session_ended`]).
    pub upgrade_ticket: Option<crate::sso::upgrades::UpgradeTicket>,
    /// The request came to another host than the portal's (a service's own origin, a
    /// legacy host): `/` there is not the portal, so the gateway's pages link its URL.
    pub portal_elsewhere: bool,
    /// Telemetry's view of the request (trace, timings).
    pub obs: Option<RequestObs>,
    /// The registry snapshot the request was routed with.
    pub snapshot: Option<Arc<Snapshot>>,
    /// The service the request goes to.
    pub service: Option<Arc<Service>>,
    /// Path and query to send upstream (built once; a failover reuses it).
    pub upstream_uri: Option<http::Uri>,
    /// The page or endpoint the gateway answers itself.
    pub local: Option<LocalRoute>,
    /// The citizen's session, when the service needs one.
    pub session: Option<SsoSession>,
    /// What the legacy cookies of that session are bound to (`sso::session::cookie_binding_of` its cookie),
    /// computed once with it: read to forward the request's cookies, to bind the answer's,
    /// and by the response cache.
    pub cookie_binding: Option<egov_adapters::cookies::CookieBinding>,
    /// The portal strip this response's page gets (variant number, HTML), for services
    /// that show one.
    pub strip: Option<(u8, std::sync::Arc<str>)>,
    /// Attempts at the service's backends.
    pub attempts: Attempts,
    /// The response body's rewriting, when it applies.
    pub body: Option<BodyFeed>,
    /// The answer a stage gave, written in pingora's request phase.
    pub answer: Option<LocalResponse>,
    /// How the response cache takes part.
    pub cache: CacheUse,
    /// The request sent upstream is a HEAD (a cached HEAD is fetched as a GET, whose body
    /// is adapted and stored).
    pub upstream_head: bool,
    /// The request body size the service takes (`[limits] max_body_bytes`), checked as the
    /// body streams: a chunked or HTTP/2 body announces no length to refuse up front.
    pub body_limit: Option<u64>,
    /// Small pieces of the body held until they make a piece worth a write to the legacy
    /// site.
    pub body_held: crate::request_body::Gathered,
    /// How long an HTTP/2 body's start took to arrive before a legacy site was asked
    /// (`pipeline::limits::settle_body`): its pace runs on from there.
    pub body_settled_in: std::time::Duration,
    /// The exchange failed because of the citizen's body (too large, stalled): not logged
    /// as the proxy's error (see `pipeline::limits::citizens_doing`).
    pub citizens_doing: bool,
    /// The citizen's byte ranges went to the legacy site (`upstream::forwards_ranges`), or
    /// the response cache serves them from the whole answer it keeps.
    pub ranges: bool,
    /// This HTTP/2 request's place in its connection's count of requests the gateway is
    /// serving (rapid reset: [`crate::limits::streams`]), given back with the context.
    pub stream_ticket: Option<crate::limits::streams::StreamTicket>,
    /// The final answer already carries `X-Request-Id` and `X-Cache-Status` (set with the
    /// legacy answer's adapters when the cache cannot change the status; see
    /// `GatewayProxy::response_filter`).
    pub answer_marked: bool,
    /// The portal's page in place of the site's server error page, to be written by the
    /// failure's writer (see `pipeline::adapt::SITE_ERROR_REPLACED`).
    pub site_error: Option<LocalResponse>,
    /// A stage answered the request itself, as a refusal (4xx) or, on a legacy service, by
    /// sending the citizen elsewhere (3xx) or from the gateway's own endpoints. The
    /// metrics keep such requests, and those whose body the citizen sent too large or too
    /// slowly ([`Self::citizens_doing`]), out of the service's SLIs ([`Finished::refused`]).
    pub refused: bool,
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self {
            // Assigned by the identify stage (the trace id, or a trusted proxy's).
            request_id: RequestId::unassigned(),
            client: None,
            citizen_ip: None,
            upgrade: false,
            upgrade_ticket: None,
            portal_elsewhere: false,
            obs: None,
            snapshot: None,
            service: None,
            upstream_uri: None,
            local: None,
            session: None,
            cookie_binding: None,
            strip: None,
            attempts: Attempts::default(),
            body: None,
            answer: None,
            cache: CacheUse::Off,
            upstream_head: false,
            body_limit: None,
            body_held: Default::default(),
            body_settled_in: std::time::Duration::ZERO,
            citizens_doing: false,
            ranges: false,
            stream_ticket: None,
            answer_marked: false,
            site_error: None,
            refused: false,
        }
    }
}

impl RequestCtx {
    /// The variant of `req` under the stored answer `meta` ([`crate::cache::variance`]): with
    /// this request's portal strip and the headers its service's rules rename.
    pub fn cache_variant(
        &self,
        meta: &pingora::cache::CacheMeta,
        req: &RequestHeader,
    ) -> pingora::cache::key::HashBinary {
        let renamed = self.service.iter().flat_map(|s| s.chain.request_renames());
        let strip = self.strip.as_ref().map(|(v, _)| *v);
        crate::cache::variance(meta, req, strip, renamed)
    }

    /// The service's cache policy, if it has one, and whether the response cache takes part
    /// in this request (`false`: it bypasses it).
    pub fn cache_policy(&self) -> Option<(&crate::cache::Policy, bool)> {
        if self.cache == crate::cache::CacheUse::Off {
            return None;
        }
        let policy = self.service.as_ref()?.cache.as_deref()?;
        Some((policy, self.cache.is_shared()))
    }

    /// For a request asking for an upgrade, how long each wait for the site may last
    /// (`limits.upgraded_idle_timeout`); `None` otherwise.
    pub fn upgrade_idle(&self) -> Option<std::time::Duration> {
        let limits = &self.snapshot.as_ref()?.config.gateway.limits;
        self.upgrade.then_some(limits.upgraded_idle_timeout)
    }

    /// The pace the request's body must keep (`limits.body_grace`, `body_min_rate`); `None`
    /// before the registry's snapshot is taken.
    pub fn body_pace(&self) -> Option<crate::request_body::BodyPace> {
        let limits = &self.snapshot.as_ref()?.config.gateway.limits;
        Some(crate::request_body::BodyPace::of(limits))
    }

    /// The stages' `answer` is what the citizen gets instead of the legacy site's.
    pub fn answer_with(&mut self, answer: LocalResponse) {
        // Found when tried: 600 anonymous requests to a citizen service, each sent to the
        // login (302) in half a millisecond, took its error rate from 27 % to 1.7 %; then
        // anonymous `/__egov/keep-alive`s on its origin (200) silenced its pages. On a
        // service, whatever the gateway answers itself is its own, not the site's (an
        // answer the site gave through a stage, the SOAP facade's, is told apart when the
        // request ends); on the portal, its refusals and redirects are.
        let status = answer.status;
        self.refused = !status.is_server_error()
            && (status.is_client_error()
                || self.service.is_some()
                || (self.local.is_none() && status.is_redirection()));
        self.answer = Some(answer);
    }

    /// What the metrics and the access log record of the request, once it is over.
    pub fn finished<'a>(&'a self, session: &'a Session) -> Finished<'a> {
        let req = session.req_header();
        let service = self.service.as_ref().or_else(|| self.origin_service(req));
        let status = crate::pipeline::answered(session).map_or(0, |r| r.status.as_u16());
        Finished {
            service: service.map(|s| (s.id(), s.config.ministry.as_str())),
            service_metrics: service.and_then(|s| s.metrics.as_ref()),
            method: req.method.as_str(),
            path: req.uri.path(),
            query: req.uri.query(),
            status,
            bytes: session.body_bytes_sent(),
            client_ip: self.citizen_ip,
            request_id: self.request_id.as_str(),
            cache: service
                .filter(|_| self.local.is_none() && self.answer.is_none())
                .map(|_| crate::cache::status(self.cache, session.cache.phase())),
            cache_counted: self.cache != CacheUse::Off,
            background: session.subrequest_ctx.is_some(),
            // Only an answer the gateway wrote: a citizen who gave up waiting on a slow
            // site (499, no answer) is the site's slowness, not a refusal (found when
            // tried: a hung site whose citizens all gave up read "ok", its SLIs empty).
            refused: status != 0
                && (self.refused || (self.citizens_doing && (400..500).contains(&status))),
        }
    }

    /// The service whose own origin `req` came to, for a request refused before it was
    /// routed (an oversized header block, a malformed path): found by an SRE probe, a path
    /// traversal scan of a service's origin was counted as the portal's, and never showed
    /// on that service's row or in its refusals.
    fn origin_service(&self, req: &pingora::http::RequestHeader) -> Option<&Arc<Service>> {
        let snap = self.snapshot.as_ref()?;
        let origins = snap.portal.settings.service_origins.as_ref()?;
        let host = crate::host::normalize(crate::host::request_host(req)?);
        snap.service(origins.service_of(&host)?)
    }

    /// An answer's header leaves for the citizen: marked with the request id and cache
    /// status when the upstream filter did not (a cache's answer, an interim one), and, a
    /// final one or a `101`, the end of the request's latency ([`RequestObs::header_sent`]).
    pub fn answer_leaving(&mut self, session: &Session, resp: &mut pingora::http::ResponseHeader) {
        use crate::cache::{mark_answer, ANSWER_HEADERS};
        if crate::limits::ends_the_exchange(resp.status) {
            if let Some(obs) = self.obs.as_mut() {
                obs.header_sent();
            }
        }
        if !self.answer_marked {
            let status = crate::cache::status(self.cache, session.cache.phase());
            crate::chain::edit_response(resp, ANSWER_HEADERS, |headers| {
                mark_answer(headers, &self.request_id, status, self.https())
            });
        }
    }

    /// A signed-in citizen's WebSocket whose session has ended (a logout, here or on
    /// another instance: `crate::sso::upgrades`) is cut before its next message either
    /// way: `Err` then, the citizen's doing ([`super::limits::citizens_doing`]).
    pub fn session_ended(&self) -> pingora::Result<()> {
        match &self.upgrade_ticket {
            Some(ticket) if ticket.ended() => {
                let mut e = pingora::Error::new_down(pingora::ErrorType::Custom(SESSION_ENDED));
                e.set_context("the citizen's session ended: her WebSocket is closed");
                Err(e)
            }
            _ => Ok(()),
        }
    }

    /// What the response adapters are told of the request an answer answers (`head`: it
    /// carries no body).
    pub fn asked(&self, head: bool) -> crate::chain::Asked {
        let shared = self.cache.is_shared();
        crate::chain::Asked {
            head,
            shared,
            ranges: self.ranges,
            // Also when the cache may keep the answer (asked as nobody): it keeps none
            // that sets a cookie, and the citizen's copy is hers.
            cookies_bound_to: self.cookie_binding,
        }
    }

    /// Whether the citizen reaches the portal (and every service origin, which shares its
    /// scheme) over HTTPS: then every answer carries the portal's HSTS.
    pub fn https(&self) -> bool {
        self.snapshot
            .as_ref()
            .is_some_and(|s| s.portal.settings.public_url.https)
    }

    /// The page a proxied request that failed with `e` gets (`None`: the client is gone):
    /// the maintenance page with `Retry-After` when the service cannot be reached at all
    /// (breaker open, every backend down), otherwise the page of the failure's kind.
    /// A citizen who stopped sending his request's body (`stalled`, see
    /// [`super::limits::body_stalled`]) gets the 408 page; a form (`req` not idempotent)
    /// that reached a site which then did not answer (in time, or at all), a page saying it
    /// may have been received.
    pub fn failure_page(
        &self,
        e: &pingora::Error,
        stalled: bool,
        req: &RequestHeader,
    ) -> Option<LocalResponse> {
        if stalled {
            return Some(self.error_page(ErrorKind::RequestTimeout));
        }
        let failure = match (
            response::failure_kind(e)?,
            self.attempts.answer_failed_over(),
        ) {
            // The site answered; the backend asked after it did not (see
            // `Attempts::answer_failed_over`): the page is the site's status's.
            (ErrorKind::BadGateway | ErrorKind::GatewayTimeout, Some(code)) => {
                response::failure_kind(&pingora::Error::new(pingora::ErrorType::HTTPStatus(code)))?
            }
            (kind, _) => kind,
        };
        let kind = match failure {
            ErrorKind::GatewayTimeout | ErrorKind::BadGateway
                if !req.method.is_idempotent() && self.attempts.reached_the_site() =>
            {
                ErrorKind::MaybeReceived
            }
            kind => kind,
        };
        let Some(wait) = self.attempts.unavailable_for else {
            // A connection the site ended stays a 502 (found in a bypass probe: a form the
            // site read before resetting was answered "try again").
            return Some(self.error_page_as(kind, failure.status()));
        };
        let kind = if self.attempts.busy {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Maintenance
        };
        Some(self.error_page(kind).with_retry_after_secs(wait.as_secs()))
    }

    /// The portal's page for the site's own server error `status` (`[legacy] error_pages`)
    /// answering `req`: the page of the failure the status names (a form's 502 or 504 may
    /// have been received), else the site's error; sent with the site's status.
    pub fn site_error_page(&self, status: http::StatusCode, req: &RequestHeader) -> LocalResponse {
        let kind = match status.as_u16() {
            502 | 504 if !req.method.is_idempotent() => ErrorKind::MaybeReceived,
            502 => ErrorKind::BadGateway,
            503 => ErrorKind::Unavailable,
            504 => ErrorKind::GatewayTimeout,
            _ => ErrorKind::SiteError,
        };
        self.error_page_as(kind, status)
    }

    /// An error page quoting the request id (and the trace id when they differ).
    pub fn error_page(&self, kind: ErrorKind) -> LocalResponse {
        self.error_page_as(kind, kind.status())
    }

    /// [`Self::error_page`] sent (and quoting) `status` rather than its kind's.
    fn error_page_as(&self, kind: ErrorKind, status: http::StatusCode) -> LocalResponse {
        let trace = self.obs.as_ref().map(|o| o.trace_id.as_str());
        let (id, home) = (self.request_id.as_str(), &self.portal_home());
        response::error_page_answered_as(kind, status, id, trace, home)
    }

    /// The portal's address as a link from where this request is served: `/` on the
    /// portal's origin, the portal's absolute URL on a service's own origin or a legacy
    /// host (where `/` is the service).
    pub fn portal_home(&self) -> std::borrow::Cow<'static, str> {
        match &self.snapshot {
            Some(snap) if self.portal_elsewhere => format!("{}/", snap.portal.origin).into(),
            _ => "/".into(),
        }
    }

    /// What a call to `service`'s legacy site says about this request (see
    /// [`crate::upstream::forward`]).
    pub fn hop<'a>(
        &'a self,
        req: &RequestHeader,
        service: &'a Service,
        telemetry: &Telemetry,
    ) -> Hop<'a> {
        Hop {
            service,
            citizen_host: crate::host::citizen_host(req),
            client: self.client.as_ref(),
            request_id: &self.request_id,
            session: self.session.as_ref(),
            cookie_binding: self.cookie_binding.as_ref(),
            trace_headers: self
                .obs
                .as_ref()
                .map(|o| telemetry.upstream_trace_headers(o))
                .unwrap_or_default(),
        }
    }

    /// [`Self::hop`] and the request's telemetry together, for a call of the gateway's own
    /// that reports its upstream outcomes while the hop is in use.
    pub fn hop_and_obs<'a>(
        &'a mut self,
        req: &RequestHeader,
        service: &'a Service,
        telemetry: &Telemetry,
    ) -> (Hop<'a>, Option<&'a mut RequestObs>) {
        let trace_headers = self
            .obs
            .as_ref()
            .map(|o| telemetry.upstream_trace_headers(o))
            .unwrap_or_default();
        let hop = Hop {
            service,
            citizen_host: crate::host::citizen_host(req),
            client: self.client.as_ref(),
            request_id: &self.request_id,
            session: self.session.as_ref(),
            cookie_binding: self.cookie_binding.as_ref(),
            trace_headers,
        };
        (hop, self.obs.as_mut())
    }
}

//! One request, as telemetry sees it: [`Telemetry::begin`] when it arrives, a few events on
//! the way (SSO, upstream, intent routing), [`Telemetry::finish`] when it is over; metrics,
//! the access-log line and the spans all come from here, so the proxy only reports events.

use super::access_log::AccessLine;
use super::metrics::ServiceMetrics;
use super::trace::{end_child, RequestTrace, TraceHeaders, TraceIdHex};
use super::{Telemetry, PORTAL};
use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// What telemetry keeps about one request while it runs.
pub struct RequestObs {
    started: Instant,
    pub trace: RequestTrace,
    /// The trace id as 32 hex digits (formatted once).
    pub trace_id: TraceIdHex,
    upstream_span: Option<Context>,
    upstream_started: Option<Instant>,
    upstream_elapsed: Option<Duration>,
    /// When the connection to the legacy site was up (this attempt's).
    upstream_connected: Option<Instant>,
    /// The site's time on this request's earlier attempts that reached it (an answer failed
    /// over on, a reset, a timeout): the site's latency is all of its attempts', or a
    /// backend's 503 after 1.5 s then another's answer in 0.5 s said the site took 0.5 s
    /// and the gateway the rest (found in a bypass probe).
    upstream_before: Duration,
    /// How long the exchange with the legacy site waited for the citizen's body: neither the
    /// site's time nor the gateway's (see [`Telemetry::request_sent`]).
    client_wait: Duration,
    upstream_error: Option<&'static str>,
    backend: Option<SocketAddr>,
    /// When the answer's header left for the citizen (a final one or a `101`, after which
    /// the bytes are another protocol's; not another `1xx`).
    header_sent: Option<Instant>,
    finished: bool,
}

impl RequestObs {
    /// The answer's (final) header leaves for the citizen now: the end of what the latency
    /// objective measures. The body's time after it is the citizen's connection's as much
    /// as the site's: found when tried, a 5 MB certificate read over a slow phone counted
    /// as a 40 s request, and a handful of such downloads burnt a healthy service's latency
    /// budget. The access log's duration still runs to the last byte.
    pub fn header_sent(&mut self) {
        self.header_sent.get_or_insert_with(Instant::now);
    }

    /// When the legacy site was called for this request (its latest attempt), else when the
    /// request began: what a fill it brings carries (from review: a request's own start
    /// was too early for one that waited behind the cache lock and then fetched itself).
    pub fn fetch_started(&self) -> Instant {
        self.upstream_started.unwrap_or(self.started)
    }
}

/// What is known about a request when it ends.
pub struct Finished<'a> {
    /// `(service, ministry)` ids, when the request reached a service.
    pub service: Option<(&'a str, &'a str)>,
    /// That service's metric handles (resolved at registry load).
    pub service_metrics: Option<&'a ServiceMetrics>,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub status: u16,
    pub bytes: usize,
    pub client_ip: Option<IpAddr>,
    pub request_id: &'a str,
    /// `X-Cache-Status` of a proxied answer (`None`: the gateway answered itself).
    pub cache: Option<&'static str>,
    /// Whether the service's cache is on (only those answers are counted by result).
    pub cache_counted: bool,
    /// A stored answer refreshed in the background (`stale-while-revalidate`): nobody asked
    /// for it, so it is neither a request in the metrics nor a line in the access log (it
    /// was both, with the citizen's address and bytes never sent: found when tried). A
    /// failure of the legacy site it meets is still counted.
    pub background: bool,
    /// The gateway answered the request itself, without the legacy site's say: a stage's
    /// refusal or redirect, or the answer to a body the citizen sent too large or too
    /// slowly. Counted as refused and kept out of the service's SLIs (see
    /// [`ServiceTraffic::refuse`](super::traffic::ServiceTraffic::refuse)), unless it is a
    /// 5xx or the site did answer.
    pub refused: bool,
}

/// nginx's "client closed request": what a request that ended without any response
/// (the client went away first) is recorded as. It is the client's doing, so it counts as a
/// 4xx, never against the availability SLO as a 5xx would.
pub const CLIENT_CLOSED_REQUEST: u16 = 499;

/// The status to record: the one sent, or [`CLIENT_CLOSED_REQUEST`] when none was (`0`).
pub fn recorded_status(sent: u16) -> u16 {
    if sent == 0 {
        CLIENT_CLOSED_REQUEST
    } else {
        sent
    }
}

/// `egov_upstream_errors_total`'s kind for a legacy site's own 5xx answer.
pub const ANSWERED_5XX: &str = "answered_5xx";

/// The kind of an upstream failure, from a small fixed set (a metric label).
pub fn upstream_error_kind(e: &pingora::Error) -> &'static str {
    use pingora::ErrorType::*;
    match e.etype() {
        ConnectRefused | ConnectNoRoute => "refused",
        ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout => "timeout",
        ConnectionClosed | ReadError | WriteError => "reset",
        InvalidHTTPHeader | H1Error | H2Error | InvalidH2 => "protocol",
        _ => "other",
    }
}

fn set_backend_up(obs: &RequestObs, service: Option<&ServiceMetrics>, up: i64) {
    let (Some(b), Some(m)) = (obs.backend, service) else {
        return;
    };
    m.set_backend_up(b, up);
}

/// The longest method the access log writes (HTTP's longest is 7 bytes, WebDAV's 16).
const MAX_LOGGED_METHOD: usize = 16;

/// The longest `User-Agent` a span carries.
const MAX_USER_AGENT_CHARS: usize = 256;

/// A request's method as a span names it: one of HTTP's own, or `_OTHER` (OpenTelemetry's
/// convention). Any token is a valid method, so a client could otherwise name spans with
/// invented ones (found when tried: 50 requests, 50 span names).
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    match KNOWN.iter().find(|k| **k == method) {
        Some(k) => k,
        None => "_OTHER",
    }
}

impl Telemetry {
    /// A request arrives: its trace starts (continued from `headers` only when `trusted`).
    pub fn begin(
        &self,
        headers: &http::HeaderMap,
        trusted: bool,
        method: &str,
        path: &str,
        client: Option<IpAddr>,
    ) -> RequestObs {
        self.metrics.traffic.begin();
        let mut attributes = Vec::new();
        let method = method_label(method);
        if self.tracing.exporting() {
            // What the access log shows of the path, no more: identifiers, e-mail addresses
            // and `;jsessionid` values were exported verbatim (found when tried).
            let shown = super::access_log::path_without_query_values(path, None);
            attributes.push(KeyValue::new("http.request.method", method));
            attributes.push(KeyValue::new("url.path", shown));
            if let Some(ip) = client {
                attributes.push(KeyValue::new("client.address", ip.to_string()));
            }
            if let Some(ua) = headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
            {
                let ua: String = ua.chars().take(MAX_USER_AGENT_CHARS).collect();
                attributes.push(KeyValue::new("user_agent.original", ua));
            }
        }
        let trace = self
            .tracing
            .start_request(headers, trusted, method, attributes);
        RequestObs {
            started: Instant::now(),
            trace_id: trace.trace_id(),
            trace,
            upstream_span: None,
            upstream_started: None,
            upstream_elapsed: None,
            upstream_connected: None,
            upstream_before: Duration::ZERO,
            client_wait: Duration::ZERO,
            upstream_error: None,
            backend: None,
            header_sent: None,
            finished: false,
        }
    }

    /// Routing decided: names the server span after the route template.
    pub fn routed(&self, obs: &RequestObs, method: &str, route: &str) {
        if !self.tracing.exporting() {
            return;
        }
        let span = obs.trace.cx.span();
        span.update_name(format!("{} {route}", method_label(method)));
        span.set_attribute(KeyValue::new("http.route", route.to_string()));
    }

    /// A child span of the request (SSO, intent routing, cache).
    pub fn child(&self, obs: &RequestObs, name: &'static str) -> Option<Context> {
        self.tracing
            .child(&obs.trace, name, SpanKind::Internal, Vec::new())
    }

    /// The legacy site is about to be called at `backend`.
    pub fn upstream_start(&self, obs: &mut RequestObs, legacy_host: &str, backend: SocketAddr) {
        obs.backend = Some(backend);
        obs.upstream_started = Some(Instant::now());
        if !self.tracing.exporting() {
            return;
        }
        obs.upstream_span = self.tracing.child(
            &obs.trace,
            "upstream",
            SpanKind::Client,
            vec![
                KeyValue::new("server.address", legacy_host.to_string()),
                KeyValue::new("network.peer.address", backend.ip().to_string()),
                KeyValue::new("network.peer.port", i64::from(backend.port())),
            ],
        );
    }

    /// The `traceparent` (and `tracestate`) headers the legacy site receives.
    pub fn upstream_trace_headers(&self, obs: &RequestObs) -> TraceHeaders {
        self.tracing
            .inject(obs.upstream_span.as_ref().unwrap_or(&obs.trace.cx))
    }

    /// The connection to the backend is up (reused or new).
    pub fn upstream_connected(&self, obs: &mut RequestObs, service: Option<&ServiceMetrics>) {
        obs.upstream_connected = Some(Instant::now());
        set_backend_up(obs, service, 1);
    }

    /// The citizen's request body has been read to its end. The time from the connection to
    /// the legacy site to here is the citizen's, not the site's nor the gateway's:
    /// a body sent slowly counted as the site's latency and the request's, so six slow
    /// uploads from one address paged the on-call with the legacy site to blame (found when
    /// tried). A body read before the exchange began costs nothing here.
    pub fn request_sent(&self, obs: &mut RequestObs) {
        if let (Some(connected), Some(start), None) = (
            obs.upstream_connected,
            obs.upstream_started,
            obs.upstream_elapsed,
        ) {
            let waited = connected.elapsed();
            obs.client_wait += waited;
            obs.upstream_started = Some(start + waited);
        }
    }

    /// The legacy site answered the response header.
    pub fn upstream_answered(&self, obs: &mut RequestObs, status: u16) {
        obs.upstream_elapsed = obs
            .upstream_started
            .map(|t| obs.upstream_before + t.elapsed());
        if status >= 500 {
            // The site's own 5xx, counted with the exchanges that failed
            // (`egov_upstream_errors_total{kind="answered_5xx"}`): without it, a ministry
            // answering 500s showed no upstream error, and the runbook blamed the gateway
            // (found when tried).
            obs.upstream_error = Some(ANSWERED_5XX);
        }
        if let Some(cx) = obs.upstream_span.take() {
            cx.span().set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            end_child(Some(cx), (status >= 500).then_some("upstream 5xx"));
        }
    }

    /// Talking to the legacy site failed.
    pub fn upstream_failed(
        &self,
        obs: &mut RequestObs,
        service: Option<&ServiceMetrics>,
        e: &pingora::Error,
    ) {
        let kind = upstream_error_kind(e);
        obs.upstream_error = Some(kind);
        if kind == "refused" || matches!(e.etype(), pingora::ErrorType::ConnectTimedout) {
            set_backend_up(obs, service, 0);
        }
        // The site's time only once it took the connection: a refused one was recorded as
        // an answer in 0.2 ms, and a dead backend looked like the fastest on the dashboard's
        // upstream p95 (found by an SRE probe).
        if obs.upstream_elapsed.is_none() {
            let this = (obs.upstream_connected.and(obs.upstream_started)).map(|t| t.elapsed());
            let before = Some(obs.upstream_before).filter(|t| !t.is_zero());
            obs.upstream_elapsed = this.map(|t| obs.upstream_before + t).or(before);
        }
        end_child(obs.upstream_span.take(), Some(kind));
    }

    /// One backend could not be connected to (or failed, or answered a status the service
    /// fails over on) and the request moves on to another: the backend is marked down
    /// unless it answered, and the failure counted (a dead backend in a pool shows), but
    /// the request's own outcome is left to the next attempt.
    pub fn upstream_retried(
        &self,
        obs: &mut RequestObs,
        service: (&str, &str),
        service_metrics: Option<&ServiceMetrics>,
        e: &pingora::Error,
    ) {
        // A site's own 5xx that sent the request to the next backend (`upstream.failover_on`):
        // the backend answered, so it is up, whatever it said.
        let answered = matches!(e.etype(), pingora::ErrorType::HTTPStatus(_));
        if let (Some(_), Some(started)) = (obs.upstream_connected.take(), obs.upstream_started) {
            obs.upstream_before += started.elapsed();
        }
        let kind = if answered {
            ANSWERED_5XX
        } else {
            set_backend_up(obs, service_metrics, 0);
            upstream_error_kind(e)
        };
        end_child(obs.upstream_span.take(), Some(kind));
        if self.record_metrics {
            self.metrics
                .upstream_errors
                .with_label_values(&[service.0, service.1, kind])
                .inc();
        }
    }

    /// A rewritten body (for the adapters' metrics).
    pub fn body_rewritten(&self, service: &str, transcoded: bool) {
        let kind = if transcoded { "transcode" } else { "links" };
        self.metrics
            .body_rewrites
            .with_label_values(&[service, kind])
            .inc();
    }

    /// A connection a cap refused at `at` with a short answer (429: its address's share,
    /// 503: the process's), which it wrote in `duration`: a line in the access log, as nginx
    /// writes its `limit_conn` refusals, so that the log's statuses are what clients were
    /// answered (found when tried: a flood's refusals were only in a counter). Its request
    /// was never read: the line has no method, path or ids. At most
    /// [`super::REFUSAL_LINES_PER_SECOND`] a second: a client reconnecting as fast as it can
    /// must not fill the log's queue, whose overflow drops the lines of requests served
    /// (from review); every refusal is counted in `egov_connections_refused_total`.
    pub fn connection_refused(
        &self,
        client_ip: Option<IpAddr>,
        status: u16,
        at: std::time::SystemTime,
        bytes: usize,
        duration: Duration,
    ) {
        if !self.access_log.enabled() || !self.refusal_lines.take() {
            return;
        }
        self.access_log.write(&AccessLine {
            time: at,
            trace_id: "",
            request_id: "",
            service: PORTAL,
            ministry: PORTAL,
            method: "",
            path: "",
            query: None,
            status,
            duration,
            upstream: None,
            upstream_error: None,
            cache: "none",
            refused: true,
            bytes,
            client_ip,
        });
    }

    /// A request pingora could not parse and answered 400 itself (`bytes` of answer),
    /// `took` after its first byte: counted as a request the portal refused, and a line as for a
    /// refused connection (no method, path or ids: nothing of it was read; within the same
    /// budget a second).
    pub fn request_unreadable(&self, client_ip: Option<IpAddr>, took: Duration, bytes: usize) {
        if self.record_metrics {
            self.portal_metrics.traffic.refuse(400, bytes as u64);
        }
        self.connection_refused(client_ip, 400, std::time::SystemTime::now(), bytes, took);
    }

    /// The request is over: metrics, access log, spans. A `status` of 0 (no response was
    /// written) is recorded as [`CLIENT_CLOSED_REQUEST`].
    pub fn finish(&self, obs: &mut RequestObs, r: &Finished<'_>) {
        if obs.finished {
            return;
        }
        obs.finished = true;
        let status = recorded_status(r.status);
        self.metrics.traffic.end();
        let (service, ministry) = r.service.unwrap_or((PORTAL, PORTAL));
        let elapsed = obs.started.elapsed();
        // The gateway's own answer: never a 5xx, nor one the site gave (through a stage).
        let refused = r.refused && status < 500 && obs.upstream_elapsed.is_none();
        if self.record_metrics {
            // The request's latency, to its answer's header ([`RequestObs::header_sent`]),
            // less the time the citizen took to send his body.
            let to_header = obs.header_sent.map_or(elapsed, |t| t - obs.started);
            let elapsed = to_header.saturating_sub(obs.client_wait);
            if !r.background {
                let m = r.service_metrics.unwrap_or(&self.portal_metrics);
                if refused {
                    m.traffic.refuse(status, r.bytes as u64);
                } else {
                    m.traffic
                        .record(status, elapsed, obs.upstream_elapsed, r.bytes as u64);
                }
                if let (Some(sm), Some(c), true) = (r.service_metrics, r.cache, r.cache_counted) {
                    sm.cache_result(c, r.bytes);
                }
            }
            if let Some(kind) = obs.upstream_error {
                self.metrics
                    .upstream_errors
                    .with_label_values(&[service, ministry, kind])
                    .inc();
            }
        }
        end_child(obs.upstream_span.take(), obs.upstream_error);
        if self.access_log.enabled() && !r.background {
            self.access_log.write(&AccessLine {
                time: std::time::SystemTime::now(),
                trace_id: obs.trace_id.as_str(),
                request_id: r.request_id,
                service,
                ministry,
                // The method as sent (a legacy site's WebDAV `PROPFIND` is worth knowing),
                // cut short: an invented one wrote 30 KB lines.
                method: r.method.get(..MAX_LOGGED_METHOD).unwrap_or(r.method),
                path: r.path,
                query: r.query,
                status,
                duration: elapsed,
                upstream: obs.upstream_elapsed,
                upstream_error: obs.upstream_error,
                cache: r.cache.unwrap_or("none"),
                refused,
                bytes: r.bytes,
                client_ip: r.client_ip,
            });
        }
        if self.tracing.exporting() {
            obs.trace.end(
                status,
                vec![
                    KeyValue::new("egov.service", service.to_string()),
                    KeyValue::new("egov.ministry", ministry.to_string()),
                    KeyValue::new("egov.request_id", r.request_id.to_string()),
                ],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_the_client_abandoned_is_a_499_in_the_4xx_class() {
        assert_eq!(recorded_status(0), 499);
        assert_eq!(super::super::traffic::status_class(recorded_status(0)), 3);
        assert_eq!(recorded_status(502), 502);
        assert_eq!(super::super::traffic::status_class(recorded_status(502)), 4);
    }
}

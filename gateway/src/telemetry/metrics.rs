//! Every Prometheus metric the gateway exports, registered once in one registry (no global
//! statics), with the naming scheme SREs can rely on: `egov_` prefix, `_total` counters,
//! `_seconds` and `_bytes` units, and label values taken only from the registry (service
//! and ministry ids) or small fixed sets, never from raw paths or user input.
//!
//! A capability that comes later adds its fields here, registered in [`Metrics::new`], and its
//! panels to `dashboards/`; the test that checks every dashboard query against a real
//! Prometheus then covers it.

use super::traffic::{latency_buckets, Registered, ServiceTraffic, TrafficCollector};
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use std::sync::Arc;

/// Label values for requests that did not reach a service (portal pages, /auth, /api).
pub const PORTAL: &str = "_portal";

/// The gateway's metrics.
pub struct Metrics {
    pub registry: Registry,
    pub build_info: IntGaugeVec,
    /// Traffic by service (`egov_http_requests_total`, `egov_http_request_duration_seconds`,
    /// `egov_upstream_duration_seconds`, `egov_http_response_bytes_total`) and
    /// `egov_http_requests_in_flight`, counted per worker thread.
    pub traffic: Arc<TrafficCollector>,
    pub upstream_errors: IntCounterVec,
    pub upstream_up: IntGaugeVec,
    /// Backends taken out of rotation after consecutive failures, by service.
    pub upstream_ejections: IntCounterVec,
    /// Failovers not made for want of the service's retry budget, by service.
    pub failovers_withheld: IntCounterVec,
    pub registry_services: IntGauge,
    /// Services whose stored document cannot be served as written (their last good version
    /// serves).
    pub registry_broken: IntGauge,
    /// Configuration reloads (SIGHUP), by result: a refused one showed only in the log.
    pub config_reloads: IntCounterVec,
    /// Restart-only settings a reload found changed in the file: the instance runs their
    /// old values until it restarts (a reload counted `applied` said nothing else; found
    /// when tried: only a WARN line told).
    pub config_restart_pending: IntGauge,
    /// Admin API changes, by action and result.
    pub admin_changes: IntCounterVec,
    // Adapters.
    pub body_rewrites: IntCounterVec,
    // Single sign-on.
    pub logins: IntCounterVec,
    pub logouts: IntCounterVec,
    /// Back-channel logout posts refused (their log lines are limited to 20 a second).
    pub backchannel_refused: IntCounter,
    /// Token refreshes, by result.
    pub refreshes: IntCounterVec,
    /// "Not what I meant" answers kept, by the service the citizen chose.
    pub routing_feedback: IntCounterVec,
    /// "Not what I meant" answers not kept, by reason (`directive`, `forged`): counted, not
    /// logged (found in a soak probe: one log line per refusal, as many as anyone sent).
    pub routing_feedback_refused: IntCounterVec,
    /// Sealed search addresses that did not open, by why (see the assist room's `sealed`).
    /// `forged` counts every address opened without its browser's binding: history entries
    /// after a logout or a browser restart as well as addresses replayed from a log in
    /// front of the gateway, or altered; a rise past its usual level is worth a look.
    pub search_unsealed: IntCounterVec,
    /// One-time origin codes, by result (issued, accepted, unknown, wrong_origin, expired,
    /// session_ended).
    pub origin_codes: IntCounterVec,
    pub sessions_active: IntGauge,
    pub session_store_up: IntGauge,
    pub session_store_errors: IntCounter,
    pub access_denied: IntCounterVec,
    // Intent routing.
    pub assist_decisions: IntCounterVec,
    pub assist_llm_duration: Histogram,
    pub assist_llm_errors: IntCounterVec,
    pub assist_llm_tokens: IntCounterVec,
    pub circuit_breaker_state: IntGaugeVec,
    /// Requests of each service waiting on its legacy site (its bulkhead's count).
    pub upstream_in_flight: IntGaugeVec,
    pub cache_requests: IntCounterVec,
    // The response cache.
    pub response_cache: IntCounterVec,
    pub response_cache_bytes: IntCounterVec,
    pub response_cache_l1_bytes: IntGauge,
    pub response_cache_l1_objects: IntGauge,
    pub response_cache_evictions: IntCounter,
    pub response_cache_l2: IntCounterVec,
    pub response_cache_purges: IntCounterVec,
    /// 1 while Redis is past 90 % of its `maxmemory` and the cache's L2 writes stop.
    pub response_cache_redis_nearly_full: IntGauge,
    // Limits.
    pub connections_open: IntGauge,
    /// Connections refused at accept, by reason (per_address, total).
    pub connections_refused: IntCounterVec,
    /// Portal TLS handshakes that did not complete, by reason.
    pub tls_handshakes_failed: IntCounterVec,
    /// Each TLS listener's certificate's `notAfter` (Unix seconds), and reloads of them.
    pub tls_certificate_expiry: IntGaugeVec,
    pub tls_certificate_reloads: IntCounterVec,
    pub header_timeouts: IntCounter,
    /// Requests refused by a rate limit, by scope (per_ip, per_session, login, global,
    /// service).
    pub rate_limited: IntCounterVec,
    // Telemetry about telemetry.
    pub access_log_dropped: IntCounter,
    /// `egov_trace_spans_exported_total{result}`: what became of the spans handed to the
    /// OTLP collector.
    pub trace_spans: IntCounterVec,
    /// `egov_trace_spans_ended_total`: spans handed to the exporter's queue.
    pub trace_spans_ended: IntCounter,
    /// Admin audit lines the target did not take (a full disk): the change stood unaudited.
    pub admin_audit_dropped: IntCounter,
    /// The process's CPU time, memory, start time and file descriptors, read at each
    /// scrape (every connection, to citizens and to sites, is a descriptor, and running
    /// out fails every service at once: found when tried).
    process: super::process::ProcessMetrics,
}

fn counter(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntGaugeVec> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn gauge(r: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

/// One service's per-request series, resolved once (at registry load) so a request only
/// touches atomics, never hashes label values.
#[derive(Clone)]
pub struct ServiceMetrics {
    /// Requests by status class, durations and bytes, in this thread's shard.
    pub traffic: Arc<ServiceTraffic>,
    /// Response cache results, in [`CACHE_RESULTS`] order.
    pub cache: [IntCounter; 6],
    /// Bytes of answers served from the cache.
    pub cache_bytes: IntCounter,
    /// `egov_upstream_failovers_withheld_total` of the service.
    pub failovers_withheld: IntCounter,
    /// `egov_upstream_up` of each backend address, created at the first connection attempt
    /// (a gauge that existed from the start would read 0, "down", for an idle service).
    pub backends_up: Vec<(std::net::SocketAddr, std::sync::OnceLock<IntGauge>)>,
    upstream_up: IntGaugeVec,
    service: String,
}

/// The `result` label values of `egov_response_cache_requests_total`, as `X-Cache-Status`
/// names them (lowercase).
pub const CACHE_RESULTS: [&str; 6] = ["hit", "miss", "expired", "stale", "revalidated", "bypass"];

impl ServiceMetrics {
    /// Counts one answer with `X-Cache-Status: status` of `bytes` bytes.
    pub fn cache_result(&self, status: &str, bytes: usize) {
        let i = match status {
            "HIT" => 0,
            "MISS" => 1,
            "EXPIRED" => 2,
            "STALE" => 3,
            "REVALIDATED" => 4,
            _ => 5,
        };
        self.cache[i].inc();
        if matches!(i, 0 | 3 | 4) {
            self.cache_bytes.inc_by(bytes as u64);
        }
    }

    /// The backends `egov_upstream_up` now says are down.
    pub fn backends_down(&self) -> Vec<std::net::SocketAddr> {
        self.backends_up
            .iter()
            .filter(|(_, gauge)| gauge.get().is_some_and(|g| g.get() == 0))
            .map(|(addr, _)| *addr)
            .collect()
    }

    /// Sets whether `backend` answered (1) or refused (0).
    pub fn set_backend_up(&self, backend: std::net::SocketAddr, up: i64) {
        if let Some((addr, gauge)) = self.backends_up.iter().find(|(a, _)| *a == backend) {
            gauge
                .get_or_init(|| {
                    self.upstream_up
                        .with_label_values(&[&self.service, &addr.to_string()])
                })
                .set(up);
        }
    }
}

impl Metrics {
    /// The series of `service` of `ministry`, whose backends are `backends`.
    pub fn for_service(
        &self,
        service: &str,
        ministry: &str,
        backends: &[std::net::SocketAddr],
    ) -> ServiceMetrics {
        ServiceMetrics {
            traffic: self.traffic.for_service(service, ministry),
            cache: CACHE_RESULTS.map(|r| {
                self.response_cache
                    .with_label_values(&[service, ministry, r])
            }),
            cache_bytes: self
                .response_cache_bytes
                .with_label_values(&[service, ministry]),
            failovers_withheld: self.failovers_withheld.with_label_values(&[service]),
            backends_up: backends
                .iter()
                .map(|b| (*b, std::sync::OnceLock::new()))
                .collect(),
            upstream_up: self.upstream_up.clone(),
            service: service.to_string(),
        }
    }

    pub fn new() -> prometheus::Result<Self> {
        let r = Registry::new();
        let sm = &["service", "ministry"];
        let build_info = gauge_vec(
            &r,
            "egov_build_info",
            "The running gateway's version (always 1).",
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let llm_duration = Histogram::with_opts(
            HistogramOpts::new(
                "egov_assist_llm_duration_seconds",
                "Duration of calls to the routing LLM, answered or failed, retries included.",
            )
            .buckets(latency_buckets()),
        )?;
        r.register(Box::new(llm_duration.clone()))?;
        let traffic = Arc::new(TrafficCollector::new()?);
        r.register(Box::new(Registered(Arc::clone(&traffic))))?;
        let m = Metrics {
            traffic,
            upstream_errors: counter(&r, "egov_upstream_errors_total", "Failed exchanges with legacy sites, by kind (refused, timeout, reset, protocol, other; answered_5xx: the site answered a 5xx itself).", &["service", "ministry", "kind"])?,
            upstream_up: gauge_vec(&r, "egov_upstream_up", "Whether a backend is reachable (1) or not (0): its last exchange connected, or its last active health check passed.", &["service", "backend"])?,
            upstream_ejections: counter(&r, "egov_upstream_ejections_total", "Backends taken out of rotation after consecutive gateway failures (connect, timeout, reset, 502/503/504), by service.", &["service"])?,
            failovers_withheld: counter(&r, "egov_upstream_failovers_withheld_total", "Requests that would have gone to another backend (a timeout, a reset, a status of upstream.failover_on) but did not, the service's retry budget (a fifth of its requests) being spent: the citizen got the failing backend's answer.", &["service"])?,
            registry_services: gauge(&r, "egov_registry_services", "Services in the live registry snapshot.")?,
            registry_broken: gauge(&r, "egov_registry_broken_services", "Service documents that cannot be served as written (their last good version keeps serving).")?,
            config_restart_pending: gauge(&r, "egov_config_restart_pending_settings", "Settings (listeners, sso, redis, ...) the configuration file changes but this instance runs with their old values until it restarts, as its last reload found (the log names them); 0 once it runs what the file says.")?,
            config_reloads: counter(&r, "egov_config_reloads_total", "Configuration reloads asked by SIGHUP, by result (applied, refused: the running configuration stays; the log says why).", &["result"])?,
            admin_changes: counter(&r, "egov_admin_changes_total", "Changes asked of the ministries' admin API, by action and result (ok, invalid, conflict, forbidden, unauthenticated, not_found, error).", &["action", "result"])?,
            body_rewrites: counter(&r, "egov_adapter_body_rewrites_total", "Response bodies rewritten by adapters, by service and kind (transcode, links).", &["service", "kind"])?,
            logins: counter(&r, "egov_sso_logins_total", "Logins by result: success, failure (a login this browser started, refused or cancelled: an expired or replayed state, an error from the provider), unavailable (the identity provider could not be reached or did not answer in time, at the start or at the callback); stray: a callback for no login this browser started (no state, or one its login cookie does not hold), which anyone can send and which is no login attempt.", &["result"])?,
            logouts: counter(&r, "egov_sso_logouts_total", "Logouts, by kind (rp, backchannel).", &["kind"])?,
            backchannel_refused: {
                let c = IntCounter::new("egov_sso_backchannel_logouts_refused_total", "Back-channel logout posts refused: as invalid (a token that does not verify, is replayed, or names nothing; 400), or signed with a key that cannot be fetched yet (503, which a provider retries). Anyone can send them: their log lines are limited to 20 a second, every one is counted here.")?;
                r.register(Box::new(c.clone()))?;
                c
            },
            refreshes: counter(&r, "egov_sso_refreshes_total", "Refreshes of a session's tokens at the identity provider, by result (refreshed; ended: the provider refused the grant or its new ID token, and the session ended; declined: refused for now, the session kept and tried again later; unavailable: the provider down or slow, refreshes paused 30 s; elsewhere: another instance had just refreshed it, its tokens taken).", &["result"])?,
            routing_feedback: counter(&r, "egov_routing_feedback_total", "\"Not what I meant\" answers kept, by the service chosen instead.", &["service"])?,
            routing_feedback_refused: counter(&r, "egov_routing_feedback_refused_total", "\"Not what I meant\" answers not kept, by reason (directive: the query is shaped like an instruction; forged: the router could not have chosen the service it blames).", &["reason"])?,
            search_unsealed: counter(&r, "egov_portal_search_unsealed_total", "Sealed search addresses (/search?t=) that did not open, by reason: expired (a history entry past its 30 minutes), forged (without its browser's binding: after a logout or a browser restart, replayed from elsewhere, or altered; or another deployment's), malformed.", &["reason"])?,
            origin_codes: counter(&r, "egov_sso_origin_codes_total", "One-time codes handing a signed-in citizen to a service's origin, by result (issued, accepted, unknown, wrong_origin, unbound, expired, session_ended).", &["result"])?,
            sessions_active: gauge(&r, "egov_sso_sessions_active", "Live sessions (this instance's store, or the shared one).")?,
            session_store_up: gauge(&r, "egov_sso_session_store_up", "Whether the session store answers (1) or not (0).")?,
            session_store_errors: {
                let c = IntCounter::new("egov_sso_session_store_errors_total", "Session store operations that failed.")?;
                r.register(Box::new(c.clone()))?;
                c
            },
            access_denied: counter(&r, "egov_sso_access_denied_total", "Requests to protected services not let through, by reason (login_required, forbidden, store_unavailable).", &["service", "reason"])?,
            assist_decisions: counter(&r, "egov_assist_decisions_total", "Intent routing decisions, by source (local, llm, cache) and outcome.", &["source", "outcome"])?,
            assist_llm_duration: llm_duration,
            assist_llm_errors: counter(&r, "egov_assist_llm_errors_total", "Calls to the routing LLM that failed, or were not made (busy: max_in_flight calls waiting; budget: the address's limits.rate.llm_per_ip spent), by kind.", &["kind"])?,
            assist_llm_tokens: counter(&r, "egov_assist_llm_tokens_total", "Tokens used by the routing LLM, by kind (prompt, completion).", &["kind"])?,
            circuit_breaker_state: gauge_vec(&r, "egov_circuit_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", &["breaker"])?,
            upstream_in_flight: gauge_vec(&r, "egov_upstream_requests_in_flight", "Requests of a service waiting on its legacy site now, at most limits.max_in_flight_per_service (past it: 503, counted in egov_rate_limited_total{scope=\"service_in_flight\"}).", &["service"])?,
            cache_requests: counter(&r, "egov_cache_requests_total", "Cache lookups, by cache and result (hit, miss).", &["cache", "result"])?,
            response_cache: counter(&r, "egov_response_cache_requests_total", "Proxied answers by response cache result (hit, miss, expired, stale, revalidated, bypass), for services whose cache is on.", &["service", "ministry", "result"])?,
            response_cache_bytes: counter(&r, "egov_response_cache_bytes_served_total", "Bytes of answers served from the response cache (hits, stale and revalidated).", sm)?,
            response_cache_l1_bytes: gauge(&r, "egov_response_cache_l1_bytes", "Bytes held by the response cache's in-memory tier.")?,
            response_cache_l1_objects: gauge(&r, "egov_response_cache_l1_objects", "Objects held by the response cache's in-memory tier.")?,
            response_cache_evictions: {
                let c = IntCounter::new("egov_response_cache_evictions_total", "Objects the in-memory tier evicted to make room, in the whole tier or in a service's or ministry's share of it.")?;
                r.register(Box::new(c.clone()))?;
                c
            },
            response_cache_l2: counter(&r, "egov_response_cache_l2_operations_total", "Shared tier (Redis) operations by op (read, write, delete) and result (hit, miss, ok, error; full: a write past this instance's room in Redis, cache.shared_size, or its service's or ministry's share of it, or Redis past 90 % of its maxmemory, kept in memory only; waiting: one of a fresh process's first writes past the 8 MiB that may wait for its first look at how full Redis is, kept in memory only).", &["op", "result"])?,
            response_cache_redis_nearly_full: gauge(&r, "egov_response_cache_redis_nearly_full", "Set (1) while the Redis the response cache's shared tier shares with sessions, logins in progress and the registry was past 90 % of its maxmemory at the last look (once a second while pages are written): the cache writes nothing more there, its pages are kept in each instance's memory only, and the rest is left to the sessions.")?,
            response_cache_purges: counter(&r, "egov_response_cache_purges_total", "Purges asked, by kind (service, url).", &["kind"])?,
            connections_open: gauge(&r, "egov_connections_open", "Connections open on the portal listeners.")?,
            connections_refused: counter(&r, "egov_connections_refused_total", "Connections refused at accept, by reason (per_address: one address holds its share; total: the process holds as many as it may; penalized: the address's HTTP/2 connection was closed for a flood within limits.flood_penalty, closed unanswered).", &["reason"])?,
            tls_handshakes_failed: counter(&r, "egov_tls_handshakes_failed_total", "Portal TLS handshakes that did not complete, by reason (timeout: not within limits.header_timeout, also counted as a header timeout; error: refused or abandoned: a protocol version, cipher or ALPN the listener does not offer, a client that does not trust the certificate, a scanner).", &["reason"])?,
            tls_certificate_expiry: gauge_vec(&r, "egov_tls_certificate_expiry_timestamp_seconds", "When the certificate each TLS listener presents expires (its notAfter, Unix seconds); a renewal read by a reload (SIGHUP) moves it.", &["listener"])?,
            tls_certificate_reloads: counter(&r, "egov_tls_certificate_reloads_total", "TLS listeners' certificates read again by a reload, by result (renewed: another certificate is presented from then on; refused: a certificate not valid now while the one in use is, or files changed between the configuration's check and their reading; the one in use is kept, and its ERROR line says why. Files that do not load at all refuse the whole reload at the configuration's check: egov_config_reloads_total{result=\"refused\"}).", &["result"])?,
            header_timeouts: {
                let c = IntCounter::new("egov_request_header_timeouts_total", "Connections closed because a request header was not complete within limits.header_timeout.")?;
                r.register(Box::new(c.clone()))?;
                c
            },
            rate_limited: counter(&r, "egov_rate_limited_total", "Requests refused with 429 by a rate limit, by scope (per_ip, per_session, login (and the 503 of a login past the overall cap of logins in progress), route, global, service; h2_streams: an HTTP/2 request refused for what its connection or address holds, or for a connection resetting its streams; h2_frames: an HTTP/2 connection closed for a flood of frames that carry nothing (PRIORITY, WINDOW_UPDATE, PING, SETTINGS, empty DATA); admin_changes: a ministry's change past [admin] changes_per_ministry; service_in_flight: a request past its service's limits.max_in_flight_per_service, answered 503).", &["scope"])?,
            access_log_dropped: {
                let c = IntCounter::new("egov_access_log_dropped_total", "Access log lines dropped because the writer fell behind or the file did not take them.")?;
                r.register(Box::new(c.clone()))?;
                c
            },
            trace_spans: counter(&r, "egov_trace_spans_exported_total", "Spans handed to the OTLP collector (telemetry.otlp_endpoint), by result (exported; failed: the collector refused them, answered an error or did not answer within 3 s, and they are lost). What falls short of egov_trace_spans_ended_total was dropped while the exporter's queue of 2,048 was full behind a slow collector.", &["result"])?,
            trace_spans_ended: {
                let c = IntCounter::new("egov_trace_spans_ended_total", "Spans finished and handed to the exporter's queue (when telemetry.otlp_endpoint is set): egov_trace_spans_exported_total{result=\"exported\"} falls short of it by the spans lost, failed or dropped at a full queue.")?;
                r.register(Box::new(c.clone()))?;
                c
            },
            admin_audit_dropped: {
                let c = IntCounter::new("egov_admin_audit_dropped_total", "Admin audit lines the audit log did not take (a full disk): each change, refusal or read they were for stands unaudited.")?;
                r.register(Box::new(c.clone()))?;
                c
            },
            process: super::process::ProcessMetrics::register(&r)?,
            registry: r,
            build_info,
        };
        m.start_at_zero();
        Ok(m)
    }

    /// Exports, at 0, the series of the fixed label values SREs alert on: a counter whose
    /// series first appears at 1 has no `increase()`, and the first refused reload, the
    /// first login the identity provider failed, the first connection refused at the cap
    /// were lost to every rule and panel (found when tried).
    fn start_at_zero(&self) {
        for result in ["success", "failure", "unavailable", "stray"] {
            self.logins.with_label_values(&[result]);
        }
        for result in ["applied", "refused"] {
            self.config_reloads.with_label_values(&[result]);
        }
        for reason in ["per_address", "total"] {
            self.connections_refused.with_label_values(&[reason]);
        }
        for scope in [
            "per_ip",
            "per_session",
            "login",
            "route",
            "global",
            "service",
            "h2_streams",
            "h2_frames",
            "admin_changes",
            "service_in_flight",
        ] {
            self.rate_limited.with_label_values(&[scope]);
        }
    }

    /// Stops exporting every series of service `id` (it left the registry): its traffic,
    /// upstream, adapter and access series, and so its line on the status board.
    pub fn forget_service(&self, id: &str) {
        self.forget_series(id, None);
        let _ = self
            .circuit_breaker_state
            .remove_label_values(&[&format!("service:{id}")]);
        let _ = self.upstream_in_flight.remove_label_values(&[id]);
    }

    /// Drops the series of service `id` labelled with `ministry`, its ministry until the
    /// platform moved it to another: they would otherwise be exported, frozen, for the life
    /// of the process (found when tried), and the status board would show the old ministry.
    /// Its series under the new ministry are kept.
    pub fn forget_ministry_of(&self, id: &str, ministry: &str) {
        self.forget_series(id, Some(ministry));
    }

    /// Drops `egov_upstream_up` of service `id`'s backends that are not in `kept`: a backend
    /// taken out of the service would otherwise stay "down" for the life of the process,
    /// firing `EgovUpstreamBackendDown` and marking the service down on the status board
    /// while its new backends answer (found when tried).
    pub fn forget_backends_but(&self, id: &str, kept: &[std::net::SocketAddr]) {
        use prometheus::core::Collector;
        let kept: Vec<String> = kept.iter().map(|a| a.to_string()).collect();
        for family in self.upstream_up.collect() {
            for metric in family.get_metric() {
                let label = |name: &str| {
                    metric
                        .get_label()
                        .iter()
                        .find(|l| l.name() == name)
                        .map(|l| l.value().to_string())
                };
                let (Some(service), Some(backend)) = (label("service"), label("backend")) else {
                    continue;
                };
                if service == id && !kept.contains(&backend) {
                    let _ = self.upstream_up.remove_label_values(&[&service, &backend]);
                }
            }
        }
    }

    /// Every per-service series of `id` (only those labelled `ministry`, when given).
    fn forget_series(&self, id: &str, ministry: Option<&str>) {
        self.traffic.forget_service(id, ministry);
        for vec in [
            &self.upstream_errors,
            &self.body_rewrites,
            &self.access_denied,
            &self.response_cache,
            &self.response_cache_bytes,
            &self.upstream_ejections,
            &self.failovers_withheld,
            &self.routing_feedback,
        ] {
            forget(vec, id, ministry);
        }
        forget(&self.upstream_up, id, ministry);
    }

    /// The text exposition for `/metrics`.
    pub fn render(&self) -> String {
        self.process.read();
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }
}

/// Removes every series of `vec` whose `service` label is `id` (and, when given, whose
/// `ministry` label is `ministry`).
fn forget<T: prometheus::core::MetricVecBuilder>(
    vec: &prometheus::core::MetricVec<T>,
    id: &str,
    ministry: Option<&str>,
) {
    use prometheus::core::Collector;
    for family in vec.collect() {
        for metric in family.get_metric() {
            let labels: std::collections::HashMap<&str, &str> = metric
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            let of_ministry = ministry.is_none_or(|m| labels.get("ministry") == Some(&m));
            if labels.get("service") == Some(&id) && of_ministry {
                let _ = vec.remove(&labels);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the unlabelled series `name` in `text`.
    fn value(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    #[test]
    fn the_series_alerts_read_are_exported_at_zero_before_anything_happens() {
        let text = Metrics::new().expect("metrics").render();
        for series in [
            r#"egov_config_reloads_total{result="refused"} 0"#,
            r#"egov_sso_logins_total{result="unavailable"} 0"#,
            r#"egov_connections_refused_total{reason="total"} 0"#,
            r#"egov_rate_limited_total{scope="login"} 0"#,
        ] {
            assert!(text.contains(series), "{series} missing");
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_scrape_carries_the_processs_cpu_memory_start_and_descriptors() {
        let text = Metrics::new().expect("metrics").render();
        for series in [
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(value(&text, series) > 0.0, "{series}");
        }
        assert!(value(&text, "process_cpu_seconds_total") >= 0.0);
    }
}

//! Distributed traces: a server span per request, child spans for SSO, the legacy upstream,
//! the decision cache and intent routing, exported with OTLP/HTTP when configured.
//!
//! Every request has a W3C trace context even when export is off: its trace id is in the
//! access log and on error pages, and a `traceparent` goes to the legacy site, so a slow page
//! can be followed across systems. An incoming `traceparent` is honoured only from trusted
//! proxies; anyone else starts a new trace (a citizen cannot pick a trace id or force
//! sampling).

use crate::config::TelemetrySettings;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

/// The tracer, when export is configured.
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
    tracer: Option<SdkTracer>,
    propagator: TraceContextPropagator,
}

/// Export could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("telemetry.otlp_endpoint: {0}")]
pub struct TracingError(String);

/// The OTLP exporter, counting what became of each batch's spans in
/// `egov_trace_spans_exported_total{result}`. Found in an observability probe: a collector
/// that hung or answered errors lost every span with one `WARN` line (or an `ERROR` a
/// batch), and no metric or alert said the traces had stopped.
#[derive(Debug)]
struct CountedExporter {
    inner: opentelemetry_otlp::SpanExporter,
    spans: prometheus::IntCounterVec,
}

impl opentelemetry_sdk::trace::SpanExporter for CountedExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.inner.export(batch).await;
        let label = if result.is_ok() { "exported" } else { "failed" };
        self.spans.with_label_values(&[label]).inc_by(spans);
        result
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The batch processor, counting the spans handed to it in `egov_trace_spans_ended_total`:
/// what [`CountedExporter`] counts falls short of it by the spans dropped while its queue
/// was full. Found in a bypass probe: behind a collector that answered 200 slowly, nine
/// spans in ten were dropped at the queue, none failed, and nothing said so.
#[derive(Debug)]
struct CountedProcessor {
    inner: opentelemetry_sdk::trace::BatchSpanProcessor,
    ended: prometheus::IntCounter,
}

impl opentelemetry_sdk::trace::SpanProcessor for CountedProcessor {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: opentelemetry_sdk::trace::SpanData) {
        self.ended.inc();
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// What the tracer counts: spans handed to the exporter's queue, and what became of the
/// batches it sent.
pub struct SpanCounters {
    pub ended: prometheus::IntCounter,
    pub exported: prometheus::IntCounterVec,
}

impl Tracing {
    /// The tracer `settings` ask for, counting its spans in `spans`.
    pub fn new(settings: &TelemetrySettings, spans: SpanCounters) -> Result<Self, TracingError> {
        let (provider, tracer) = match &settings.otlp_endpoint {
            None => (None, None),
            Some(endpoint) => {
                use opentelemetry_otlp::WithExportConfig;
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(format!("{endpoint}/v1/traces"))
                    .with_timeout(std::time::Duration::from_secs(3))
                    .build()
                    .map_err(|e| TracingError(e.to_string()))?;
                let exporter = CountedExporter {
                    inner: exporter,
                    spans: spans.exported,
                };
                let processor = CountedProcessor {
                    inner: opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter).build(),
                    ended: spans.ended,
                };
                let provider = SdkTracerProvider::builder()
                    .with_span_processor(processor)
                    .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                        settings.sampling_ratio,
                    ))))
                    .with_resource(
                        Resource::builder()
                            .with_service_name(settings.service_name.clone())
                            .build(),
                    )
                    .build();
                let tracer = provider.tracer("egov-gateway");
                (Some(provider), Some(tracer))
            }
        };
        Ok(Self {
            provider,
            tracer,
            propagator: TraceContextPropagator::new(),
        })
    }

    /// Whether spans are exported (when not, no span attributes are even built).
    pub fn exporting(&self) -> bool {
        self.tracer.is_some()
    }

    /// Starts the server span of a request. `headers` are read only when `trusted`.
    pub fn start_request(
        &self,
        headers: &http::HeaderMap,
        trusted: bool,
        name: &str,
        attributes: Vec<KeyValue>,
    ) -> RequestTrace {
        let parent = if trusted {
            self.propagator.extract(&HeaderExtractor(headers))
        } else {
            Context::new()
        };
        let cx = match &self.tracer {
            Some(tracer) => {
                let span = tracer
                    .span_builder(name.to_string())
                    .with_kind(SpanKind::Server)
                    .with_attributes(attributes)
                    .start_with_context(tracer, &parent);
                parent.with_span(span)
            }
            None => {
                // No export: still one trace id per request (continued from a trusted caller).
                let inherited = parent.span().span_context().clone();
                let trace_id = if inherited.is_valid() {
                    inherited.trace_id()
                } else {
                    TraceId::from_bytes(rand::random::<[u8; 16]>())
                };
                let sc = SpanContext::new(
                    trace_id,
                    SpanId::from_bytes(rand::random::<[u8; 8]>()),
                    inherited.trace_flags() & TraceFlags::SAMPLED,
                    false,
                    TraceState::default(),
                );
                Context::new().with_remote_span_context(sc)
            }
        };
        RequestTrace { cx }
    }

    /// A child span of `parent` (SSO, upstream, cache, intent routing).
    pub fn child(
        &self,
        parent: &RequestTrace,
        name: &'static str,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Option<Context> {
        let tracer = self.tracer.as_ref()?;
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(tracer, &parent.cx);
        Some(parent.cx.with_span(span))
    }

    /// `traceparent` (and `tracestate`) for a request leaving with context `cx`, as the W3C
    /// Trace Context propagator writes them, formatted into a stack buffer: this runs on
    /// every proxied request.
    pub fn inject(&self, cx: &Context) -> TraceHeaders {
        let span = cx.span();
        let sc = span.span_context();
        if !sc.is_valid() {
            return TraceHeaders::default();
        }
        let state = sc.trace_state().header();
        TraceHeaders {
            traceparent: traceparent(sc),
            tracestate: (!state.is_empty())
                .then(|| http::HeaderValue::from_str(&state).ok())
                .flatten(),
        }
    }

    /// Exports what is buffered (at shutdown, and in tests).
    pub fn flush(&self) {
        if let Some(p) = &self.provider {
            let _ = p.force_flush();
        }
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(p) = &self.provider {
            let _ = p.shutdown();
        }
    }
}

/// The trace context a call to a legacy site carries.
#[derive(Debug, Clone, Default)]
pub struct TraceHeaders {
    pub traceparent: Option<http::HeaderValue>,
    /// Only when the trace has vendor state (a trusted caller's).
    pub tracestate: Option<http::HeaderValue>,
}

/// `00-<trace id>-<span id>-<flags>` (W3C Trace Context, version 00; of the flags only
/// "sampled" is defined, so only it is passed on).
fn traceparent(sc: &SpanContext) -> Option<http::HeaderValue> {
    let mut buf = [b'-'; 55];
    buf[..2].copy_from_slice(b"00");
    hex::encode_to_slice(sc.trace_id().to_bytes(), &mut buf[3..35]).ok()?;
    hex::encode_to_slice(sc.span_id().to_bytes(), &mut buf[36..52]).ok()?;
    let flags = (sc.trace_flags() & TraceFlags::SAMPLED).to_u8();
    hex::encode_to_slice([flags], &mut buf[53..55]).ok()?;
    http::HeaderValue::from_bytes(&buf).ok()
}

/// A trace id as 32 lowercase hex digits, without a `String`: it is formatted for every
/// request (the access log, error pages and the default request id).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceIdHex([u8; 32]);

impl TraceIdHex {
    pub fn new(id: TraceId) -> Self {
        let mut buf = [b'0'; 32];
        // 16 bytes always fit 32 hex digits.
        let _ = hex::encode_to_slice(id.to_bytes(), &mut buf);
        Self(buf)
    }

    pub fn as_str(&self) -> &str {
        // Hex digits are ASCII.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl std::fmt::Debug for TraceIdHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for TraceIdHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request's trace context.
#[derive(Clone)]
pub struct RequestTrace {
    pub cx: Context,
}

impl RequestTrace {
    /// The trace id as 32 hex digits.
    pub fn trace_id(&self) -> TraceIdHex {
        TraceIdHex::new(self.cx.span().span_context().trace_id())
    }

    /// Records the outcome on the server span and ends it.
    pub fn end(&self, status: u16, attributes: Vec<KeyValue>) {
        let span = self.cx.span();
        span.set_attributes(attributes);
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            span.set_status(Status::error(format!("HTTP {status}")));
        }
        span.end();
    }
}

/// Ends a child span, marking it failed when `error` is set.
pub fn end_child(cx: Option<Context>, error: Option<&str>) {
    if let Some(cx) = cx {
        let span = cx.span();
        if let Some(e) = error {
            span.set_status(Status::error(e.to_string()));
        }
        span.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_http::HeaderInjector;

    fn context(flags: TraceFlags, state: TraceState) -> Context {
        let sc = SpanContext::new(
            TraceId::from_bytes(rand::random::<[u8; 16]>()),
            SpanId::from_bytes(rand::random::<[u8; 8]>()),
            flags,
            true,
            state,
        );
        Context::new().with_remote_span_context(sc)
    }

    /// What the W3C propagator of the OpenTelemetry SDK writes for `cx`.
    fn propagated(cx: &Context) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(&mut headers));
        headers
    }

    fn tracing() -> Tracing {
        Tracing::new(
            &TelemetrySettings {
                access_log: crate::config::AccessLogTarget::Off,
                otlp_endpoint: None,
                sampling_ratio: 1.0,
                service_name: "test".into(),
                metrics: false,
            },
            SpanCounters {
                ended: prometheus::IntCounter::new("ended", "ended").expect("counter"),
                exported: prometheus::IntCounterVec::new(
                    prometheus::Opts::new("spans", "spans"),
                    &["result"],
                )
                .expect("counter"),
            },
        )
        .expect("no export")
    }

    #[test]
    fn traceparent_is_written_as_the_w3c_propagator_writes_it() {
        for flags in [
            TraceFlags::SAMPLED,
            TraceFlags::default(),
            TraceFlags::new(0xff),
        ] {
            let cx = context(flags, TraceState::default());
            let ours = tracing().inject(&cx);
            let theirs = propagated(&cx);
            assert_eq!(ours.traceparent.as_ref(), theirs.get("traceparent"));
            assert!(ours.tracestate.is_none(), "no vendor state, no header");
        }
    }

    #[test]
    fn a_trusted_callers_trace_state_is_passed_on() {
        let state = TraceState::from_key_value([("vendor", "opaque")]).expect("state");
        let cx = context(TraceFlags::SAMPLED, state);
        let ours = tracing().inject(&cx);
        assert_eq!(ours.tracestate.as_ref(), propagated(&cx).get("tracestate"));
    }

    #[test]
    fn no_valid_span_no_trace_headers() {
        let ours = tracing().inject(&Context::new());
        assert!(ours.traceparent.is_none() && ours.tracestate.is_none());
    }

    #[test]
    fn trace_ids_are_written_as_opentelemetry_writes_them() {
        let id = TraceId::from_bytes(rand::random::<[u8; 16]>());
        assert_eq!(TraceIdHex::new(id).as_str(), id.to_string());
        let small = TraceId::from_bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(
            TraceIdHex::new(small).as_str(),
            "00000000000000000000000000000001"
        );
    }
}

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
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
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

impl Tracing {
    pub fn new(settings: &TelemetrySettings) -> Result<Self, TracingError> {
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
                let provider = SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
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

    /// `traceparent` (and `tracestate`) for a request leaving with context `cx`.
    pub fn inject(&self, cx: &Context) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        self.propagator
            .inject_context(cx, &mut HeaderInjector(&mut headers));
        headers
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

/// One request's trace context.
#[derive(Clone)]
pub struct RequestTrace {
    pub cx: Context,
}

impl RequestTrace {
    /// The trace id as 32 hex digits.
    pub fn trace_id(&self) -> String {
        self.cx.span().span_context().trace_id().to_string()
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

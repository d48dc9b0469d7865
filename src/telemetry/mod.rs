//! Logs and traces: the tracing subscriber `main` installs (text or JSON lines, filtered by
//! `RUST_LOG`), and OpenTelemetry traces over OTLP when the standard `OTEL_*` variables ask for
//! them (README, "Logs and traces"). [`continue_trace`] makes a request's span a child of the
//! caller's W3C `traceparent`.
//!
//! With no OTLP endpoint configured nothing of OpenTelemetry is built: no exporter, no layer,
//! no propagation, and the GraphQL schema gets no span extension ([`traces_enabled`]).

mod json;

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::HeaderMap;
use opentelemetry::{
    propagation::{Extractor, TextMapPropagator},
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::{FilterExt, dynamic_filter_fn, filter_fn},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

use crate::config::LogFormat;

/// What is logged without `RUST_LOG`: sqlx and sea-orm only when something goes wrong.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// What becomes a span in a trace: our spans, sea-orm's one per statement; never the HTTP
/// client that exports the spans (its own spans would be exported in turn, for ever).
const TRACE_FILTER: &str = "info,sqlx=warn,hyper=off,hyper_util=off,h2=off,reqwest=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off";

/// Set once traces are exported: read where a span would otherwise cost something.
static TRACES: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (an OTLP endpoint is configured).
pub fn traces_enabled() -> bool {
    TRACES.load(Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OpenTelemetry: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("OTEL_EXPORTER_OTLP_PROTOCOL={0}: only http/protobuf is supported")]
    Protocol(String),
    #[error("{0}: only http:// endpoints (no TLS is built in: send to a collector nearby)")]
    Tls(String),
    #[error("cannot install the log subscriber: {0}")]
    Install(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps the trace exporter; [`Telemetry::shutdown`] sends the spans still queued.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops the exporter (it blocks until the last batch is sent or times out).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The batch processor's thread does the sending; waiting for it blocks this thread.
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            eprintln!("OpenTelemetry: the last spans were not exported: {error}");
        }
    }
}

/// Installs the global subscriber: logs in `format`, and traces when `traces` is true and an
/// OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or `..._TRACES_ENDPOINT`).
pub fn init(format: LogFormat, traces: bool) -> Result<Telemetry, TelemetryError> {
    let provider = match traces && otlp_configured() {
        true => Some(tracer_provider()?),
        false => None,
    };
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![log_layer(format)];
    if let Some(provider) = &provider {
        let tracer = provider.tracer("smilecook");
        // A statement outside any span (migrations, the key refresh every second, the mail
        // outbox's polls) would be a trace of its own: noise, not something anyone follows.
        let in_context = dynamic_filter_fn(|meta, cx| {
            !(meta.is_span() && meta.target().starts_with("sea_orm"))
                || cx.lookup_current().is_some()
        });
        let otel = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(EnvFilter::new(TRACE_FILTER).and(in_context));
        layers.push(otel.boxed());
        TRACES.store(true, Ordering::Relaxed);
    }
    tracing_subscriber::registry().with(layers).try_init()?;
    Ok(Telemetry { provider })
}

/// The log, filtered by `RUST_LOG`; our own spans are always kept, so that a warning carries
/// its request id and trace id whatever the level asked for.
fn log_layer(format: LogFormat) -> Box<dyn Layer<Registry> + Send + Sync> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let ours = filter_fn(|meta| meta.is_span() && meta.target().starts_with("smilecook"));
    let filter = filter.or(ours);
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_filter(filter).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json::FlatJson)
            .with_filter(filter)
            .boxed(),
    }
}

fn otlp_configured() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

/// The exporter and the provider, configured by the standard variables: the endpoint, headers
/// and timeout (`OTEL_EXPORTER_OTLP_*`), the sampler (`OTEL_TRACES_SAMPLER[_ARG]`), the batch
/// (`OTEL_BSP_*`), the resource (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).
fn tracer_provider() -> Result<SdkTracerProvider, TelemetryError> {
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        if let Ok(protocol) = std::env::var(name) {
            if protocol.trim() != "http/protobuf" {
                return Err(TelemetryError::Protocol(protocol));
            }
            break;
        }
    }
    // The exporter's HTTP client has no TLS (it would bring a second TLS stack to build): an
    // https endpoint would fail at every export, silently, so it fails here, loudly.
    for name in [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        if let Ok(endpoint) = std::env::var(name) {
            if endpoint.trim().to_ascii_lowercase().starts_with("https:") {
                return Err(TelemetryError::Tls(name.into()));
            }
            break;
        }
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let mut resource = Resource::builder();
    let named = std::env::var("OTEL_SERVICE_NAME").is_ok()
        || std::env::var("OTEL_RESOURCE_ATTRIBUTES").is_ok_and(|a| a.contains("service.name="));
    if !named {
        resource = resource.with_service_name("smilecook");
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// Makes `span` (a request's) a child of the caller's `traceparent`, if any, and records the
/// trace id in its `trace_id` field, for the log. Does nothing while traces are off.
pub fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !traces_enabled() {
        return;
    }
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    // Fails only for a span no layer records (filtered out): then there is nothing to link.
    let _ = span.set_parent(parent);
    let context = span.context();
    let trace_id = context.span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

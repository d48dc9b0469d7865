//! Logs and traces: the tracing subscriber `main` installs (text or JSON lines, filtered by
//! `RUST_LOG`), and OpenTelemetry traces over OTLP when the standard `OTEL_*` variables ask for
//! them (README, "Logs and traces"). [`continue_trace`] makes a request's span a child of the
//! caller's W3C `traceparent`.
//!
//! With no OTLP endpoint configured nothing of OpenTelemetry is built: no exporter, no layer,
//! no propagation, and the GraphQL schema gets no span extension ([`traces_enabled`]).

mod json;

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime},
};

use axum::http::HeaderMap;
use opentelemetry::{
    KeyValue,
    propagation::{Extractor, TextMapPropagator},
    trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{SdkTracer, SdkTracerProvider},
};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::{FilterExt, dynamic_filter_fn, filter_fn},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::config::LogFormat;

/// What is logged without `RUST_LOG`: sqlx and sea-orm only when something goes wrong.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn";

/// What becomes a span in a trace: our spans (statements are added by [`statement`]); never the
/// HTTP client that exports the spans (its own spans would be exported in turn, for ever).
const TRACE_FILTER: &str = "info,sqlx=warn,sea_orm=warn,hyper=off,hyper_util=off,h2=off,reqwest=off,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off";

/// Set once traces are exported: read where a span would otherwise cost something.
static TRACES: AtomicBool = AtomicBool::new(false);
/// Set with JSON logs or traces: the request's spans are then made at INFO, so that every line
/// carries the request id; otherwise at DEBUG, where the text log at `info` skips them.
static SPANS: AtomicBool = AtomicBool::new(false);
/// The tracer statement spans are made with (while traces are exported).
static TRACER: OnceLock<SdkTracer> = OnceLock::new();
/// The longest statement text a span carries.
const MAX_STATEMENT: usize = 2048;

/// Whether the request's spans are wanted at INFO (JSON logs or traces).
pub fn request_spans() -> bool {
    SPANS.load(Ordering::Relaxed)
}

/// A span of the request's (`tracing::span!`'s arguments but the level): at INFO with JSON logs
/// or traces, so that every line and span carries the request's fields; else at DEBUG, where
/// the text log at `info` makes nothing of it (formatting a span's fields costs 3% of a page of
/// recipes: bench/NOTES.md, section 14).
macro_rules! request_span {
    ($($args:tt)*) => {
        match $crate::telemetry::request_spans() {
            true => tracing::span!(tracing::Level::INFO, $($args)*),
            false => tracing::span!(tracing::Level::DEBUG, $($args)*),
        }
    };
}
pub(crate) use request_span;

/// A span for a SQL statement that has just run, as a child of the current span, dated by
/// its measured `elapsed` (sea-orm's metric callback calls this as the statement returns).
/// Why not sea-orm's own `tracing-spans`: compiled in, it wraps every query's future in one
/// more instrumented future and moves it, traces or not: 6% more instructions for a page of
/// recipes (bench/NOTES.md, section 14). `sql` is the parameterized text, never the values.
pub fn statement(sql: &str, elapsed: Duration, failed: bool) {
    if !traces_enabled() {
        return;
    }
    let Some(tracer) = TRACER.get() else {
        return;
    };
    let parent = tracing::Span::current().context();
    if !parent.span().span_context().is_sampled() {
        return; // outside a request (background work), or a trace not sampled
    }
    let end = SystemTime::now();
    let start = end.checked_sub(elapsed).unwrap_or(end);
    let text = sql.trim();
    let text = &text[..text.floor_char_boundary(MAX_STATEMENT)];
    let operation = text
        .split_whitespace()
        .next()
        .unwrap_or("SQL")
        .to_ascii_uppercase();
    let mut span = tracer
        .span_builder(operation.clone())
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes([
            KeyValue::new("db.operation.name", operation),
            KeyValue::new("db.query.text", text.to_owned()),
        ])
        .start_with_context(tracer, &parent);
    if failed {
        span.set_status(Status::error("the statement failed"));
    }
    span.end_with_timestamp(end);
}

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
        let _ = TRACER.set(tracer.clone());
        let otel = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(EnvFilter::new(TRACE_FILTER).and(dynamic_filter_fn(in_sampled_trace)));
        layers.push(otel.boxed());
        TRACES.store(true, Ordering::Relaxed);
    }
    SPANS.store(
        provider.is_some() || format == LogFormat::Json,
        Ordering::Relaxed,
    );
    tracing_subscriber::registry().with(layers).try_init()?;
    Ok(Telemetry { provider })
}

/// The log, filtered by `RUST_LOG`. In JSON our own spans are always kept, so that a warning
/// carries its request id and trace id whatever the level asked for; the text log shows them
/// from `debug` on.
fn log_layer(format: LogFormat) -> Box<dyn Layer<Registry> + Send + Sync> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let ours = filter_fn(|meta| meta.is_span() && meta.target().starts_with("smilecook"));
    match format {
        LogFormat::Text => {
            // Our spans are at INFO while traces are exported; the text log still shows them
            // only from `debug` on, as without traces: formatting their fields costs.
            let verbose = filter
                .max_level_hint()
                .is_some_and(|level| level >= tracing::level_filters::LevelFilter::DEBUG);
            let quiet = filter_fn(move |meta| {
                verbose || !(meta.is_span() && meta.target().starts_with("smilecook"))
            });
            tracing_subscriber::fmt::layer()
                .with_filter(filter.and(quiet))
                .boxed()
        }
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json::FlatJson)
            .with_filter(filter.or(ours))
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
    let otel_span = context.span();
    let sampled = otel_span.span_context();
    let trace_id = sampled.trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
    if !sampled.is_sampled() {
        span.with_subscriber(|(id, dispatch)| {
            if let Some(span) = dispatch
                .downcast_ref::<Registry>()
                .and_then(|registry| registry.span(id))
            {
                span.extensions_mut().insert(Unsampled);
            }
        });
    }
}

/// Whether `span` is in a trace that is exported (false while traces are off).
pub fn sampled(span: &tracing::Span) -> bool {
    traces_enabled() && span.context().span().span_context().is_sampled()
}

/// Marks a request's span whose trace the sampler left out: the spans under it are then not
/// made for the trace layer at all. Without this, each of them cost the layer its attributes,
/// names and clock reads for a span the exporter drops: a 10% sample cost 34% more
/// instructions per request than no traces (bench/NOTES.md, section 14).
struct Unsampled;

/// Whether a new span belongs to a sampled trace (or starts one): false under a span marked
/// [`Unsampled`].
fn in_sampled_trace<S>(
    meta: &tracing::Metadata<'_>,
    cx: &tracing_subscriber::layer::Context<'_, S>,
) -> bool
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if !meta.is_span() {
        return true;
    }
    let Some(current) = cx.lookup_current() else {
        return true;
    };
    !current
        .scope()
        .any(|span| span.extensions().get::<Unsampled>().is_some())
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

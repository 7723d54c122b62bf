//! OTLP trace export, configured by the standard OpenTelemetry variables (`otel` feature).
//!
//! When an endpoint is set, [`startup::init_tracing`](crate::startup::init_tracing) leaves the
//! process's subscriber to [`init_export`] (called by
//! [`startup::load_config_or_exit`](crate::startup::load_config_or_exit) once the service name is
//! known), which installs it with the `tracing-opentelemetry` layer. Without an endpoint there is
//! no such layer at all:
//!
//! | variable | meaning |
//! |---|---|
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | base URL (`http://collector:4318`; traces go to `/v1/traces`); unset or empty: nothing is exported and spans carry no trace context |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | the full traces URL, instead of the above |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL` (`_TRACES_PROTOCOL`) | `http/protobuf` (default) or `http/json`; `grpc` is not built in (warned, `http/protobuf` used) |
//! | `OTEL_SERVICE_NAME` | the `service.name` resource; default the Hydra `serviceName` |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | the sampler (default `parentbased_always_on`) |
//! | `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_BSP_MAX_QUEUE_SIZE`, `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, `OTEL_BSP_EXPORT_TIMEOUT` | the batch span processor |
//! | `OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none` | no export, as if no endpoint were set |
//!
//! Spans are exported from a thread of the batch processor; [`shutdown`] sends what is left
//! (a service's [`HydraService::run`](crate::HydraService::run) calls it when it stops).

/// Whether the environment asks for trace export: an OTLP endpoint is set, and neither
/// `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`.
///
/// # Examples
///
/// ```
/// if hydra_service::telemetry::export_requested() {
///     println!("exporting spans to the OTLP endpoint");
/// }
/// ```
pub fn export_requested() -> bool {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
    let is = |name: &str, value: &str| {
        std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
    };
    (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
        && !is("OTEL_SDK_DISABLED", "true")
        && !is("OTEL_TRACES_EXPORTER", "none")
}

/// The service name spans are exported under: `OTEL_SERVICE_NAME`, else `service_name`.
///
/// # Examples
///
/// ```
/// let name = hydra_service::telemetry::otel_service_name("hello");
/// // "hello" unless OTEL_SERVICE_NAME says otherwise.
/// ```
pub fn otel_service_name(service_name: &str) -> String {
    std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| service_name.to_string())
}

#[cfg(feature = "otel")]
pub use imp::{init_export, shutdown};
#[cfg(feature = "otel")]
pub(crate) use imp::{log_here_until_export, OtelLayer};

/// Logs with `subscriber` until export starts (only with `otel`).
#[cfg(not(feature = "otel"))]
pub(crate) fn log_here_until_export(_: impl tracing::Subscriber + Send + Sync) {}

/// Starts OTLP export when [`export_requested`]; without the `otel` feature, never.
///
/// # Examples
///
/// ```no_run
/// hydra_service::startup::init_tracing();
/// // Once the service name is known (load_config_or_exit does this):
/// let exporting = hydra_service::telemetry::init_export("hello");
/// ```
#[cfg(not(feature = "otel"))]
pub fn init_export(_service_name: &str) -> bool {
    if export_requested() {
        tracing::warn!(
            "an OTLP endpoint is set but this build has no `otel` feature: nothing is exported"
        );
    }
    false
}

/// Sends the spans not yet exported and stops exporting (nothing to do without `otel`).
///
/// # Examples
///
/// ```no_run
/// // Before the process exits, so the last spans are not lost:
/// hydra_service::telemetry::shutdown();
/// ```
#[cfg(not(feature = "otel"))]
pub fn shutdown() {}

#[cfg(feature = "otel")]
mod imp {
    use std::cell::RefCell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
    use opentelemetry_sdk::Resource;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Registry;

    use super::{export_requested, otel_service_name};

    /// The layer that gives spans OpenTelemetry context and hands them to the exporter.
    pub(crate) type OtelLayer = tracing_opentelemetry::OpenTelemetryLayer<Registry, SdkTracer>;

    static PROVIDER: Mutex<Option<SdkTracerProvider>> = Mutex::new(None);
    /// `init_tracing` left the process's subscriber to `init_export`.
    static PENDING: AtomicBool = AtomicBool::new(false);
    thread_local! {
        static EARLY: RefCell<Option<tracing::subscriber::DefaultGuard>> = const { RefCell::new(None) };
    }

    /// Logs with `subscriber` on this thread until [`init_export`] installs the process's.
    pub(crate) fn log_here_until_export(subscriber: impl tracing::Subscriber + Send + Sync) {
        let guard = tracing::subscriber::set_default(subscriber);
        EARLY.with(|g| *g.borrow_mut() = Some(guard));
        PENDING.store(true, Ordering::SeqCst);
    }

    /// Installs the process's subscriber, with `otel` when given.
    fn install(otel: Option<OtelLayer>) {
        EARLY.with(|g| g.borrow_mut().take());
        let _ = crate::startup::subscriber(otel).try_init();
    }

    fn protocol() -> Protocol {
        let value = [
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()));
        match value.as_deref().map(str::trim) {
            None | Some("http/protobuf") => Protocol::HttpBinary,
            Some("http/json") => Protocol::HttpJson,
            Some(other) => {
                tracing::warn!(protocol = other, "OTLP protocol not supported here (http/protobuf and http/json are): using http/protobuf");
                Protocol::HttpBinary
            }
        }
    }

    /// Starts exporting spans over OTLP/HTTP when [`export_requested`] and
    /// [`init_tracing`](crate::startup::init_tracing) left the subscriber to it, as
    /// `service_name` unless `OTEL_SERVICE_NAME` says otherwise; installs the process's
    /// subscriber either way. Returns whether export started.
    ///
    /// # Panics
    /// When a thread panicked while holding the exporter's lock (never in normal use).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// hydra_service::startup::init_tracing();
    /// if hydra_service::telemetry::init_export("hello") {
    ///     tracing::info!("spans are exported");
    /// }
    /// ```
    pub fn init_export(service_name: &str) -> bool {
        if !export_requested() || !PENDING.swap(false, Ordering::SeqCst) {
            return false;
        }
        let name = otel_service_name(service_name);
        // The blocking HTTP client must be made (and dropped) outside the async runtime.
        let built = std::thread::scope(|s| {
            s.spawn(|| {
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(protocol())
                    .build()?;
                let resource = Resource::builder().with_service_name(name.clone()).build();
                Ok::<_, opentelemetry_otlp::ExporterBuildError>(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(exporter)
                        .with_resource(resource)
                        .build(),
                )
            })
            .join()
        });
        let provider = match built {
            Ok(Ok(p)) => p,
            failed => {
                install(None);
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "the exporter could not be built".to_string(),
                };
                tracing::warn!(%error, "OTLP export not started");
                return false;
            }
        };
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("hydra-rs"));
        install(Some(layer));
        *PROVIDER.lock().expect("provider lock") = Some(provider);
        hydra_core::trace::set_enabled(true);
        tracing::info!(service_name = %name, "exporting traces over OTLP");
        true
    }

    /// Sends the spans not yet exported and stops exporting.
    ///
    /// # Panics
    /// As [`init_export`], on a poisoned lock.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// tracing::info!("leaving");
    /// hydra_service::telemetry::shutdown(); // flushes the batch processor
    /// ```
    pub fn shutdown() {
        let Some(provider) = PROVIDER.lock().expect("provider lock").take() else {
            return;
        };
        hydra_core::trace::set_enabled(false);
        let _ = std::thread::spawn(move || {
            if let Err(e) = provider.shutdown() {
                tracing::debug!(error = %e, "OTLP export shutdown");
            }
        })
        .join();
    }
}

//! `[telemetry]`: the access log, trace export and metrics switch.

use crate::config::error::Problems;
use crate::config::fields::written_file;
use crate::config::raw::RawTelemetry;
use crate::config::{AccessLogTarget, TelemetrySettings};

pub(super) fn validate(raw: &RawTelemetry, p: &mut Problems<'_>) -> Option<TelemetrySettings> {
    let file = p.file().to_path_buf();
    let access_log = match raw.access_log.as_deref().unwrap_or("off") {
        "off" | "" => AccessLogTarget::Off,
        "stdout" => AccessLogTarget::Stdout,
        other => match other.strip_prefix("file:") {
            Some(path) if !path.is_empty() => {
                AccessLogTarget::File(written_file(p, "telemetry.access_log", &file, path)?)
            }
            _ => {
                p.add(
                    "telemetry.access_log",
                    format!("{other:?} is not one of: off, stdout, file:<path>"),
                );
                return None;
            }
        },
    };
    let otlp = match raw.otlp_endpoint.as_deref() {
        None | Some("") => None,
        Some(u) => {
            let ok = url::Url::parse(u)
                .ok()
                .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                p.add(
                    "telemetry.otlp_endpoint",
                    format!(
                        "{:?} is not an http(s) URL",
                        crate::config::values::url_shown(u)
                    ),
                );
                return None;
            }
            Some(u.trim_end_matches('/').to_string())
        }
    };
    let ratio = raw.sampling_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&ratio) {
        p.add(
            "telemetry.sampling_ratio",
            format!("must be between 0 and 1, got {ratio}"),
        );
        return None;
    }
    Some(TelemetrySettings {
        access_log,
        otlp_endpoint: otlp,
        sampling_ratio: ratio,
        service_name: raw
            .service_name
            .clone()
            .unwrap_or_else(|| "egov-gateway".to_string()),
        metrics: raw.metrics.unwrap_or(true),
    })
}

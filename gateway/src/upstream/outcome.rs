//! The one "upstream outcome" hook: every event of an attempt at a backend (started,
//! connected, moving on to another backend, answered, failed) is reported here, from the
//! proxy's phases and from the gateway's own calls alike, and fanned out to whatever
//! listens: telemetry today (metrics, spans, backend health gauges), circuit breakers and
//! outlier ejection next. Callers never talk to those listeners themselves.

use super::peer::Attempts;
use super::Upstreams;
use crate::registry::Service;
use crate::telemetry::request::RequestObs;

/// What happened on an attempt.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'e> {
    /// An attempt starts at [`Attempts::backend`].
    Started,
    /// The connection is up (new or reused).
    Connected,
    /// The backend could not be connected to; the next one is tried.
    Retrying(&'e pingora::Error),
    /// The backend answered with this status (a 5xx is an answer, not a failure to reach).
    Answered(u16),
    /// The exchange failed and will not be retried.
    Failed(&'e pingora::Error),
}

impl Upstreams {
    /// Reports `outcome` of `attempts` at `service` to every listener. `obs` is the
    /// request's telemetry (absent only before a request was admitted).
    pub fn report(
        &self,
        service: &Service,
        attempts: &Attempts,
        obs: Option<&mut RequestObs>,
        outcome: Outcome<'_>,
    ) {
        let Some(obs) = obs else {
            return;
        };
        let t = &self.telemetry;
        let metrics = service.metrics.as_ref();
        match outcome {
            Outcome::Started => {
                if let Some(backend) = attempts.backend {
                    t.upstream_start(obs, &service.upstream.host, backend);
                }
            }
            Outcome::Connected => t.upstream_connected(obs, metrics),
            Outcome::Retrying(e) => t.upstream_retried(
                obs,
                (service.id(), service.config.ministry.as_str()),
                metrics,
                e,
            ),
            Outcome::Answered(status) => t.upstream_answered(obs, status),
            Outcome::Failed(e) => t.upstream_failed(obs, metrics, e),
        }
    }
}

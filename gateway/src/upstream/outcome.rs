//! The one "upstream outcome" hook: every event of an attempt at a backend (started,
//! connected, moving on to another backend, answered, failed) is reported here, from the
//! proxy's phases and from the gateway's own calls alike, and fanned out to whatever
//! listens: telemetry (metrics, spans, backend health gauges), the service's circuit
//! breaker and passive outlier ejection. Callers never talk to those listeners themselves.
//!
//! Only *gateway* failures count against a backend and the breaker: it could not be reached,
//! timed out or reset, or answered 502/503/504. A 500 is an answer about one page, and
//! counting it would let anyone trip a breaker by asking for a broken URL.

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
    /// The citizen's request body has been read to its end (and handed on).
    Sent,
    /// The backend could not be connected to, failed an idempotent request before it
    /// answered, or answered it with a status the service fails over on; the next one is
    /// tried.
    Retrying(&'e pingora::Error),
    /// The backend answered with this status (a 5xx is an answer, not a failure to reach).
    Answered(u16),
    /// The exchange failed and will not be retried.
    Failed(&'e pingora::Error),
}

impl<'e> Outcome<'e> {
    /// What error `e` of an exchange says: an answer for a status the site sent
    /// (`HTTPStatus`), a failure for the rest.
    pub fn of_error(e: &'e pingora::Error) -> Self {
        match e.etype() {
            pingora::ErrorType::HTTPStatus(code) => Outcome::Answered(*code),
            _ => Outcome::Failed(e),
        }
    }
}

impl Upstreams {
    /// Reports `outcome` of `attempts` at `service` to every listener. `obs` is the
    /// request's telemetry (absent only before a request was admitted).
    pub fn report(
        &self,
        service: &Service,
        attempts: &mut Attempts,
        obs: Option<&mut RequestObs>,
        outcome: Outcome<'_>,
    ) {
        match outcome {
            Outcome::Connected => attempts.connected(),
            Outcome::Sent => attempts.request_sent(),
            Outcome::Answered(_) if !attempts.first_answer() => return,
            _ => {}
        }
        self.resilience(service, attempts, &outcome);
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
            Outcome::Sent => t.request_sent(obs),
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

/// Whether an answer with `status` is the gateway's kind of failure (the backend or
/// something in front of it says it cannot serve).
fn gateway_status(status: u16) -> bool {
    matches!(status, 502..=504)
}

impl Upstreams {
    /// The outcome's verdict for the backend (outlier ejection) and the service (breaker).
    fn resilience(&self, service: &Service, attempts: &mut Attempts, outcome: &Outcome<'_>) {
        use crate::resilience::breaker::Failure;
        let asked = Failure::AskedBy(attempts.asked_by);
        let (backend, failed, failure) = match *outcome {
            Outcome::Started | Outcome::Connected | Outcome::Sent => return,
            // A connection that failed failed anyone; an exchange (a failover after a
            // timeout or a reset) failed what was asked.
            Outcome::Retrying(e) if super::peer::is_connect_failure(e.etype()) => {
                (attempts.last_failed(), true, Failure::Anyone)
            }
            Outcome::Retrying(_) => (attempts.last_failed(), true, asked),
            Outcome::Answered(status) => (attempts.backend, gateway_status(status), asked),
            Outcome::Failed(e) => {
                let connect = super::peer::is_connect_failure(e.etype());
                if e.esource() != &pingora::ErrorSource::Upstream && !connect {
                    // The client went away, or nothing was tried: no verdict on the backend.
                    return;
                }
                if attempts.upgraded && !connect {
                    // An upgraded connection ends on the site's silence, which a WebSocket
                    // may rightly keep (found when tried: a thousand silent WebSockets
                    // ending at their idle limit opened the service's breaker).
                    return;
                }
                let failure = if connect { Failure::Anyone } else { asked };
                (attempts.backend.or(attempts.last_failed()), true, failure)
            }
        };
        let upstream = &service.upstream;
        if let Some(addr) = backend {
            let now = std::time::Instant::now();
            // With affinity, a backend is met by its own citizens only: waiting for three
            // addresses, a hung one was never ejected and each of them waited out its timeout
            // on every request (found in a bypass probe). The price: one of them asking for
            // a slow page may take it out for a while, moving its citizens.
            let ejecting = if upstream.has_affinity() {
                Failure::Anyone
            } else {
                failure
            };
            if let crate::resilience::outlier::Ejection::Ejected(length) =
                upstream
                    .outliers
                    .record(addr, failed.then_some(ejecting), now)
            {
                tracing::warn!(
                    service = service.id(),
                    backend = %addr,
                    seconds = length.as_secs(),
                    "backend ejected after consecutive failures"
                );
                self.telemetry
                    .metrics
                    .upstream_ejections
                    .with_label_values(&[service.id()])
                    .inc();
            }
        }
        // The breaker judges the whole exchange: a failover that then succeeds is a success.
        if matches!(outcome, Outcome::Retrying(_)) {
            return;
        }
        // An exchange that failed after a backend's answer was failed over on is judged as
        // that answer (see [`Attempts::answer_failed_over`]).
        let failure = match attempts.answer_failed_over() {
            Some(_) => asked,
            None => failure,
        };
        if let Some(permit) = attempts.permit.take() {
            let trial = permit.is_trial();
            let opened = if failed {
                permit.failed(std::time::Instant::now(), failure)
            } else {
                permit.success();
                false
            };
            match BreakerNews::of(trial, failed, opened) {
                Some(BreakerNews::Opened) => tracing::warn!(
                    service = service.id(),
                    "circuit breaker opened: the service answers with its maintenance page, or \
                     a stale copy where the cache has one"
                ),
                Some(BreakerNews::StillOpen) => tracing::info!(
                    service = service.id(),
                    "circuit breaker: the trial failed; open for another cool-down"
                ),
                Some(BreakerNews::Closed) => tracing::warn!(
                    service = service.id(),
                    "circuit breaker closed: the service's site answered its trial"
                ),
                None => {}
            }
        }
    }
}

/// What the log says of an exchange's verdict on its service's breaker: one line when it
/// opens and one when it closes. Found by an SRE probe: one outage logged "opened" at each
/// failed trial (seven times), and its end not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BreakerNews {
    Opened,
    StillOpen,
    Closed,
}

impl BreakerNews {
    /// `trial`: the exchange was the half-open trial; `failed`: it failed; `opened`: the
    /// breaker says the failure opened it.
    fn of(trial: bool, failed: bool, opened: bool) -> Option<Self> {
        match (trial, failed, opened) {
            (false, true, true) => Some(Self::Opened),
            (true, true, true) => Some(Self::StillOpen),
            (true, false, _) => Some(Self::Closed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod breaker_news_tests {
    use super::BreakerNews;
    use crate::resilience::breaker::Breaker;
    use std::time::{Duration, Instant};

    /// An outage as a breaker of two failures and a 10 s cool-down sees it, with what the
    /// log says at each verdict.
    #[test]
    fn an_outage_is_one_opened_line_and_one_closed_line() {
        let breaker = Breaker::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        let mut said = Vec::new();
        let mut verdict = |at: Instant, failed: bool| {
            let Some(permit) = breaker.acquire(at) else {
                return;
            };
            let trial = permit.is_trial();
            let opened = if failed {
                permit.failure(at)
            } else {
                permit.success();
                false
            };
            said.extend(BreakerNews::of(trial, failed, opened));
        };
        verdict(t0, true);
        verdict(t0, true); // opens
        verdict(t0 + Duration::from_secs(11), true); // a failed trial
        verdict(t0 + Duration::from_secs(22), true); // another
        verdict(t0 + Duration::from_secs(33), false); // the site is back
        verdict(t0 + Duration::from_secs(34), false);
        assert_eq!(
            said,
            [
                BreakerNews::Opened,
                BreakerNews::StillOpen,
                BreakerNews::StillOpen,
                BreakerNews::Closed
            ]
        );
    }
}

//! Which backend one attempt goes to, and with which time limits.
//!
//! A request's [`Attempts`] remembers the backends it could not reach (each is tried once,
//! round-robin, so failover goes elsewhere even when other requests move the shared
//! counter) and the deadline of the whole exchange (the service's `total` timeout, set by
//! the first attempt and moved once by the time the citizen took to send the body: a
//! failover only gets what is left of it, so trying the next backend never extends the
//! citizen's wait). The proxy and the gateway's own calls build their
//! peers here, so both follow the same rules.

use crate::registry::Service;
use crate::resilience::breaker::Permit;
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorType};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Idle upstream connections are kept this long for reuse.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One request's attempts at a service's backends.
#[derive(Debug, Default)]
pub struct Attempts {
    /// The backend of the current attempt.
    pub backend: Option<SocketAddr>,
    /// Backends this request could not connect to.
    failed: Vec<SocketAddr>,
    /// When the whole upstream exchange must be over.
    deadline: Option<Instant>,
    /// The service's circuit breaker let this exchange through; its verdict is reported
    /// with the outcome (dropped unsettled, it counts for nothing).
    pub permit: Option<Permit>,
    /// Set when the service cannot be reached at all (breaker open, every backend down or
    /// ejected) or is busy (its bulkhead full): how long until it is worth asking again.
    /// The citizen gets the maintenance page (the busy page) with this `Retry-After` (or a
    /// stale copy).
    pub unavailable_for: Option<Duration>,
    /// The request's place in its service's bulkhead, held until the request ends.
    in_flight: Option<crate::resilience::bulkhead::Slot>,
    /// The service's bulkhead was full: nothing was asked of its site.
    pub busy: bool,
    /// The one resend on a fresh connection after a pooled one failed was made.
    resent: bool,
    /// When the current attempt's connection was made, until the request's body has been
    /// read ([`Self::request_sent`]).
    connected_at: Option<Instant>,
    /// The request's body was read: the upload's time is out of `total`, once.
    sent: bool,
    /// The site's answer was reported ([`Self::first_answer`]).
    answered: bool,
    /// Interim answers (`1xx`) the site sent ([`Self::answer_arrived`]).
    interim: u32,
    /// The citizen's address: a failure of what he asked counts against the breaker only
    /// with failures others asked for ([`crate::resilience::breaker::Failure::AskedBy`]).
    pub asked_by: Option<std::net::IpAddr>,
    /// The signed-in citizen's key for `upstream.affinity = "citizen"` (from her session,
    /// set by the access stage); without it, her address is hers.
    pub citizen: Option<u64>,
    /// The site switched protocols (a `101`: a WebSocket): the site's silence on the
    /// upgraded connection ends it and is no failure of the site.
    pub upgraded: bool,
    /// The current attempt's answer was refused to ask the next backend
    /// ([`Self::fail_over_on_answer`]); taken by [`Self::exchange_failed`].
    answer_refused: bool,
    /// The status of the last answer a backend gave that the request went on from
    /// ([`Self::answer_failed_over`]).
    failed_over_on: Option<u16>,
}

/// The `Retry-After` of a request its service's bulkhead had no place for: a slow site's
/// requests end within seconds, or are cut at its timeouts.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Interim answers a site may send for one request: a `100 Continue`, a few `103 Early
/// Hints`, a `102 Processing` now and then during a long upload are all any needs.
pub const MAX_INTERIM: u32 = 32;

/// How long a citizen is told to wait when every backend is down or ejected.
const NO_BACKEND_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A key for `upstream.affinity` from a citizen's address (its [`address_key`]: an IPv6
/// client's /64, which privacy addresses rotate within).
///
/// [`address_key`]: crate::client_address::address_key
fn key_of(address: std::net::IpAddr) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    address.hash(&mut h);
    h.finish()
}

impl Attempts {
    /// A peer for the next attempt at `service`: a backend this request has not failed to
    /// reach, with the service's timeouts cut to what is left of the total. A request asking
    /// for an upgrade (WebSocket) has `upgrade_idle` instead (`limits.upgraded_idle_timeout`):
    /// an upgraded connection idles legitimately and has no total, but each wait for the
    /// site, the handshake's answer included, is bounded as nginx's `proxy_read_timeout`
    /// bounds it. Without it, any request carrying `Upgrade` waited for a slow site without
    /// limit (found when tried). The citizen's side has the same limit (limits::upgraded).
    pub fn next_peer(
        &mut self,
        service: &Service,
        upgrade_idle: Option<Duration>,
    ) -> pingora::Result<Box<HttpPeer>> {
        let upstream = &service.upstream;
        let first = self.deadline.is_none() && self.failed.is_empty();
        if first && self.in_flight.is_none() {
            match service.in_flight.enter(self.asked_by) {
                Some(slot) => self.in_flight = Some(slot),
                None => {
                    self.busy = true;
                    self.unavailable_for = Some(BUSY_RETRY_AFTER);
                    return Error::e_explain(
                        ErrorType::ConnectNoRoute,
                        "the service has as many requests waiting on its site as it may",
                    );
                }
            }
        }
        if first {
            upstream.budget.deposit();
            if let Some(breaker) = &upstream.breaker {
                let now = Instant::now();
                match breaker.acquire(now) {
                    Some(permit) => self.permit = Some(permit),
                    None => {
                        let wait = breaker
                            .open_until()
                            .map_or(Duration::from_secs(1), |u| u.saturating_duration_since(now));
                        self.unavailable_for = Some(wait.max(Duration::from_secs(1)));
                        return Error::e_explain(
                            ErrorType::ConnectNoRoute,
                            "the service's circuit breaker is open",
                        );
                    }
                }
            }
        }
        let (citizen, address) = (self.citizen, self.asked_by);
        let Some(addr) = upstream.select_for(&self.failed, || citizen.or(address.map(key_of)))
        else {
            if first {
                self.unavailable_for = Some(NO_BACKEND_RETRY_AFTER);
            }
            return Error::e_explain(
                ErrorType::ConnectNoRoute,
                "the service has no usable backend",
            );
        };
        self.backend = Some(addr);
        let t = upstream.timeouts;
        let mut peer = HttpPeer::new(addr, upstream.tls, upstream.host.clone());
        let mut connect = t.connect;
        if let Some(idle) = upgrade_idle {
            peer.options.read_timeout = Some(idle);
            peer.options.write_timeout = Some(idle);
        } else {
            let now = Instant::now();
            let left = self
                .deadline
                .get_or_insert(now + t.total)
                .saturating_duration_since(now);
            if left.is_zero() {
                return Error::e_explain(
                    ErrorType::ConnectTimedout,
                    "the service's total upstream timeout elapsed",
                );
            }
            connect = connect.min(left);
            let read = t.read.min(left);
            peer.options.read_timeout = Some(read);
            peer.options.write_timeout = Some(read);
        }
        peer.options.connection_timeout = Some(connect);
        peer.options.total_connection_timeout = Some(connect);
        peer.options.idle_timeout = Some(IDLE_TIMEOUT);
        Ok(Box::new(peer))
    }

    /// The current attempt could not connect (`e`): whether another backend may be tried.
    /// Nothing was sent yet, so any method may go elsewhere. A refused connection (reset at
    /// once) cost no site anything and the citizen a round trip, so it always may, as in
    /// nginx (`proxy_next_upstream error`): charged to the retry budget, a busy service's
    /// citizens got 502 from a backend that refused while the other was up, until it was
    /// ejected (found when tried: 75 of 200). A failure that took time or reached a site (a
    /// connect timeout, a TLS handshake) goes elsewhere only while the budget lasts.
    pub fn connect_failed(&mut self, service: &Service, e: &Error) -> bool {
        if let Some(addr) = self.backend.take() {
            self.failed.push(addr);
        }
        is_connect_failure(e.etype())
            && self.failed.len() < service.upstream.backend_count()
            && (e.etype() == &ErrorType::ConnectRefused || budget_allows(service))
    }

    /// The exchange with `peer` failed with `e` (`reused`: on a connection taken from the
    /// pool): `e` with its retry flag set as it will be, and whether the request goes to
    /// another backend (a failover, to report as [`super::Outcome::Retrying`]). Only a
    /// request that can be sent again (an idempotent method, a body pingora still holds):
    /// once on a fresh connection after a pooled one failed, as pingora judges
    /// ([`Self::resend_after_reused_connection_failed`]); else to another backend when the
    /// site failed before it answered ([`Self::fail_over_after`]).
    pub fn exchange_failed(
        &mut self,
        session: &pingora::proxy::Session,
        peer: &HttpPeer,
        e: Box<Error>,
        service: Option<&Arc<Service>>,
        reused: bool,
    ) -> (Box<Error>, bool) {
        let mut e = e.more_context(format!("Peer: {peer}"));
        if std::mem::take(&mut self.answer_refused) {
            e.set_retry(true);
            return (e, true);
        }
        let replayable = replayable(session);
        e.retry.decide_reuse(reused);
        let resend = replayable
            && e.retry()
            && service.is_some_and(|s| self.resend_after_reused_connection_failed(s));
        let failover =
            !resend && replayable && service.is_some_and(|s| self.fail_over_after(s, &e));
        e.set_retry(resend || failover);
        (e, failover)
    }

    /// The site reset, closed or timed out on an idempotent request before it answered
    /// (`e`): whether to ask another backend, as nginx does by default
    /// (`proxy_next_upstream error timeout`). Found when tried: with one of two backends
    /// hanging or resetting, citizens got 504s and 502s until it was ejected, and again at
    /// every readmission, while the other answered. Not once the site answered (its answer
    /// may be on its way to the citizen), nor on an upgraded connection; only while another
    /// backend is left and the retry budget lasts, within the exchange's total timeout
    /// ([`Self::next_peer`]).
    fn fail_over_after(&mut self, service: &Service, e: &Error) -> bool {
        use ErrorType::*;
        let site_failed = e.esource() == &pingora::ErrorSource::Upstream
            && matches!(
                e.etype(),
                ConnectionClosed | ReadError | WriteError | ReadTimedout | WriteTimedout
            );
        site_failed && !self.answered && self.move_on(service)
    }

    /// The site answered the current attempt with `status`: an error (the answer is not
    /// passed on) when the service fails over on it (`upstream.failover_on`) and the request
    /// goes to the next backend. Only a request that can be sent again, before anything of
    /// the answer left, while another backend is in service and the retry budget lasts:
    /// else the site's answer is the citizen's, as nginx passes on the last backend's.
    pub fn fail_over_on_answer(
        &mut self,
        service: Option<&Service>,
        session: &pingora::proxy::Session,
        status: http::StatusCode,
    ) -> pingora::Result<()> {
        let code = status.as_u16();
        let Some(service) = service.filter(|s| s.config.upstream.failover_on.contains(&code))
        else {
            return Ok(());
        };
        if self.answered || !replayable(session) || !self.move_on(service) {
            return Ok(());
        }
        self.answer_refused = true;
        self.failed_over_on = Some(code);
        let mut e = Error::explain(
            ErrorType::HTTPStatus(code),
            format!("the site answered {code}; the next backend is asked (upstream.failover_on)"),
        );
        e.set_retry(true);
        Err(e)
    }

    /// Whether the site's answer `e` (a 5xx that pingora would serve a stale copy for, on a
    /// revalidation) will send the request to another backend first: the copy is for when
    /// no backend can answer (found in a bypass probe: the copy was served, and the stored
    /// page never refreshed, while the other backend was up). Changes nothing but the count
    /// of failovers withheld.
    pub fn fails_over_on(
        &self,
        service: Option<&Service>,
        session: &pingora::proxy::Session,
        e: &Error,
    ) -> bool {
        let ErrorType::HTTPStatus(code) = e.etype() else {
            return false;
        };
        let Some(service) = service.filter(|s| s.config.upstream.failover_on.contains(code)) else {
            return false;
        };
        let mut tried = self.failed.clone();
        tried.extend(self.backend);
        let possible = e.esource() == &pingora::ErrorSource::Upstream
            && !self.answered
            && replayable(session)
            && self.time_for_another(service)
            && service.upstream.select_excluding(&tried).is_some();
        if !possible {
            return false;
        }
        // A copy served for want of the budget is a failover withheld (found in a bypass
        // probe: 81 stale copies served so, none counted).
        let allowed = service.upstream.budget.has_one();
        if !allowed {
            count_withheld(service);
        }
        allowed
    }

    /// The status a backend answered that the request went on from to another backend
    /// (`upstream.failover_on`), if it did: the site did answer. When no other backend then
    /// answers (it refused, or did not answer in time), the citizen's page says what the
    /// site said (found in a bypass probe: a backend in maintenance beside a dead one gave
    /// every other citizen the gateway's 502 instead of its 503), and the exchange is judged
    /// as that answer: a failure only the askers could cause, which opens the breaker only
    /// with enough addresses (it was judged as the dead backend's refusal, which anyone
    /// meets, and one address opened the breaker by asking for a page the site answered 503).
    pub fn answer_failed_over(&self) -> Option<u16> {
        self.failed_over_on
    }

    /// Whether what is left of the exchange's total timeout is worth another backend: at
    /// least its connect timeout. Found in a bypass probe: a site's 503 at 2.9 s of a 3 s
    /// total went to the next backend with 0.1 s left, and the citizen got the gateway's 504
    /// instead of the site's page, the healthy backend blamed for the timeout.
    fn time_for_another(&self, service: &Service) -> bool {
        self.time_left()
            .is_none_or(|left| left >= service.upstream.timeouts.connect)
    }

    /// Leaves the current attempt's backend for another: whether one is in service, not
    /// yet tried by this request, there is time for it ([`Self::time_for_another`]) and
    /// the retry budget lasts (then the backend is counted as failed, for
    /// [`Self::next_peer`] to go elsewhere).
    fn move_on(&mut self, service: &Service) -> bool {
        let Some(addr) = self.backend.filter(|_| !self.upgraded) else {
            return false;
        };
        if !self.time_for_another(service) {
            return false;
        }
        self.failed.push(addr);
        let upstream = &service.upstream;
        if upstream.select_excluding(&self.failed).is_none() || !budget_allows(service) {
            self.failed.pop();
            return false;
        }
        self.backend = None;
        true
    }

    /// The request failed on a reused (pooled) connection before any answer, and pingora
    /// judged it safe to send again (an idempotent method, a body it still holds): whether
    /// to. The site may have closed the idle connection just as it was reused, the race
    /// RFC 9112 §9.3.1 allows a retry for; but pingora would resend on one pooled
    /// connection after another, up to 16 times, to a site that drops the request (found
    /// when tried: one GET reached it 16 times, a PUT 5). So once per request, within the
    /// service's retry budget.
    pub fn resend_after_reused_connection_failed(&mut self, service: &Service) -> bool {
        !std::mem::replace(&mut self.resent, true) && service.upstream.budget.withdraw()
    }

    /// The backend the last failed attempt went to.
    pub fn last_failed(&self) -> Option<SocketAddr> {
        self.failed.last().copied()
    }

    /// When the request's body began to go to the site (the current attempt's connection),
    /// while it is still being read.
    pub fn upload_started(&self) -> Option<Instant> {
        self.connected_at.filter(|_| !self.sent)
    }

    /// Whether this is the exchange's first answer: the one to report. A refusal of an
    /// answer already reported (its header over the limit, a slice of a rewritten page)
    /// comes back as a 502 through stale-if-error, and must not be counted against the
    /// backend a second time (found in review).
    pub fn first_answer(&mut self) -> bool {
        !std::mem::replace(&mut self.answered, true)
    }

    /// Whether an attempt was connected to a backend, so the request may have reached the
    /// site (what it did with it is unknown).
    pub fn reached_the_site(&self) -> bool {
        self.connected_at.is_some()
    }

    /// The current attempt is connected (see [`Self::request_sent`]).
    pub fn connected(&mut self) {
        if !self.sent {
            self.connected_at = Some(Instant::now());
        }
    }

    /// The request's body has all been read from the citizen: the time it took, from the
    /// connection on, is the citizen's, not the site's, and the deadline moves by it, once
    /// (found when tried: a scan sent at 200 KB/s reached the site whole and the citizen
    /// got a 504 once `total` had passed). A body replayed on a resend moves nothing, and
    /// time spent failing to connect still counts; each wait for either side is still
    /// bounded by `read`.
    pub fn request_sent(&mut self) {
        if std::mem::replace(&mut self.sent, true) {
            return;
        }
        if let (Some(deadline), Some(connected)) = (&mut self.deadline, self.connected_at) {
            *deadline += connected.elapsed();
        }
    }

    /// What is left of the exchange's time, once an attempt has started it.
    pub fn time_left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Each answer's header from the site, interim ones (`1xx`) included: within the total
    /// timeout ([`Self::check_deadline`]), and at most [`MAX_INTERIM`] interim ones. Found
    /// when tried: a site sending a `103` a second held a request for 100 s against a total
    /// of 30, and 200,000 of them were each passed on, grown by the gateway's headers.
    pub fn answer_arrived(&mut self, status: http::StatusCode) -> pingora::Result<()> {
        // A `100` or `102` during an upload is not held to the total, which moves only once
        // the upload is done ([`Self::request_sent`]); the upload keeps its own pace.
        let uploading = status.is_informational() && !self.sent;
        if !uploading {
            self.check_deadline()?;
        }
        if status == http::StatusCode::SWITCHING_PROTOCOLS {
            // The exchange succeeded: settled now, or a WebSocket that was the breaker's
            // half-open trial held the trial (and every other citizen off) for its whole
            // life (found in review).
            self.upgraded = true;
            if let Some(permit) = self.permit.take() {
                permit.success();
            }
        }
        // Counted whatever they are: a site sending a `102` every few seconds while it does
        // not read the body held a request for as long as it went on (found when tried).
        if status.is_informational() {
            self.interim += 1;
            if self.interim > MAX_INTERIM {
                return Error::e_explain(
                    ErrorType::HTTPStatus(502),
                    "the legacy site sent more interim answers than any request needs",
                );
            }
        }
        Ok(())
    }

    /// An error once the exchange's total timeout has passed: checked when the answer's
    /// header arrives. Its body is not held to it: a certificate a citizen reads slowly
    /// was cut off mid-body (found when tried); a site that stalls is held to `read` at
    /// every wait, as nginx's `proxy_read_timeout`.
    pub fn check_deadline(&self) -> pingora::Result<()> {
        match self.deadline {
            Some(deadline) if Instant::now() > deadline => Error::e_explain(
                ErrorType::ReadTimedout,
                "the service's total upstream timeout elapsed",
            ),
            _ => Ok(()),
        }
    }
}

/// Whether the service's retry budget allows a failover (and spends on it). A failover
/// withheld is counted: found in a bypass probe, with one backend of two in maintenance, a
/// third of citizens got its page once the budget was spent, and nothing said why.
fn budget_allows(service: &Service) -> bool {
    let allowed = service.upstream.budget.withdraw();
    if !allowed {
        count_withheld(service);
    }
    allowed
}

/// Counts a failover withheld for want of the retry budget
/// (`egov_upstream_failovers_withheld_total`).
fn count_withheld(service: &Service) {
    if let Some(metrics) = &service.metrics {
        metrics.failovers_withheld.inc();
    }
}

/// Whether the citizen's request can be sent again: an idempotent method, with the body
/// pingora holds whole (its retry buffer).
fn replayable(session: &pingora::proxy::Session) -> bool {
    session.req_header().method.is_idempotent() && !session.as_ref().retry_buffer_truncated()
}

/// Errors where no byte reached the backend, so another backend may be tried.
pub fn is_connect_failure(etype: &ErrorType) -> bool {
    use ErrorType::*;
    matches!(
        etype,
        ConnectTimedout
            | ConnectRefused
            | ConnectNoRoute
            | ConnectError
            | TLSHandshakeFailure
            | TLSHandshakeTimedout
            | HandshakeError
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_time_the_citizen_takes_to_upload_moves_the_deadline_once() {
        let mut a = Attempts::default();
        let now = Instant::now();
        let Some(five_ago) = now.checked_sub(Duration::from_secs(5)) else {
            return; // a machine up for less than 5 s
        };
        a.deadline = Some(now + Duration::from_secs(1));
        a.connected_at = Some(five_ago);
        a.request_sent();
        let moved = a.deadline.expect("a deadline");
        assert!(
            moved >= now + Duration::from_secs(6),
            "a 5 s upload is not the site's"
        );
        // A resend connects again and replays the stored body: nothing moves.
        a.connected();
        a.request_sent();
        assert_eq!(a.deadline, Some(moved));
    }

    use super::*;
    use crate::registry::fixtures::snapshot;

    #[test]
    fn a_switch_of_protocols_settles_the_breakers_trial_at_once() {
        let breaker = crate::resilience::breaker::Breaker::new(1, Duration::from_secs(30));
        let now = Instant::now();
        assert!(breaker.acquire(now).expect("permit").failure(now));
        let later = now + Duration::from_secs(30);
        let mut websocket = Attempts {
            permit: breaker.acquire(later),
            ..Attempts::default()
        };
        assert!(breaker.acquire(later).is_none(), "the trial is in flight");
        websocket
            .answer_arrived(http::StatusCode::SWITCHING_PROTOCOLS)
            .expect("a 101");
        assert!(websocket.upgraded);
        assert!(
            breaker.acquire(later).is_some(),
            "others are let through while the WebSocket lives"
        );
    }

    #[test]
    fn an_exchange_reports_one_answer_however_often_it_is_refused_after() {
        let mut attempts = Attempts::default();
        assert!(attempts.first_answer());
        assert!(!attempts.first_answer(), "a refusal of the same answer");
    }

    fn two_backend_service() -> std::sync::Arc<Service> {
        let mut config = crate::testing::config_without_secrets();
        config.services.truncate(1);
        config.services[0].upstream.backends = vec![
            crate::config::Backend {
                host: "127.0.0.1".into(),
                port: 1001,
                weight: 1,
            },
            crate::config::Backend {
                host: "127.0.0.1".into(),
                port: 1002,
                weight: 1,
            },
        ];
        let snap =
            crate::registry::Snapshot::build(&config, &crate::config::Secrets::from_process())
                .expect("snapshot");
        std::sync::Arc::clone(&snap.services()[0])
    }

    #[test]
    fn a_failover_goes_to_the_other_backend_then_stops() {
        let service = two_backend_service();
        let mut attempts = Attempts::default();
        let refused = Error::new(ErrorType::ConnectRefused);
        let first = attempts.next_peer(&service, None).expect("peer");
        assert!(
            attempts.connect_failed(&service, &refused),
            "one backend left"
        );
        let second = attempts.next_peer(&service, None).expect("peer");
        assert_ne!(first._address, second._address);
        assert!(!attempts.connect_failed(&service, &refused), "none left");
        assert!(attempts.next_peer(&service, None).is_err());
    }

    /// Found in a bypass probe: a site's 503 at 2.9 s of a 3 s total went to the next
    /// backend with 0.1 s left; the citizen got a 504, the healthy backend the blame.
    #[test]
    fn no_other_backend_is_asked_with_less_than_its_connect_timeout_left() {
        let service = two_backend_service();
        let connect = service.upstream.timeouts.connect;
        let mut attempts = Attempts::default();
        attempts.next_peer(&service, None).expect("peer");
        attempts.deadline = Some(Instant::now() + connect / 2);
        assert!(!attempts.move_on(&service), "too little time left");
        attempts.deadline = Some(Instant::now() + connect * 2);
        assert!(attempts.move_on(&service), "time for another");
        let mut left = 0;
        while service.upstream.budget.withdraw() {
            left += 1;
        }
        assert_eq!(left, 9, "only the failover made spent the budget");
    }

    #[test]
    fn a_refused_connection_goes_elsewhere_when_the_retry_budget_is_spent_and_a_timeout_does_not() {
        let service = two_backend_service();
        while service.upstream.budget.withdraw() {}
        let fail_first = |e: ErrorType| {
            let mut attempts = Attempts::default();
            attempts.next_peer(&service, None).expect("peer");
            attempts.connect_failed(&service, &Error::new(e))
        };
        assert!(fail_first(ErrorType::ConnectRefused));
        assert!(!fail_first(ErrorType::ConnectTimedout));
    }

    #[test]
    fn a_read_error_is_not_retried_on_another_backend() {
        let service = two_backend_service();
        let mut attempts = Attempts::default();
        attempts.next_peer(&service, None).expect("peer");
        assert!(!attempts.connect_failed(&service, &Error::new(ErrorType::ReadError)));
    }

    #[test]
    fn the_peer_gets_the_service_timeouts_within_the_total() {
        let snap = snapshot();
        let service = &snap.services()[0];
        let t = service.upstream.timeouts;
        let mut attempts = Attempts::default();
        let peer = attempts.next_peer(service, None).expect("peer");
        assert_eq!(
            peer.options.connection_timeout,
            Some(t.connect.min(t.total))
        );
        assert!(peer.options.read_timeout.is_some_and(|r| r <= t.read));
        assert!(attempts.time_left().is_some_and(|l| l <= t.total));
        assert!(attempts.check_deadline().is_ok());
    }

    #[test]
    fn an_upgrade_has_no_total_but_each_wait_for_the_site_is_bounded() {
        let snap = snapshot();
        let mut attempts = Attempts::default();
        let idle = Duration::from_secs(60);
        let peer = attempts
            .next_peer(&snap.services()[0], Some(idle))
            .expect("peer");
        assert_eq!(peer.options.read_timeout, Some(idle));
        assert_eq!(attempts.time_left(), None);
    }
}

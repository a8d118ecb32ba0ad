//! Calls the gateway makes itself to a service's backend (the SOAP facade today), whose
//! answer must be read whole before the citizen gets one. They go through the same peer
//! selection, timeouts, failover and outcome reporting as proxied requests, over pingora's
//! own connector and connection pool (TLS and SNI included): only the request and the
//! reading of the answer differ.

use super::outcome::Outcome;
use super::peer::{Attempts, IDLE_TIMEOUT};
use super::Upstreams;
use crate::registry::Service;
use crate::telemetry::request::RequestObs;
use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::protocols::http::client::HttpSession;
use pingora::{Error, ErrorType};

/// A request of the gateway's own: its header (path, `Host` and every forwarding header
/// already set) and a small body.
pub struct Exchange {
    pub header: RequestHeader,
    pub body: Bytes,
    /// Longest answer body read; a longer one is [`CallError::TooLarge`].
    pub max_response: usize,
    /// The citizen whose request this call serves (see [`Attempts::asked_by`]).
    pub asked_by: Option<std::net::IpAddr>,
}

/// The backend's answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub header: ResponseHeader,
    pub body: Bytes,
}

/// Why a call has no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No backend could be connected to.
    #[error("the backend could not be reached: {0}")]
    Unreachable(Box<Error>),
    /// Nothing was tried: the service's breaker is open, or every backend is down or
    /// ejected. Worth asking again after this long (a proxied request's maintenance page
    /// says the same in `Retry-After`).
    #[error("the service is unavailable for {0:?}")]
    Unavailable(std::time::Duration),
    /// The service's timeouts passed.
    #[error("the backend did not answer in time")]
    TimedOut,
    /// The answer was larger than the call accepts.
    #[error("the backend answered more than {0} bytes")]
    TooLarge(usize),
    /// The exchange broke off after the connection was made.
    #[error("the exchange with the backend broke off: {0}")]
    Broken(Box<Error>),
}

fn timed_out(e: &Error) -> bool {
    use ErrorType::*;
    matches!(
        e.etype(),
        ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout
    )
}

impl Upstreams {
    /// Sends `exchange` to `service`'s backends (failing over while nothing was sent) and
    /// reads the answer whole, all within the service's timeouts.
    pub async fn call(
        &self,
        service: &Service,
        obs: Option<&mut RequestObs>,
        exchange: Exchange,
    ) -> Result<Answer, CallError> {
        let mut attempts = Attempts::default();
        attempts.asked_by = exchange.asked_by;
        let mut obs = obs;
        loop {
            let peer = match attempts.next_peer(service, None) {
                Ok(p) => p,
                Err(e) => {
                    // Nothing was asked of the site when it was unavailable (its breaker
                    // open, its bulkhead full): no failure of the site to report.
                    if attempts.unavailable_for.is_none() {
                        self.report(
                            service,
                            &mut attempts,
                            obs.as_deref_mut(),
                            Outcome::Failed(&e),
                        );
                    }
                    return Err(match attempts.unavailable_for {
                        Some(wait) => CallError::Unavailable(wait),
                        None if timed_out(&e) => CallError::TimedOut,
                        None => CallError::Unreachable(e),
                    });
                }
            };
            self.report(service, &mut attempts, obs.as_deref_mut(), Outcome::Started);
            let left = attempts
                .time_left()
                .unwrap_or(service.upstream.timeouts.total);
            let connected = tokio::time::timeout(left, self.connector.get_http_session(&*peer))
                .await
                .unwrap_or_else(|_| {
                    Error::e_explain(ErrorType::ConnectTimedout, "total timeout while connecting")
                });
            let mut session = match connected {
                Ok((session, _reused)) => session,
                Err(e) => {
                    if attempts.connect_failed(service, &e) {
                        self.report(
                            service,
                            &mut attempts,
                            obs.as_deref_mut(),
                            Outcome::Retrying(&e),
                        );
                        continue;
                    }
                    self.report(
                        service,
                        &mut attempts,
                        obs.as_deref_mut(),
                        Outcome::Failed(&e),
                    );
                    return Err(if timed_out(&e) {
                        CallError::TimedOut
                    } else {
                        CallError::Unreachable(e)
                    });
                }
            };
            self.report(
                service,
                &mut attempts,
                obs.as_deref_mut(),
                Outcome::Connected,
            );
            let left = attempts.time_left().unwrap_or(left);
            let answered = tokio::time::timeout(left, exchange_on(&mut session, &exchange))
                .await
                .unwrap_or_else(|_| {
                    Err(Exchanged::Failed(Error::explain(
                        ErrorType::ReadTimedout,
                        "the service's total upstream timeout elapsed",
                    )))
                });
            return match answered {
                Ok(answer) => {
                    self.report(
                        service,
                        &mut attempts,
                        obs.as_deref_mut(),
                        Outcome::Answered(answer.header.status.as_u16()),
                    );
                    self.connector
                        .release_http_session(session, &*peer, Some(IDLE_TIMEOUT))
                        .await;
                    Ok(answer)
                }
                Err(Exchanged::TooLarge(status)) => {
                    // The backend did answer; the answer is what the caller refuses.
                    self.report(
                        service,
                        &mut attempts,
                        obs.as_deref_mut(),
                        Outcome::Answered(status),
                    );
                    Err(CallError::TooLarge(exchange.max_response))
                }
                Err(Exchanged::Failed(e)) => {
                    self.report(
                        service,
                        &mut attempts,
                        obs.as_deref_mut(),
                        Outcome::Failed(&e),
                    );
                    Err(if timed_out(&e) {
                        CallError::TimedOut
                    } else {
                        CallError::Broken(e)
                    })
                }
            };
        }
    }
}

/// How one exchange on a connection ended, when it did not give an answer.
enum Exchanged {
    /// The answer (with this status) is over the limit.
    TooLarge(u16),
    Failed(Box<Error>),
}

impl From<Box<Error>> for Exchanged {
    fn from(e: Box<Error>) -> Self {
        Exchanged::Failed(e)
    }
}

async fn exchange_on(session: &mut HttpSession, exchange: &Exchange) -> Result<Answer, Exchanged> {
    session
        .write_request_header(Box::new(exchange.header.clone()))
        .await?;
    session
        .write_request_body(exchange.body.clone(), true)
        .await?;
    session.finish_request_body().await?;
    // Interim answers (100 Continue) are not the answer.
    loop {
        session.read_response_header().await?;
        let status = session.response_header().map(|h| h.status);
        if !status.is_some_and(|s| s.is_informational()) {
            break;
        }
    }
    let header = session
        .response_header()
        .cloned()
        .ok_or_else(|| Error::explain(ErrorType::InvalidHTTPHeader, "no response header"))?;
    let mut body = BytesMut::new();
    while let Some(chunk) = session.read_response_body().await? {
        if body.len() + chunk.len() > exchange.max_response {
            return Err(Exchanged::TooLarge(header.status.as_u16()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        header,
        body: body.freeze(),
    })
}

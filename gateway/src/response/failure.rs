//! Which error page a failed proxied request gets, from pingora's error: a timeout is a 504,
//! a refused or reset backend a 502, a client that went away gets nothing.

use super::ErrorKind;
use pingora::{Error, ErrorSource, ErrorType};

/// Which page a failed request gets; `None` when the client is already gone.
pub fn failure_kind(e: &Error) -> Option<ErrorKind> {
    use ErrorType::*;
    match e.etype() {
        HTTPStatus(code) => Some(match *code {
            400 => ErrorKind::BadRequest,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::RequestTimeout,
            413 => ErrorKind::PayloadTooLarge,
            431 => ErrorKind::HeadersTooLarge,
            502 => ErrorKind::BadGateway,
            503 => ErrorKind::Unavailable,
            504 => ErrorKind::GatewayTimeout,
            _ => ErrorKind::Internal,
        }),
        _ => match e.esource() {
            ErrorSource::Upstream => Some(match e.etype() {
                ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout => {
                    ErrorKind::GatewayTimeout
                }
                _ => ErrorKind::BadGateway,
            }),
            ErrorSource::Downstream => match e.etype() {
                WriteError | ReadError | ConnectionClosed => None,
                _ => Some(ErrorKind::BadRequest),
            },
            ErrorSource::Internal | ErrorSource::Unset => Some(match e.etype() {
                // Timeouts and unreachable backends can surface without an upstream tag
                // (e.g. raised by our own deadline check or peer selection).
                ConnectTimedout | ReadTimedout | WriteTimedout => ErrorKind::GatewayTimeout,
                ConnectNoRoute | ConnectRefused | ConnectError => ErrorKind::BadGateway,
                _ => ErrorKind::Internal,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::Error;

    #[test]
    fn an_upstream_timeout_is_a_504_and_a_refusal_a_502() {
        let timeout = Error::new_up(ErrorType::ReadTimedout);
        assert_eq!(failure_kind(&timeout), Some(ErrorKind::GatewayTimeout));
        let refused = Error::new_up(ErrorType::ConnectRefused);
        assert_eq!(failure_kind(&refused), Some(ErrorKind::BadGateway));
    }

    #[test]
    fn a_client_that_went_away_gets_no_page() {
        let gone = Error::new_down(ErrorType::ConnectionClosed);
        assert_eq!(failure_kind(&gone), None);
    }

    #[test]
    fn our_own_deadline_check_is_a_504() {
        let e = Error::new(ErrorType::ReadTimedout);
        assert_eq!(failure_kind(&e), Some(ErrorKind::GatewayTimeout));
    }
}

//! Reading a (small) request body in full, for the few endpoints the gateway answers itself
//! with a body (back-channel logout, the SOAP facade, intent routing). Bounded, so a client
//! cannot make the gateway buffer without limit.

use crate::response::LocalResponse;
use bytes::{Bytes, BytesMut};
use http::StatusCode;
use pingora::proxy::Session;

/// Why a request body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is (or announces itself as) larger than the endpoint accepts: 413.
    #[error("the body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The client went away, timed out or sent a malformed body: 400 (if anyone still
    /// listens).
    #[error("could not read the body: {0}")]
    Read(#[source] Box<pingora::Error>),
}

impl BodyError {
    /// The status the client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Read(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The JSON error answer (`too_large` or `unreadable_body`).
    pub fn response(&self) -> LocalResponse {
        let code = match self {
            BodyError::TooLarge { .. } => "too_large",
            BodyError::Read(_) => "unreadable_body",
        };
        LocalResponse::json_error(self.status(), code, self.to_string())
    }
}

/// Callers that only want a message (the back-channel logout answers every refusal alike).
impl From<BodyError> for String {
    fn from(e: BodyError) -> String {
        e.to_string()
    }
}

/// The body of the request, refused before reading when its `Content-Length` already
/// exceeds `limit`. Generic over the error so a caller can take [`BodyError`] (to tell 413
/// from 400) or just its message.
pub async fn read_limited<E: From<BodyError>>(
    session: &mut Session,
    limit: usize,
) -> Result<Bytes, E> {
    Ok(read(session, limit).await?)
}

async fn read(session: &mut Session, limit: usize) -> Result<Bytes, BodyError> {
    let result = read_all(session, limit).await;
    if result.is_err() {
        // The rest of the body was not read: the connection cannot carry another request
        // (and pingora must not try to drain an oversized body before reusing it).
        session.set_keepalive(None);
    }
    result
}

async fn read_all(session: &mut Session, limit: usize) -> Result<Bytes, BodyError> {
    let announced = crate::content_length::declared(&session.req_header().headers);
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut buf = BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(BodyError::Read(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_over_the_limit_is_413_and_an_unreadable_one_400() {
        let too_large = BodyError::TooLarge { limit: 10 };
        assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let gone = BodyError::Read(pingora::Error::new(pingora::ErrorType::ConnectionClosed));
        assert_eq!(gone.status(), StatusCode::BAD_REQUEST);
        assert_eq!(gone.response().status, StatusCode::BAD_REQUEST);
    }
}

//! Reading a (small) request body in full, for the few endpoints the gateway answers itself
//! with a body (back-channel logout, the SOAP facade, intent routing). Bounded, so a client
//! cannot make the gateway buffer without limit.

use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;

/// The body of the request, or why it was refused (too large, or the client went away).
pub async fn read_limited(session: &mut Session, limit: usize) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(format!("the body is larger than {limit} bytes"));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(format!("could not read the body: {e}")),
        }
    }
}

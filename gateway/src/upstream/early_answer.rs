//! A legacy site that answers before the request's body has all come from the citizen is
//! sent no more of it, and its connection is never used again.
//!
//! Found in a probe: a site that answered a POST without reading its body (Python's
//! `http.server` for a handler that never reads `rfile`, a servlet that redirects first)
//! read the body's bytes, on its kept-alive connection, as the start of the next request. A
//! citizen who sent his body's first half (a request line and an open header), waited for
//! the answer, then sent the rest, chose what the next citizen's request on that pooled
//! connection asked for, with that citizen's cookies and identity; a cached service kept
//! the answer for everyone. pingora sent the rest of the body on and put the connection
//! back in its pool once both directions were done.
//!
//! nginx streaming a body (`proxy_request_buffering off`) does not reuse such a
//! connection; RFC 9112 §9.5 asks a client that sees an answer the server sent before the
//! body to stop sending it. Here the connection's sending side is shut when the answer's
//! header arrives while the citizen's body is still coming: every later write of the body
//! fails, which is what makes pingora close the connection instead of pooling it, and the
//! answer itself still comes whole. A body that had all come before the answer is not
//! helped (the site's own bug, nginx's too): its bytes were sent while the site still
//! looked like reading them.

use http::StatusCode;
use pingora::proxy::Session;
use std::os::fd::{BorrowedFd, RawFd};

/// Called when an attempt's answer header arrives (`status`): when the citizen's body has
/// not all come yet, shuts the sending side of `socket` (the attempt's connection, see
/// [`crate::pipeline::RequestCtx::upstream_socket`]). Interim answers (`100 Continue`,
/// `101`) are no answer to the body.
pub fn send_no_more(session: &mut Session, status: StatusCode, socket: Option<RawFd>) {
    if status.is_informational() || session.is_body_done() {
        return;
    }
    let Some(fd) = socket.filter(|fd| *fd >= 0) else {
        return;
    };
    // SAFETY: `fd` is the socket of the connection this attempt is reading its answer
    // from; pingora holds it open until the exchange ends, and this runs within it.
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    if let Err(e) = socket2::SockRef::from(&socket).shutdown(std::net::Shutdown::Write) {
        tracing::debug!(error = %e, "an early answer's connection could not be shut for sending");
    }
}

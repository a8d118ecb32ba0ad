//! A request that carries a body is the last on its connection to the legacy site
//! (`Connection: close`): a body the site never read cannot become the next request.
//!
//! Found in two probes: a site that answers a POST (or a GET with a body) without reading
//! its body (Python's `http.server` for a handler that never reads `rfile`, a handler that
//! redirects first) reads the body's bytes, on its kept-alive connection, as the start of
//! the next request. A citizen whose body was a request line and an open header chose what
//! the next citizen's request on that pooled connection asked for, with that citizen's
//! cookies and identity; a cached service kept the answer for everyone. Shutting the
//! connection when the answer came before the body helped only a body sent in two parts:
//! sent in one packet, the body was all there before the answer, and the connection went
//! back to the pool (the second probe), while a site that streams its answer as it reads
//! an upload got the upload cut short.
//!
//! nginx and HAProxy pool such connections too; what the gateway cannot know is whether
//! the site read the body, so it does not bet on it. The whole body still goes to the site,
//! however it answers; a request without a body (nearly every request, and every request
//! the benchmark counts) keeps its connection pooled.

use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// Asks the legacy site to close the connection after answering `upstream_request` when
/// the citizen's request has a body (announced by its length, chunked, or an HTTP/2
/// stream not ended with its header).
///
/// A request asking for an upgrade is no exception: its `Connection: Upgrade` is replaced,
/// so the site does not switch and answers it as any request. Found in a second bypass
/// probe: exempted, a POST with `Connection: Upgrade`, `Upgrade: h2c` and a body shaped as
/// a request, answered 200 by a site that read no body, put that request before the next
/// citizen's on the pooled connection, her identity with it. A WebSocket handshake has no
/// body, and an HTTP/2 upgrade with one is obsolete (RFC 9113 §3.1).
pub fn close_after_a_body(
    session: &mut Session,
    upstream_request: &mut RequestHeader,
) -> pingora::Result<()> {
    if session.is_body_empty() {
        return Ok(());
    }
    upstream_request.insert_header(http::header::CONNECTION, "close")
}

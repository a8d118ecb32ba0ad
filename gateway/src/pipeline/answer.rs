//! The one place a gateway-made answer (page, redirect, JSON) is written to the citizen: with
//! the request id and the security headers.

use super::RequestCtx;
use crate::portal::lang::Lang;
use crate::request_id;
use crate::response::{security_headers, LocalResponse};
use crate::sso::cookie::{CookieJar, SessionCookie};
use http::HeaderValue;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

/// The final answer the citizen was sent, if any. An interim one (`100 Continue` from the
/// legacy site) is not an answer: after it the gateway can still send its error page (a
/// body over the limit got a reset instead of the 413, found when tried), and the access
/// log and metrics record what finally happened instead of a 100. A `101` is final.
pub fn answered(session: &Session) -> Option<&ResponseHeader> {
    session.response_written().filter(|r| {
        !r.status.is_informational() || r.status == http::StatusCode::SWITCHING_PROTOCOLS
    })
}

/// The citizen's answer when proxying failed with `e` (`stalled`: the citizen's body stopped
/// coming): the failure's page (502, 504, 408, 413...), or the portal's page in place of the
/// site's server error page (`RequestCtx::site_error`), unless an answer already left; what
/// pingora is told of it.
pub async fn answer_failure(
    session: &mut Session,
    e: &pingora::Error,
    stalled: bool,
    ctx: &mut RequestCtx,
) -> pingora::proxy::FailToProxy {
    ctx.citizens_doing = super::limits::citizens_doing(e, stalled);
    let page = match ctx.site_error.take() {
        Some(page) => Some(page),
        None => ctx.failure_page(e, stalled, session.req_header()),
    };
    let code = page.as_ref().map_or(0, |p| p.status.as_u16());
    if let Some(page) = page {
        if answered(session).is_none() {
            session.set_keepalive(None);
            if let Err(write_err) = write_local(session, page, ctx).await {
                tracing::debug!(error = %write_err, "could not send the error page");
            }
        }
    }
    pingora::proxy::FailToProxy {
        error_code: code,
        can_reuse_downstream: false,
    }
}

/// Writes a gateway-made response (page, redirect, JSON) with the request id and the
/// security headers (unless the response set its own).
pub async fn write_local(
    session: &mut Session,
    response: LocalResponse,
    ctx: &RequestCtx,
) -> Result<()> {
    // Built as plain `http` parts, without pingora's header-name case map (see
    // `crate::chain::edit_response`): a dozen headers, each set once.
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = response.status;
    // A page in every language is put in its reader's, linking the portal from here.
    let body = response.body_for(Lang::of_request(session.req_header()), &ctx.portal_home());
    let headers = &mut parts.headers;
    headers.reserve(response.headers.len() + 10);
    // A planted session cookie beside the real one makes every request anonymous (see
    // `CookieJar::session_cookie`): each copy is expired, before the answer's own cookies
    // so that a session it sets (a login's) outlives the expiry.
    let jar = CookieJar::new(ctx.https());
    let req = session.req_header();
    if jar.session_cookie(req) == SessionCookie::Duplicated {
        let host = crate::host::request_host(req).map(crate::host::normalize);
        for expired in jar.expire_duplicates(&host.unwrap_or_default(), req.uri.path()) {
            headers.append(http::header::SET_COOKIE, expired);
        }
    }
    for (name, value) in response.headers {
        headers.append(name, value);
    }
    for (name, value) in security_headers(ctx.https()) {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(
        request_id::HEADER.clone(),
        ctx.request_id.header_value().clone(),
    );
    let header = ResponseHeader::from(parts);
    let head_only = session.req_header().method == http::Method::HEAD || body.is_empty();
    // A write that fails failed on the citizen's connection (he went away): his doing, not
    // a 500 (found in a soak probe: each client that reset during a portal page wrote an
    // ERROR line saying "status: 500", 3,921 in one run, while the metrics said 2xx).
    session
        .write_response_header(Box::new(header), head_only)
        .await
        .map_err(|e| e.into_down())?;
    if !head_only {
        session
            .write_response_body(Some(body), true)
            .await
            .map_err(|e| e.into_down())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Found in a soak probe: a citizen who went away while a portal page was written made
    /// pingora log an ERROR saying "status: 500" (3,921 in one run, the metrics saying 2xx).
    #[tokio::test]
    async fn a_page_the_citizen_left_before_it_was_written_is_his_doing() {
        let (mut client, server) = tokio::io::duplex(1024);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("the request");
        let mut session = Session::new_h1(Box::new(server));
        assert!(session.read_request().await.expect("a request"));
        drop(client);
        let page = LocalResponse::html(http::StatusCode::OK, "x".repeat(64 * 1024));
        let e = write_local(&mut session, page, &RequestCtx::default())
            .await
            .expect_err("the citizen is gone");
        assert!(super::super::limits::citizens_doing(&e, false), "{e}");
    }
}

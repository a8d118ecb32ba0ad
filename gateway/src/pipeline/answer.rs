//! The one place a gateway-made answer (page, redirect, JSON) is written to the citizen: with
//! the request id and the security headers.

use super::RequestCtx;
use crate::response::{security_headers, LocalResponse};
use http::HeaderName;
use pingora::http::ResponseHeader;
use pingora::prelude::*;
use pingora::proxy::Session;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Writes a gateway-made response (page, redirect, JSON) with the request id and the
/// security headers (unless the response set its own).
pub async fn write_local(
    session: &mut Session,
    response: LocalResponse,
    ctx: &RequestCtx,
) -> Result<()> {
    let mut header = ResponseHeader::build(response.status, Some(response.headers.len() + 8))?;
    for (name, value) in response.headers {
        header.append_header(name, value)?;
    }
    let https = ctx
        .snapshot
        .as_ref()
        .is_some_and(|s| s.portal.settings.public_url.https);
    for (name, value) in security_headers(https) {
        if !header.headers.contains_key(&name) {
            header.insert_header(name, value)?;
        }
    }
    header.insert_header(http::header::CONTENT_LENGTH, response.body.len())?;
    header.insert_header(X_REQUEST_ID.clone(), ctx.request_id.header_value().clone())?;
    let head_only = session.req_header().method == http::Method::HEAD || response.body.is_empty();
    session
        .write_response_header(Box::new(header), head_only)
        .await?;
    if !head_only {
        session
            .write_response_body(Some(response.body), true)
            .await?;
    }
    Ok(())
}

//! How an answer is framed toward the client that asked. Most of it is pingora's; what is
//! decided here: compression ([`crate::compression`]: on for what goes to a backend, off
//! again for a small answer) and what an HTTP/1.0 client can read.
//!
//! An HTTP/1.0 client knows neither chunked encoding nor interim answers. Pingora turns
//! every answer of unknown length (every page the adapters rewrite) into chunks, and passes
//! a legacy site's `103 Early Hints` on: such a client read chunk sizes as part of the page,
//! and took the `103` for the answer (found when tried; RFC 9112 §6.1 and RFC 9110 §15.2
//! forbid both). It gets the body delimited by the connection's close instead, no interim
//! answer, and no compression (whose output pingora also chunks), as nginx does
//! (`gzip_http_version 1.1`). Load balancers' health checks and `ab` still speak HTTP/1.0.

use crate::compression;
use crate::pipeline::RequestCtx;
use crate::response::LocalResponse;
use http::header::TRANSFER_ENCODING;
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::proxy::Session;

/// After routing, for a request going to a backend.
pub fn to_backend(session: &mut Session) {
    if !http10(session) {
        compression::offer(session);
    } else if let ServerSession::H1(h1) = session.as_downstream_mut() {
        h1.set_ignore_info_resp(true);
    }
}

/// The stages' own answer (`answer`, given to `ctx`): compressed as a legacy page is when
/// it is one of the portal's own pages ([`compressed_page`]), for a client that takes it.
/// Found when tried: the home page (5.5 KB, 1.9 KB gzipped) and the stylesheet went
/// uncompressed to every citizen on a slow phone.
pub fn answer_locally(session: &mut Session, ctx: &mut RequestCtx, answer: LocalResponse) {
    if answer.status.is_success() && compressed_page(ctx, session) && !http10(session) {
        compression::offer(session);
    }
    ctx.answer_with(answer);
}

/// The portal's pages worth compressing: its stylesheets, and the pages of the catalog
/// (home, a category, a service) asked without cookies, as on a first visit. Never a
/// refusal, which a flood may ask for by the thousand (a compressor each would be the
/// flood's lever on the gateway's CPU), nor a page with a secret of the citizen's in it (a
/// signed-in page holds the logout form's token, and a compressed secret beside text an
/// attacker can put on the page is readable from the answer's length: BREACH).
fn compressed_page(ctx: &RequestCtx, session: &Session) -> bool {
    use crate::pipeline::LocalRoute::Portal;
    use crate::portal::PortalPage::{Asset, Category, Home, Service};
    match ctx.local {
        Some(Portal(Asset)) => true,
        Some(Portal(Home | Category | Service)) => !session
            .req_header()
            .headers
            .contains_key(http::header::COOKIE),
        _ => false,
    }
}

/// On the answer's header, before it is written.
pub fn toward_client(session: &mut Session, answer: &mut ResponseHeader) {
    compression::decline_where_unfit(session, answer);
    if http10(session) && answer.headers.contains_key(TRANSFER_ENCODING) {
        answer.remove_header(&TRANSFER_ENCODING);
        // Without a length or chunks, the end of the body is the end of the connection.
        session.set_keepalive(None);
    }
}

/// On a legacy site's answer as it arrives, once `arrived` says whether it came within the
/// exchange's deadline and with few interim answers (`upstream::Attempts::answer_arrived`,
/// before the answer is reported: a refusal below must not count against the backend),
/// framed in a way the next hop reads as
/// pingora did ([`plain_framing`]), and of a bounded size ([`crate::limits::legacy_head`]).
/// A refused `304` loses its header instead of being refused: pingora serves the stored
/// answer after a 304 whatever this says, and with the 304's header as it came when this
/// fails (found when tried: a revalidation 304 with `Transfer-Encoding: identity` and the
/// portal's session cookie reached the citizen as a bare 304 with that cookie). The stored
/// answer then serves as it was.
pub fn from_legacy(
    answer: &mut ResponseHeader,
    arrived: pingora::Result<()>,
) -> pingora::Result<()> {
    let checked = arrived
        .and_then(|()| known_status(answer))
        .and_then(|()| plain_framing(answer))
        .and_then(|()| crate::limits::legacy_head(answer));
    match checked {
        Err(_) if answer.status == http::StatusCode::NOT_MODIFIED => {
            let names: Vec<http::HeaderName> = answer.headers.keys().cloned().collect();
            for name in names {
                answer.remove_header(&name);
            }
            Ok(())
        }
        other => other,
    }
}

/// A status outside 100–599 is no HTTP status (RFC 9110 §15): refused with the 502 page,
/// as a protocol error. Found when tried: a site's `999` and `600` reached citizens as they
/// were, and the access log said 999 where the metrics said 5xx.
fn known_status(answer: &ResponseHeader) -> pingora::Result<()> {
    if (100..600).contains(&answer.status.as_u16()) {
        return Ok(());
    }
    Err(pingora::Error::explain(
        pingora::ErrorType::HTTPStatus(502),
        format!(
            "the legacy site answered {}, which is no HTTP status",
            answer.status.as_u16()
        ),
    ))
}

/// A `Transfer-Encoding` other than one `chunked` field (`chunked,`, `chunked, identity`,
/// `gzip, chunked`, two fields), or any on an HTTP/1.0 answer (faulty framing, RFC 9112
/// §6.1), is refused with the 502 page, as nginx refuses an unknown transfer coding. Found
/// when tried: pingora read such a body to the connection's close but passed the field on
/// with the raw bytes, a proxy in front of the gateway read it as chunked, and the next
/// citizen's request on that pooled connection failed.
fn plain_framing(answer: &ResponseHeader) -> pingora::Result<()> {
    let mut codings = answer.headers.get_all(TRANSFER_ENCODING).iter();
    let plain = match (codings.next(), codings.next()) {
        (None, _) => true,
        (Some(v), None) => {
            v.as_bytes().eq_ignore_ascii_case(b"chunked")
                && answer.version >= http::Version::HTTP_11
        }
        _ => false,
    };
    if plain {
        return Ok(());
    }
    // Not an upstream error (the answer arrived and was counted), as the size's.
    Err(pingora::Error::explain(
        pingora::ErrorType::HTTPStatus(502),
        "the legacy site's answer is framed by a transfer coding other than chunked, or by one on HTTP/1.0",
    ))
}

/// Whether the client speaks HTTP/1.0 (or 0.9).
fn http10(session: &Session) -> bool {
    session.req_header().version < http::Version::HTTP_11
}

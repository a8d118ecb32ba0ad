//! The instrument endpoints every site has under `P/__estate/`: echo, delay,
//! status, websocket, blob, big page, a cacheable answer with its fetch counter, and an
//! answer with the response headers the test names (what a hostile legacy site would send).
//!
//! They let tests and benchmarks drive the gateway against a known legacy
//! behaviour. The site's access gates apply to them, but not its chaos
//! (latency, 502s) nor its caching headers and cookies: instrument responses
//! are `Cache-Control: no-store` so a caching gateway cannot hide a request.

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures_util::stream;

use crate::headers::SITE_HEADER;
use crate::large;
use crate::query;
use crate::respond::{self, add_header};
use crate::sites::Site;
use crate::{echo, ws};

/// Longest sleep `delay` accepts.
const MAX_DELAY_MS: u64 = 120_000;
/// Largest `blob` served.
const MAX_BLOB_BYTES: u64 = 1 << 30;
/// Largest `big` page served, in megabytes.
const MAX_BIG_MB: u64 = 1_024;
const BLOB_PIECE: usize = 64 * 1024;

/// Serves `rest`, the path after `P/__estate`.
pub(crate) async fn handle(
    site: &'static Site,
    site_index: usize,
    rest: &str,
    request: Request,
) -> Response {
    let query = request.uri().query().map(str::to_string);
    let query = query.as_deref();
    let method = request.method().clone();
    let mut response = match rest {
        "/echo" => echo::echo(site, request).await,
        _ if rest.starts_with("/echo/") => echo::echo(site, request).await,
        "/ws" => ws::upgrade(site, request).await,
        _ if !matches!(method, Method::GET | Method::HEAD) => {
            respond::text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only")
        }
        "/delay" => {
            let ms = number(query, "ms").unwrap_or(0).min(MAX_DELAY_MS);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            respond::text(StatusCode::OK, format!("slept {ms} ms\n"))
        }
        "/cacheable" => {
            let headers = request.headers().clone();
            crate::cacheable::cacheable(site, query, &headers).await
        }
        "/fetches" => crate::cacheable::fetches(&request),
        "/failing" => crate::cacheable::failing(&request),
        "/blob" => blob(number(query, "bytes").unwrap_or(1024).min(MAX_BLOB_BYTES)),
        "/headers" => with_headers(query),
        "/big" => {
            let mb = number(query, "mb").unwrap_or(1).min(MAX_BIG_MB);
            large::page(site, site_index, "Archives des dossiers", mb * 1024 * 1024)
        }
        _ => match rest.strip_prefix("/status/").map(str::parse::<u16>) {
            Some(Ok(code)) => status(code),
            _ => respond::text(
                StatusCode::NOT_FOUND,
                format!("no estate instrument at {rest}"),
            ),
        },
    };
    add_header(&mut response, SITE_HEADER, &site.id);
    // `cacheable` says exactly what the test asked for, nothing more.
    if rest != "/cacheable" && !response.headers().contains_key(header::CACHE_CONTROL) {
        add_header(&mut response, "cache-control", "no-store");
    }
    response
}

/// `headers?set=Name:Value&set=...`: a small page answered with those response headers
/// (malformed ones are left out).
fn with_headers(query: Option<&str>) -> Response {
    let mut response = respond::with_body(
        StatusCode::OK,
        "text/html; charset=utf-8",
        "<html><body><p>headers</p></body></html>\n",
    );
    for set in query::params(query, "set") {
        let Some((name, value)) = set.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

fn number(query: Option<&str>, name: &str) -> Option<u64> {
    query::param(query, name).and_then(|v| v.trim().parse().ok())
}

/// A response with `code` and a small HTML body.
fn status(code: u16) -> Response {
    let status = match StatusCode::from_u16(code) {
        Ok(status) if (200..=599).contains(&code) => status,
        _ => {
            return respond::text(
                StatusCode::BAD_REQUEST,
                format!("status {code} is not in 200..=599"),
            )
        }
    };
    let reason = status.canonical_reason().unwrap_or("Unknown");
    if matches!(code, 204 | 205 | 304) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        return response;
    }
    respond::with_body(
        status,
        "text/html; charset=utf-8",
        format!("<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>\n"),
    )
}

/// `bytes` of `text/plain`, streamed from a shared buffer with a `Content-Length`.
fn blob(bytes: u64) -> Response {
    static PIECE: OnceLock<Bytes> = OnceLock::new();
    let piece = PIECE
        .get_or_init(|| {
            let line =
                b"egov-estate blob 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTU\n";
            Bytes::from(
                line.iter()
                    .copied()
                    .cycle()
                    .take(BLOB_PIECE)
                    .collect::<Vec<u8>>(),
            )
        })
        .clone();
    let chunks = stream::unfold(bytes, move |left| {
        let piece = piece.clone();
        async move {
            if left == 0 {
                return None;
            }
            let take = left.min(BLOB_PIECE as u64) as usize;
            Some((
                Ok::<Bytes, std::convert::Infallible>(piece.slice(..take)),
                left - take as u64,
            ))
        }
    });
    let mut response = respond::with_body(StatusCode::OK, "text/plain", Body::from_stream(chunks));
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
    response
}

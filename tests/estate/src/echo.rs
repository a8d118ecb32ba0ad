//! The echo instrument (`ANY P/__estate/echo[/...]`): answers with a JSON
//! picture of the request exactly as it reached the legacy side — host,
//! method, path, query, headers, cookies and body — so integration tests can
//! check what the gateway added, removed or rewrote.

use std::collections::BTreeMap;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::json;

use crate::headers::request_cookies;
use crate::respond;
use crate::sites::Site;

/// How much of the body is reflected (the full length is always reported).
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// Reflects `request` as JSON.
pub(crate) async fn echo(site: &Site, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        headers
            .entry(name.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let mut cookies: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in request_cookies(&parts.headers) {
        cookies.entry(name).or_insert(value);
    }
    let host = parts
        .headers
        .get(header::HOST)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));

    let mut kept = Vec::new();
    let mut body_len: u64 = 0;
    let mut data = body.into_data_stream();
    while let Some(chunk) = data.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                return respond::text(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read request body: {error}"),
                )
            }
        };
        body_len += chunk.len() as u64;
        let room = BODY_LIMIT.saturating_sub(kept.len());
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    let value = json!({
        "site": site.id,
        "host": host,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "cookies": cookies,
        "body": String::from_utf8_lossy(&kept),
        "body_len": body_len,
    });
    respond::json(StatusCode::OK, &value)
}

//! `P/__estate/cacheable`: an answer whose caching headers the test chooses, and which says
//! how many times the site really produced it, so a test can tell a cache hit from a fetch.
//!
//! Query: `tag` (the counter's name; each test uses its own), `cc` (`Cache-Control`),
//! `etag` (answers `304` to a matching `If-None-Match`), `vary`, `cookie` (adds a
//! `Set-Cookie`), `expires`, `delay_ms` (a slow site), `pad` (the page's size in bytes). The body names the fetch number, the `Accept-Language`, and
//! whether a `Cookie`, an `Authorization` or an identity assertion reached the site, and the
//! `X-Forwarded-Host` it was given.
//! `P/__estate/fetches?tag=T` reads the counter without moving it;
//! `P/__estate/failing?tag=T&on=1` makes `cacheable` answer `503` for that tag until `on=0`.

use crate::query;
use crate::respond::{self, add_header};
use crate::sites::Site;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

#[derive(Default)]
struct Tag {
    fetches: u64,
    failing: bool,
}

fn tags() -> &'static Mutex<HashMap<String, Tag>> {
    static TAGS: OnceLock<Mutex<HashMap<String, Tag>>> = OnceLock::new();
    TAGS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn with_tag<T>(tag: &str, f: impl FnOnce(&mut Tag) -> T) -> T {
    let mut map = tags().lock().unwrap_or_else(|p| p.into_inner());
    f(map.entry(tag.to_string()).or_default())
}

fn yes(h: &HeaderMap, name: &str) -> &'static str {
    if h.contains_key(name) {
        "yes"
    } else {
        "no"
    }
}

pub(crate) async fn cacheable(site: &Site, q: Option<&str>, headers: &HeaderMap) -> Response {
    let tag = query::param(q, "tag").unwrap_or_default();
    let failing = with_tag(&tag, |t| t.failing);
    if failing {
        return respond::text(StatusCode::SERVICE_UNAVAILABLE, "down for maintenance\n");
    }
    let etag = query::param(q, "etag").map(|e| format!("\"{e}\""));
    if let (Some(etag), Some(inm)) = (&etag, headers.get(header::IF_NONE_MATCH)) {
        // If-None-Match compares weakly (RFC 9110 §13.1.2): W/"v1" matches "v1".
        let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
        if inm
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| weak(t) == *etag || t.trim() == "*"))
        {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            add_header(&mut r, "etag", etag);
            if let Some(cc) = query::param(q, "cc") {
                add_header(&mut r, "cache-control", &cc);
            }
            add_header(&mut r, "x-estate-revalidated", "yes");
            return r;
        }
    }
    if let Some(ms) = query::param(q, "delay_ms").and_then(|v| v.parse::<u64>().ok()) {
        tokio::time::sleep(std::time::Duration::from_millis(ms.min(10_000))).await;
    }
    let n = with_tag(&tag, |t| {
        t.fetches += 1;
        t.fetches
    });
    let lang = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    // Written as sent, as a careless legacy site would.
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let mut body = format!(
        "<!DOCTYPE html><html><body><p id=\"fetch\">fetch {n} of {tag}</p><p id=\"lang\">{lang}</p><p id=\"accept\">{accept}</p>\
         <p id=\"cookie\">cookie: {}</p><p id=\"authorization\">authorization: {}</p>\
         <p id=\"identity\">identity: {}</p><p id=\"host\">forwarded host: {}</p><p id=\"override\">url override: {}</p>\
         <p id=\"query\">query: {}</p></body></html>\n",
        yes(headers, "cookie"),
        yes(headers, "authorization"),
        yes(headers, "x-egov-identity"),
        headers
            .get("x-forwarded-host")
            .and_then(|v| v.to_str().ok())
            .map(crate::html::escape)
            .unwrap_or_else(|| "-".into()),
        yes(headers, "x-original-url"),
        crate::html::escape(q.unwrap_or("")),
    );
    // `pad`: a page of (at least) that many bytes, for benchmarks.
    if let Some(pad) = query::param(q, "pad").and_then(|v| v.parse::<usize>().ok()) {
        let missing = pad.min(1 << 20).saturating_sub(body.len() + 9);
        body.push_str(&format!("<!--{}-->\n", "x".repeat(missing)));
    }
    let mut r = respond::html(site, StatusCode::OK, &body);
    // `type`: another content type than a page's (a script, a style, JSON).
    if let Some(t) = query::param(q, "type").and_then(|t| header::HeaderValue::from_str(&t).ok()) {
        r.headers_mut().insert(header::CONTENT_TYPE, t);
    }
    add_header(&mut r, "x-estate-fetch", &n.to_string());
    if let Some(cc) = query::param(q, "cc") {
        add_header(&mut r, "cache-control", &cc);
    }
    if let Some(e) = &etag {
        add_header(&mut r, "etag", e);
    }
    if let Some(v) = query::param(q, "vary") {
        add_header(&mut r, "vary", &v);
    }
    if let Some(e) = query::param(q, "expires") {
        add_header(&mut r, "expires", &e);
    }
    if query::param(q, "cookie").is_some() {
        add_header(&mut r, "set-cookie", "JSESSIONID=fresh-session; Path=/");
    }
    r
}

pub(crate) fn fetches(request: &Request) -> Response {
    let tag = query::param(request.uri().query(), "tag").unwrap_or_default();
    let n = with_tag(&tag, |t| t.fetches);
    respond::text(StatusCode::OK, format!("{n}\n"))
}

pub(crate) fn failing(request: &Request) -> Response {
    let q = request.uri().query();
    let tag = query::param(q, "tag").unwrap_or_default();
    let on = query::param(q, "on").as_deref() == Some("1");
    with_tag(&tag, |t| t.failing = on);
    respond::text(StatusCode::OK, format!("{tag} failing: {on}\n"))
}

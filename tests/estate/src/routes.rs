//! What one legacy site does with a request once the estate has picked it:
//! access gates, then either an instrument endpoint (no chaos) or the site's
//! own pipeline — seeded chaos (latency, 502), Java session, the page itself,
//! and the site's response headers (banner, caching, legacy cookies).
//!
//! The page table lives here too: which paths below the base path exist on
//! which site, and the redirects of `self-redirects` and `absolute-forms`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::chaos::{flaky_failure, slow_latency};
use crate::charset::Charset;
use crate::headers::{apply_site_headers, request_cookies, SITE_HEADER};
use crate::html::Links;
use crate::options::EstateOptions;
use crate::respond::{self, add_header};
use crate::sessions::{self, Sessions, Visit};
use crate::sites::{sites, Quirk, Site};
use crate::{assets, error_pages, gates, instrument, large, pages, query, ranges, soap};

/// Largest request body a page (form post, SOAP call) reads.
const PAGE_BODY_LIMIT: usize = 1024 * 1024;

/// The estate's shared state: options and per-site counters and sessions.
#[derive(Debug)]
pub(crate) struct Estate {
    pub(crate) options: EstateOptions,
    pub(crate) identity: Option<crate::identity::IdentityVerifier>,
    sites: Vec<SiteState>,
}

#[derive(Debug, Default)]
struct SiteState {
    /// Requests that went through the chaos step (numbers the decisions).
    requests: AtomicU64,
    sessions: Sessions,
}

impl Estate {
    pub(crate) fn new(options: EstateOptions) -> Self {
        Estate {
            identity: options
                .portal
                .as_deref()
                .map(crate::identity::IdentityVerifier::new),
            options,
            sites: sites().iter().map(|_| SiteState::default()).collect(),
        }
    }
}

/// Serves `request` on the site at `index` of the catalog.
pub(crate) async fn site_request(estate: Arc<Estate>, index: usize, request: Request) -> Response {
    let (Some(site), Some(state)) = (sites().get(index), estate.sites.get(index)) else {
        return respond::text(StatusCode::NOT_FOUND, "no such site");
    };
    let path = request.uri().path().to_string();
    let rel = path.get(site.base().len()..).unwrap_or("");

    if let Some(mut refusal) = gates::check(site, request.headers()) {
        apply_site_headers(site, &mut refusal);
        return refusal;
    }
    if let Some(rest) = rel.strip_prefix("/__estate") {
        if rest.is_empty() || rest.starts_with('/') {
            if rest == "/whoami" {
                return crate::identity::whoami(estate.identity.as_ref(), site, request).await;
            }
            return instrument::handle(site, index, rest, request).await;
        }
    }

    let options = &estate.options;
    let n = state.requests.fetch_add(1, Ordering::Relaxed);
    if site.has(Quirk::Slow) {
        let delay = options.latency.apply(slow_latency(options.seed, index, n));
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    if options.flaky && site.has(Quirk::Flaky) && flaky_failure(options.seed, index, n) {
        let mut response = error_pages::bad_gateway(site);
        add_header(&mut response, SITE_HEADER, &site.id);
        return response;
    }

    let visit = site.has(Quirk::Jsessionid).then(|| {
        let cookies = request_cookies(request.headers());
        let candidates = cookies
            .iter()
            .filter(|(name, _)| name == sessions::COOKIE)
            .map(|(_, value)| value.as_str());
        state.sessions.visit(options.seed, index, candidates)
    });
    let mut response = page(site, index, rel, request, visit.as_ref()).await;
    if let Some(visit) = visit.filter(|v| v.new) {
        add_header(
            &mut response,
            "set-cookie",
            &format!("{}={}; Path=/; HttpOnly", sessions::COOKIE, visit.id),
        );
    }
    apply_site_headers(site, &mut response);
    response
}

/// The site's own answer for `rel` (the path below its base).
async fn page(
    site: &'static Site,
    index: usize,
    rel: &str,
    request: Request,
    visit: Option<&Visit>,
) -> Response {
    let links = Links::new(site);
    let method = request.method().clone();
    let range_request = ranges::request_of(request.headers());
    let query = request.uri().query().map(str::to_string);
    let query = query.as_deref();

    if rel == "/ws" && site.has(Quirk::Soap) {
        let (parts, body) = request.into_parts();
        return match axum::body::to_bytes(body, PAGE_BODY_LIMIT).await {
            Ok(body) => soap::handle(site, &parts.method, query, &parts.headers, &body),
            Err(_) => respond::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        };
    }
    if rel == "/submit" {
        if method != Method::POST {
            return error_pages::method_not_allowed(site, "POST");
        }
        // Read (and drop) the form so the connection stays reusable.
        if axum::body::to_bytes(request.into_body(), PAGE_BODY_LIMIT)
            .await
            .is_err()
        {
            return respond::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        let location = if site.has(Quirk::AbsoluteForms) {
            links.own("merci")
        } else {
            format!("{}/merci", site.base())
        };
        return respond::redirect(StatusCode::FOUND, &location);
    }
    if !matches!(method, Method::GET | Method::HEAD | Method::POST) {
        return error_pages::method_not_allowed(site, "GET, HEAD, POST");
    }
    if method == Method::POST
        && axum::body::to_bytes(request.into_body(), PAGE_BODY_LIMIT)
            .await
            .is_err()
    {
        return respond::text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    }

    let self_redirects = site.has(Quirk::SelfRedirects);
    let frames = site.has(Quirk::Frames);
    // Pages honour byte ranges, as the sites' Apache did.
    let ok = |html: String| {
        let charset = Charset::of(site);
        ranges::page(
            StatusCode::OK,
            charset.html_content_type(),
            charset.encode(&html),
            &range_request,
        )
    };
    match rel {
        "" | "/" if self_redirects => respond::redirect(StatusCode::FOUND, &links.own("accueil")),
        "" | "/" | "/accueil" | "/accueil.html" => {
            let mut response = ok(if frames {
                pages::frameset(site)
            } else {
                pages::home(site)
            });
            if self_redirects && rel == "/accueil" {
                add_header(
                    &mut response,
                    "content-location",
                    &links.own("accueil.html"),
                );
            }
            response
        }
        "/login" if self_redirects => {
            respond::redirect(StatusCode::FOUND, &links.own("accueil?from=login"))
        }
        "/login" => ok(pages::login(site)),
        "/deconnexion" => {
            let mut response = ok(pages::deconnexion(site));
            if self_redirects {
                add_header(
                    &mut response,
                    "refresh",
                    &format!("5; url={}", links.own("accueil")),
                );
            }
            response
        }
        "/demande" => ok(pages::demande(site)),
        "/suivi" => ok(pages::suivi(site, query::param(query, "ref").as_deref())),
        "/merci" => ok(pages::merci(site)),
        "/contact" => ok(pages::contact(site)),
        "/plan" => ok(pages::plan(site)),
        "/menu" if frames => ok(pages::menu(site)),
        "/contenu" if frames => ok(pages::contenu(site)),
        "/carte" if frames => ok(pages::carte(site)),
        "/releve" if site.has(Quirk::LargePages) => large::page(
            site,
            index,
            "Relevé complet des dossiers",
            large::RELEVE_BYTES,
        ),
        "/session" => session_report(site, visit),
        _ => assets::asset(site, rel).unwrap_or_else(|| error_pages::not_found(site, rel)),
    }
}

/// `P/session`: the session this request was served in, as JSON.
fn session_report(site: &Site, visit: Option<&Visit>) -> Response {
    let value = json!({
        "site": site.id,
        "jsessionid": visit.map(|v| v.id.as_str()),
        "visits": visit.map_or(0, |v| v.visits),
        "new": visit.is_some_and(|v| v.new),
    });
    let mut response = respond::json(StatusCode::OK, &value);
    response.headers_mut().remove(header::CACHE_CONTROL);
    response
}

//! Answers the gateway writes itself, whichever room decided them: [`LocalResponse`] (a
//! status, headers and a body, written by the proxy in one place), the error pages a citizen
//! sees when something went wrong (in Arabic, Amazigh, French and English, always with a body and the
//! request id to quote to support), and the HTML helpers they share.
//!
//! Every room may use this one (SSO, intent routing, the SOAP facade, the proxy's stages);
//! it uses none of them, so it sits below all of them.

pub mod assets;
mod error_page;
mod failure;
mod html;
mod security;

pub use error_page::{
    error_page, error_page_answered_as, login_again_page, session_ended_page, ErrorKind,
    BACK_TO_THE_PORTAL,
};
pub use failure::failure_kind;
pub use html::{escape, frame, frame_context, in_every_language, template_env};
pub use security::{security_headers, strict_transport_security, CONTENT_SECURITY_POLICY_VALUE};

use crate::lang::Lang;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, StatusCode};
use std::sync::Arc;

/// A response the gateway writes without contacting a backend.
#[derive(Debug, Clone)]
pub struct LocalResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// A page written in every language, which the one writer renders again in the
    /// reader's language and with the portal's address as seen from where it is served
    /// (when those differ from what `body` was rendered for).
    pub page: Option<LocalizedPage>,
}

/// A page the gateway writes in every language (the error pages, the logout page). It is
/// decided deep inside a room that knows neither the reader's language nor where the page
/// is served (the SSO's refusals, the portal's), and rendered again where it is written
/// (`pipeline::write_local`): in the reader's language first, with a way back to the portal
/// that leads there (a service origin's `/` is the service: a refusal's "back to the
/// portal" reloaded the refusal, found when tried).
pub trait Localized: std::fmt::Debug + Send + Sync {
    /// The page in `lang` (its `<html lang>`, title and first section), linking the portal
    /// as `home`.
    fn render(&self, lang: Lang, home: &str) -> Bytes;
}

/// A [`Localized`] page and what its response's body was rendered for.
#[derive(Debug, Clone)]
pub struct LocalizedPage {
    page: Arc<dyn Localized>,
    lang: Lang,
    home: String,
}

impl LocalizedPage {
    /// The body for a reader of `lang` seeing the portal as `home`; `None` when the body
    /// rendered already is that one.
    pub fn body_for(&self, lang: Lang, home: &str) -> Option<Bytes> {
        (lang != self.lang || home != self.home).then(|| self.page.render(lang, home))
    }
}

impl LocalResponse {
    /// An HTML page that must not be cached by shared caches.
    pub fn html(status: StatusCode, body: String) -> Self {
        Self::html_bytes(status, Bytes::from(body))
    }

    /// Like [`LocalResponse::html`], for a page rendered once and served many times (the
    /// body is shared, not copied).
    pub fn html_bytes(status: StatusCode, body: Bytes) -> Self {
        Self {
            status,
            headers: vec![
                (
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ),
            ],
            body,
            page: None,
        }
    }

    /// Marks this answer's body as `page` rendered in `lang` linking `home`, so that its
    /// writer may render it again for its reader ([`Localized`]).
    pub fn localized(mut self, page: Arc<dyn Localized>, lang: Lang, home: &str) -> Self {
        self.page = Some(LocalizedPage {
            page,
            lang,
            home: home.to_owned(),
        });
        self
    }

    /// The body for a reader of `lang` seeing the portal as `home`: a page written in every
    /// language ([`Self::localized`]) rendered for her, else the body as it is.
    pub fn body_for(&self, lang: Lang, home: &str) -> Bytes {
        self.page
            .as_ref()
            .and_then(|page| page.body_for(lang, home))
            .unwrap_or_else(|| self.body.clone())
    }

    /// A small JSON document (API clients get JSON errors, not pages).
    pub fn json(status: StatusCode, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![
                (
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ),
            ],
            body: Bytes::from(value.to_string()),
            page: None,
        }
    }

    /// The JSON error every gateway API answers with: `{"error": code, "error_description":
    /// description}` (OAuth 2.0's shape, so clients parse one format everywhere).
    pub fn json_error(status: StatusCode, code: &str, description: impl Into<String>) -> Self {
        Self::json(
            status,
            &serde_json::json!({ "error": code, "error_description": description.into() }),
        )
    }

    /// A 405 for an endpoint that only takes `POST`, with the `Allow` header RFC 9110 asks
    /// for and a JSON body saying what to send instead.
    pub fn post_only(code: &str, description: impl Into<String>) -> Self {
        Self::json_error(StatusCode::METHOD_NOT_ALLOWED, code, description)
            .with_header(http::header::ALLOW, HeaderValue::from_static("POST"))
    }

    /// Adds a header (e.g. `Set-Cookie`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Adds `name` once with each of `values` (none, one or several: an `Option` or a `Vec`).
    pub fn with_headers(
        mut self,
        name: HeaderName,
        values: impl IntoIterator<Item = HeaderValue>,
    ) -> Self {
        self.headers
            .extend(values.into_iter().map(|v| (name.clone(), v)));
        self
    }

    /// Adds `Retry-After: <secs>` (at least 1: `0` would invite a retry at once).
    pub fn with_retry_after_secs(self, secs: u64) -> Self {
        let value = HeaderValue::from(secs.max(1));
        self.with_header(http::header::RETRY_AFTER, value)
    }

    /// A redirect of a request with `method`: 301/302 for GET and HEAD, 308/307 for any
    /// other, which browsers send again with its method and body (a form posted to an old
    /// address answered 301 was sent again as a GET, without the file; RFC 9110 §15.4.2).
    pub fn redirect_of(method: &http::Method, permanent: bool, location: &str) -> Self {
        let mut answer = Self::redirect(permanent, location);
        if !matches!(*method, http::Method::GET | http::Method::HEAD) {
            answer.status = if permanent {
                StatusCode::PERMANENT_REDIRECT
            } else {
                StatusCode::TEMPORARY_REDIRECT
            };
        }
        answer
    }

    /// A redirect with an empty body.
    pub fn redirect(permanent: bool, location: &str) -> Self {
        let status = if permanent {
            StatusCode::MOVED_PERMANENTLY
        } else {
            StatusCode::FOUND
        };
        let mut headers = Vec::with_capacity(1);
        if let Ok(v) = HeaderValue::from_str(location) {
            headers.push((http::header::LOCATION, v));
        }
        Self {
            status,
            headers,
            body: Bytes::new(),
            page: None,
        }
    }
}

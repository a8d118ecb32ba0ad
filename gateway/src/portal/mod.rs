//! The citizen portal: the pages the gateway serves itself, in Arabic (default), Amazigh,
//! French and English ([`lang`], [`text`]).
//!
//! - `/`: the "what do you need?" box, the most used services, the categories;
//! - `/categories/<id>`, `/services/<id>`: one page per category and per service, with the
//!   service's live status from the status board and the way in;
//! - `/search`: the box's answer, from the intent router (a form: no JavaScript needed),
//!   with a "not what I meant" form posting to `/feedback` ([`feedback`]). The box posts
//!   its query and is sent to `/search?t=<sealed>`, an address that says nothing of it
//!   ([`crate::assist::sealed`], [`sealed_search`]); `/search?q=` is still read, for links;
//! - `/lang?set=<code>&back=<path>`: the language switcher on every page (a cookie), also
//!   at [`lang::ORIGIN_SWITCH_PATH`] on each service origin;
//! - `/assets/<name>.<hash>.css`: the stylesheets (see [`crate::response::assets`]).
//!
//! Pages depend on the registry snapshot, the language and the status board, so each is
//! rendered once per (snapshot, status sample, language) and shared; a request adds only
//! its login slot ([`login`]). The registry knows nothing of pages: the portal follows
//! whichever snapshot a request was routed with.

pub mod cross_site;
pub mod feedback;
pub mod lang;
mod login;
pub mod pages;
pub mod sealed_search;
pub mod strip;
pub mod text;

use crate::assist::{Assist, Outcome};
use crate::config::Category;
use crate::registry::Snapshot;
use crate::request_body::BodyPace;
use crate::response::{self, error_page, ErrorKind, LocalResponse};
use crate::sso::Sso;
use crate::telemetry::Telemetry;
use arc_swap::ArcSwapOption;
use bytes::{Bytes, BytesMut};
use feedback::{FeedbackEntry, FeedbackLog};
use http::{HeaderValue, Method, StatusCode};
use lang::Lang;
use pages::{Pages, LOGIN_SLOT};
use pingora::proxy::Session as HttpSession;
use sealed_search::{Binding, SEALED_PAGE};
use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

/// How a path is written into a link's query (the login's and the language switcher's
/// way back): every byte but letters, digits and the other unreserved characters of
/// RFC 3986 (`-`, `.`, `_`, `~`) escaped. A sealed search's address is mostly base64url,
/// whose `-` and `_` would otherwise take three bytes each, and its links must pass the
/// request-target limit ([`sealed_search`]).
pub(crate) const WAY_BACK: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A page of the portal, as its path names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalPage {
    Home,
    Category,
    Service,
    Search,
    Language,
    Asset,
    Feedback,
}

impl PortalPage {
    /// The page a portal path names, if any.
    pub fn from_path(path: &str) -> Option<Self> {
        Some(match path {
            "/" => Self::Home,
            "/search" => Self::Search,
            "/lang" => Self::Language,
            "/feedback" => Self::Feedback,
            p if p.starts_with("/categories/") => Self::Category,
            p if p.starts_with("/services/") => Self::Service,
            p if p.starts_with(response::assets::PREFIX) => Self::Asset,
            _ => return None,
        })
    }

    /// The route label in metrics and traces.
    pub fn label(self) -> &'static str {
        match self {
            Self::Home => "/",
            Self::Category => "/categories/*",
            Self::Service => "/services/*",
            Self::Search => "/search",
            Self::Language => "/lang",
            Self::Asset => "/assets/*",
            Self::Feedback => "/feedback",
        }
    }
}

/// Which cached page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Home,
    Category(Category),
    Service(String),
}

/// A rendered page, split around its login slot.
struct Split {
    head: Bytes,
    tail: Bytes,
}

/// The pages rendered for one snapshot and one status sample. The `Weak` keeps that
/// snapshot's allocation from being reused while the set lives, so pointer equality cannot
/// mistake a new snapshot for it.
struct PageSet {
    snapshot: Weak<Snapshot>,
    epoch: u64,
    pages: RwLock<HashMap<(Key, Lang), Arc<Split>>>,
    /// Portal strips, by service (its address in the snapshot), language and login state.
    strips: RwLock<HashMap<(usize, Lang, bool), Arc<str>>>,
}

/// How many status samples a rendered page lives (samples come every 5 s: 30 s).
const SAMPLES_PER_EPOCH: u64 = 6;
/// Largest `/feedback` form accepted.
const MAX_FEEDBACK_BYTES: usize = 8 * 1024;
/// Largest search form accepted: the longest query the router takes, each character
/// percent-encoded at four bytes, fits.
const MAX_SEARCH_FORM_BYTES: usize = 16 * 1024;
/// The only body the forms of the portal send.
const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// What the portal needs from the other rooms.
pub struct PortalDeps {
    pub sso: Arc<Sso>,
    pub assist: Arc<Assist>,
    pub telemetry: Arc<Telemetry>,
    pub feedback: Arc<FeedbackLog>,
    /// Cookies get `Secure` (the portal is HTTPS).
    pub https: bool,
}

/// The citizen portal.
pub struct Portal {
    pages: Pages,
    rendered: ArcSwapOption<PageSet>,
    deps: PortalDeps,
}

impl Portal {
    pub fn new(deps: PortalDeps) -> Self {
        Self {
            // The templates are part of the binary, and a unit test renders every one.
            pages: Pages::new().expect("the portal's templates compile"),
            rendered: ArcSwapOption::empty(),
            deps,
        }
    }

    /// Where "not what I meant" answers are kept (the admin API reads them; the server's
    /// sweep forgets them after [`feedback::KEEP`]).
    pub fn feedback(&self) -> &Arc<FeedbackLog> {
        &self.deps.feedback
    }

    /// Answers one portal request, from `asker` (the citizen's address key, which the
    /// router's LLM breaker counts a steered answer against), whose calls to the LLM come
    /// out of `budget`.
    pub async fn answer(
        &self,
        page: PortalPage,
        http: &mut HttpSession,
        snap: &Arc<Snapshot>,
        request_id: &str,
        asker: Option<std::net::IpAddr>,
        budget: &dyn crate::assist::LlmBudget,
    ) -> LocalResponse {
        let method = http.req_header().method.clone();
        let (reads, posts) = match page {
            PortalPage::Feedback => (false, true),
            // The box posts its query; a link to `/search?q=` is read.
            PortalPage::Search => (true, true),
            _ => (true, false),
        };
        let reading = method == Method::GET || method == Method::HEAD;
        if !(reads && reading || posts && method == Method::POST) {
            let allow = match (reads, posts) {
                (true, true) => "GET, HEAD, POST",
                (false, _) => "POST",
                _ => "GET, HEAD",
            };
            return error_page(ErrorKind::MethodNotAllowed, request_id)
                .with_header(http::header::ALLOW, HeaderValue::from_static(allow));
        }
        let path = http.req_header().uri.path().to_string();
        let lang = Lang::of_request(http.req_header());
        let result = match page {
            PortalPage::Asset => {
                let etag = http
                    .req_header()
                    .headers
                    .get(http::header::IF_NONE_MATCH)
                    .map(|v| v.as_bytes().to_vec());
                return response::assets::serve(&path, etag.as_deref())
                    .unwrap_or_else(|| error_page(ErrorKind::NotFound, request_id));
            }
            PortalPage::Language => return self.switch_language(http, request_id),
            PortalPage::Home => self.cached(http, snap, Key::Home, lang).await,
            PortalPage::Category => {
                let id = path.trim_start_matches("/categories/");
                match Category::parse(id) {
                    Ok(c) => self.cached(http, snap, Key::Category(c), lang).await,
                    Err(_) => return error_page(ErrorKind::NotFound, request_id),
                }
            }
            PortalPage::Service => {
                let id = path.trim_start_matches("/services/");
                if snap.service(id).is_none() {
                    return error_page(ErrorKind::NotFound, request_id);
                }
                self.cached(http, snap, Key::Service(id.to_string()), lang)
                    .await
            }
            PortalPage::Search if method == Method::POST => {
                return self.seal_search(http, snap, request_id).await;
            }
            PortalPage::Search => self.search(http, snap, lang, asker, budget).await,
            PortalPage::Feedback => self.record_feedback(http, snap, lang, request_id).await,
        };
        match result {
            Ok(answer) => answer,
            Err(e) => {
                tracing::error!(error = %e, ?page, "a portal page did not render");
                error_page(ErrorKind::Internal, request_id)
            }
        }
    }

    /// A page from the cache (rendered on the first request for it after a swap or a
    /// status sample), with this request's login slot.
    async fn cached(
        &self,
        http: &HttpSession,
        snap: &Arc<Snapshot>,
        key: Key,
        lang: Lang,
    ) -> Result<LocalResponse, minijinja::Error> {
        let split = self.split_page(snap, key, lang)?;
        let slot = self.login_slot(http, lang).await;
        let mut body = BytesMut::with_capacity(split.head.len() + slot.len() + split.tail.len());
        body.extend_from_slice(&split.head);
        body.extend_from_slice(slot.as_bytes());
        body.extend_from_slice(&split.tail);
        Ok(page_response(StatusCode::OK, body.freeze(), lang))
    }

    /// The portal strip for `service`'s pages (see [`strip`]): its variant number and HTML,
    /// rendered once per snapshot and variant.
    pub fn strip(
        &self,
        snap: &Arc<Snapshot>,
        service: &Arc<crate::registry::Service>,
        req: &pingora::http::RequestHeader,
        logged_in: bool,
    ) -> (u8, Arc<str>) {
        let lang = Lang::of_request(req);
        let set = self.page_set(snap);
        let key = (Arc::as_ptr(service) as usize, lang, logged_in);
        let variant = strip::variant(lang, logged_in);
        if let Some(found) = set.strips.read().ok().and_then(|m| m.get(&key).cloned()) {
            return (variant, found);
        }
        let keep_alive = strip::KeepAlive {
            idle_secs: self.deps.sso.idle_timeout().as_secs(),
        };
        let html: Arc<str> = Arc::from(strip::render(snap, service, lang, logged_in, keep_alive));
        if let Ok(mut m) = set.strips.write() {
            m.insert(key, Arc::clone(&html));
        }
        (variant, html)
    }

    /// The rendered pages of `snap` at the current status sample (a new, empty set after a
    /// swap or a sample).
    fn page_set(&self, snap: &Arc<Snapshot>) -> Arc<PageSet> {
        let epoch = self.deps.telemetry.status.generation() / SAMPLES_PER_EPOCH;
        match &*self.rendered.load() {
            Some(set)
                if std::ptr::eq(set.snapshot.as_ptr(), Arc::as_ptr(snap)) && set.epoch == epoch =>
            {
                Arc::clone(set)
            }
            _ => {
                let set = Arc::new(PageSet {
                    snapshot: Arc::downgrade(snap),
                    epoch,
                    pages: RwLock::new(HashMap::new()),
                    strips: RwLock::new(HashMap::new()),
                });
                self.rendered.store(Some(Arc::clone(&set)));
                set
            }
        }
    }

    fn split_page(
        &self,
        snap: &Arc<Snapshot>,
        key: Key,
        lang: Lang,
    ) -> Result<Arc<Split>, minijinja::Error> {
        let set = self.page_set(snap);
        let cache_key = (key, lang);
        if let Some(found) = set
            .pages
            .read()
            .ok()
            .and_then(|p| p.get(&cache_key).cloned())
        {
            return Ok(found);
        }
        // Two first requests may both render; either result is the same page.
        let html = match &cache_key.0 {
            Key::Home => self
                .pages
                .home(snap, lang, &self.deps.telemetry.status.snapshot())?,
            Key::Category(c) => self.pages.category(snap, lang, *c)?,
            Key::Service(id) => {
                let health = self
                    .deps
                    .telemetry
                    .status
                    .snapshot()
                    .into_iter()
                    .find(|s| &s.service == id)
                    .map_or("idle", |s| s.health);
                match snap.service(id) {
                    Some(s) => self.pages.service(snap, lang, s, health)?,
                    None => String::new(),
                }
            }
        };
        let (head, tail) = html.split_once(LOGIN_SLOT).unwrap_or((&html, ""));
        let split = Arc::new(Split {
            head: Bytes::copy_from_slice(head.as_bytes()),
            tail: Bytes::copy_from_slice(tail.as_bytes()),
        });
        if let Ok(mut pages) = set.pages.write() {
            pages.insert(cache_key, Arc::clone(&split));
        }
        Ok(split)
    }

    /// The login state for this request: "logged in as" and a logout button, or a login
    /// link coming back to this page (none when no identity provider is configured).
    async fn login_slot(&self, http: &HttpSession, lang: Lang) -> String {
        let here = match http.req_header().uri.path_and_query() {
            Some(pq) => pq.as_str(),
            None => "/",
        };
        self.login_slot_at(http, lang, here).await
    }

    /// [`Self::login_slot`], the login coming back to `here`.
    async fn login_slot_at(&self, http: &HttpSession, lang: Lang, here: &str) -> String {
        let req = http.req_header();
        let session = match self.deps.sso.current_session(req).await {
            Ok(s) => s,
            // The session store is down: say nothing rather than "log in" to someone who is.
            Err(_) => return String::new(),
        };
        let csrf = match self.deps.sso.cookies().session_cookie(req) {
            crate::sso::cookie::SessionCookie::One(cookie) => {
                crate::sso::endpoints::logout_csrf(cookie)
            }
            _ => String::new(),
        };
        login::slot(
            lang,
            session.as_ref(),
            &csrf,
            self.deps.sso.has_provider(),
            here,
        )
    }

    /// `POST /search` (the box's form): its query sealed into the address of its answer,
    /// `303` to `/search?t=<sealed>` (see [`crate::assist::sealed`]), so that nothing the
    /// citizen typed is in an address. An empty box goes to the empty page.
    async fn seal_search(
        &self,
        http: &mut HttpSession,
        snap: &Arc<Snapshot>,
        request_id: &str,
    ) -> LocalResponse {
        let form = http
            .req_header()
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(FORM_TYPE));
        if !form {
            // Its body is not read: closed rather than drained, whatever its size.
            http.set_keepalive(None);
            return error_page(ErrorKind::BadRequest, request_id);
        }
        let body = match read_form(http, snap, MAX_SEARCH_FORM_BYTES, request_id).await {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        let raw = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        let mut query = box_text(&raw);
        sealed_search::fit(&mut query, snap.config.gateway.limits.max_uri_bytes);
        let binding = Binding::of(http.req_header(), self.deps.sso.cookies());
        let location = if query.is_empty() {
            "/search?q=".to_string()
        } else {
            let now = crate::sso::session::now_secs();
            sealed_search::address(self.deps.assist.sealed(), &query, &binding, now)
        };
        let mut answer = LocalResponse::redirect(false, &location);
        answer.status = StatusCode::SEE_OTHER;
        let answer = answer.with_header(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        );
        self.give_binding(answer, binding)
    }

    /// `answer`, giving the browser `binding` if it did not hold it.
    fn give_binding(&self, answer: LocalResponse, binding: Binding) -> LocalResponse {
        answer.with_headers(http::header::SET_COOKIE, binding.set_cookies())
    }

    /// `/search?t=<sealed>` (the box's answer) or `/search?q=...` (a link): the router's
    /// answer as a page. A sealed query that does not open (expired, another browser's,
    /// altered, another deployment's) shows the empty box: it is a history entry, an address
    /// passed on, or a forgery, not a search.
    async fn search(
        &self,
        http: &HttpSession,
        snap: &Arc<Snapshot>,
        lang: Lang,
        asker: Option<std::net::IpAddr>,
        budget: &dyn crate::assist::LlmBudget,
    ) -> Result<LocalResponse, minijinja::Error> {
        let binding = Binding::of(http.req_header(), self.deps.sso.cookies());
        let now = crate::sso::session::now_secs();
        let sealed = self.deps.assist.sealed();
        let (query, back) = match crate::sso::endpoints::query_param(http, "t") {
            Some(token) => match sealed.open(&token, binding.value.as_bytes(), now) {
                Ok(query) => (
                    box_text(&query),
                    sealed_search::way_back(format!("{SEALED_PAGE}{token}")),
                ),
                Err(e) => {
                    tracing::debug!(reason = %e, "a sealed search did not open");
                    self.deps
                        .telemetry
                        .metrics
                        .search_unsealed
                        .with_label_values(&[e.label()])
                        .inc();
                    (String::new(), "/search".to_string())
                }
            },
            // A link's query is already in its address; this page's own links (the
            // language switcher, the login's way back) carry it sealed all the same.
            None => {
                let query =
                    box_text(&crate::sso::endpoints::query_param(http, "q").unwrap_or_default());
                let mut fitted = query.clone();
                sealed_search::fit(&mut fitted, snap.config.gateway.limits.max_uri_bytes);
                let back = if fitted.is_empty() {
                    "/search".to_string()
                } else {
                    sealed_search::way_back(sealed_search::address(sealed, &fitted, &binding, now))
                };
                (query, back)
            }
        };
        let (outcome, found, routed) = if query.is_empty() {
            ("empty", Vec::new(), None)
        } else {
            let d = self
                .deps
                .assist
                .decide(snap.catalog(), &query, false, asker, budget)
                .await;
            let mut found = Vec::new();
            match d.outcome {
                Outcome::Routed => {
                    found.extend(d.service.as_deref().and_then(|id| snap.service(id)))
                }
                Outcome::Ambiguous => {
                    let mut ids: Vec<&str> = d.service.as_deref().into_iter().collect();
                    ids.extend(d.alternatives.iter().map(String::as_str));
                    ids.dedup();
                    found.extend(ids.into_iter().filter_map(|id| snap.service(id)).take(3));
                }
                // Suspected injections are never followed, and "not a government service"
                // is never routed: what the words name is offered, for the citizen to
                // choose. The LLM's "none" offers the ranker's did-you-mean all the same (a
                // model that answers "none" to everything, broken or steered, would
                // otherwise hide every service from the box: found in the last read), and
                // so does the ranker's own: a question naming only a body ("ONEE", "fin
                // nkhelles DGI") was "not an administrative service" with nothing to
                // click, while `/api/route` listed its two services (found when tried).
                Outcome::Refused | Outcome::NotGovernment => found.extend(
                    d.alternatives
                        .iter()
                        .filter_map(|id| snap.service(id))
                        .take(3),
                ),
            }
            let routed = match d.outcome {
                Outcome::Routed | Outcome::Ambiguous => d.service.clone(),
                _ => None,
            };
            (d.outcome.as_str(), found, routed)
        };
        let found: Vec<&crate::registry::Service> = found.iter().map(|s| s.as_ref()).collect();
        let slot = minijinja::Value::from_safe_string(self.login_slot_at(http, lang, &back).await);
        let html = self.pages.search(
            snap,
            lang,
            &query,
            &back,
            outcome,
            &found,
            routed.as_deref(),
            !matches!(*self.deps.feedback, FeedbackLog::Off),
            slot,
        )?;
        let page = page_response(StatusCode::OK, Bytes::from(html), lang);
        Ok(self.give_binding(page, binding))
    }

    /// `POST /feedback`: the citizen's "not what I meant" answer, redacted and kept.
    async fn record_feedback(
        &self,
        http: &mut HttpSession,
        snap: &Arc<Snapshot>,
        lang: Lang,
        request_id: &str,
    ) -> Result<LocalResponse, minijinja::Error> {
        // A form another site posts on the citizen's behalf was refused before it was
        // counted (cross_site, in the limits stage).
        let body = match read_form(http, snap, MAX_FEEDBACK_BYTES, request_id).await {
            Ok(b) => b,
            Err(refused) => return Ok(refused),
        };
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or("");
        let query = field("q");
        let (Some(chosen), routed) = (snap.service(field("chosen")), field("routed")) else {
            return Ok(error_page(ErrorKind::BadRequest, request_id));
        };
        // Where the router sent the query: the portal offers the form only then, and the
        // blame is checked against it. Without one, any text could be kept for any service
        // (found when tried: spam kept for the VAT declaration with `routed` left out).
        let Some(routed) = snap.service(routed).map(|s| Some(s.config.id.clone())) else {
            return Ok(error_page(ErrorKind::BadRequest, request_id));
        };
        if query.is_empty() || query.chars().count() > crate::assist::MAX_QUERY_CHARS {
            return Ok(error_page(ErrorKind::BadRequest, request_id));
        }
        // A directive dressed as a query would become a routing example once exported, and
        // a service the router could not have chosen for the query is a forged blame (or a
        // catalog changed since): neither is kept, and the sender is thanked all the same.
        let steering = crate::assist::looks_like_injection(query);
        let refused = |reason: &str| {
            // Counted, not logged at `info`: anyone may send as many as the search budget
            // allows (found in a soak probe: 42,824 log lines).
            tracing::debug!(reason, "routing feedback not kept");
            let metrics = &self.deps.telemetry.metrics;
            metrics
                .routing_feedback_refused
                .with_label_values(&[reason])
                .inc();
        };
        if steering {
            refused("directive");
        }
        let forged = routed.as_deref().is_some_and(|id| {
            !self
                .deps
                .assist
                .could_have_routed(snap.catalog(), query, id)
        });
        if forged {
            refused("forged");
        }
        let steering = steering || forged;
        if !steering && routed.as_deref() != Some(chosen.config.id.as_str()) {
            let entry = FeedbackEntry {
                at: crate::sso::session::now_secs(),
                service: chosen.config.id.clone(),
                routed,
                query: crate::assist::shareable_text(query),
                lang: lang.code().to_string(),
            };
            if let Err(e) = self.deps.feedback.record(&entry).await {
                tracing::warn!(error = %e, "routing feedback not kept");
                return Ok(error_page(ErrorKind::Unavailable, request_id));
            }
            self.deps
                .telemetry
                .metrics
                .routing_feedback
                .with_label_values(&[&chosen.config.id])
                .inc();
        }
        let slot = minijinja::Value::from_safe_string(self.login_slot(http, lang).await);
        let html = self.pages.thanks(lang, chosen, slot)?;
        Ok(page_response(StatusCode::OK, Bytes::from(html), lang))
    }

    /// `/lang?set=fr&back=/services/x`: remembers the language and goes back (only ever to
    /// a path of the portal).
    fn switch_language(&self, http: &HttpSession, request_id: &str) -> LocalResponse {
        let Some(lang) = crate::sso::endpoints::query_param(http, "set")
            .as_deref()
            .and_then(Lang::from_code)
        else {
            return error_page(ErrorKind::BadRequest, request_id);
        };
        // Without `back` (the switcher of the strip on a legacy page, the same on every page
        // of the service), back to the page it was pressed on.
        let asked = crate::sso::endpoints::query_param(http, "back");
        let back = crate::sso::endpoints::safe_return_to(
            asked
                .as_deref()
                .or_else(|| crate::host::referer_path_on_this_host(http.req_header())),
        );
        let mut answer = LocalResponse::redirect(false, &back);
        answer.status = StatusCode::SEE_OTHER;
        answer.with_header(
            http::header::SET_COOKIE,
            lang::set_cookie(lang, self.deps.https),
        )
    }
}

/// What the box takes of a query: trimmed, at most the router's length.
fn box_text(raw: &str) -> String {
    raw.trim()
        .chars()
        .take(crate::assist::MAX_QUERY_CHARS)
        .collect()
}

/// A form's body, at most `max` bytes at the portal's pace; else the error page to answer
/// with (413 past `max`, 400 for a body that could not be read).
async fn read_form(
    http: &mut HttpSession,
    snap: &Snapshot,
    max: usize,
    request_id: &str,
) -> Result<Bytes, LocalResponse> {
    crate::request_body::read_limited::<crate::request_body::BodyError>(
        http,
        max,
        BodyPace::of(&snap.config.gateway.limits),
    )
    .await
    .map_err(|e| {
        let kind = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ErrorKind::PayloadTooLarge
        } else {
            ErrorKind::BadRequest
        };
        error_page(kind, request_id)
    })
}

/// A portal page: never stored by a shared cache (it carries the login slot), and marked
/// with its language.
fn page_response(status: StatusCode, body: Bytes, lang: Lang) -> LocalResponse {
    LocalResponse::html_bytes(status, body)
        .with_header(
            http::header::CONTENT_LANGUAGE,
            HeaderValue::from_static(lang.code()),
        )
        .with_header(
            http::header::VARY,
            HeaderValue::from_static("Cookie, Accept-Language"),
        )
}

#[cfg(test)]
pub mod fixtures {
    //! A portal for the unit tests of every room, over the shared test parts.

    use super::{feedback::FeedbackLog, Portal, PortalDeps};
    use crate::kv::MemoryKv;
    use crate::testing::Parts;
    use std::sync::Arc;

    /// The portal over `parts`, keeping feedback in memory.
    pub fn portal(parts: &Parts) -> Arc<Portal> {
        Arc::new(Portal::new(PortalDeps {
            sso: Arc::clone(&parts.sso),
            assist: Arc::clone(&parts.assist),
            telemetry: Arc::clone(&parts.telemetry),
            feedback: Arc::new(FeedbackLog::Shared(Arc::new(MemoryKv::default()))),
            https: false,
        }))
    }
}

#[cfg(test)]
mod tests;

//! One login, one session per service origin.
//!
//! When every service has its own origin, the citizen still logs in once, at the portal
//! origin, with the identity provider. A service origin never sees the portal's cookie (it is
//! host-only) and never trusts anything but its own:
//!
//! 1. a request on `https://<id>.services…` without that origin's session gets a fresh
//!    nonce in a host-only cookie of that origin and is sent to the portal's
//!    `/auth/hop?service=<id>&return_to=<path>&binding=<SHA-256 of the nonce>`
//!    ([`Sso::hop_required`]); a hop asked for without a binding is sent to the service
//!    origin first, to get one;
//! 2. the portal, if the citizen is signed in, stores a one-time code bound to that service
//!    (and to the portal session, the binding, and where to go next) for at most
//!    `sessions.origin_code_ttl` (60 s by default and at most), and
//!    redirects to the service origin's [`ORIGIN_EXCHANGE_PATH`]`?code=…`; if not, it sends
//!    the citizen to log in first and back to step 2;
//! 3. the service origin takes the code (once: `GETDEL`), checks it was issued for this very
//!    service, to this very browser (its nonce cookie hashes to the binding) and is not
//!    late, and sets its own host-only session cookie: an [`OriginSession`], a child of the
//!    portal session.
//!
//! A code used twice, for another origin, by another browser or late is refused, logged and
//! counted. The binding is what OAuth's `state` is to a login: without it, anyone signed in
//! could mint a code and have a victim's browser open it, and the victim would then act on
//! that service as him (his identity in her session). Every
//! request on the service origin reads the portal session through its child, so whatever
//! ends the portal session (logout, back-channel logout, expiry, on any instance) ends all
//! of its origin sessions at once.

use super::endpoints::{query_param, safe_return_to};
use super::session::{now_secs, random_token, HopCode, OriginSession, Session, SessionHandle};
use super::store::StoreError;
use super::Sso;
use crate::registry::{Service, Snapshot};
use crate::response::{self, ErrorKind, LocalResponse};
use http::header::SET_COOKIE;
use pingora::http::RequestHeader;
use pingora::proxy::Session as HttpSession;

/// The path on a service's own origin where the gateway exchanges a one-time login code for
/// the origin's session. Reserved: legacy sites never see it.
pub const ORIGIN_EXCHANGE_PATH: &str = "/__egov/session";

/// On a service's own origin, where a signed-in page's session warning asks to stay signed
/// in (`assets/session.js`); the portal's is `/auth/keep-alive`.
pub const ORIGIN_KEEP_ALIVE_PATH: &str = "/__egov/keep-alive";

/// On a service's own origin, a step of a logout: this origin's session cookie ended, then on
/// to the next origin the citizen had a session on (`?then=<ids>`), and after the last to
/// the identity provider's logout or the portal's home. See [`Sso::signed_out_here`].
pub const ORIGIN_SIGNED_OUT_PATH: &str = "/__egov/signed-out";

/// The most service origins a logout goes through in one run of redirects: browsers follow
/// at most 20 (Chromium, Firefox), and these, the provider's logout and the way back home
/// stay within them. A longer way goes on from a page of the last origin of the run
/// ([`Sso::signed_out_here`]), a new navigation. Also the most the browser's own list
/// (`egov_visited`) keeps: the most recently opened.
const MAX_SIGNED_OUT_STEPS: usize = 16;

/// The most service origins a logout's way holds in all (each of the registry's services
/// once, whatever pages sent the browser through). Found in a bypass probe: with the way cut
/// at 16, a page that had her browser sign in to 17 other services' origins, one after
/// another, pushed the origins she had opened herself out of it.
const MAX_SIGNED_OUT_ORIGINS: usize = 64;

/// The ids in `list` (separated by `.`) shaped like service ids
/// ([`crate::config::values::slug`]), at most [`MAX_SIGNED_OUT_ORIGINS`] of them, the last
/// ones.
fn service_ids(list: &str) -> Vec<&str> {
    let ids: Vec<&str> = list
        .split('.')
        .filter(|id| crate::config::values::slug(id).is_ok())
        .collect();
    ids[ids.len().saturating_sub(MAX_SIGNED_OUT_ORIGINS)..].to_vec()
}

/// `visited` with `id` as its most recent entry (and once), at most
/// [`MAX_SIGNED_OUT_STEPS`] of them (a cookie's list).
fn visited_with(visited: &str, id: &str) -> String {
    let mut ids: Vec<&str> = service_ids(visited)
        .into_iter()
        .filter(|v| *v != id)
        .collect();
    ids.push(id);
    ids[ids.len().saturating_sub(MAX_SIGNED_OUT_STEPS)..].join(".")
}

/// `visited` (a list of service ids, as the browser's cookie has it) with each of `services`
/// (the session store's) moved to its end (once), in the order `visited` has them (the
/// latest last; those it lacks first), at most [`MAX_SIGNED_OUT_ORIGINS`] in all.
pub(crate) fn with_services_last(visited: &str, services: &[String]) -> String {
    let listed = service_ids(visited);
    let mut services: Vec<&str> = services.iter().map(String::as_str).collect();
    services.sort_by_key(|id| listed.iter().position(|v| v == id));
    let mut ids: Vec<&str> = listed
        .iter()
        .copied()
        .filter(|v| !services.contains(v))
        .collect();
    for id in services {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids[ids.len().saturating_sub(MAX_SIGNED_OUT_ORIGINS)..].join(".")
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Sso {
    /// The portal session behind origin session `id` (the session cookie of `service`'s
    /// origin); `None` when there is none, it was issued for another service, or its parent
    /// has ended.
    pub(crate) async fn origin_session(
        &self,
        id: &str,
        service: &Service,
    ) -> Result<Option<Session>, StoreError> {
        match self.origin_parent(id, service).await? {
            Some(parent) => self.live_session(&parent).await,
            None => Ok(None),
        }
    }

    /// The portal session `service`'s origin session `id` belongs to, if it is one of that
    /// service's.
    pub(crate) async fn origin_parent(
        &self,
        id: &str,
        service: &Service,
    ) -> Result<Option<String>, StoreError> {
        let child = match self.store.get_origin(id).await {
            Ok(Some(c)) => c,
            Ok(None) | Err(StoreError::Corrupt(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if child.service != service.id() {
            tracing::warn!(
                service = service.id(),
                "an origin session of another service was presented"
            );
            return Ok(None);
        }
        Ok(Some(child.parent.clone()))
    }

    /// An anonymous request on `service`'s origin: a browser goes to the portal's hop (and
    /// comes back to the same page, see `back_to`); a form or a program gets a 401 naming it
    /// (see `send_to`).
    pub(crate) fn hop_required(
        &self,
        req: &RequestHeader,
        service: &Service,
        request_id: &str,
    ) -> LocalResponse {
        let back = super::back_to(req);
        // The browser's nonce while it has one: a hop on its way (a login at the provider)
        // is bound to it, and a new one would leave that hop's code nobody's. Found in a
        // probe: a sibling service's page loading this origin's pictures (each answered 401,
        // each with a new nonce) made a login in progress in another tab fail its hop.
        let nonce = self
            .jar
            .hop_nonce(req)
            .filter(|n| super::session::looks_like_token(n))
            .map_or_else(random_token, str::to_string);
        let hop = format!(
            "{}/auth/hop?service={}&return_to={}&binding={}",
            self.origin,
            encode(service.id()),
            encode(back),
            binding_of(&nonce)
        );
        // Long enough for a login at the identity provider on the way.
        let home = format!("{}/", self.origin);
        super::send_to(req, &hop, request_id, &home)
            .with_header(SET_COOKIE, self.jar.set_hop(&nonce, 600))
    }

    /// `GET /auth/hop?service=<id>&return_to=<path>` on the portal origin: a one-time code
    /// for that service's origin, or the login first.
    pub(crate) async fn hop(
        &self,
        http: &HttpSession,
        snapshot: &Snapshot,
        request_id: &str,
    ) -> LocalResponse {
        let Some(origins) = &self.service_origins else {
            return response::error_page(ErrorKind::NotFound, request_id);
        };
        let Some(service) =
            query_param(http, "service").and_then(|id| snapshot.service(&id).cloned())
        else {
            return response::error_page(ErrorKind::NotFound, request_id);
        };
        let return_to = safe_return_to(query_param(http, "return_to").as_deref());
        let Some(binding) = query_param(http, "binding").filter(|b| is_binding(b)) else {
            // Not asked for by the service origin: that origin gives the browser its nonce
            // (and sends it back here) first.
            return LocalResponse::redirect(
                false,
                &format!("{}{return_to}", origins.origin(service.id())),
            );
        };
        let session = match self.current_session(http.req_header()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "hop: session store unavailable");
                return response::error_page(ErrorKind::SessionsUnavailable, request_id);
            }
        };
        let Some(session) = session else {
            // Log in first, then come back here for the code.
            let again = format!(
                "/auth/hop?service={}&return_to={}&binding={binding}",
                encode(service.id()),
                encode(&return_to)
            );
            return LocalResponse::redirect(
                false,
                &format!("/auth/login?return_to={}", encode(&again)),
            );
        };
        let code = random_token();
        let hop = HopCode {
            parent: session.id,
            service: service.id().to_string(),
            return_to,
            created_at: now_secs(),
            binding,
        };
        if let Err(e) = self.store.put_hop(&code, &hop, self.origin_code_ttl).await {
            tracing::warn!(error = %e, "hop: session store unavailable");
            return response::error_page(ErrorKind::SessionsUnavailable, request_id);
        }
        self.metrics
            .origin_codes
            .with_label_values(&["issued"])
            .inc();
        // The language the citizen chose on the portal goes with her: its cookie is the
        // portal origin's alone, and a service opened from a bookmark or a link elsewhere
        // spoke her browser's language instead (found when tried).
        let lang = super::cookie::find(http.req_header(), crate::lang::COOKIE)
            .and_then(crate::lang::Lang::from_code)
            .map_or(String::new(), |l| format!("&lang={}", l.code()));
        // `to`: where a code that can no longer be used sends the browser (see
        // `Self::exchange`); a code exchanged goes to its own `return_to`, as stored.
        let target = format!(
            "{}{ORIGIN_EXCHANGE_PATH}?code={code}{lang}&to={}",
            origins.origin(service.id()),
            encode(&hop.return_to)
        );
        let visited = visited_with(self.jar.visited(http.req_header()), service.id());
        LocalResponse::redirect(false, &target)
            .with_header(SET_COOKIE, self.jar.set_visited(&visited))
    }

    /// Where a logout goes first when the citizen had sessions on services' own origins
    /// (`visited`, the portal's list of them): the first of those the registry still has,
    /// to end its session cookie there ([`Self::signed_out_here`]), with the rest to follow;
    /// `run`: the origins gone through already in this run of redirects. `None`: none (or
    /// the services are paths of the portal, whose cookie ended already).
    ///
    /// Found in a browser probe: after a logout, Back showed the service pages she had
    /// opened (her dossier, her identity's claims) from the browser's back/forward cache,
    /// which keeps even `no-store` pages while the page's own cookies have not changed;
    /// the logout had changed only the portal's. Ending each origin's cookie evicts them.
    pub(crate) fn signing_out_through(
        &self,
        snapshot: &Snapshot,
        visited: &str,
        run: usize,
    ) -> Option<String> {
        let origins = self.service_origins.as_ref()?;
        let ids: Vec<&str> = service_ids(visited)
            .into_iter()
            .filter(|id| snapshot.service(id).is_some())
            .collect();
        let (first, rest) = ids.split_first()?;
        Some(format!(
            "{}{ORIGIN_SIGNED_OUT_PATH}?then={}&run={}",
            origins.origin(first),
            rest.join("."),
            run + 1
        ))
    }

    /// `GET /__egov/signed-out?then=<ids>` on a service's origin: this origin's session and
    /// hop cookies ended (with its cached pages: `Clear-Site-Data: "cache"`), then on to the
    /// next origin of `then`, and after the last to where a logout ends
    /// ([`Self::after_logout`]). Anyone may send a browser here: it ends only the cookies of
    /// origins whose session the next request asks the portal for again, goes only to the
    /// registry's services' origins, and ends at the provider's logout, which any page may
    /// link to itself (without an ID token hint, a provider asks the citizen to confirm).
    pub(crate) async fn signed_out_here(
        &self,
        http: &HttpSession,
        snapshot: &Snapshot,
    ) -> LocalResponse {
        let then = query_param(http, "then").unwrap_or_default();
        let run = query_param(http, "run")
            .and_then(|r| r.parse::<usize>().ok())
            .unwrap_or(MAX_SIGNED_OUT_STEPS);
        // The last origin of a run of redirects goes on from a page: a new navigation, whose
        // redirects the browser counts afresh (see `MAX_SIGNED_OUT_STEPS`).
        let page = run >= MAX_SIGNED_OUT_STEPS;
        let next = match self.signing_out_through(snapshot, &then, if page { 0 } else { run }) {
            Some(next) => next,
            None => self.after_logout().await,
        };
        let answer = if page {
            going_on_page(&next)
        } else {
            LocalResponse::redirect(false, &next)
        };
        answer
            .with_header(SET_COOKIE, self.jar.clear_session())
            .with_header(SET_COOKIE, self.jar.clear_hop())
            .with_header(
                http::HeaderName::from_static("clear-site-data"),
                http::HeaderValue::from_static("\"cache\""),
            )
    }

    /// `GET /__egov/session?code=…` on `service`'s origin: the code exchanged, once, for
    /// this origin's own session.
    pub(crate) async fn exchange(
        &self,
        http: &HttpSession,
        service: &Service,
        request_id: &str,
    ) -> LocalResponse {
        let counted = |result: &str, why: &str| {
            tracing::warn!(
                service = service.id(),
                reason = why,
                request_id,
                "origin code refused"
            );
            self.metrics.origin_codes.with_label_values(&[result]).inc();
        };
        // Its page's link starts the login again, at the portal.
        let refused = |result: &str, why: &str| {
            counted(result, why);
            let login = format!("{}/auth/login", self.origin);
            let home = format!("{}/", self.origin);
            response::login_again_page(ErrorKind::LoginFailed, request_id, &login, &home)
        };
        // A code no longer in the store (used, late, or never ours) sets nothing, and the
        // browser goes on to the page as it is, where, without a session of its own, it
        // starts a hop again. Found when tried: a reload of an exchange whose answer a flaky
        // network lost, its code used already, was a dead end ("log in again", though she
        // was signed in at the portal), when typing the service's address went on at once.
        // Once a minute: see `CookieJar::set_hop_again`.
        let on_to_the_page = || {
            let to = safe_return_to(query_param(http, "to").as_deref());
            LocalResponse::redirect(false, &to).with_header(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            )
        };
        let start_again = |why: &str| {
            if self.jar.hop_again(http.req_header()) {
                return refused("unknown", why);
            }
            counted("unknown", why);
            on_to_the_page().with_header(SET_COOKIE, self.jar.set_hop_again())
        };
        let Some(code) = query_param(http, "code").filter(|c| super::session::looks_like_token(c))
        else {
            // No code of ours was shown: nothing to count or warn of (found in a bypass
            // probe: 4,000 requests without one made 4,000 WARN lines and moved the count
            // of refused codes an alert reads).
            tracing::debug!(
                service = service.id(),
                request_id,
                "exchange without a code"
            );
            return on_to_the_page();
        };
        let hop = match self.store.take_hop(&code).await {
            Ok(Some(h)) => h,
            Ok(None) => return start_again("unknown, already used or expired code"),
            Err(StoreError::Corrupt(_)) => return refused("unknown", "unreadable code record"),
            Err(e) => {
                tracing::warn!(error = %e, "exchange: session store unavailable");
                return response::error_page(ErrorKind::SessionsUnavailable, request_id);
            }
        };
        if hop.service != service.id() {
            return refused(
                "wrong_origin",
                "the code was issued for another service's origin",
            );
        }
        // Only a nonce the gateway made: found in a bypass probe, a code a signed-in
        // attacker asked for bound to the digest of an empty nonce matched every browser
        // without a nonce cookie (or with two), and one link signed a citizen in to the
        // service as him.
        let nonce = self
            .jar
            .hop_nonce(http.req_header())
            .filter(|n| super::session::looks_like_token(n));
        if hop.binding.is_empty() || nonce.is_none_or(|n| binding_of(n) != hop.binding) {
            // Someone else's code (or this browser's, when a second tab's hop replaced its
            // nonce): burnt, and no session from it. The browser goes on to the page as it
            // is; without a session of its own there, that page starts its own hop.
            counted(
                "unbound",
                "the code was asked for by another browser (or by another tab of this one)",
            );
            let mut back = LocalResponse::redirect(false, &hop.return_to).with_header(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            let req = http.req_header();
            if self.jar.hop_duplicated(req) {
                // Every copy goes, so that the next hop's nonce is the only one.
                let host = crate::host::request_host(req).map(crate::host::normalize);
                back = back.with_headers(
                    SET_COOKIE,
                    self.jar
                        .expire_hop_duplicates(&host.unwrap_or_default(), req.uri.path()),
                );
            }
            return back;
        }
        let now = now_secs();
        if now > hop.created_at + self.origin_code_ttl.as_secs() {
            return refused("expired", "the code came too late");
        }
        let parent = match self.live_session(&hop.parent).await {
            Ok(Some(p)) => p,
            Ok(None) => return refused("session_ended", "the portal session ended meanwhile"),
            Err(e) => {
                tracing::warn!(error = %e, "exchange: session store unavailable");
                return response::error_page(ErrorKind::SessionsUnavailable, request_id);
            }
        };
        let cookie = random_token();
        let id = SessionHandle::of_cookie(&cookie);
        let id = id.as_str();
        let child = OriginSession {
            parent: parent.id.clone(),
            service: service.id().to_string(),
            created_at: now,
        };
        // It lives as long as its parent, and is moved on with it (`SessionStore::update`).
        let ttl = parent.ttl(now, self.idle);
        if let Err(e) = self.store.create_origin(id, &child, ttl).await {
            tracing::warn!(error = %e, "exchange: session store unavailable");
            return response::error_page(ErrorKind::SessionsUnavailable, request_id);
        }
        self.metrics
            .origin_codes
            .with_label_values(&["accepted"])
            .inc();
        // The portal's language, unless this origin has one of its own already.
        let req = http.req_header();
        let lang = query_param(http, "lang")
            .and_then(|code| crate::lang::Lang::from_code(&code))
            .filter(|_| super::cookie::find(req, crate::lang::COOKIE).is_none())
            .map(|lang| crate::lang::set_cookie(lang, self.jar.secure()));
        LocalResponse::redirect(false, &hop.return_to)
            .with_header(SET_COOKIE, self.jar.set_session(&cookie))
            .with_headers(SET_COOKIE, lang)
            .with_header(SET_COOKIE, self.jar.clear_hop())
            .with_header(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            )
    }
}

/// A page that sends the browser on to `next` at once (`<meta http-equiv="refresh">`, which
/// the portal's policy allows, as it forbids inline script), with a link for a browser that
/// does not: a logout's way past a run of [`MAX_SIGNED_OUT_STEPS`] redirects.
fn going_on_page(next: &str) -> LocalResponse {
    let next = response::escape(next);
    LocalResponse::html(
        http::StatusCode::OK,
        format!(
            "<!DOCTYPE html><html lang=\"ar\"><head><meta charset=\"utf-8\">\
             <meta http-equiv=\"refresh\" content=\"0;url={next}\">\
             <title>\u{645}\u{62a}\u{627}\u{628}\u{639}\u{629} \u{b7} Continuer \u{b7} Continue</title>\
             </head><body><p><a href=\"{next}\">\u{645}\u{62a}\u{627}\u{628}\u{639}\u{629} \u{b7} \
             Continuer \u{b7} Continue</a></p></body></html>"
        ),
    )
}

/// What a hop code is bound to: the SHA-256 of the browser's nonce, in hex (the nonce itself
/// never leaves the service origin's cookie).
fn binding_of(nonce: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(nonce.as_bytes()))
}

/// A binding as [`binding_of`] writes it: 64 lowercase hex digits.
fn is_binding(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod signed_out_tests {
    use super::{service_ids, visited_with, with_services_last, MAX_SIGNED_OUT_STEPS};

    #[test]
    fn the_visited_list_keeps_each_service_once_the_latest_last_and_at_most_sixteen() {
        assert_eq!(visited_with("", "cnie-renewal"), "cnie-renewal");
        assert_eq!(visited_with("a.b.c", "a"), "b.c.a");
        let many: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        let kept = visited_with(&many.join("."), "last");
        assert_eq!(kept.split('.').count(), MAX_SIGNED_OUT_STEPS);
        // The session store's list is kept whole, up to its own bound.
        let merged = with_services_last(&many[..10].join("."), &many[10..40]);
        assert_eq!(merged.split('.').count(), 40);
        assert!(
            kept.ends_with(".last") && kept.starts_with("s25."),
            "{kept}"
        );
    }

    #[test]
    fn only_names_shaped_like_service_ids_are_read_from_the_list() {
        assert_eq!(
            service_ids("ok-1..Evil.x/y.%2e.ok2.\u{662}"),
            ["ok-1", "ok2"]
        );
    }
}

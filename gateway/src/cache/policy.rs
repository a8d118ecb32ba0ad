//! A service's `[cache]` compiled once per snapshot: which requests may be answered from the
//! shared cache, which answers may be stored, and what the key leaves out.

use crate::config::{Access, ServiceCache};
use globset::{GlobSet, GlobSetBuilder};
use std::time::Duration;

/// Why a request is not looked up in the cache (`X-Cache-Status: BYPASS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bypass {
    /// Not a GET or HEAD.
    Method,
    /// Outside `paths`, or in `bypass_paths`.
    Path,
    /// A citizen or professional service, on a path not marked public: its pages may be
    /// personal (the backend is told who the citizen is).
    Personal,
    /// The request carries its own `Authorization`.
    Authorization,
    /// The request carries the legacy site's cookies (its own session).
    Cookie,
}

impl Bypass {
    pub fn as_str(self) -> &'static str {
        match self {
            Bypass::Method => "method",
            Bypass::Path => "path",
            Bypass::Personal => "personal",
            Bypass::Authorization => "authorization",
            Bypass::Cookie => "cookie",
        }
    }
}

/// What the cache may do for one service.
#[derive(Debug)]
pub struct Policy {
    /// `None`: every path.
    paths: Option<GlobSet>,
    bypass: GlobSet,
    /// For a personal service, the only paths stored; `None` for a public service.
    public: Option<GlobSet>,
    strip_set_cookie: GlobSet,
    ignore_query: Vec<String>,
    pub default_ttl: Option<Duration>,
    pub max_ttl: Option<Duration>,
    pub max_object_size: Option<usize>,
    pub stale_while_revalidate: Duration,
    pub stale_if_error: Duration,
}

fn globset(globs: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(crate::config::values::path_glob(g)?);
    }
    b.build().map_err(|e| e.to_string())
}

impl Policy {
    /// The policy of a service with `settings` and `access`; `None` when its cache is off.
    pub fn compile(settings: &ServiceCache, access: Access) -> Result<Option<Policy>, String> {
        if !settings.enabled {
            return Ok(None);
        }
        let personal = access != Access::Public;
        Ok(Some(Policy {
            paths: (!settings.paths.is_empty())
                .then(|| globset(&settings.paths))
                .transpose()?,
            bypass: globset(&settings.bypass_paths)?,
            public: personal
                .then(|| globset(&settings.public_paths))
                .transpose()?,
            strip_set_cookie: globset(&settings.strip_set_cookie_paths)?,
            ignore_query: settings.ignore_query.clone(),
            default_ttl: settings.default_ttl,
            max_ttl: settings.max_ttl,
            max_object_size: settings.max_object_size,
            stale_while_revalidate: settings.stale_while_revalidate,
            stale_if_error: settings.stale_if_error,
        }))
    }

    /// Whether a request for `path` (under the service) may use the shared cache, given
    /// whether it carries `Authorization` and cookies of the legacy site.
    pub fn admits(
        &self,
        method: &http::Method,
        path: &str,
        authorization: bool,
        legacy_cookies: bool,
    ) -> Result<(), Bypass> {
        if method != http::Method::GET && method != http::Method::HEAD {
            return Err(Bypass::Method);
        }
        if self.paths.as_ref().is_some_and(|p| !p.is_match(path)) || self.bypass.is_match(path) {
            return Err(Bypass::Path);
        }
        if self.public.as_ref().is_some_and(|p| !p.is_match(path)) {
            return Err(Bypass::Personal);
        }
        if authorization {
            return Err(Bypass::Authorization);
        }
        // The legacy site's session may change its page, unless the ministry said the path
        // is the same for everyone (marked public, or its cookies dropped); the cookies are
        // then not sent.
        let same_for_everyone =
            self.strips_set_cookie(path) || self.public.as_ref().is_some_and(|p| p.is_match(path));
        if legacy_cookies && !same_for_everyone {
            return Err(Bypass::Cookie);
        }
        Ok(())
    }

    /// Whether the legacy site's `Set-Cookie` is dropped on `path` so the page can be stored.
    pub fn strips_set_cookie(&self, path: &str) -> bool {
        self.strip_set_cookie.is_match(path)
    }

    /// The query as the key sees it: `ignore_query` parameters left out, the rest in order, so
    /// `?b=2&a=1` and `?a=1&b=2&utm_source=x` are one object.
    pub fn key_query(&self, query: Option<&str>) -> String {
        let Some(query) = query.filter(|q| !q.is_empty()) else {
            return String::new();
        };
        let mut pairs: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                let name = pair.split('=').next().unwrap_or("");
                !pair.is_empty() && !self.ignore_query.iter().any(|i| i == name)
            })
            .collect();
        pairs.sort_unstable();
        pairs.join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(access: Access, edit: impl FnOnce(&mut ServiceCache)) -> Policy {
        let mut s = ServiceCache {
            enabled: true,
            ..ServiceCache::default()
        };
        edit(&mut s);
        Policy::compile(&s, access).expect("valid").expect("on")
    }

    #[test]
    fn a_public_service_admits_every_get_by_default() {
        let p = policy(Access::Public, |_| {});
        assert_eq!(p.admits(&http::Method::GET, "/a/b", false, false), Ok(()));
        assert_eq!(p.admits(&http::Method::HEAD, "/", false, false), Ok(()));
        assert_eq!(
            p.admits(&http::Method::POST, "/a", false, false),
            Err(Bypass::Method)
        );
    }

    #[test]
    fn paths_and_bypass_paths_choose_what_is_stored() {
        let p = policy(Access::Public, |s| {
            s.paths = vec!["/static/**".into(), "/*.html".into()];
            s.bypass_paths = vec!["/static/live/**".into()];
        });
        assert_eq!(
            p.admits(&http::Method::GET, "/static/a/b.css", false, false),
            Ok(())
        );
        assert_eq!(
            p.admits(&http::Method::GET, "/index.html", false, false),
            Ok(())
        );
        assert_eq!(
            p.admits(&http::Method::GET, "/dir/index.html", false, false),
            Err(Bypass::Path),
            "* stays within one segment"
        );
        assert_eq!(
            p.admits(&http::Method::GET, "/static/live/x", false, false),
            Err(Bypass::Path)
        );
    }

    #[test]
    fn a_citizen_service_stores_only_its_public_paths() {
        let p = policy(Access::Citizen, |s| {
            s.public_paths = vec!["/aide/**".into()]
        });
        assert_eq!(
            p.admits(&http::Method::GET, "/dossier", false, false),
            Err(Bypass::Personal)
        );
        assert_eq!(
            p.admits(&http::Method::GET, "/aide/faq", false, false),
            Ok(())
        );
        let none = policy(Access::Professional, |_| {});
        assert_eq!(
            none.admits(&http::Method::GET, "/", false, false),
            Err(Bypass::Personal)
        );
    }

    #[test]
    fn the_citizens_own_credentials_bypass_except_cookies_on_stripped_paths() {
        let p = policy(Access::Public, |s| {
            s.strip_set_cookie_paths = vec!["/static/**".into()];
        });
        assert_eq!(
            p.admits(&http::Method::GET, "/page", true, false),
            Err(Bypass::Authorization)
        );
        assert_eq!(
            p.admits(&http::Method::GET, "/page", false, true),
            Err(Bypass::Cookie)
        );
        assert_eq!(
            p.admits(&http::Method::GET, "/static/a.css", false, true),
            Ok(())
        );
    }

    #[test]
    fn the_key_query_is_sorted_and_leaves_out_ignored_parameters() {
        let p = policy(Access::Public, |s| {
            s.ignore_query = vec!["utm_source".into()]
        });
        assert_eq!(p.key_query(Some("b=2&a=1")), "a=1&b=2");
        assert_eq!(p.key_query(Some("a=1&utm_source=x&b=2")), "a=1&b=2");
        assert_eq!(p.key_query(Some("utm_source=x")), "");
        assert_eq!(p.key_query(None), "");
    }

    #[test]
    fn a_service_without_cache_has_no_policy() {
        let s = ServiceCache::default();
        assert!(Policy::compile(&s, Access::Public)
            .expect("valid")
            .is_none());
    }
}

//! The cookie names a legacy site sets itself, so a copy of one that reaches a signed-in
//! request without its binding is known for what it is: planted.
//!
//! Every cookie a site sets in an answer to a signed-in citizen comes with a companion that
//! binds it to her session (`egov_adapters::cookies`). A copy of such a name without one was
//! not set by the site for her: it was set by a page script, or by *another* service's page
//! for the whole services domain (sibling origins are one site to browsers until the domain
//! is on the Public Suffix List). Found when tried: a compromised sibling page set
//! `JSESSIONID=<the attacker's session>; Domain=services.gov.ma`, and the citizen's first
//! visit to another service carried it there, where the legacy site took it as hers.
//!
//! The names are the common frameworks' session cookies
//! ([`egov_adapters::cookies::framework_session_name`]) and those this site's signed-in
//! answers were seen to set since the gateway started. Learning is bounded (a hostile site
//! cannot grow it without end) and survives registry changes that leave the legacy site as
//! it was.

use arc_swap::ArcSwap;
use egov_adapters::cookies::{
    canonical_cookie_name, framework_session_name, portal_reserved, set_cookie_name,
};
use egov_adapters::headers::HeaderEdit;
use http::header::SET_COOKIE;
use std::sync::Arc;

/// The most names learned for one site: far more than any site sets (a few), few enough to
/// scan on the rare request that carries an unbound cookie.
const MAX_LEARNED: usize = 64;
/// The longest name learned (browsers keep a name and value to 4 KiB together).
const MAX_NAME: usize = 256;

/// The names one legacy site sets ([`Self::sets`]), learned from its answers.
#[derive(Debug, Default)]
pub struct SiteCookies {
    learned: ArcSwap<Vec<Box<[u8]>>>,
}

impl SiteCookies {
    /// Whether the site sets cookie `name` itself: a common framework's session cookie, or
    /// a name one of its signed-in answers set, compared as the most forgiving parser reads
    /// names ([`canonical_cookie_name`]: ASP.NET reads `pref` as `PREF`, found when tried;
    /// PHP `dossier.token` as `dossier_token`, found in review).
    pub fn sets(&self, name: &[u8]) -> bool {
        if framework_session_name(name) {
            return true;
        }
        let learned = self.learned.load();
        !learned.is_empty() && {
            let name = canonical_cookie_name(name);
            learned.iter().any(|n| **n == *name)
        }
    }

    /// Learns the names the `Set-Cookie` fields of an answer to a signed-in citizen set.
    /// Costs a look at each field; the list is written only when a name is new.
    pub fn learn(&self, headers: &impl HeaderEdit) {
        for value in headers.get_all(&SET_COOKIE) {
            let Some(name) = set_cookie_name(value.as_bytes()) else {
                continue;
            };
            if name.len() > MAX_NAME || portal_reserved(name) || self.sets(name) {
                continue;
            }
            let name = canonical_cookie_name(name);
            self.learned.rcu(|names| {
                let mut names = Vec::clone(names);
                if names.len() < MAX_LEARNED && !names.iter().any(|n| **n == *name) {
                    names.push(name.as_slice().into());
                }
                Arc::new(names)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    fn answer(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(SET_COOKIE, HeaderValue::from_str(c).expect("value"));
        }
        h
    }

    #[test]
    fn a_name_the_site_set_is_known_from_then_on() {
        let site = SiteCookies::default();
        assert!(!site.sets(b"dossier_token"));
        site.learn(&answer(&["dossier_token=1; Path=/", "lang=ar"]));
        assert!(site.sets(b"dossier_token"));
        assert!(site.sets(b"DOSSIER_TOKEN"), "in any case");
        assert!(site.sets(b"dossier.token"), "as PHP reads it");
        assert!(site.sets(b"lang"));
        assert!(
            site.sets(b"JSESSIONID"),
            "a framework's session name, never seen"
        );
    }

    #[test]
    fn a_hostile_site_cannot_grow_the_list_without_end() {
        let site = SiteCookies::default();
        let names: Vec<String> = (0..500).map(|i| format!("c{i}=1")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        site.learn(&answer(&refs));
        assert_eq!(site.learned.load().len(), MAX_LEARNED);
        site.learn(&answer(&[&format!("{}=1", "n".repeat(MAX_NAME + 1))]));
        assert_eq!(site.learned.load().len(), MAX_LEARNED);
    }

    #[test]
    fn the_portals_own_names_are_not_learned() {
        let site = SiteCookies::default();
        site.learn(&answer(&["egov_session=x"]));
        assert!(site.learned.load().is_empty());
    }
}

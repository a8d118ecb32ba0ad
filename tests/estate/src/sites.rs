//! The catalog of legacy sites, embedded from `sites.toml` and parsed once.
//!
//! It is the single source of truth for which legacy site lives at which
//! hostname and base path and which quirks it shows; the server dispatches on
//! it and the gateway's demo and tests look sites up in it.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

const CATALOG: &str = include_str!("../sites.toml");

/// One behaviour of a legacy site that the gateway has to cope with.
///
/// The serde names are the slugs used in `sites.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quirk {
    /// HTML encoded in windows-1256, charset only announced in a `<meta>`.
    #[serde(rename = "windows-1256")]
    Windows1256,
    /// HTML encoded in ISO-8859-1, announced in the header and a `<meta>`.
    #[serde(rename = "iso-8859-1")]
    Iso88591,
    /// Links, assets and refreshes point at `http://<host>/<base>/...`.
    AbsoluteLinks,
    /// Forms post to an absolute URL and redirect to one.
    AbsoluteForms,
    /// The home page is a `<frameset>`, plus an `<iframe>`.
    Frames,
    /// Cookies with explicit `Domain` attributes and old-style `Expires`.
    LegacyCookies,
    /// Java servlet sessions in a `JSESSIONID` cookie with `Path=/`.
    Jsessionid,
    /// Every request needs HTTP Basic credentials of a service account.
    BasicAuth,
    /// Every request needs an `X-Api-Key` header.
    ApiKey,
    /// A SOAP 1.1 web service at `<base>/ws`.
    Soap,
    /// Responses take about a second.
    Slow,
    /// About 5 % of responses are `502 Bad Gateway`.
    Flaky,
    /// Redirects to its own absolute hostname.
    SelfRedirects,
    /// No caching headers at all.
    NoCacheHeaders,
    /// Year-long `immutable` caching, even on dynamic pages.
    AggressiveCaching,
    /// Pages over a megabyte, streamed in chunks.
    LargePages,
    /// Refuses requests that lack `X-Forwarded-For`.
    RequiresXff,
}

impl Quirk {
    /// The slug of the quirk, as written in `sites.toml`.
    pub fn slug(self) -> &'static str {
        match self {
            Quirk::Windows1256 => "windows-1256",
            Quirk::Iso88591 => "iso-8859-1",
            Quirk::AbsoluteLinks => "absolute-links",
            Quirk::AbsoluteForms => "absolute-forms",
            Quirk::Frames => "frames",
            Quirk::LegacyCookies => "legacy-cookies",
            Quirk::Jsessionid => "jsessionid",
            Quirk::BasicAuth => "basic-auth",
            Quirk::ApiKey => "api-key",
            Quirk::Soap => "soap",
            Quirk::Slow => "slow",
            Quirk::Flaky => "flaky",
            Quirk::SelfRedirects => "self-redirects",
            Quirk::NoCacheHeaders => "no-cache-headers",
            Quirk::AggressiveCaching => "aggressive-caching",
            Quirk::LargePages => "large-pages",
            Quirk::RequiresXff => "requires-xff",
        }
    }
}

/// A text given in Arabic and in French.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The Arabic version.
    pub ar: String,
    /// The French version.
    pub fr: String,
}

/// One legacy site of the estate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// Stable identifier, also the gateway's service id.
    pub id: String,
    /// The legacy hostname (lowercase, no port).
    pub host: String,
    /// Base path of the site on its host: `/` or `/something` (no trailing slash).
    #[serde(default = "root_path")]
    pub path: String,
    /// The quirks the site shows.
    pub quirks: Vec<Quirk>,
    /// Name of the service.
    pub title: Text,
    /// The administration running it.
    pub owner: Text,
    /// One-sentence description of the service.
    pub summary: Text,
}

fn root_path() -> String {
    "/".to_string()
}

impl Site {
    /// Whether the site shows `quirk`.
    pub fn has(&self, quirk: Quirk) -> bool {
        self.quirks.contains(&quirk)
    }

    /// The base path without trailing slash: `""` for a site at the root.
    pub fn base(&self) -> &str {
        self.path.trim_end_matches('/')
    }

    /// The site's home as the legacy site itself would spell it: `http://<host><base>/`.
    pub fn url(&self) -> String {
        format!("http://{}{}/", self.host, self.base())
    }

    /// Whether `path` (a request path) falls under this site's base path.
    pub fn contains_path(&self, path: &str) -> bool {
        let base = self.base();
        base.is_empty()
            || path == base
            || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
    }
}

#[derive(Deserialize)]
struct Catalog {
    site: Vec<Site>,
}

struct Index {
    sites: Vec<Site>,
    by_host: HashMap<String, Vec<usize>>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        // The catalog is compiled into the binary; a parse failure is a bug in
        // `sites.toml` caught by the crate's tests, not a runtime condition.
        let catalog: Catalog = toml::from_str(CATALOG).expect("embedded sites.toml is valid");
        let mut sites = catalog.site;
        for site in &mut sites {
            site.host = site.host.to_ascii_lowercase();
            let trimmed = site.path.trim_end_matches('/');
            site.path = if trimmed.is_empty() {
                "/".to_string()
            } else {
                trimmed.to_string()
            };
        }
        let mut by_host: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, site) in sites.iter().enumerate() {
            by_host.entry(site.host.clone()).or_default().push(i);
        }
        // Longest base path first, so the first match is the most specific one.
        for list in by_host.values_mut() {
            list.sort_by_key(|&i| std::cmp::Reverse(sites[i].base().len()));
        }
        Index { sites, by_host }
    })
}

/// Every site of the estate, in catalog order.
pub fn sites() -> &'static [Site] {
    &index().sites
}

/// The site with this id.
pub fn site(id: &str) -> Option<&'static Site> {
    sites().iter().find(|s| s.id == id)
}

/// The site serving `path` on `host`: the longest base path that prefixes it.
///
/// `host` may carry a port and any case; both are normalised.
pub fn site_for(host: &str, path: &str) -> Option<&'static Site> {
    route(host, path).map(|i| &sites()[i])
}

/// Index (in [`sites`]) of the site serving `path` on `host`.
pub(crate) fn route(host: &str, path: &str) -> Option<usize> {
    let index = index();
    let host = normalise_host(host);
    let candidates = index.by_host.get(&host)?;
    candidates
        .iter()
        .copied()
        .find(|&i| index.sites[i].contains_path(path))
}

/// Lowercases a `Host` header value and strips its port (IPv6 literals kept).
pub(crate) fn normalise_host(host: &str) -> String {
    let host = host.trim();
    let without_port = if let Some(rest) = host.strip_prefix('[') {
        match rest.find(']') {
            Some(end) => &host[..end + 2],
            None => host,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_56_sites_with_unique_ids() {
        let all = sites();
        assert_eq!(all.len(), 56);
        let mut ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 56);
    }

    #[test]
    fn host_normalisation_strips_port_and_case() {
        assert_eq!(normalise_host("WWW.Tax.gov.ma:8080"), "www.tax.gov.ma");
        assert_eq!(normalise_host("[::1]:80"), "[::1]");
        assert_eq!(normalise_host("127.0.0.1"), "127.0.0.1");
    }

    #[test]
    fn base_path_matches_on_segment_boundaries() {
        let vat = site("vat-declaration").expect("vat site");
        assert!(vat.contains_path("/vat-declaration"));
        assert!(vat.contains_path("/vat-declaration/ws"));
        assert!(!vat.contains_path("/vat-declarationx"));
    }
}

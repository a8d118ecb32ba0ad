//! Legacy URLs → where the service lives now, for every link of every page.
//!
//! Legacy sites write links to themselves in every style: absolute (`http://www.tax.gov.ma/...`),
//! protocol-relative (`//www.tax.gov.ma/...`), root-relative (`/vat-declaration/...`), and
//! sometimes to the internal address they are deployed at (`http://127.0.0.1:9400/...`). Under
//! the portal each service lives either at a path of the portal origin (`/s/<id>/`) or on an
//! origin of its own (`https://<id>.services.gov.ma`), so all of those must be rewritten or the
//! citizen falls off the portal (or onto a host that does not answer from the internet). A
//! mount's target is that path prefix or that origin; a link from a service's page to its own
//! origin becomes root-relative, a link to another service's origin absolute.
//!
//! [`LinkMap`] is compiled once per registry snapshot; [`LinkMap::rewrite`] is the hot path
//! (it runs for every URL-bearing attribute and header), so it does not allocate unless it
//! produces a new URL (or the URL holds the rare tab, backslash or dot segment a browser
//! would read differently from its bytes), and looks a host up with one hash probe.

use crate::paths::{resolve_dot_segments, strip_base};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// A mount that cannot be compiled into a [`LinkMap`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkMapError {
    #[error("{0:?} is not a host name or host:port authority")]
    Authority(String),
    #[error("base path {0:?} must be \"/\" or start with '/' and not end with '/'")]
    Base(String),
    #[error("target {0:?} must be a path prefix (\"/s/<id>\") or an origin (\"https://host[:port]\"), without a trailing '/'")]
    Prefix(String),
}

#[derive(Debug, Clone)]
struct Mount {
    /// Path the service owns on that authority: `/` or `/base`.
    base: Box<str>,
    /// Where it lives now: `/s/<id>` on the portal, or its own origin `https://<id>.<domain>`
    /// (no trailing slash either way).
    prefix: Box<str>,
}

/// Whether `target` is a mount target: a path prefix, or an `http(s)://authority` origin.
fn valid_target(target: &str) -> bool {
    if target.ends_with('/') {
        return false;
    }
    if target.starts_with('/') {
        return true;
    }
    let authority = target
        .strip_prefix("https://")
        .or_else(|| target.strip_prefix("http://"));
    authority.is_some_and(|a| {
        !a.is_empty() && !a.contains(['/', '?', '#', '@', '\\']) && authority_key(a).is_some()
    })
}

/// Collects the mounts of one registry snapshot; [`LinkMapBuilder::build`] freezes them.
#[derive(Debug, Default, Clone)]
pub struct LinkMapBuilder {
    by_authority: AuthorityMap,
}

/// Authority → mounts. Looked up for every link, so hashed with FNV-1a rather than SipHash:
/// the keys are fixed when the snapshot is built, and lookups with hostile keys cannot make
/// a fixed table of a few dozen entries degrade.
type AuthorityMap = HashMap<String, Vec<Mount>, BuildHasherDefault<Fnv1a>>;

struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl LinkMapBuilder {
    /// An empty builder, one per registry snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// A service's public legacy address: `http(s)://<host><base>/...` now lives at
    /// `<prefix>/...`. Default ports are ignored when matching, so `host` is usually bare.
    pub fn add_legacy(&mut self, host: &str, base: &str, prefix: &str) -> Result<(), LinkMapError> {
        self.add(host, base, prefix)
    }

    /// The internal address a service's backend is reached at (`127.0.0.1:9400`), so a legacy
    /// site that redirects or links to its own deployment address is mapped too. The port must
    /// match exactly unless it is 80 or 443. Several services may share one backend
    /// authority: then the current service's own mount wins (see [`LinkMap::rewrite`]).
    pub fn add_upstream(
        &mut self,
        authority: &str,
        base: &str,
        prefix: &str,
    ) -> Result<(), LinkMapError> {
        self.add(authority, base, prefix)
    }

    fn add(&mut self, authority: &str, base: &str, prefix: &str) -> Result<(), LinkMapError> {
        let key = authority_key(authority.trim())
            .ok_or_else(|| LinkMapError::Authority(authority.to_string()))?;
        if !valid_base(base) {
            return Err(LinkMapError::Base(base.to_string()));
        }
        if !valid_target(prefix) {
            return Err(LinkMapError::Prefix(prefix.to_string()));
        }
        let mounts = self.by_authority.entry(key.into_owned()).or_default();
        mounts.push(Mount {
            base: base.into(),
            prefix: prefix.into(),
        });
        // Longest base first so `/vat-declaration` wins over `/`; the sort is stable, so among
        // equal bases the first registered stays first.
        mounts.sort_by_key(|m| std::cmp::Reverse(m.base.len()));
        Ok(())
    }

    /// Freezes the mounts.
    pub fn build(self) -> LinkMap {
        LinkMap {
            by_authority: self.by_authority,
        }
    }
}

fn valid_base(base: &str) -> bool {
    base == "/" || (base.starts_with('/') && !base.ends_with('/'))
}

/// Which page a link was found on: root-relative links resolve against its legacy host, and
/// when several services share one backend address its own mount is preferred.
///
/// Built once per service; cloning it (once per handler of every rewritten page) only bumps
/// a reference count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLinks(Arc<ServicePage>);

#[derive(Debug, PartialEq, Eq)]
struct ServicePage {
    authority: Box<str>,
    prefix: Box<str>,
}

impl ServiceLinks {
    /// `legacy_host` is the host (or host:port) the service's pages are written for;
    /// `prefix` is where it lives now, as its mounts name it (`/s/<id>`, or its origin).
    pub fn new(legacy_host: &str, prefix: &str) -> Self {
        let authority = authority_key(legacy_host.trim())
            .map(Cow::into_owned)
            .unwrap_or_default();
        Self(Arc::new(ServicePage {
            authority: authority.into(),
            prefix: prefix.trim_end_matches('/').into(),
        }))
    }

    /// Where the service lives now, `/s/<id>` or its origin.
    pub fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// Whether the service lives on an origin of its own (not a path of the portal's).
    fn on_own_origin(&self) -> bool {
        !self.0.prefix.starts_with('/')
    }
}

/// Legacy and backend addresses → portal paths, compiled once per registry snapshot.
#[derive(Debug, Default, Clone)]
pub struct LinkMap {
    by_authority: AuthorityMap,
}

impl LinkMap {
    /// The portal path for `url` as written on a page of `current`, or `None` when the URL is
    /// left as it is: relative URLs (`form.php`, `../x`, `?q`, `#a`), other schemes (`mailto:`,
    /// `javascript:`, `data:`), hosts the portal does not serve, and paths no service owns.
    ///
    /// Absolute (`http://`, `https://`, any case, default ports ignored) and protocol-relative
    /// (`//host/...`) URLs are looked up by their host; root-relative ones (`/x/...`) by the
    /// current service's legacy host, so a link to a sibling service on the same host lands
    /// in that sibling. Query and fragment are kept byte for byte.
    ///
    /// The path is read as a browser reads it before the mount is looked up: tabs and
    /// newlines dropped, `\` taken as `/`, dot segments resolved. So
    /// `/vat-declaration/../portail/` is looked up as `/portail/` and never becomes a path
    /// under `/s/vat-declaration/` that the browser would resolve into another service.
    pub fn rewrite(&self, url: &str, current: &ServiceLinks) -> Option<String> {
        self.rewrite_with(url, current, Written::Markup)
    }

    /// [`Self::rewrite`] for a URL written in code (a script, an event handler), where the
    /// page's code may build on it: an absolute URL stays absolute and a protocol-relative
    /// one protocol-relative, on the service's own origin too (where `rewrite` makes a link
    /// to the service itself root-relative). Found in a bypass probe:
    /// `new URL("a/b", "http://www.cnie.ma/")` threw once its base was `"/"`, and
    /// `location.protocol + "//www.cnie.ma/x"` became `"http:/x"`. (With services under the
    /// portal's `/s/<id>/` paths, the portal's origin is not known here: paths are given.)
    pub fn rewrite_in_code(&self, url: &str, current: &ServiceLinks) -> Option<String> {
        let new = self.rewrite_with(url, current, Written::Code)?;
        let protocol_relative = trim_html_space(url).starts_with("//");
        match new.split_once("://") {
            Some((_, rest)) if protocol_relative => Some(format!("//{rest}")),
            _ => Some(new),
        }
    }

    /// A root-relative path written as a string in code (`MM_preloadImages('/cnie-renewal/img/
    /// logo.gif')`), rewritten only when it lies under a base a service owns below the root
    /// of its legacy host (`/cnie-renewal`): there it names that service's page beyond doubt,
    /// and left alone it asks the service's origin for `/cnie-renewal/cnie-renewal/...`
    /// (found when tried: the estate's preloaded logo, a 404 on every page of such a site).
    /// A path on a site owning its host's root (`"/"`, `"/a/b"` in a date or a regex) is
    /// left as written: it is the same path on the service's origin.
    pub fn rewrite_path_in_code(&self, path: &str, current: &ServiceLinks) -> Option<String> {
        let b = path.as_bytes();
        if b.first() != Some(&b'/') || b.get(1).is_some_and(|&c| is_slash(c)) {
            return None;
        }
        self.rewrite_with(path, current, Written::PathInCode)
    }

    fn rewrite_with(&self, url: &str, current: &ServiceLinks, written: Written) -> Option<String> {
        let url = trim_html_space(url);
        let without_tabs;
        let url = if memchr::memchr3(b'\t', b'\n', b'\r', url.as_bytes()).is_some() {
            without_tabs = url.replace(['\t', '\n', '\r'], "");
            &without_tabs
        } else {
            url
        };
        let (authority, rest) = split_url(url)?;
        let key: Cow<'_, str> = match authority {
            Some(a) => authority_key(a)?,
            None => Cow::Borrowed(&*current.0.authority),
        };
        let mounts = self.by_authority.get(&*key)?;
        let path_end = memchr::memchr2(b'?', b'#', rest.as_bytes()).unwrap_or(rest.len());
        let (path, suffix) = rest.split_at(path_end);
        let slashed: Cow<'_, str> = match path {
            "" => Cow::Borrowed("/"),
            p if p.contains('\\') => Cow::Owned(p.replace('\\', "/")),
            p => Cow::Borrowed(p),
        };
        let path = resolve_dot_segments(&slashed);
        let mut found: Option<(&Mount, &str)> = None;
        for m in mounts {
            if let Some((best, _)) = found {
                if best.base.len() > m.base.len() {
                    break;
                }
            }
            if let Some(under) = strip_base(&m.base, &path) {
                if found.is_none() || *m.prefix == *current.0.prefix {
                    found = Some((m, under));
                }
            }
        }
        let (mount, under) = found?;
        if written == Written::PathInCode && *mount.base == *"/" {
            return None;
        }
        let mut out = String::with_capacity(mount.prefix.len() + under.len() + suffix.len());
        // On its own origin, a link to the service itself is root-relative (the page is
        // served from that origin); to any other service, absolute.
        let own_origin = current.on_own_origin() && *mount.prefix == *current.0.prefix;
        let absolute = written == Written::Code && split_url(url).is_some_and(|(a, _)| a.is_some());
        if absolute || !own_origin {
            out.push_str(&mount.prefix);
        }
        out.push_str(under);
        out.push_str(suffix);
        (out != url).then_some(out)
    }

    /// Whether no mount was registered.
    pub fn is_empty(&self) -> bool {
        self.by_authority.is_empty()
    }
}

/// Where a URL being rewritten was written, which decides what may be rewritten and how.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Written {
    /// An attribute or header: any URL the map knows, made root-relative on its own origin.
    Markup,
    /// Code: an absolute URL stays absolute ([`LinkMap::rewrite_in_code`]).
    Code,
    /// A root-relative path in code: only under a base below a host's root
    /// ([`LinkMap::rewrite_path_in_code`]).
    PathInCode,
}

/// `s` without HTML's "ASCII whitespace" around it, which browsers strip from URLs.
fn trim_html_space(s: &str) -> &str {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r');
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_space(c)).unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|&c| !is_space(c))
        .map_or(start, |i| i + 1);
    // Both ends sit next to ASCII bytes, so they are character boundaries.
    s.get(start..end).unwrap_or_default()
}

fn is_slash(b: u8) -> bool {
    b == b'/' || b == b'\\'
}

/// Splits a URL the portal may map into (authority, path-and-rest). The authority is `None`
/// for root-relative URLs. Anything else (relative, other schemes) is `None`.
fn split_url(url: &str) -> Option<(Option<&str>, &str)> {
    let b = url.as_bytes();
    let after_scheme = match b.first()? {
        b'/' | b'\\' => 0,
        b'h' | b'H' => {
            let colon = if b.len() > 5 && b[..5].eq_ignore_ascii_case(b"https") {
                5
            } else if b.len() > 4 && b[..4].eq_ignore_ascii_case(b"http") {
                4
            } else {
                return None;
            };
            if b[colon] != b':' {
                return None;
            }
            colon + 1
        }
        _ => return None,
    };
    let tail = &url[after_scheme..];
    let tb = tail.as_bytes();
    let has_authority = tb.len() >= 2 && is_slash(tb[0]) && is_slash(tb[1]);
    if !has_authority {
        // `http:foo` is relative in browsers' eyes; only a bare `/path` (or `\path`) is
        // root-relative.
        return (after_scheme == 0 && tb.first().copied().is_some_and(is_slash))
            .then_some((None, tail));
    }
    let auth_and_rest = &tail[2..];
    let end = auth_and_rest
        .bytes()
        .position(|c| matches!(c, b'/' | b'\\' | b'?' | b'#'))
        .unwrap_or(auth_and_rest.len());
    let (authority, rest) = auth_and_rest.split_at(end);
    if authority.is_empty() {
        return None;
    }
    Some((Some(authority), rest))
}

/// Whether two backend authorities (`host[:port]`) are one key of the address map: what a
/// check of who may claim an address must compare (case, a trailing dot and the default
/// ports 80 and 443 aside, as the map reads them).
pub fn same_authority(a: &str, b: &str) -> bool {
    matches!((authority_key(a), authority_key(b)), (Some(x), Some(y)) if x == y)
}

/// Normalizes `[userinfo@]host[:port]` to the key mounts are stored under: lowercase host
/// without the trailing dot of a fully qualified name (`www.cnie.ma.` is the same site, and
/// the gateway routes it), with `:port` kept only when it is not 80 or 443. `None` if it is
/// not an authority.
fn authority_key(authority: &str) -> Option<Cow<'_, str>> {
    let at = memchr::memrchr(b'@', authority.as_bytes()).map_or(0, |i| i + 1);
    // After an ASCII '@', so a character boundary.
    let hostport = authority.get(at..)?;
    let b = hostport.as_bytes();
    let mut colon = None;
    let mut upper = false;
    let mut close = None;
    let mut spelt = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b':' => colon = Some(i),
            b']' => close = Some(i),
            b'A'..=b'Z' => upper = true,
            b'%' | 0x80.. => spelt = true,
            0..=b' ' | 0x7f | b'/' | b'\\' | b'?' | b'#' | b'@' => return None,
            _ => {}
        }
    }
    let host_end = if b.first() == Some(&b'[') {
        // An IPv6 literal: the port, if any, comes right after the closing bracket.
        let close = close?;
        match b.get(close + 1) {
            None => b.len(),
            Some(b':') => close + 1,
            Some(_) => return None,
        }
    } else {
        colon.unwrap_or(b.len())
    };
    if host_end == 0 {
        return None;
    }
    let port = hostport.get(host_end + 1..).unwrap_or_default();
    let default_port = matches!(port, "" | "80" | "443");
    if !default_port && (port.len() > 5 || !port.bytes().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let host = hostport.get(..host_end)?;
    let (host, dotted) = match host.strip_suffix('.') {
        Some(bare) if !host.starts_with('[') => (bare, true),
        _ => (host, false),
    };
    if host.is_empty() || host.ends_with('.') {
        return None;
    }
    if spelt {
        // As a browser's URL parser reads a host: its escapes decoded and mapped to ASCII
        // (IDNA: full-width letters, the ideographic full stop). Found in a bypass probe:
        // `legacy%2eprobe.ma`, `%6cegacy.probe.ma`, `ｌegacy.probe.ma` and
        // `legacy。probe。ma` all led the browser to the legacy host, untouched.
        let decoded = percent_encoding::percent_decode_str(host)
            .decode_utf8()
            .ok()?;
        let mut key = idna::domain_to_ascii(&decoded).ok()?;
        key = key.trim_end_matches('.').to_string();
        if key.is_empty() {
            return None;
        }
        if !default_port {
            key.push(':');
            key.push_str(port);
        }
        return Some(Cow::Owned(key));
    }
    match (default_port, upper || dotted) {
        (true, false) => Some(Cow::Borrowed(host)),
        (false, false) => Some(Cow::Borrowed(hostport)),
        (default_port, true) => {
            let mut key = host.to_ascii_lowercase();
            if !default_port {
                key.push(':');
                key.push_str(port);
            }
            Some(Cow::Owned(key))
        }
    }
}

/// Runs a text rewrite on raw bytes: UTF-8 as it is, anything else read one byte per
/// character (Latin-1) and written back the same way. The rewrites only look at and insert
/// ASCII, so either way every other byte comes out exactly as it went in.
pub(crate) fn on_bytes(
    value: &[u8],
    rewrite: impl FnOnce(&str) -> Option<String>,
) -> Option<Vec<u8>> {
    if let Ok(text) = std::str::from_utf8(value) {
        return rewrite(text).map(String::into_bytes);
    }
    let latin1: String = value.iter().copied().map(char::from).collect();
    rewrite(&latin1)?
        .chars()
        .map(|c| u8::try_from(c).ok())
        .collect()
}

#[cfg(test)]
mod tests;

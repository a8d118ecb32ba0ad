//! Cookies between citizens' browsers and 56 legacy sites sharing one portal origin.
//!
//! On the portal every legacy site shares one host name, so a cookie left as the site set it
//! (`JSESSIONID=...; Path=/; Domain=www.cnie.ma`) would either be refused (foreign `Domain`)
//! or be sent to every other service, and two Java sites would overwrite each other's
//! `JSESSIONID`. Response side, [`scope_set_cookie_headers`] confines each cookie to its
//! service's `/s/<id>/` path and refuses the names the portal keeps for itself. Request
//! side, [`forwarded_cookies`] keeps the gateway's own cookies (the portal session) from
//! ever reaching a legacy site.
//!
//! A legacy cookie also outlives the citizen it was set for: on a shared computer, after
//! Amina logs out (or walks away and her session times out) and Youssef logs in, the
//! browser still holds Amina's `JSESSIONID` (or a "remember me" until 2037) and would send
//! it to the site beside Youssef's identity. So a cookie set in a signed-in answer gets a
//! companion, `egov_bound_<name>` ([`BINDING_PREFIX`]), with the same path and lifetime,
//! `HttpOnly`, whose value is a keyed digest of the session and the cookie's name and value
//! ([`CookieBinding`]); a copy of a bound name goes to the site only if a companion of its
//! name is that copy's digest under the request's session. The cookie's own name and value are left as the
//! site wrote them, so a page script reading it (a double-submit CSRF token) still reads
//! what the site set.

use crate::headers::HeaderEdit;
use crate::paths::strip_base;
use http::header::SET_COOKIE;
use http::HeaderValue;

/// Where one service's cookies must live on the portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieScope {
    /// The service's portal prefix, `/s/<id>` (no trailing slash).
    pub portal_prefix: String,
    /// The path the service owns on its legacy host: `/` or `/base`.
    pub legacy_base: String,
    /// Whether citizens reach the portal over HTTPS. When not, `Secure` is dropped, since a
    /// browser refuses a `Secure` cookie from a plain-HTTP origin.
    pub portal_https: bool,
}

/// A legacy `Set-Cookie` value scoped to the service: `Domain` dropped, `Path` moved under
/// the portal prefix (added when missing), `Secure` dropped on a plain-HTTP portal, every
/// other attribute and the cookie's name and value kept byte for byte.
///
/// `None` means "drop this Set-Cookie": the value has no `name=` pair, or the name is one of
/// the portal's own ([`portal_reserved`]). A legacy site must never set those: scoped under
/// `/s/<id>/`, its longer path would make browsers send it before the portal's session
/// cookie on every request to that service, fixing the session the portal sees.
///
/// On a plain-HTTP portal a `SameSite=None` attribute is dropped with `Secure`, because
/// browsers reject `SameSite=None` without `Secure`. A legacy `__Host-` cookie cannot keep
/// its guarantees under a service prefix and will be refused by the browser.
///
/// Header values that are not valid UTF-8 (a legacy value in windows-1256) go through
/// [`scope_set_cookie_bytes`].
pub fn scope_set_cookie(value: &str, scope: &CookieScope) -> Option<String> {
    // Only whole UTF-8 slices and ASCII are written, so the output is UTF-8 too.
    String::from_utf8(scope_set_cookie_bytes(value.as_bytes(), scope)?).ok()
}

/// [`scope_set_cookie`] on a header's raw bytes: name and value may hold any byte a legacy
/// site sends (bytes ≥ 0x80 included, which `HeaderValue::to_str` refuses) and are copied
/// verbatim; only the ASCII attributes are read and rewritten.
pub fn scope_set_cookie_bytes(value: &[u8], scope: &CookieScope) -> Option<Vec<u8>> {
    let mut parts = value.split(|&b| b == b';');
    let pair = trim(parts.next()?);
    let eq = memchr::memchr(b'=', pair)?;
    let name = trim(&pair[..eq]);
    if name.is_empty() || reserved_name(name) {
        return None;
    }
    let prefix = scope.portal_prefix.trim_end_matches('/');
    let mut out = Vec::with_capacity(value.len() + prefix.len() + 8);
    out.extend_from_slice(pair);
    let mut path_written = false;
    let attrs: Vec<&[u8]> = parts.map(trim).filter(|a| !a.is_empty()).collect();
    // Browsers honour the last Path attribute; it is written where the first one was.
    let legacy_path = attrs
        .iter()
        .rev()
        .find(|a| attr_name(a).eq_ignore_ascii_case(b"path"))
        .map(|a| attr_value(a));
    for attr in &attrs {
        let name = attr_name(attr);
        if name.eq_ignore_ascii_case(b"domain") {
            continue;
        }
        if name.eq_ignore_ascii_case(b"secure") && !scope.portal_https {
            continue;
        }
        if name.eq_ignore_ascii_case(b"samesite")
            && !scope.portal_https
            && attr_value(attr).eq_ignore_ascii_case(b"none")
        {
            continue;
        }
        if name.eq_ignore_ascii_case(b"path") {
            if !path_written {
                out.extend_from_slice(b"; ");
                write_path(&mut out, prefix, &scope.legacy_base, legacy_path);
                path_written = true;
            }
        } else {
            out.extend_from_slice(b"; ");
            out.extend_from_slice(attr);
        }
    }
    if !path_written {
        out.extend_from_slice(b"; ");
        write_path(&mut out, prefix, &scope.legacy_base, None);
    }
    Some(out)
}

/// Every `Set-Cookie` of a response scoped in place with [`scope_set_cookie_bytes`], on the
/// raw header bytes so a cookie whose value is not visible ASCII is kept, not lost; the ones
/// it refuses are removed. In an answer to a signed-in citizen (`bound_to`), each cookie is
/// followed by its companion binding it to her session ([`binding_set_cookie`]).
pub fn scope_set_cookie_headers(
    headers: &mut impl HeaderEdit,
    scope: &CookieScope,
    bound_to: Option<&CookieBinding>,
) {
    let cookies = headers.get_all(&SET_COOKIE);
    if cookies.is_empty() {
        return;
    }
    headers.remove(&SET_COOKIE);
    for c in cookies {
        let Some(scoped) = scope_set_cookie_bytes(c.as_bytes(), scope) else {
            continue;
        };
        let companion = bound_to.map(|b| binding_set_cookie(&scoped, b));
        if let Ok(v) = HeaderValue::from_bytes(&scoped) {
            headers.append(SET_COOKIE, v);
            if let Some(Ok(v)) = companion.map(|c| HeaderValue::from_bytes(&c)) {
                headers.append(SET_COOKIE, v);
            }
        }
    }
}

/// The name prefix of a legacy cookie's companion: `egov_bound_JSESSIONID` says which
/// session `JSESSIONID` was set in. A portal name ([`portal_reserved`]): never forwarded,
/// never set by a legacy site.
pub const BINDING_PREFIX: &str = "egov_bound_";

/// The session a legacy cookie belongs to: a key only the gateway can make (a digest of the
/// session's secret id, never sent anywhere), under which each cookie's companion is the
/// digest of its name and value ([`Self::companion`]). A page can neither read a companion
/// (`HttpOnly`) nor make one that passes for another session or another value; and since
/// each copy of a name is checked against its own digest, not paired with a companion by
/// position, cookies a page script adds cannot shift a stale copy onto the next citizen
/// (found when reviewed).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CookieBinding([u8; 32]);

impl CookieBinding {
    /// The binding keyed by `digest` (a digest of the session's secret id).
    pub fn from_digest(digest: &[u8; 32]) -> Self {
        Self(*digest)
    }

    /// The companion's value for cookie `name=value` under this session: hex of the first
    /// half of SHA-256 over the key, the name's length, the name and the value.
    pub fn companion(&self, name: &[u8], value: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        let name_len = u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes();
        let digest = sha2::Sha256::new()
            .chain_update(self.0)
            .chain_update(name_len)
            .chain_update(name)
            .chain_update(value)
            .finalize();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in digest[..16].iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
        out
    }
}

impl std::fmt::Debug for CookieBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieBinding(..)")
    }
}

/// The companion of a scoped legacy `Set-Cookie`: `egov_bound_<name>=<digest>` (see
/// [`CookieBinding::companion`]) with the cookie's own attributes (path, lifetime,
/// `Secure`, `SameSite`: it lives and dies with it, a deletion deletes both) and
/// `HttpOnly`.
pub fn binding_set_cookie(scoped: &[u8], binding: &CookieBinding) -> Vec<u8> {
    let mut parts = scoped.split(|&b| b == b';');
    let pair = trim(parts.next().unwrap_or_default());
    let (name, value) = match memchr::memchr(b'=', pair) {
        Some(eq) => (trim(&pair[..eq]), trim(&pair[eq + 1..])),
        None => (pair, &[][..]),
    };
    let mut out = Vec::with_capacity(scoped.len() + BINDING_PREFIX.len() + 48);
    out.extend_from_slice(BINDING_PREFIX.as_bytes());
    out.extend_from_slice(name);
    out.push(b'=');
    out.extend_from_slice(&binding.companion(name, value));
    for attr in parts.map(trim).filter(|a| !a.is_empty()) {
        if !attr_name(attr).eq_ignore_ascii_case(b"httponly") {
            out.extend_from_slice(b"; ");
            out.extend_from_slice(attr);
        }
    }
    out.extend_from_slice(b"; HttpOnly");
    out
}

/// `s` without the spaces and tabs HTTP allows around cookie parts.
fn trim(s: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t');
    let start = s.iter().position(|b| !is_ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !is_ws(b)).map_or(start, |i| i + 1);
    &s[start..end]
}

fn attr_name(attr: &[u8]) -> &[u8] {
    trim(attr.split(|&b| b == b'=').next().unwrap_or_default())
}

fn attr_value(attr: &[u8]) -> &[u8] {
    memchr::memchr(b'=', attr).map_or(&[][..], |i| trim(&attr[i + 1..]))
}

/// `Path=<prefix><part under the legacy base>`, or `<prefix>/` when the legacy path is
/// missing, not absolute, not UTF-8, or outside the service's base.
fn write_path(out: &mut Vec<u8>, prefix: &str, legacy_base: &str, legacy_path: Option<&[u8]>) {
    out.extend_from_slice(b"Path=");
    out.extend_from_slice(prefix.as_bytes());
    let under = legacy_path
        .and_then(|p| std::str::from_utf8(p).ok())
        .filter(|p| p.starts_with('/'))
        .and_then(|p| strip_base(legacy_base, p))
        .unwrap_or("/");
    out.extend_from_slice(under.as_bytes());
}

/// Whether a cookie name belongs to the gateway itself (its session and CSRF cookies), which
/// must never be forwarded to a legacy site, nor set by one.
pub fn portal_reserved(name: impl AsRef<[u8]>) -> bool {
    reserved_name(name.as_ref())
}

fn reserved_name(name: &[u8]) -> bool {
    name.starts_with(b"egov_")
        || name.starts_with(b"__Host-egov")
        || name.starts_with(b"__Secure-egov")
}

/// The most copies of bound names one request has checked against their companions
/// (browsers keep about 180 cookies for a site).
const MAX_CHECKED_COPIES: usize = 256;

/// The `Cookie` header a legacy site gets from a request's `Cookie` headers (HTTP/2 sends
/// one per cookie), on their raw bytes (a legacy site's windows-1256 value comes back as it
/// was set): every cookie but the portal's own ([`portal_reserved`]) and the copies of bound
/// names that are not bound to `bound_to` (the request's session, `None` for a request
/// without one); `None` when nothing is left, so the header is removed rather than sent
/// empty.
///
/// A name is bound when the request carries a companion for it ([`BINDING_PREFIX`]); then
/// a copy goes only if one of those companions is its own digest under `bound_to`
/// ([`CookieBinding::companion`]): the previous citizen's copy under `/dossier/` is kept
/// back while the next one's at `/` goes (found when tried), and so is a copy a page script
/// set beside them. A name with no companion at all (set by a page script, or by an answer
/// to nobody signed in) goes as it is, unless the request is signed in and `site_sets` says
/// the legacy site sets that name itself: every cookie the site sets in a signed-in answer
/// comes with a companion, so such a copy was planted. Found when tried: a script on a
/// sibling service's compromised page set `JSESSIONID=<its own session>;
/// Domain=services.gov.ma`, and the citizen's first visit to another service took the
/// attacker's legacy session there (session fixation). Nor does a signed-in request's
/// unbound copy go whose name is no cookie name at all (RFC 6265's token: a byte beyond
/// visible ASCII, a space, a separator): no site sets one, and a legacy parser that trims
/// more than the gateway reads `\u{a0}JSESSIONID` as `JSESSIONID` (found when tried).
pub fn forwarded_cookies(
    values: &[&[u8]],
    bound_to: Option<&CookieBinding>,
    site_sets: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    let pairs = || values.iter().flat_map(|v| cookie_items(v));
    // Every companion, by bound name and value. Nearly always none, so nothing is
    // allocated; sorted and searched, not scanned, so a header of thousands of forged
    // companions costs a request no more than reading it.
    let mut companions: Vec<(&[u8], &[u8])> = pairs()
        .filter_map(split_pair)
        .filter_map(|(name, value)| Some((name.strip_prefix(BINDING_PREFIX.as_bytes())?, value)))
        .collect();
    companions.sort_unstable();
    // Digests computed: past MAX_CHECKED_COPIES (more cookies than a browser keeps for one
    // site), bound copies are kept back unchecked, so a header of thousands of copies
    // costs a request a bounded number of digests.
    let mut checked = 0usize;
    let mut out = Vec::new();
    for pair in pairs() {
        if let Some((name, value)) = split_pair(pair) {
            if reserved_name(name) {
                continue;
            }
            let bound = companions.partition_point(|c| c.0 < name);
            let has_companion = companions.get(bound).is_some_and(|c| c.0 == name);
            if !has_companion
                && bound_to.is_some()
                && (!is_token(name) || site_sets(name) || hides_a_cookie(value, &site_sets))
            {
                continue;
            }
            if has_companion {
                let Some(session) = bound_to else {
                    continue;
                };
                if checked == MAX_CHECKED_COPIES {
                    continue;
                }
                checked += 1;
                let own = session.companion(name, value);
                if companions.binary_search(&(name, &own[..])).is_err() {
                    continue;
                }
            }
        }
        if !out.is_empty() {
            out.extend_from_slice(b"; ");
        }
        out.extend_from_slice(pair);
    }
    (!out.is_empty()).then_some(out)
}

/// Whether `name` is an RFC 6265 cookie name (an RFC 9110 token): visible ASCII but the
/// separators.
fn is_token(name: &[u8]) -> bool {
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether `name` is the session cookie of a common server framework (Java servlets, PHP,
/// ASP and ASP.NET, ColdFusion, Express, Laravel, CodeIgniter, Django, Rails, Spring
/// Session, Play), which a legacy site sets whether or not the gateway has yet seen it do
/// so ([`forwarded_cookies`]'s `site_sets` for a site whose answers it has not read since
/// it started).
pub fn framework_session_name(name: &[u8]) -> bool {
    // In canonical form (see `canonical_cookie_name`).
    const EXACT: &[&[u8]] = &[
        b"jsessionid",
        b"jsessionidsso",
        b"phpsessid",
        b"asp_net_sessionid",
        b"_aspxauth",
        b"_aspxanonymous",
        b"cfid",
        b"cftoken",
        b"connect_sid",
        b"laravel_session",
        b"ci_session",
        b"sessionid",
        b"_session_id",
        b"session",
        b"play_session",
        b"rack_session",
    ];
    const PREFIXES: &[&[u8]] = &[b"aspsessionid", b"_aspnetcore_"];
    let name = canonical_cookie_name(name);
    EXACT.contains(&name.as_slice()) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether cookie `name` is one of the usual web-analytics scripts' (Google Analytics and
/// Ads, Matomo, Hotjar, Microsoft Clarity, Meta's pixel): set by a page's script for the
/// script's own use, read by no server to choose a page. Found when tried: with one of
/// them in the browser, every request of a cached public service bypassed the cache, as a
/// legacy session's cookie rightly makes it. Compared as sent (nothing is gained by
/// disguising another cookie as one: the page is then fetched without any cookie).
pub fn is_analytics_cookie(name: &[u8]) -> bool {
    const EXACT: &[&[u8]] = &[
        b"_ga", b"_gid", b"_gat", b"_fbp", b"_fbc", b"_clck", b"_clsk",
    ];
    const PREFIXES: &[&[u8]] = &[b"_ga_", b"_gat_", b"_gcl_", b"__utm", b"_pk_", b"_hj"];
    EXACT.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The items of a `Cookie` value (`a=1; b=2`), trimmed, the empty ones left out.
fn cookie_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b';')
        .map(trim)
        .filter(|p| !p.is_empty())
}

/// One item's name and value, trimmed; `None` without `=`.
fn split_pair(pair: &[u8]) -> Option<(&[u8], &[u8])> {
    let eq = memchr::memchr(b'=', pair)?;
    Some((trim(&pair[..eq]), trim(&pair[eq + 1..])))
}

/// The cookies in a `Cookie` value (`a=1; b=2`), as sent: `(name, value)`, the value empty
/// for an item without `=`.
pub fn cookie_pairs(value: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    cookie_items(value).map(|pair| split_pair(pair).unwrap_or((pair, &pair[pair.len()..])))
}

/// Whether the cookie `name=value` is an analytics script's and no more: its name is one
/// ([`is_analytics_cookie`]) and its value holds no comma or white space, behind which an
/// old parser (classic ASP, Tomcat's old one) would read another cookie (found when
/// tried: `_ga=1, JSESSIONID=abc` passed for analytics alone).
pub fn is_only_analytics(name: &[u8], value: &[u8]) -> bool {
    is_analytics_cookie(name) && !value.iter().any(|b| *b == b',' || b.is_ascii_whitespace())
}

/// A cookie name as the most forgiving legacy parser reads it, so a disguise cannot pass
/// for another name: URL-decoded (PHP before 7.2.34 decoded names, CVE-2020-7070:
/// `PHPSESS%49D` and `+PHPSESSID` are `PHPSESSID`), cut at a NUL, without leading spaces,
/// lower-cased (ASP.NET ignores case), and `.`, space and `[` as `_` (PHP reads
/// `laravel.session` as `laravel_session`). Found in review and by a bypass probe.
pub fn canonical_cookie_name(name: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut decoded = Vec::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let mut b = name[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                name.get(i + 1).and_then(|&c| hex(c)),
                name.get(i + 2).and_then(|&c| hex(c)),
            ) {
                b = (h * 16 + l) as u8;
                i += 2;
            }
        } else if b == b'+' {
            b = b' ';
        }
        // PHP's names end at a NUL byte (found by a bypass probe: `PHPSESSID%00x`).
        if b == 0 {
            break;
        }
        decoded.push(b);
        i += 1;
    }
    // PHP skips a name's leading spaces (`%20PHPSESSID`, `+PHPSESSID`).
    let start = decoded
        .iter()
        .position(|&b| b != b' ')
        .unwrap_or(decoded.len());
    decoded[start..]
        .iter()
        .map(|b| match b.to_ascii_lowercase() {
            b'.' | b' ' | b'[' => b'_',
            other => other,
        })
        .collect()
}

/// Whether a cookie's value hides another cookie for a parser that splits on more than
/// `;`: ASP.NET Core also splits on `,` and, after a pair it cannot read (a space, a `"` or
/// a `\` in its value), starts again one character on, so `lang=ar,.AspNetCore.Session=X`
/// (or `lang=a\.AspNetCore.Session=X`) reaches it as `.AspNetCore.Session=X` (found in
/// review and by a bypass probe). `site_sets` names the names
/// that matter.
///
/// One pass over the value: each piece after a separator is read once (found in review: a
/// search from every separator to the end of the value cost a hostile cookie of spaces
/// quadratic time on every request).
fn hides_a_cookie(value: &[u8], site_sets: &impl Fn(&[u8]) -> bool) -> bool {
    value
        .split(|b| matches!(b, b',' | b' ' | b'\t' | b'"' | b'\\'))
        .skip(1)
        .filter_map(|piece| memchr::memchr(b'=', piece).map(|eq| &piece[..eq]))
        .any(|name| !name.is_empty() && site_sets(name))
}

/// The name of a `Set-Cookie` value (`None` when it has no `name=` pair).
pub fn set_cookie_name(value: &[u8]) -> Option<&[u8]> {
    let pair = trim(value.split(|&b| b == b';').next()?);
    let eq = memchr::memchr(b'=', pair)?;
    let name = trim(&pair[..eq]);
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytics_cookies_are_told_from_a_sites_own() {
        for name in [
            "_ga",
            "_ga_X1Y2Z3",
            "_gid",
            "__utma",
            "_pk_id.1.abcd",
            "_hjSessionUser_1",
        ] {
            assert!(is_analytics_cookie(name.as_bytes()), "{name}");
        }
        for name in [
            "JSESSIONID",
            "lang",
            "_gateway",
            "ga",
            "PHPSESSID",
            "_session_id",
        ] {
            assert!(!is_analytics_cookie(name.as_bytes()), "{name}");
        }
        let pairs: Vec<(&[u8], &[u8])> = cookie_pairs(b"_ga=GA1.2.3; lang=a=r;; x").collect();
        assert_eq!(
            pairs,
            [
                (&b"_ga"[..], &b"GA1.2.3"[..]),
                (b"lang", b"a=r"),
                (b"x", b"")
            ]
        );
        assert!(is_only_analytics(b"_ga", b"GA1.2.111.222"));
        for hiding in [
            &b"1, JSESSIONID=abc"[..],
            b"1 ASP.NET_SessionId=abc",
            b"1\tx=y",
        ] {
            assert!(!is_only_analytics(b"_ga", hiding));
        }
    }

    fn scope(base: &str, https: bool) -> CookieScope {
        CookieScope {
            portal_prefix: "/s/cnss-insured-portal".into(),
            legacy_base: base.into(),
            portal_https: https,
        }
    }

    fn scoped(v: &str) -> Option<String> {
        scope_set_cookie(v, &scope("/cnss", true))
    }

    #[test]
    fn domain_is_dropped_and_root_path_moves_under_the_service() {
        assert_eq!(
            scoped("JSESSIONID=A1B2; Path=/; Domain=.macnss.ma; HttpOnly").as_deref(),
            Some("JSESSIONID=A1B2; Path=/s/cnss-insured-portal/; HttpOnly")
        );
    }

    #[test]
    fn a_path_under_the_legacy_base_keeps_its_tail() {
        assert_eq!(
            scoped("pref=ar; path=/cnss/espace").as_deref(),
            Some("pref=ar; Path=/s/cnss-insured-portal/espace")
        );
        assert_eq!(
            scoped("pref=ar; Path=/cnss").as_deref(),
            Some("pref=ar; Path=/s/cnss-insured-portal/")
        );
    }

    #[test]
    fn a_path_outside_the_legacy_base_becomes_the_service_root() {
        assert_eq!(
            scoped("x=1; Path=/autre").as_deref(),
            Some("x=1; Path=/s/cnss-insured-portal/")
        );
        assert_eq!(
            scoped("x=1; Path=/cnssX").as_deref(),
            Some("x=1; Path=/s/cnss-insured-portal/")
        );
    }

    #[test]
    fn a_missing_path_is_added_explicitly() {
        assert_eq!(
            scoped("lang=fr").as_deref(),
            Some("lang=fr; Path=/s/cnss-insured-portal/")
        );
    }

    #[test]
    fn secure_is_dropped_on_an_http_portal_and_kept_on_https() {
        let v = "sid=9; Secure; HttpOnly; SameSite=Lax";
        assert_eq!(
            scope_set_cookie(v, &scope("/", false)).as_deref(),
            Some("sid=9; HttpOnly; SameSite=Lax; Path=/s/cnss-insured-portal/")
        );
        assert_eq!(
            scope_set_cookie(v, &scope("/", true)).as_deref(),
            Some("sid=9; Secure; HttpOnly; SameSite=Lax; Path=/s/cnss-insured-portal/")
        );
    }

    #[test]
    fn samesite_none_goes_with_secure_on_an_http_portal() {
        assert_eq!(
            scope_set_cookie("sid=9; Secure; SameSite=None", &scope("/", false)).as_deref(),
            Some("sid=9; Path=/s/cnss-insured-portal/")
        );
    }

    #[test]
    fn value_bytes_and_other_attributes_are_kept_exactly() {
        assert_eq!(
            scoped("T=\"a b\"; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=60").as_deref(),
            Some("T=\"a b\"; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=60; Path=/s/cnss-insured-portal/")
        );
        assert_eq!(
            scoped("k=%D8%A7+=/==; max-age=0").as_deref(),
            Some("k=%D8%A7+=/==; max-age=0; Path=/s/cnss-insured-portal/")
        );
    }

    #[test]
    fn the_last_of_several_paths_wins() {
        assert_eq!(
            scoped("a=1; Path=/; Path=/cnss/x").as_deref(),
            Some("a=1; Path=/s/cnss-insured-portal/x")
        );
    }

    #[test]
    fn a_legacy_site_cannot_set_the_portal_s_own_cookies() {
        for v in [
            "egov_session=attacker; Path=/",
            " egov_login=x",
            "__Host-egov_session=x; Secure; Path=/",
            "__Secure-egov_login=x; Secure",
        ] {
            assert_eq!(scoped(v), None, "{v}");
        }
        assert_eq!(
            scope_set_cookie_bytes(b"egov_session=\xff", &scope("/", false)),
            None
        );
    }

    #[test]
    fn non_ascii_cookie_values_are_scoped_byte_for_byte() {
        assert_eq!(
            scope_set_cookie_bytes(
                b"nom=\xc7\xe1; Path=/cnss/x; Domain=a.ma",
                &scope("/cnss", true)
            )
            .as_deref(),
            Some(&b"nom=\xc7\xe1; Path=/s/cnss-insured-portal/x"[..])
        );
        assert_eq!(
            scoped("ville=Fès; path=/").as_deref(),
            Some("ville=Fès; Path=/s/cnss-insured-portal/")
        );
    }

    #[test]
    fn a_path_that_is_not_utf8_becomes_the_service_root() {
        assert_eq!(
            scope_set_cookie_bytes(b"a=1; Path=/cnss/\xe9", &scope("/cnss", true)).as_deref(),
            Some(&b"a=1; Path=/s/cnss-insured-portal/"[..])
        );
    }

    #[test]
    fn malformed_set_cookie_values_are_dropped() {
        assert_eq!(scoped("garbage"), None);
        assert_eq!(scoped("=novalue; Path=/"), None);
        assert_eq!(scoped(""), None);
    }

    #[test]
    fn set_cookie_headers_are_scoped_in_place_whatever_their_bytes() {
        let mut h = http::HeaderMap::new();
        for v in [
            &b"JSESSIONID=A1; Path=/; Domain=www.cnss.ma"[..],
            b"egov_session=fixed; Path=/",
            b"nom=\xc7\xe1",
        ] {
            h.append(
                SET_COOKIE,
                HeaderValue::from_bytes(v).expect("valid header"),
            );
        }
        scope_set_cookie_headers(&mut h, &scope("/", true), None);
        let values: Vec<&[u8]> = h.get_all(SET_COOKIE).iter().map(|v| v.as_bytes()).collect();
        assert_eq!(
            values,
            [
                &b"JSESSIONID=A1; Path=/s/cnss-insured-portal/"[..],
                b"nom=\xc7\xe1; Path=/s/cnss-insured-portal/",
            ]
        );
    }

    fn forwarded(header: &str, bound_to: Option<&CookieBinding>) -> Option<String> {
        forwarded_cookies(&[header.as_bytes()], bound_to, |_| false)
            .map(|v| String::from_utf8(v).expect("utf-8"))
    }

    fn binding(seed: u8) -> CookieBinding {
        CookieBinding::from_digest(&[seed; 32])
    }

    #[test]
    fn reserved_cookies_are_filtered_from_requests() {
        assert_eq!(
            forwarded(
                "egov_session=s3cr3t; JSESSIONID=A1; __Host-egov_csrf=t; lang=ar",
                None
            )
            .as_deref(),
            Some("JSESSIONID=A1; lang=ar")
        );
    }

    #[test]
    fn a_cookie_header_with_only_reserved_cookies_is_removed() {
        assert_eq!(forwarded("egov_session=1;__Secure-egov_x=2", None), None);
        assert_eq!(forwarded(" ; ", None), None);
    }

    #[test]
    fn cookies_of_every_cookie_header_are_joined() {
        assert_eq!(
            forwarded_cookies(&[b"a=1", b"egov_session=2", b"b=3"], None, |_| false).as_deref(),
            Some(&b"a=1; b=3"[..])
        );
    }

    /// `egov_bound_<name>=<companion of name=value under session>`.
    fn companion(session: &CookieBinding, name: &str, value: &str) -> String {
        let digest = session.companion(name.as_bytes(), value.as_bytes());
        format!(
            "egov_bound_{name}={}",
            std::str::from_utf8(&digest).expect("hex")
        )
    }

    #[test]
    fn a_cookie_bound_to_the_requests_session_goes_without_its_companion() {
        let amina = binding(1);
        let header = format!(
            "JSESSIONID=A1; {}; lang=ar",
            companion(&amina, "JSESSIONID", "A1")
        );
        assert_eq!(
            forwarded(&header, Some(&amina)).as_deref(),
            Some("JSESSIONID=A1; lang=ar")
        );
    }

    #[test]
    fn a_cookie_bound_to_another_session_does_not_go() {
        let (amina, youssef) = (binding(1), binding(2));
        let header = format!(
            "JSESSIONID=A1; {}; lang=ar",
            companion(&amina, "JSESSIONID", "A1")
        );
        assert_eq!(
            forwarded(&header, Some(&youssef)).as_deref(),
            Some("lang=ar")
        );
        assert_eq!(
            forwarded(&header, None).as_deref(),
            Some("lang=ar"),
            "a request without a session sends no session's cookie"
        );
    }

    #[test]
    fn of_two_copies_on_two_paths_only_the_one_bound_to_the_session_goes() {
        let (amina, youssef) = (binding(1), binding(2));
        // Amina's copy under /dossier/ (sent first: the longer path), Youssef's at /.
        let header = format!(
            "JSESSIONID=A; JSESSIONID=Y; {}; {}",
            companion(&amina, "JSESSIONID", "A"),
            companion(&youssef, "JSESSIONID", "Y")
        );
        assert_eq!(
            forwarded(&header, Some(&youssef)).as_deref(),
            Some("JSESSIONID=Y")
        );
        assert_eq!(
            forwarded(&header, Some(&amina)).as_deref(),
            Some("JSESSIONID=A")
        );
    }

    /// Found when tried: a sibling service's page planted `JSESSIONID` for the whole
    /// services domain, and a signed-in citizen's first visit carried it to the site.
    #[test]
    fn a_signed_in_requests_unbound_copy_of_a_name_the_site_sets_does_not_go() {
        let amina = binding(1);
        let header = "JSESSIONID=planted; lang=ar";
        let kept = forwarded_cookies(&[header.as_bytes()], Some(&amina), framework_session_name);
        assert_eq!(kept.as_deref(), Some(&b"lang=ar"[..]));
        let learned = |name: &[u8]| name == b"dossier_token";
        let kept = forwarded_cookies(&[&b"dossier_token=x; lang=ar"[..]], Some(&amina), learned);
        assert_eq!(kept.as_deref(), Some(&b"lang=ar"[..]));
    }

    /// Found when tried: `\u{a0}JSESSIONID` is no framework name to the gateway, but a
    /// legacy parser that trims every Unicode space reads it as one.
    #[test]
    fn a_signed_in_requests_unbound_copy_of_a_name_that_is_no_token_does_not_go() {
        let amina = binding(1);
        for planted in [
            &b"\xc2\xa0JSESSIONID=planted; lang=ar"[..],
            b"JSESSIONID\xc2\xa0=planted; lang=ar",
            b"\xe3\x80\x80JSESSIONID=planted; lang=ar",
            b"JSESSION ID=planted; lang=ar",
        ] {
            let kept = forwarded_cookies(&[planted], Some(&amina), |_| false);
            assert_eq!(kept.as_deref(), Some(&b"lang=ar"[..]), "{planted:?}");
        }
    }

    #[test]
    fn an_unbound_copy_of_a_name_the_site_sets_still_goes_to_a_public_service() {
        let header = "JSESSIONID=anonymous; lang=ar";
        let kept = forwarded_cookies(&[header.as_bytes()], None, framework_session_name);
        assert_eq!(kept.as_deref(), Some(header.as_bytes()));
    }

    /// Found in review: PHP reads `laravel.session` as `laravel_session`, old PHP decodes
    /// `PHPSESS%49D`, and ASP.NET Core reads a cookie hidden after a comma in a value.
    #[test]
    fn a_name_disguised_for_a_forgiving_parser_is_still_the_sites() {
        let amina = binding(1);
        for planted in [
            &b"laravel.session=planted; lang=ar"[..],
            b"PHPSESS%49D=planted; lang=ar",
            b"lang=ar,.AspNetCore.Session=planted",
            b"x=a .AspNetCore.Session=planted; lang=ar",
            b"lang=ar\\.AspNetCore.Session=planted",
            b"lang=\"ar\".AspNetCore.Session=planted",
            b"%20PHPSESSID=planted; lang=ar",
            b"+PHPSESSID=planted; lang=ar",
            b"PHPSESSID%00x=planted; lang=ar",
            b"laravel+session=planted; lang=ar",
        ] {
            let kept = forwarded_cookies(&[planted], Some(&amina), framework_session_name);
            let kept = kept.unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&kept).contains("planted"),
                "{}",
                String::from_utf8_lossy(planted)
            );
        }
    }

    #[test]
    fn framework_session_names_are_known_by_name_and_prefix() {
        for name in [
            "JSESSIONID",
            "phpsessid",
            "ASP.NET_SessionId",
            "ASPSESSIONIDQSCTRBTA",
            ".AspNetCore.Session",
            "connect.sid",
        ] {
            assert!(framework_session_name(name.as_bytes()), "{name}");
        }
        for name in ["lang", "ASPSESSION", "XSRF-TOKEN", ""] {
            assert!(!framework_session_name(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn a_set_cookies_name_is_its_first_pairs_name() {
        assert_eq!(
            set_cookie_name(b" JSESSIONID = a; Path=/"),
            Some(&b"JSESSIONID"[..])
        );
        assert_eq!(set_cookie_name(b"=a; Path=/"), None);
        assert_eq!(set_cookie_name(b"novalue"), None);
    }

    /// Found when reviewed: paired by position, a copy and a junk companion a page script
    /// added shifted Amina's stale copy onto Youssef's companion.
    #[test]
    fn cookies_a_page_script_adds_cannot_shift_a_stale_copy_onto_the_session() {
        let (amina, youssef) = (binding(1), binding(2));
        let header = format!(
            "JSESSIONID=z; JSESSIONID=A; JSESSIONID=Y; {}; {}; egov_bound_JSESSIONID=junk",
            companion(&amina, "JSESSIONID", "A"),
            companion(&youssef, "JSESSIONID", "Y")
        );
        assert_eq!(
            forwarded(&header, Some(&youssef)).as_deref(),
            Some("JSESSIONID=Y")
        );
    }

    #[test]
    fn a_companion_is_bound_to_the_cookies_value_too() {
        let amina = binding(1);
        let header = format!(
            "JSESSIONID=forged; {}",
            companion(&amina, "JSESSIONID", "A")
        );
        assert_eq!(forwarded(&header, Some(&amina)), None);
    }

    #[test]
    fn cookie_bytes_that_are_not_ascii_go_as_they_came() {
        assert_eq!(
            forwarded_cookies(
                &[b"JSESSIONID=abc; ville=F\xe8s; egov_session=x"],
                None,
                |_| false
            )
            .as_deref(),
            Some(&b"JSESSIONID=abc; ville=F\xe8s"[..])
        );
    }

    #[test]
    fn thousands_of_forged_companions_keep_back_only_their_names() {
        let mut header = String::from("JSESSIONID=A1");
        for i in 0..5000 {
            header.push_str(&format!("; c{i}=v; egov_bound_c{i}=forged"));
        }
        assert_eq!(
            forwarded(&header, Some(&binding(1))).as_deref(),
            Some("JSESSIONID=A1")
        );
    }

    #[test]
    fn thousands_of_copies_of_a_bound_name_cost_a_bounded_number_of_digests() {
        let amina = binding(1);
        let mut header = companion(&amina, "JSESSIONID", "A");
        for i in 0..MAX_CHECKED_COPIES {
            header.push_str(&format!("; JSESSIONID=x{i}"));
        }
        header.push_str("; JSESSIONID=A");
        assert_eq!(
            forwarded(&header, Some(&amina)),
            None,
            "past the limit, no copy is checked nor sent"
        );
    }

    #[test]
    fn a_cookie_without_a_companion_goes_as_it_is() {
        let header = "theme=dark; JSESSIONID=A1";
        assert_eq!(
            forwarded(header, Some(&binding(1))).as_deref(),
            Some("theme=dark; JSESSIONID=A1")
        );
    }

    #[test]
    fn a_companion_keeps_its_cookies_path_and_lifetime_and_is_http_only() {
        let session = binding(0xab);
        let scoped = b"pref=ar; Max-Age=600; Path=/s/x/espace; Secure; SameSite=Lax";
        assert_eq!(
            String::from_utf8(binding_set_cookie(scoped, &session)).expect("utf-8"),
            format!(
                "{}; Max-Age=600; Path=/s/x/espace; Secure; SameSite=Lax; HttpOnly",
                companion(&session, "pref", "ar")
            )
        );
        assert_eq!(
            String::from_utf8(binding_set_cookie(
                b"JSESSIONID=; HttpOnly; Max-Age=0",
                &session
            ))
            .expect("utf-8"),
            format!(
                "{}; Max-Age=0; HttpOnly",
                companion(&session, "JSESSIONID", "")
            ),
            "a deletion deletes the companion too"
        );
    }

    #[test]
    fn a_signed_in_answers_cookies_each_get_a_companion_after_them() {
        let session = binding(1);
        let mut h = http::HeaderMap::new();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("JSESSIONID=A1; Path=/"),
        );
        h.append(SET_COOKIE, HeaderValue::from_static("egov_session=fixed"));
        scope_set_cookie_headers(&mut h, &scope("/", true), Some(&session));
        let values: Vec<&str> = h
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("ascii"))
            .collect();
        assert_eq!(
            values,
            [
                "JSESSIONID=A1; Path=/s/cnss-insured-portal/".to_string(),
                format!(
                    "{}; Path=/s/cnss-insured-portal/; HttpOnly",
                    companion(&session, "JSESSIONID", "A1")
                ),
            ]
        );
    }

    #[test]
    fn a_legacy_site_cannot_set_a_companion() {
        assert_eq!(scoped("egov_bound_JSESSIONID=forged; Path=/"), None);
    }

    #[test]
    fn lookalike_names_are_not_reserved() {
        assert!(!portal_reserved("egov"));
        assert!(!portal_reserved("JSESSIONID"));
        assert!(!portal_reserved("__Host-session"));
    }
}

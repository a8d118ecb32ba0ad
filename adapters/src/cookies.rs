//! Cookies between citizens' browsers and 56 legacy sites sharing one portal origin.
//!
//! On the portal every legacy site shares one host name, so a cookie left as the site set it
//! (`JSESSIONID=...; Path=/; Domain=www.cnie.ma`) would either be refused (foreign `Domain`)
//! or be sent to every other service, and two Java sites would overwrite each other's
//! `JSESSIONID`. Response side, [`scope_set_cookie`] confines each cookie to its service's
//! `/s/<id>/` path. Request side, [`filter_cookie_header`] keeps the gateway's own cookies
//! (the portal session) from ever reaching a legacy site.

use crate::paths::strip_base;

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
/// `None` means "drop this Set-Cookie": the value has no `name=` pair.
///
/// On a plain-HTTP portal a `SameSite=None` attribute is dropped with `Secure`, because
/// browsers reject `SameSite=None` without `Secure`. A legacy `__Host-` cookie cannot keep
/// its guarantees under a service prefix and will be refused by the browser.
pub fn scope_set_cookie(value: &str, scope: &CookieScope) -> Option<String> {
    let mut parts = value.split(';');
    let pair = parts.next()?.trim();
    let eq = pair.find('=')?;
    if pair[..eq].trim().is_empty() {
        return None;
    }
    let prefix = scope.portal_prefix.trim_end_matches('/');
    let mut out = String::with_capacity(value.len() + prefix.len() + 8);
    out.push_str(pair);
    let mut path_written = false;
    let attrs: Vec<&str> = parts.map(str::trim).filter(|a| !a.is_empty()).collect();
    // Browsers honour the last Path attribute; it is written where the first one was.
    let legacy_path = attrs
        .iter()
        .rev()
        .find(|a| attr_name(a).eq_ignore_ascii_case("path"))
        .map(|a| attr_value(a));
    for attr in &attrs {
        let name = attr_name(attr);
        if name.eq_ignore_ascii_case("domain") {
            continue;
        }
        if name.eq_ignore_ascii_case("secure") && !scope.portal_https {
            continue;
        }
        if name.eq_ignore_ascii_case("samesite")
            && !scope.portal_https
            && attr_value(attr).eq_ignore_ascii_case("none")
        {
            continue;
        }
        out.push_str("; ");
        if name.eq_ignore_ascii_case("path") {
            if path_written {
                out.truncate(out.len() - 2);
                continue;
            }
            write_path(&mut out, prefix, &scope.legacy_base, legacy_path);
            path_written = true;
        } else {
            out.push_str(attr);
        }
    }
    if !path_written {
        out.push_str("; ");
        write_path(&mut out, prefix, &scope.legacy_base, None);
    }
    Some(out)
}

fn attr_name(attr: &str) -> &str {
    attr.split('=').next().unwrap_or_default().trim()
}

fn attr_value(attr: &str) -> &str {
    attr.split_once('=').map_or("", |(_, v)| v.trim())
}

/// `Path=<prefix><part under the legacy base>`, or `<prefix>/` when the legacy path is
/// missing, not absolute, or outside the service's base.
fn write_path(out: &mut String, prefix: &str, legacy_base: &str, legacy_path: Option<&str>) {
    out.push_str("Path=");
    out.push_str(prefix);
    let under = legacy_path
        .filter(|p| p.starts_with('/'))
        .and_then(|p| strip_base(legacy_base, p))
        .unwrap_or("/");
    out.push_str(under);
}

/// Whether a cookie name belongs to the gateway itself (its session and CSRF cookies), which
/// must never be forwarded to a legacy site.
pub fn portal_reserved(name: &str) -> bool {
    name.starts_with("egov_")
        || name.starts_with("__Host-egov")
        || name.starts_with("__Secure-egov")
}

/// A request's `Cookie` header without the cookies `is_reserved` claims for the gateway;
/// `None` when nothing is left, so the header is removed rather than sent empty.
pub fn filter_cookie_header(value: &str, is_reserved: impl Fn(&str) -> bool) -> Option<String> {
    let mut out = String::with_capacity(value.len());
    for pair in value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let name = pair.split('=').next().unwrap_or_default().trim();
        if pair.contains('=') && is_reserved(name) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(pair);
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn malformed_set_cookie_values_are_dropped() {
        assert_eq!(scoped("garbage"), None);
        assert_eq!(scoped("=novalue; Path=/"), None);
        assert_eq!(scoped(""), None);
    }

    #[test]
    fn reserved_cookies_are_filtered_from_requests() {
        assert_eq!(
            filter_cookie_header(
                "egov_session=s3cr3t; JSESSIONID=A1; __Host-egov_csrf=t; lang=ar",
                portal_reserved
            )
            .as_deref(),
            Some("JSESSIONID=A1; lang=ar")
        );
    }

    #[test]
    fn a_cookie_header_with_only_reserved_cookies_is_removed() {
        assert_eq!(
            filter_cookie_header("egov_session=1;__Secure-egov_x=2", portal_reserved),
            None
        );
        assert_eq!(filter_cookie_header(" ; ", portal_reserved), None);
    }

    #[test]
    fn lookalike_names_are_not_reserved() {
        assert!(!portal_reserved("egov"));
        assert!(!portal_reserved("JSESSIONID"));
        assert!(!portal_reserved("__Host-session"));
    }
}

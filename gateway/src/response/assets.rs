//! The static files every page the gateway writes links to: the stylesheet and the print
//! stylesheet (and the session warning's script, which signed-in legacy pages' strip
//! links), compiled into the binary and served under a fingerprinted name
//! (`/assets/portal.3f9a1c2b7d.css`).
//!
//! The name changes whenever the content does, so browsers and CDNs may keep a file for a
//! year (`immutable`) and a release never shows a page with last year's styles. Keeping all
//! style in files is also what lets the Content-Security-Policy forbid inline style.

use super::LocalResponse;
use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use std::sync::LazyLock;

/// Where the files are served.
pub const PREFIX: &str = "/assets/";

/// One file.
pub struct Asset {
    /// The fingerprinted path (`/assets/portal.<hash>.css`).
    pub path: String,
    body: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

fn asset(stem: &str, ext: &str, content_type: &'static str, body: &'static str) -> Asset {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(body.as_bytes());
    let hash: String = digest[..5].iter().map(|b| format!("{b:02x}")).collect();
    Asset {
        path: format!("{PREFIX}{stem}.{hash}.{ext}"),
        body: Bytes::from_static(body.as_bytes()),
        content_type,
        etag: HeaderValue::from_str(&format!("\"{hash}\""))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\"")),
    }
}

static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "portal",
        "css",
        "text/css; charset=utf-8",
        include_str!("assets/portal.css"),
    )
});

static PRINT: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "print",
        "css",
        "text/css; charset=utf-8",
        include_str!("assets/print.css"),
    )
});

static SESSION: LazyLock<Asset> = LazyLock::new(|| {
    asset(
        "session",
        "js",
        "text/javascript; charset=utf-8",
        include_str!("assets/session.js"),
    )
});

/// The session warning's script, for the portal strip of signed-in pages (see
/// `assets/session.js`).
pub fn session_script() -> &'static str {
    &SESSION.path
}

/// The stylesheet's path, for `<link rel="stylesheet">`.
pub fn stylesheet() -> &'static str {
    &STYLESHEET.path
}

/// The print stylesheet's path, for `<link rel="stylesheet" media="print">`.
pub fn print_stylesheet() -> &'static str {
    &PRINT.path
}

/// Whether `path` is exactly one of the gateway's files (a name with its content
/// hash no legacy site uses). On a service's own origin these are answered by the gateway
/// too: its error and maintenance pages link them with `'self'`-only styles, and they went
/// to the legacy site (twice a page view, while it was down: found when tried).
pub fn is_ours(path: &str) -> bool {
    [&*STYLESHEET, &*PRINT, &*SESSION]
        .into_iter()
        .any(|a| a.path == path)
}

/// The answer for `path` under [`PREFIX`]: the file, cached for a year, or `None` for a name
/// that is not (or no longer) one of ours, which the caller answers with a 404 (an old
/// fingerprint must not be served the new content under a year-long cache).
pub fn serve(path: &str, if_none_match: Option<&[u8]>) -> Option<LocalResponse> {
    let asset = [&*STYLESHEET, &*PRINT, &*SESSION]
        .into_iter()
        .find(|a| a.path == path)?;
    let headers = vec![
        (
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        ),
        (http::header::ETAG, asset.etag.clone()),
    ];
    let fresh = if_none_match.is_some_and(|v| {
        v.split(|b| *b == b',')
            .any(|t| t.trim_ascii() == asset.etag.as_bytes() || t.trim_ascii() == b"*")
    });
    Some(LocalResponse {
        status: if fresh {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::OK
        },
        headers,
        body: if fresh {
            Bytes::new()
        } else {
            asset.body.clone()
        },
        page: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_served_under_their_fingerprint_for_a_year() {
        let path = stylesheet();
        assert!(
            path.starts_with("/assets/portal.") && path.ends_with(".css"),
            "{path}"
        );
        let answer = serve(path, None).expect("served");
        assert_eq!(answer.status, StatusCode::OK);
        assert!(answer
            .headers
            .iter()
            .any(|(n, v)| n == http::header::CACHE_CONTROL
                && v.to_str()
                    .is_ok_and(|v| v.contains("max-age=31536000") && v.contains("immutable"))));
        assert!(std::str::from_utf8(&answer.body).is_ok_and(|css| css.contains(":focus-visible")));
    }

    /// WCAG 2.1's contrast ratio of two `#rrggbb` colours.
    fn contrast(a: &str, b: &str) -> f64 {
        let luminance = |hex: &str| {
            let channel = |i: usize| {
                let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")) / 255.0;
                if c <= 0.039_28 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
        };
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// The value of the stylesheet's custom property `name`, as `#rrggbb`.
    fn colour(css: &str, name: &str) -> String {
        let value = css
            .split(&format!("{name}:"))
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .map(str::trim)
            .expect("the property");
        if value == "#fff" {
            "#ffffff".into()
        } else {
            value.to_string()
        }
    }

    /// Found when tried: the orange focus ring sat on the blue header bar at 1.7:1, where
    /// the language switcher, the brand and the login take the first Tab stops of every page
    /// (WCAG 2.4.7 and 1.4.11 ask 3:1).
    #[test]
    fn the_focus_ring_stands_out_three_to_one_on_white_and_on_the_header_bar() {
        let css = include_str!("assets/portal.css");
        let (brand, focus) = (colour(css, "--brand"), colour(css, "--focus"));
        let on_brand = colour(css, "--focus-on-brand");
        assert!(contrast(&focus, "#ffffff") >= 3.0, "{focus} on white");
        assert!(
            css.contains(".bar :focus-visible { outline-color: var(--focus-on-brand); }"),
            "the bar's own ring"
        );
        assert!(
            contrast(&on_brand, &brand) >= 3.0,
            "{on_brand} on {brand}: {:.2}",
            contrast(&on_brand, &brand)
        );
        assert!(
            contrast(&focus, &brand) < 3.0,
            "the test tells the two apart"
        );
    }

    #[test]
    fn a_stale_or_unknown_fingerprint_is_not_served() {
        assert!(serve("/assets/portal.0000000000.css", None).is_none());
        assert!(serve("/assets/../../etc/passwd", None).is_none());
    }

    #[test]
    fn a_matching_etag_gets_304_without_a_body() {
        let etag = serve(print_stylesheet(), None)
            .and_then(|a| a.headers.into_iter().find(|(n, _)| n == http::header::ETAG))
            .map(|(_, v)| v)
            .expect("an etag");
        let again = serve(print_stylesheet(), Some(etag.as_bytes())).expect("served");
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.body.is_empty());
    }
}

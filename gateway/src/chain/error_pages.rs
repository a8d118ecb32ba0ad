//! Which of a legacy site's answers are its own server error pages, which the portal's
//! replace (`[legacy] error_pages`, nginx's `proxy_intercept_errors`; the replacing is
//! `pipeline::adapt`'s).
//!
//! Found when tried: a legacy 5xx page reached the citizen as the site wrote it: an English
//! Apache "502 Proxy Error" with the server's version, a Java stack trace naming an internal
//! address, in no language of hers and with no way back. The gateway already strips
//! `Server` and `X-Powered-By` for that reason; this does the same for the page. Only pages
//! are replaced (HTML, text, or no type the browser would sniff): a JSON error, an XML one
//! or a SOAP fault is read by a program, and passes as written.

use super::AdapterChain;
use crate::config::SiteErrorPages;
use http::header::CONTENT_TYPE;
use http::HeaderMap;

impl AdapterChain {
    /// Whether the site's answer (`status`, `headers` as the site sent them) is a server
    /// error page the portal's replaces (an empty one too: the browser would show its own
    /// error page, in no language of the portal's).
    pub fn replaces_error_page(&self, status: u16, headers: &HeaderMap) -> bool {
        replaces(self.error_pages, status, headers)
    }
}

/// [`AdapterChain::replaces_error_page`] for a service whose `[legacy] error_pages` is
/// `error_pages`.
fn replaces(error_pages: SiteErrorPages, status: u16, headers: &HeaderMap) -> bool {
    (500..600).contains(&status) && error_pages == SiteErrorPages::Portal && is_a_page(headers)
}

/// An answer a browser would show as a page: any but one whose every type is one a program
/// reads, JSON or XML (a SOAP fault), and no SVG or XHTML, which are pages. Found in a probe:
/// with only the page types listed, a site's stack trace typed `unknown/unknown`, `*/*`,
/// `text/htm` or an unreadable type reached the citizen raw, and Chromium sniffed it and ran
/// it as HTML.
fn is_a_page(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(CONTENT_TYPE).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    !values.all(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',').all(|ct| {
                let essence = egov_adapters::charset::media_type(ct).to_ascii_lowercase();
                let json = essence == "application/json" || essence.ends_with("+json");
                let xml = essence == "text/xml"
                    || essence == "application/xml"
                    || (essence.ends_with("+xml")
                        && !essence.starts_with("image/svg")
                        && essence != "application/xhtml+xml");
                essence.contains('/') && (json || xml)
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const PORTAL: SiteErrorPages = SiteErrorPages::Portal;

    fn typed(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).expect("a type"));
        h
    }

    #[test]
    fn a_site_error_page_in_html_or_text_is_replaced() {
        for ct in [
            "text/html; charset=iso-8859-1",
            "TEXT/PLAIN",
            "application/xhtml+xml",
        ] {
            assert!(replaces(PORTAL, 500, &typed(ct)), "{ct}");
        }
        assert!(replaces(PORTAL, 502, &HeaderMap::new()));
        // Found in a probe: types a browser sniffs, or cannot read, were passed raw.
        for ct in [
            "unknown/unknown",
            "*/*",
            "text/htm",
            "html",
            "image/svg+xml",
            "text/x-php",
        ] {
            assert!(replaces(PORTAL, 500, &typed(ct)), "{ct}");
        }
        assert!(replaces(PORTAL, 503, &typed("application/json, text/html")));
    }

    #[test]
    fn an_error_a_program_reads_passes_as_the_site_wrote_it() {
        for ct in [
            "application/json",
            "text/xml; charset=utf-8",
            "application/soap+xml",
            "application/problem+json",
            "application/xml",
        ] {
            assert!(!replaces(PORTAL, 500, &typed(ct)), "{ct}");
        }
    }

    #[test]
    fn only_server_errors_are_replaced() {
        for status in [200, 302, 404, 403, 499] {
            assert!(!replaces(PORTAL, status, &typed("text/html")));
        }
    }

    #[test]
    fn a_service_that_keeps_its_own_error_pages_keeps_them() {
        assert!(!replaces(SiteErrorPages::Site, 500, &typed("text/html")));
    }

    /// Found in a probe: `Content-Length: 00` and `0, 0` slipped past a check of `0`.
    #[test]
    fn an_empty_error_answer_is_replaced_however_its_length_is_written() {
        for length in ["0", "00", "0, 0"] {
            let mut headers = typed("text/html");
            headers.insert(
                http::header::CONTENT_LENGTH,
                HeaderValue::from_str(length).expect("a length"),
            );
            assert!(replaces(PORTAL, 500, &headers), "{length}");
        }
    }
}

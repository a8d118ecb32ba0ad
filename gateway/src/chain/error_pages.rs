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

/// An answer a browser would show as a page: no type (it sniffs one), or any of its types
/// (several fields, or several in one) HTML, XHTML or text.
fn is_a_page(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(CONTENT_TYPE).iter().peekable();
    if values.peek().is_none() {
        return true;
    }
    values.any(|value| {
        value.to_str().map_or(true, |text| {
            text.split(',').any(|ct| {
                let essence = egov_adapters::charset::media_type(ct);
                ["text/html", "application/xhtml+xml", "text/plain", ""]
                    .iter()
                    .any(|page| essence.eq_ignore_ascii_case(page))
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
        assert!(replaces(PORTAL, 503, &typed("application/json, text/html")));
    }

    #[test]
    fn an_error_a_program_reads_passes_as_the_site_wrote_it() {
        for ct in [
            "application/json",
            "text/xml; charset=utf-8",
            "application/soap+xml",
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

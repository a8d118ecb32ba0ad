//! A legacy site's own server errors (`[legacy] error_pages`): the citizen sees the portal's
//! page, in her language, with the request id to quote; a program reading a JSON error gets
//! the site's. Found when tried: an English Apache "502 Proxy Error" with its version, and a
//! Java stack trace naming an internal address, reached citizens as the sites wrote them.

use egov_estate::EstateOptions;
use egov_gateway::config::SiteErrorPages;
use egov_integration::raw_http::{self, RawResponse};
use egov_integration::{backend_at, service_mut, start_estate, TestGateway};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

const SERVICE: &str = "cnie-renewal";

const STACK_TRACE: &str =
    "<html><body><h1>HTTP Status 500</h1><pre>java.lang.NullPointerException\n\
    \tat ma.gov.cnie.RenewalServlet.doGet(RenewalServlet.java:88)\n\
    \tat jdbc:oracle:thin:@10.2.0.15:1521/CNIE</pre></body></html>";

/// A legacy site failing in the ways sites do, by path: a servlet's stack trace (`/trace`,
/// with a cookie and a status line naming its host), its front Apache's page (`/proxy`), a
/// maintenance notice in text (`/maintenance`, with `Retry-After`), a JSON error for its
/// scripts (`/api`), a SOAP fault (`/soap`).
fn failing_site() -> SocketAddr {
    raw_http::answering_site(|head| {
        let line = String::from_utf8_lossy(head);
        let line = line.lines().next().unwrap_or_default().to_owned();
        let (status, headers, body) = if line.contains("/trace") {
            (
                "500 Internal Error on cnie-app-02",
                "Content-Type: text/html;charset=ISO-8859-1\r\nSet-Cookie: JSESSIONID=A1B2; Path=/\r\n",
                STACK_TRACE.to_owned(),
            )
        } else if line.contains("/proxy") {
            (
                "502 Proxy Error",
                "Content-Type: text/html; charset=iso-8859-1\r\n",
                "<title>502 Proxy Error</title><address>Apache/2.2.3 (CentOS) Server at 10.2.0.15 Port 80</address>".to_owned(),
            )
        } else if line.contains("/maintenance") {
            (
                "503 Service Unavailable",
                "Content-Type: text/plain\r\nRetry-After: 120\r\n",
                "maintenance until 14:00 (node cnie-app-02)".to_owned(),
            )
        } else if line.contains("/api") {
            (
                "500 Internal Server Error",
                "Content-Type: application/json\r\n",
                r#"{"error":"database unavailable"}"#.to_owned(),
            )
        } else {
            (
                "500 Internal Server Error",
                "Content-Type: text/xml; charset=utf-8\r\n",
                "<soap:Envelope><soap:Body><soap:Fault><faultcode>soap:Server</faultcode></soap:Fault></soap:Body></soap:Envelope>".to_owned(),
            )
        };
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

/// A legacy site whose error page never ends: it announces 10,000 bytes, sends 100 and then
/// nothing, holding the connection (a site that trickles its error page, or stalls in it).
fn stalling_site() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let answer = format!(
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\n\
                     Content-Length: 10000\r\n\r\n{}",
                    "<p>java.lang.OutOfMemoryError</p>".repeat(3)
                );
                let _ = stream.write_all(answer.as_bytes());
                std::thread::sleep(std::time::Duration::from_secs(60));
            });
        }
    });
    addr
}

/// A gateway whose service is the failing site, its error pages `error_pages`.
fn gateway(site: SocketAddr, error_pages: SiteErrorPages) -> TestGateway {
    let estate = start_estate(None);
    TestGateway::with(&estate, move |c| {
        backend_at(c, SERVICE, site.port());
        let service = service_mut(c, SERVICE);
        service.upstream.outlier.consecutive_failures = 0;
        service.upstream.breaker.failures = 0;
        service.legacy.error_pages = error_pages;
    })
}

/// A request for `path` of the service with `extra` header lines (each ending in CRLF).
fn request(gw: &TestGateway, method: &str, path: &str, extra: &str) -> String {
    format!(
        "{method} /s/{SERVICE}{path} HTTP/1.1\r\nHost: {}\r\n{extra}Content-Length: 0\r\n\
         Connection: close\r\n\r\n",
        gw.addr
    )
}

/// The answer to [`request`], asked in language `lang`.
fn ask(gw: &TestGateway, method: &str, path: &str, lang: &str) -> RawResponse {
    let extra = format!("Accept-Language: {lang}\r\n");
    raw_http::send(gw.addr, request(gw, method, path, &extra).as_bytes())
}

#[test]
fn a_sites_stack_trace_is_shown_as_the_portals_page_in_the_citizens_language() {
    let gw = gateway(failing_site(), SiteErrorPages::Portal);
    let answer = ask(&gw, "GET", "/trace", "fr-FR,fr;q=0.9");
    let page = answer.text();
    assert_eq!(answer.status, 500);
    assert!(page.contains("<html lang=\"fr\""), "{page}");
    assert!(page.contains("Erreur du service du ministère"), "{page}");
    let id = answer.header("x-request-id").expect("a request id");
    assert!(page.contains(id), "the page quotes {id}: {page}");
    for leak in ["NullPointerException", "10.2.0.15", "RenewalServlet"] {
        assert!(!page.contains(leak), "{leak} reached the citizen: {page}");
    }
    assert_eq!(
        answer.header("content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[test]
fn the_replaced_page_keeps_the_sites_cookie_and_not_its_status_line() {
    let gw = gateway(failing_site(), SiteErrorPages::Portal);
    let answer = ask(&gw, "GET", "/trace", "ar");
    assert!(
        answer
            .headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("set-cookie") && v.contains("JSESSIONID=A1B2")),
        "{:?}",
        answer.headers
    );
    let mut stream = TcpStream::connect(gw.addr).expect("connect");
    let request = request(&gw, "GET", "/trace", "");
    stream.write_all(request.as_bytes()).expect("sent");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    let status_line = raw.lines().next().unwrap_or_default();
    assert!(status_line.starts_with("HTTP/1.1 500"), "{status_line}");
    assert!(!status_line.contains("cnie-app-02"), "{status_line}");
}

#[test]
fn a_front_servers_proxy_error_is_the_portals_502_page() {
    let gw = gateway(failing_site(), SiteErrorPages::Portal);
    let answer = ask(&gw, "GET", "/proxy", "en");
    let page = answer.text();
    assert_eq!(answer.status, 502);
    assert!(
        page.contains("The ministry's service is not responding"),
        "{page}"
    );
    assert!(!page.contains("Apache"), "{page}");
}

#[test]
fn a_form_the_sites_front_server_failed_may_have_been_received() {
    let gw = gateway(failing_site(), SiteErrorPages::Portal);
    let answer = ask(&gw, "POST", "/proxy", "en");
    assert_eq!(answer.status, 502);
    assert!(
        answer
            .text()
            .contains("Your request may have been received"),
        "{}",
        answer.text()
    );
}

#[test]
fn a_maintenance_notice_keeps_its_retry_after() {
    let gw = gateway(failing_site(), SiteErrorPages::Portal);
    let answer = ask(&gw, "GET", "/maintenance", "en");
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("retry-after"), Some("120"));
    assert!(!answer.text().contains("cnie-app-02"), "{}", answer.text());
}

#[test]
fn a_json_error_or_a_soap_fault_reaches_the_program_as_the_site_wrote_it() {
    let gw = gateway(failing_site(), SiteErrorPages::Portal);
    let api = ask(&gw, "GET", "/api", "en");
    assert_eq!(api.status, 500);
    assert_eq!(api.text(), r#"{"error":"database unavailable"}"#);
    let soap = ask(&gw, "POST", "/soap", "en");
    assert_eq!(soap.status, 500);
    assert!(
        soap.text().contains("<faultcode>soap:Server</faultcode>"),
        "{}",
        soap.text()
    );
}

#[test]
fn a_head_of_a_replaced_page_announces_the_page_and_sends_no_body() {
    let gw = gateway(failing_site(), SiteErrorPages::Portal);
    let answer = ask(&gw, "HEAD", "/trace", "en");
    assert_eq!(answer.status, 500);
    assert!(answer.body.is_empty());
    let get = ask(&gw, "GET", "/trace", "en");
    let length: usize = answer
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .expect("a length");
    assert!(
        length > 1000 && length.abs_diff(get.body.len()) < 64,
        "{length} vs {}",
        get.body.len()
    );
}

#[test]
fn a_service_that_keeps_its_own_error_pages_shows_the_sites() {
    let gw = gateway(failing_site(), SiteErrorPages::Site);
    let answer = ask(&gw, "GET", "/trace", "fr");
    assert_eq!(answer.status, 500);
    assert!(
        answer.text().contains("NullPointerException"),
        "{}",
        answer.text()
    );
}

/// A legacy page's script reads its site's error itself (shows its message in place, or acts
/// on it): the page is replaced only where the browser shows it.
#[test]
fn a_legacy_scripts_fetch_gets_the_sites_error_as_written() {
    let gw = gateway(failing_site(), SiteErrorPages::Portal);
    for header in [
        "Sec-Fetch-Dest: empty\r\n",
        "X-Requested-With: XMLHttpRequest\r\n",
    ] {
        let answer = raw_http::send(gw.addr, request(&gw, "GET", "/trace", header).as_bytes());
        assert_eq!(answer.status, 500);
        assert!(
            answer.text().contains("NullPointerException"),
            "{header}: {}",
            answer.text()
        );
    }
    let navigation = "Sec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n";
    let shown = raw_http::send(
        gw.addr,
        request(&gw, "GET", "/trace", navigation).as_bytes(),
    );
    assert!(
        !shown.text().contains("NullPointerException"),
        "{}",
        shown.text()
    );
}

/// Found in a probe: the portal's page waited for the end of the site's body it replaces, so
/// a site trickling its error page kept the citizen before a blank page for as long as it
/// liked, and one that stalled or closed mid-body left her nothing. The page is written
/// once the site's head is read, and the rest of the site's answer is not waited for.
#[test]
fn the_page_does_not_wait_for_the_end_of_the_sites_error_page() {
    let gw = gateway(stalling_site(), SiteErrorPages::Portal);
    let answer = ask(&gw, "GET", "/", "en");
    assert_eq!(answer.status, 500);
    let length: usize = answer
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .expect("a length");
    assert_eq!(answer.body.len(), length, "the whole page");
    assert!(
        answer
            .text()
            .contains("The ministry's service had an error"),
        "{}",
        answer.text()
    );
    assert!(!answer.text().contains("OutOfMemoryError"));
}

/// The estate's own flaky site (its front Apache's "502 Proxy Error", in ISO-8859-1, with its
/// version and the site's host): the citizen gets the portal's 502 page in her language.
#[test]
fn the_estates_front_apache_error_is_the_portals_502_page() {
    let estate = start_estate(Some(EstateOptions {
        flaky: true,
        ..EstateOptions::calm(42)
    }));
    let gw = TestGateway::with(&estate, egov_integration::all_public);
    let failed = (0..400)
        .map(|i| {
            raw_http::get(
                gw.addr,
                &format!("/s/vehicle-tax-vignette/?n={i}"),
                "Accept-Language: fr\r\n",
            )
        })
        .find(|answer| answer.status == 502)
        .expect("the flaky site failed once in 400 requests");
    let page = failed.text();
    assert!(
        page.contains("Le service du ministère ne répond pas"),
        "{page}"
    );
    let id = failed.header("x-request-id").expect("a request id");
    assert!(page.contains(id), "{page}");
    assert!(
        !page.contains("Apache") && !page.contains("Proxy Error"),
        "{page}"
    );
}

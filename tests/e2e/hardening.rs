//! Requests no backend should ever see: path escapes, smuggling, oversized headers.

use egov_integration::raw_http;
use egov_integration::{start_estate, Staged, TestGateway};

/// The request headers the legacy site received for a GET with `extra` header lines, as its
/// echo page lists them (names in lower case, each with its values).
fn echoed_headers(gw: &TestGateway, extra: &str) -> serde_json::Value {
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/__estate/echo", extra);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let echo: serde_json::Value = serde_json::from_slice(&resp.body).expect("echo JSON");
    echo["headers"].clone()
}

/// Asserts that none of `names` reached the legacy site, sent with value `value`.
fn none_reaches_the_site(gw: &TestGateway, names: &[&str], value: &str) {
    let extra: String = names.iter().map(|h| format!("{h}: {value}\r\n")).collect();
    let headers = echoed_headers(gw, &extra);
    for h in names {
        assert!(
            headers.get(h.to_ascii_lowercase()).is_none(),
            "{h} reached the site: {headers}"
        );
    }
}

/// A gateway whose `cnie-renewal` is the scripted legacy site at `site`.
fn in_front_of_site(
    estate: &egov_estate::RunningEstate,
    site: std::net::SocketAddr,
) -> TestGateway {
    TestGateway::with(estate, |c| {
        egov_integration::backend_at(c, "cnie-renewal", site.port())
    })
}

#[test]
fn dot_segments_inside_a_service_are_resolved_within_it() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/x/../__estate/echo", "");
    assert_eq!(resp.status, 200);
    let echo: serde_json::Value = serde_json::from_slice(&resp.body).expect("echo JSON");
    assert_eq!(echo["path"], "/cnie-renewal/__estate/echo");
}

/// Found in a bypass probe: a hostile legacy page registered a service worker for its
/// origin, which saw the gateway's hand-over of the citizen's session (its one-time code)
/// before the gateway did and took it out unspent. A worker's script never reaches a site.
#[test]
fn a_service_workers_script_never_reaches_the_legacy_site() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let echo = "/s/cnie-renewal/__estate/echo";
    let registered = raw_http::get(gw.addr, echo, "Service-Worker: script\r\n");
    assert_eq!(registered.status, 404, "{}", registered.text());
    assert!(
        !registered.text().contains("\"headers\""),
        "the site answered"
    );
    assert_eq!(
        raw_http::get(gw.addr, echo, "").status,
        200,
        "a page is served"
    );
}

#[test]
fn paths_that_would_leave_the_service_are_refused_with_400() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    for path in [
        "/s/cnie-renewal/../passport-application/__estate/echo",
        "/s/cnie-renewal/%2e%2e/passport-application/",
        "/s/cnie-renewal/.%2E/x",
        "/s/cnie-renewal/a%2f..%2f..%2fx",
        "/s/cnie-renewal/a%5cb",
        "/s/cnie-renewal/a%00b",
        "/s/cnie-renewal/a%zz",
        // Tomcat drops `;` parameters before resolving dot segments: these climb there.
        "/s/tax-certificates/x/..;/..;/vat-declaration/__estate/echo",
        "/s/tax-certificates/x/.;/%2e%2e;jsessionid=x/y",
        "/s/tax-certificates/x/..%3b/y",
        // Found when tried: forwarded as written, where a Windows server (trailing dots and
        // spaces dropped), one decoding twice or one reading overlong UTF-8 climbs.
        "/s/tax-certificates/x/..%20/..%20/vat-declaration/",
        "/s/tax-certificates/x/.../y",
        "/s/tax-certificates/x/..%255c..%255cy",
        "/s/tax-certificates/x/..%c0%af..%c0%afy",
        // Found by the re-probe: a double encoding split across escapes, a lax overlong
        // form, an escaped line break.
        "/s/tax-certificates/x/%25%32%65%25%32%65/y",
        "/s/tax-certificates/x/%c0%2e%c0%2e/y",
        "/s/tax-certificates/x%0d%0aSet-Cookie:%20a=b",
    ] {
        let resp = raw_http::get(gw.addr, path, "");
        assert_eq!(resp.status, 400, "{path}");
        assert!(
            resp.text().contains("Requête invalide"),
            "{path}: no error page"
        );
        assert!(resp.header("x-request-id").is_some(), "{path}");
    }
}

#[test]
fn oversized_request_headers_get_431() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let cookie = format!("Cookie: big={}\r\n", "a".repeat(40 * 1024));
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/", &cookie);
    assert_eq!(resp.status, 431);
    assert!(resp.text().contains("trop volumineux"));
}

#[test]
fn content_length_with_transfer_encoding_is_refused_with_400() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let req = format!(
        "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
        gw.addr
    );
    let resp = raw_http::send(gw.addr, req.as_bytes());
    assert_eq!(resp.status, 400);
}

/// Found when tried (a smuggling probe): `GET  /s/x/ HTTP/1.1` (two spaces) was served the
/// portal's home page (pingora escapes the space into the target, `%20/s/x/`): a proxy or
/// WAF in front saw another target than the one served. RFC 9112 §3: no autocorrection.
#[test]
fn a_request_target_that_does_not_begin_with_a_slash_is_refused_with_400() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let get = |line: &str| {
        let req = format!("{line}\r\nHost: {}\r\nConnection: close\r\n\r\n", gw.addr);
        raw_http::send(gw.addr, req.as_bytes())
    };
    let doubled = get("GET  /s/cnie-renewal/__estate/echo HTTP/1.1");
    assert_eq!(doubled.status, 400, "{}", doubled.text());
    assert_eq!(
        get("GET /s/cnie-renewal/__estate/echo HTTP/1.1").status,
        200
    );
    // The absolute form, which a server must accept (RFC 9112 §3.2.2), still is.
    let absolute = format!(
        "GET http://{}/s/cnie-renewal/__estate/echo HTTP/1.1",
        gw.addr
    );
    assert_eq!(get(&absolute).status, 200);
}

#[test]
fn two_different_content_lengths_are_refused_with_400() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let req = format!(
        "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nContent-Length: 4\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde",
        gw.addr
    );
    let resp = raw_http::send(gw.addr, req.as_bytes());
    assert_eq!(resp.status, 400);
}

#[test]
fn trace_track_and_invented_methods_get_405_and_never_reach_a_site_with_injected_credentials() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    // land-registration-tracking: the gateway adds the service account's basic auth; an
    // Apache with TraceEnable would echo it back to whoever sent the TRACE.
    for method in ["TRACE", "TRACK", "FOO"] {
        let req = format!(
            "{method} /s/land-registration-tracking/__estate/echo HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            gw.addr
        );
        let resp = raw_http::send(gw.addr, req.as_bytes());
        assert_eq!(resp.status, 405, "{method}");
        assert!(
            resp.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("allow") && v.contains("GET")),
            "{method}: Allow"
        );
        assert!(!resp.text().to_ascii_lowercase().contains("authorization"));
    }
}

/// Found when tried: `CONNECT` got pingora's own bare 405, without the `Allow` RFC 9110
/// §15.5.6 requires, with `Server: Pingora`, and in no log. In origin or authority form it
/// is the portal's 405 like any method no service takes, and the connection closes.
#[test]
fn connect_in_either_form_gets_the_portals_405_with_allow() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    for target in [
        "/s/land-registration-tracking/__estate/echo".to_string(),
        gw.addr.to_string(),
    ] {
        let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {}\r\n\r\n", gw.addr);
        let resp = raw_http::send(gw.addr, req.as_bytes());
        assert_eq!(resp.status, 405, "{target}");
        assert!(
            resp.header("allow").is_some_and(|a| a.contains("GET")),
            "{target}: {:?}",
            resp.headers
        );
        assert!(
            resp.header("server").is_none(),
            "{target}: {:?}",
            resp.headers
        );
        assert!(
            resp.header("x-request-id").is_some(),
            "{target}: the portal's own answer"
        );
    }
}

#[test]
fn client_ip_and_url_override_headers_never_reach_the_legacy_site() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let spoofed = [
        "True-Client-IP",
        "X-Client-IP",
        "Client-IP",
        "CF-Connecting-IP",
        "X-Original-URL",
        "X-Rewrite-URL",
        "X-Forwarded-Port",
        "X-Forwarded-Server",
        "X-Forwarded-Prefix",
        "X-HTTP-Method-Override",
        // Underscored, as CGI and PHP read them alike (`HTTP_X_FORWARDED_FOR`).
        "True_Client_IP",
        "X_Original_URL",
        "X_HTTP_Method_Override",
        "X_Forwarded_For",
        "X_Forwarded_Proto",
        "X_Real_IP",
        "X_Request_Id",
    ];
    none_reaches_the_site(&gw, &spoofed, "6.6.6.6");
}

/// Found when tried: `Proxy` (httpoxy: CGI's `HTTP_PROXY`, the proxy of the site's own
/// outbound calls), the groups, tokens and claims of the identity proxies legacy sites once
/// sat behind (oauth2-proxy, mod_auth_openidc, client-certificate terminators, cloud
/// identity-aware proxies) and W3C `baggage` reached legacy sites as a citizen wrote them.
#[test]
fn proxy_identity_proxy_and_baggage_headers_never_reach_the_legacy_site() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let forged = [
        "Proxy",
        "X-Forwarded-Groups",
        "X-Auth-Request-Groups",
        "X-Auth-Request-Preferred-Username",
        "X-Forwarded-Access-Token",
        "X-Auth-Request-Access-Token",
        "OIDC_CLAIM_sub",
        "OIDC-Claim-Email",
        "OIDC_access_token",
        "SSL_CLIENT_CERT",
        "SSL_Client_S_DN",
        "X-SSL-Client-Cert",
        "X-Forwarded-Client-Cert",
        "X-Forwarded-Tls-Client-Cert-Info",
        "X-ARR-ClientCert",
        "X-MS-CLIENT-PRINCIPAL-NAME",
        "X-Amzn-Oidc-Identity",
        "X-Goog-Authenticated-User-Email",
        "X-WEBAUTH-USER",
        "baggage",
        // Found when the fix was tried: other identity proxies, and names a legacy stack
        // reads as an identity header's though spelt with other punctuation.
        "Cf-Access-Jwt-Assertion",
        "Cf-Access-Authenticated-User-Email",
        "X-MS-TOKEN-AAD-ID-TOKEN",
        "Remote-Groups",
        "Remote-Email",
        "Correlation-Context",
        "X.Forwarded.Groups",
        "OIDC.CLAIM.sub",
        "Remote.User",
        "X~Citizen~Id",
        "X*Api*Key",
        // Found in a hostile-citizen probe: names under the gateway's own prefix beside
        // its identity header, and WSO2 API Manager's identity assertion.
        "X-Egov-Sub",
        "X-Egov-User",
        "X_Egov_Citizen",
        "X-Egov",
        "X-JWT-Assertion",
    ];
    none_reaches_the_site(&gw, &forged, "admin");
    // A name that only begins like a family member's first letters still goes through.
    let headers = echoed_headers(&gw, "X-Client-Locale: ar\r\nOIDC: x\r\n");
    assert_eq!(headers["x-client-locale"][0], "ar", "{headers}");
    assert_eq!(headers["oidc"][0], "x", "{headers}");
}

/// Found when tried: every service origin is same-site with its siblings', so a hostile
/// legacy page could frame another service's signed-in page and have the citizen click in
/// it. A legacy page may be framed by its own origin only; other answers are left alone.
#[test]
fn a_legacy_page_may_be_framed_by_its_own_origin_only() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let page = raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(
        page.header("content-security-policy"),
        Some("frame-ancestors 'self'"),
        "{page:?}"
    );
    let json = raw_http::get(gw.addr, "/s/cnie-renewal/__estate/echo", "");
    assert_eq!(json.header("content-security-policy"), None, "{json:?}");
}

/// Found when tried: a page carrying the portal strip (its language and login state) went
/// out as the site said, `public, max-age`, and a shared cache in front of the gateway gave
/// every citizen the first one's strip.
#[test]
fn a_page_carrying_the_portal_strip_varies_on_language_and_cookie() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        egov_integration::service_mut(c, "onee-electricity-bill").access =
            egov_gateway::config::Access::Public;
    });
    let page = raw_http::get(gw.addr, "/s/onee-electricity-bill/", "");
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(
        page.text().contains("egov-strip"),
        "the service's pages carry the strip: {}",
        page.text()
    );
    let vary: Vec<&str> = page
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("vary"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        vary.iter().any(|v| v.contains("Accept-Language, Cookie")),
        "{vary:?}"
    );
}

/// Found when tried: one legacy site is often reached through several services, and the
/// identity headers one of them is sent were stripped only on requests to that one: a
/// public service on the same site passed a citizen's `X-Citizen-Id: victim` on as written.
#[test]
fn an_identity_header_of_any_service_is_forgeable_through_none() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        egov_integration::service_mut(c, "chikaya-complaint")
            .adapters
            .push(egov_gateway::config::AdapterStep::IdentityHeaders {
                subject: "X-Citizen-Id".into(),
                name: Some("X-Citizen-Name".into()),
            });
    });
    // cnie-renewal, public, on the same legacy estate, declares no identity headers.
    none_reaches_the_site(
        &gw,
        &["X-Citizen-Id", "x_citizen_id", "X-Citizen-Name"],
        "victim",
    );
}

/// Found when tried: `Transfer-Encoding: gzip, chunked` was read as chunked and the `gzip`
/// dropped, so the site got a compressed body with nothing saying so (nginx refuses it).
#[test]
fn a_transfer_coding_other_than_chunked_is_refused() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    for coding in ["gzip, chunked", "identity, chunked"] {
        let req = format!(
            "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Transfer-Encoding: {coding}\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            gw.addr
        );
        let resp = raw_http::send(gw.addr, req.as_bytes());
        assert_eq!(resp.status, 400, "{coding}: {}", resp.text());
    }
    let req = format!(
        "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        gw.addr
    );
    assert_eq!(raw_http::send(gw.addr, req.as_bytes()).status, 200);
}

/// Found when tried: `Content-Length` went to the legacy site as the citizen wrote it
/// (`0100`, `5, 5`, twice), and a server reading `0100` as octal left the rest of the body
/// on the pooled connection, where it prefixed the next citizen's request.
#[test]
fn a_legacy_site_gets_one_plain_decimal_content_length() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    for length in [
        "Content-Length: 0005\r\n",
        "Content-Length: 5, 5\r\n",
        "Content-Length: 5\r\nContent-Length: 5\r\n",
    ] {
        let req = format!(
            "POST /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: text/plain\r\n{length}\r\nhello",
            gw.addr
        );
        let resp = raw_http::send(gw.addr, req.as_bytes());
        assert_eq!(resp.status, 200, "{length:?}: {}", resp.text());
        let echo: serde_json::Value = serde_json::from_slice(&resp.body).expect("echo JSON");
        assert_eq!(
            echo["headers"]["content-length"],
            serde_json::json!(["5"]),
            "{length:?}"
        );
    }
}

/// The next citizens' answers from `gw`'s `cnie-renewal`, a site that reads no body, each
/// asserted to be his own page.
fn next_citizens_get_their_own_pages(gw: &TestGateway) {
    for _ in 0..3 {
        let next = raw_http::get(gw.addr, "/s/cnie-renewal/home", "");
        assert_eq!(next.status, 200, "{}", next.text());
        let said = next.text();
        assert!(
            said.starts_with("you asked: GET /") && said.ends_with("/home HTTP/1.1"),
            "another request was put before the citizen's: {said}"
        );
    }
}

/// What a hostile citizen sends to a site that reads no body: a POST whose body is a
/// request line and an open header, in one packet or in two around the site's answer,
/// with `extra` header lines.
fn smuggle(gw: &TestGateway, in_two_parts: bool, extra: &str) {
    use std::io::{Read, Write};
    let prefix = "GET /defaced HTTP/1.1\r\nX-Ignore: ";
    let rest = "x".repeat(10);
    let mut attacker = std::net::TcpStream::connect(gw.addr).expect("connect");
    attacker
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /s/cnie-renewal/contact HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\n\
         {extra}Content-Length: {}\r\n\r\n",
        gw.addr,
        prefix.len() + rest.len()
    );
    if in_two_parts {
        attacker
            .write_all(format!("{head}{prefix}").as_bytes())
            .expect("the body's first half");
    } else {
        attacker
            .write_all(format!("{head}{prefix}{rest}").as_bytes())
            .expect("the whole request");
    }
    let mut answer = [0u8; 1024];
    let n = attacker.read(&mut answer).expect("the site's answer");
    let said = String::from_utf8_lossy(&answer[..n]);
    assert!(said.contains("you asked: POST"), "{said}");
    if in_two_parts {
        let _ = attacker.write_all(rest.as_bytes());
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
}

/// Found in two probes: a legacy site that answered a POST without reading its body, on a
/// kept-alive connection, read the body's bytes as the start of the next request, so a
/// citizen whose body was a request line and an open header set what the next citizen's
/// request on that pooled connection asked for (with his cookies and identity; the cache
/// kept the answer for everyone). First with the body's second half sent after the answer;
/// then, once that was mended, with the whole body in one packet, and with the request
/// asking for an upgrade the site did not make. A request with a body is now the last on
/// its connection.
#[test]
fn a_body_the_site_never_read_never_prefixes_the_next_request() {
    let estate = start_estate(None);
    let site = raw_http::site_reading_no_body(|line| format!("you asked: {line}"));
    let gw = in_front_of_site(&estate, site);
    for in_two_parts in [false, true] {
        for extra in [
            "",
            "Connection: Upgrade\r\nUpgrade: h2c\r\n",
            "Connection: Upgrade\r\nUpgrade: websocket\r\n",
        ] {
            smuggle(&gw, in_two_parts, extra);
            next_citizens_get_their_own_pages(&gw);
        }
    }
}

/// Found in the second probe: a fix that shut the connection's sending side when the
/// site answered before the body had all come cut short the upload of a site that streams
/// its answer while it reads (it got 1,000 of 200,000 bytes, and said so with a 200).
#[test]
fn a_site_answering_while_it_reads_an_upload_gets_the_whole_upload() {
    use std::io::{Read, Write};
    let site = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = site.local_addr().expect("its address");
    std::thread::spawn(move || {
        for conn in site.incoming().flatten() {
            let mut conn = conn;
            std::thread::spawn(move || {
                let mut held = Vec::new();
                let mut buf = [0u8; 65536];
                while !held.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => held.extend_from_slice(&buf[..n]),
                    }
                }
                let end = held.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0) + 4;
                let head = String::from_utf8_lossy(&held[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
                );
                let mut got = held.len() - end;
                while got < length {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                let said = format!("received {got} of {length}");
                let _ =
                    conn.write_all(format!("{:x}\r\n{said}\r\n0\r\n\r\n", said.len()).as_bytes());
            });
        }
    });
    let estate = start_estate(None);
    let gw = in_front_of_site(&estate, addr);
    let mut citizen = std::net::TcpStream::connect(gw.addr).expect("connect");
    citizen
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let length = 200_000;
    let head = format!(
        "POST /s/cnie-renewal/upload HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n",
        gw.addr
    );
    citizen.write_all(head.as_bytes()).expect("head");
    citizen.write_all(&vec![b'a'; 1_000]).expect("the start");
    std::thread::sleep(std::time::Duration::from_millis(700));
    citizen
        .write_all(&vec![b'a'; length - 1_000])
        .expect("the rest");
    let mut answer = Vec::new();
    let _ = citizen.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.contains(&format!("received {length} of {length}")),
        "{answer}"
    );
}

/// Two session cookies make a request anonymous; every copy is expired on whatever the
/// gateway answers itself, the portal's pages too. It was done only where a service asked
/// for a login, so a cookie planted on the portal (a plain-HTTP sibling's `Domain` cookie)
/// kept the citizen anonymous after every login, in a loop.
#[test]
fn a_planted_session_cookie_is_expired_on_the_portals_own_pages() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let planted = format!(
        "Cookie: egov_session={}; egov_session={}\r\n",
        "a".repeat(43),
        "b".repeat(43)
    );
    let resp = raw_http::get(gw.addr, "/", &planted);
    assert_eq!(resp.status, 200);
    let expired: Vec<&str> = resp
        .headers
        .iter()
        .filter(|(n, v)| n.eq_ignore_ascii_case("set-cookie") && v.starts_with("egov_session=;"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        expired
            .iter()
            .any(|c| c.contains("Max-Age=0") && c.contains("Path=/;")),
        "{expired:?}"
    );
    // One cookie: nothing expired.
    let one = raw_http::get(
        gw.addr,
        "/",
        &format!("Cookie: egov_session={}\r\n", "a".repeat(43)),
    );
    assert!(
        !one.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("set-cookie") && v.contains("Max-Age=0")),
        "a lone session cookie was expired"
    );
}

/// The expiry of a planted session cookie names the request's parent domains, and the
/// `Host` is the client's: one of 3,000 labels was answered with 300 KB of `Set-Cookie`
/// (50 times the request). Only the nearest parents of a DNS name are expired now.
#[test]
fn a_planted_cookie_under_a_host_of_thousands_of_labels_gets_a_small_answer() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let host = "a.".repeat(3000) + "localhost";
    let req = format!(
        "GET /a/b/c/d/e/f HTTP/1.1\r\nHost: {host}\r\nCookie: egov_session={}; egov_session={}\r\nConnection: close\r\n\r\n",
        "a".repeat(43),
        "b".repeat(43)
    );
    let resp = raw_http::send(gw.addr, req.as_bytes());
    let cookie_bytes: usize = resp
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.len())
        .sum();
    assert!(
        cookie_bytes < 4096,
        "{} answered with {cookie_bytes} bytes of Set-Cookie",
        resp.status
    );
}

/// RFC 9112 (section 3.2): an HTTP/1.1 request without `Host` must get 400. It was routed
/// as the portal's and answered 404 (HTTP/1.0, which has no `Host`, still is served).
#[test]
fn an_http_1_1_request_without_host_gets_400() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let resp = raw_http::send(
        gw.addr,
        b"GET /s/cnie-renewal/ HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(resp.status, 400, "{}", resp.text());
    let old = raw_http::send(gw.addr, b"GET /s/cnie-renewal/ HTTP/1.0\r\n\r\n");
    assert_eq!(old.status, 200);
}

#[test]
fn a_host_the_gateway_does_not_serve_gets_421_and_reaches_no_site() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    for host in [
        "attacker.example",
        "portal.evil.example",
        "127.0.0.2.evil.example",
    ] {
        let req = format!(
            "GET /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        let resp = raw_http::send(gw.addr, req.as_bytes());
        assert_eq!(resp.status, 421, "{host}");
        assert!(resp.text().contains("Adresse inconnue"), "{host}");
    }
}

#[test]
fn a_portal_alias_and_loopback_names_are_served() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        c.gateway.portal.hosts = vec!["www.portail.test".into()];
    });
    for host in [
        "www.portail.test",
        "WWW.Portail.Test.",
        "localhost",
        "[::1]",
    ] {
        let req =
            format!("GET /s/cnie-renewal/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        assert_eq!(
            raw_http::send(gw.addr, req.as_bytes()).status,
            200,
            "{host}"
        );
    }
}

#[test]
fn a_junk_port_in_the_host_never_reaches_the_site_as_x_forwarded_host() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let req = "GET /s/cnie-renewal/__estate/echo HTTP/1.1\r\nHost: localhost:@evil.example\r\nConnection: close\r\n\r\n";
    let resp = raw_http::send(gw.addr, req.as_bytes());
    if resp.status == 200 {
        assert!(!resp.text().contains("evil.example"), "{}", resp.text());
    } else {
        assert_eq!(resp.status, 400);
    }
}

#[test]
fn a_legacy_sites_software_banners_never_reach_the_citizen() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, egov_integration::all_public);
    for (service, host) in [
        ("cnie-renewal", "www.cnie.ma"),
        ("tax-certificates", "www.tax.gov.ma"),
        ("vat-declaration", "www.tax.gov.ma"),
    ] {
        let direct = raw_http::send(
            estate.addr(),
            format!("GET /{service}/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        assert!(
            direct.header("server").is_some() && direct.header("x-powered-by").is_some(),
            "{service}: the legacy site announces its software"
        );
        let resp = raw_http::get(gw.addr, &format!("/s/{service}/"), "");
        assert!(
            resp.header("x-estate-site").is_some(),
            "{service}: the site answered"
        );
        for banner in ["server", "x-powered-by"] {
            assert_eq!(resp.header(banner), None, "{service}: {banner}");
        }
    }
}

/// Asserts that none of `headers` (`Name:Value`, as the estate's `headers?set=` takes them)
/// that a legacy page answers with reaches the citizen, while another header does.
fn none_reaches_the_citizen(headers: &[&str]) {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let query: Vec<String> = headers
        .iter()
        .chain(["X-Legacy-Note:kept"].iter())
        .map(|h| {
            let escaped = h
                .replace('"', "%22")
                .replace('*', "%2A")
                .replace(' ', "%20");
            format!("set={escaped}")
        })
        .collect();
    let resp = raw_http::get(
        gw.addr,
        &format!("/s/cnie-renewal/__estate/headers?{}", query.join("&")),
        "",
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("x-legacy-note"),
        Some("kept"),
        "other headers pass"
    );
    for h in headers {
        let name = h.split(':').next().unwrap_or_default();
        assert_eq!(resp.header(name), None, "{name} reached the citizen");
    }
}

/// Found in a last read of the notes: a site's `Server-Timing` (its inner steps, readable by
/// any script), its trace context and its debug profiler's token reached the citizen.
#[test]
fn a_legacy_sites_diagnostics_never_reach_the_citizen() {
    none_reaches_the_citizen(&[
        "Server-Timing:db;dur=53;desc=\"SELECT cin FROM citizens\"",
        "traceparent:00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "tracestate:ministry=internal",
        "traceresponse:00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "X-Debug-Token:a1b2c3",
        "X-Debug-Token-Link:http://10.0.0.7/_profiler/a1b2c3",
    ]);
}

#[test]
fn a_legacy_answer_cannot_speak_for_the_portals_origin() {
    none_reaches_the_citizen(&[
        "Service-Worker-Allowed:/",
        "Clear-Site-Data:\"*\"",
        "Strict-Transport-Security:max-age=0",
        "Alt-Svc:h2=\"attacker.example:443\"",
        "Public-Key-Pins:max-age=0",
        "Expect-CT:max-age=0",
        // Network Error Logging: every later request to the origin reported to the site.
        "NEL:{\"report_to\":\"x\",\"max_age\":99999999}",
        "Report-To:{\"group\":\"x\",\"max_age\":99999999}",
        "Reporting-Endpoints:x=\"https://collector.example/r\"",
    ]);
}

/// Found when tried: the fields of the legacy connection reached citizens (and a legacy
/// `TE: gzip` made the answer malformed over HTTP/2), as did the header the site's
/// `Connection` named as meant for the proxy only.
#[test]
fn a_legacy_answers_hop_by_hop_headers_stay_on_its_connection() {
    let estate = start_estate(None);
    let site = raw_http::scripted_site(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
          Connection: close, X-Internal-Token\r\nX-Internal-Token: backend-admin\r\n\
          Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\n\
          Trailer: X-Checksum\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic realm=x\r\n\
          X-Legacy-Note: kept\r\n\r\nok",
    );
    let gw = in_front_of_site(&estate, site);
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.header("x-legacy-note"), Some("kept"));
    for name in [
        "x-internal-token",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
    ] {
        assert_eq!(resp.header(name), None, "{name} reached the citizen");
    }
    assert_eq!(
        resp.header("connection"),
        Some("close"),
        "the gateway's own"
    );
}

/// A legacy answer's header of `fields` fields of 4,000 bytes each, then a short body.
fn answer_with_header_fields(fields: usize) -> &'static [u8] {
    let mut answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
Connection: close\r\n"
        .to_vec();
    for i in 0..fields {
        answer.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "p".repeat(4_000)).as_bytes());
    }
    answer.extend_from_slice(b"\r\nok");
    Box::leak(answer.into_boxed_slice())
}

/// Found when tried: a legacy answer with a 200 KB header reached the citizen whole.
#[test]
fn a_legacy_answer_with_a_header_over_64_kib_gets_the_502_page_and_none_of_it() {
    let estate = start_estate(None);
    let gw = in_front_of_site(
        &estate,
        raw_http::scripted_site(answer_with_header_fields(50)),
    );
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(resp.status, 502, "{} fields", resp.headers.len());
    assert_eq!(resp.header("x-pad-0"), None);
}

#[test]
fn a_legacy_answer_with_a_header_of_40_kb_passes() {
    let estate = start_estate(None);
    let gw = in_front_of_site(
        &estate,
        raw_http::scripted_site(answer_with_header_fields(10)),
    );
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(resp.status, 200, "{} fields", resp.headers.len());
    assert_eq!(resp.header("x-pad-9").map(str::len), Some(4_000));
}

/// The status and body a client that reads interim answers and chunks as browsers do gets
/// for `path`.
async fn fetched(gw: &TestGateway, path: &str) -> (u16, String) {
    let r = egov_integration::client()
        .get(gw.url(path))
        .send()
        .await
        .expect("an answer");
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

/// Found when tried: a legacy answer whose `Transfer-Encoding` was not one plain `chunked`
/// (`chunked,`) was read to the connection's close, but passed on with that field and the
/// raw bytes: a proxy in front of the gateway read it as chunked, desynchronised, and the
/// next citizen's request on that connection failed.
#[tokio::test]
async fn a_legacy_answer_with_a_transfer_coding_other_than_chunked_gets_the_502_page() {
    let estate = start_estate(None);
    for coding in [
        "chunked,",
        "chunked, identity",
        "gzip, chunked",
        "\"chunked\"",
    ] {
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: {coding}\r\n\
             Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        );
        let site = raw_http::scripted_site(Box::leak(answer.into_bytes().into_boxed_slice()));
        let gw = in_front_of_site(&estate, site);
        let (status, _) = fetched(&gw, "/s/cnie-renewal/").await;
        assert_eq!(status, 502, "{coding}");
    }
    // Faulty framing on HTTP/1.0 (RFC 9112 §6.1), found by a bypass probe.
    let site = raw_http::scripted_site(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n",
    );
    let gw = in_front_of_site(&estate, site);
    assert_eq!(
        fetched(&gw, "/s/cnie-renewal/").await.0,
        502,
        "HTTP/1.0 chunked"
    );
    // One plain field, in any case, is chunked as ever.
    let site = raw_http::scripted_site(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: Chunked\r\n\
          Connection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let gw = in_front_of_site(&estate, site);
    assert_eq!(
        fetched(&gw, "/s/cnie-renewal/").await,
        (200, "hello".to_string())
    );
}

/// Found when tried (an observability probe): a site's `999` and `600` reached citizens as
/// they were, and the access log said 999 where the metrics said 5xx. No HTTP status is
/// past 599 (RFC 9110 §15): the 502 page.
#[tokio::test]
async fn a_legacy_status_past_599_gets_the_502_page() {
    let estate = start_estate(None);
    for status in ["999 Weird", "600 X"] {
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
             Connection: close\r\n\r\nok"
        );
        let site = raw_http::scripted_site(Box::leak(answer.into_bytes().into_boxed_slice()));
        let gw = in_front_of_site(&estate, site);
        assert_eq!(fetched(&gw, "/s/cnie-renewal/").await.0, 502, "{status}");
    }
    let site = raw_http::scripted_site(
        b"HTTP/1.1 599 Last\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
          Connection: close\r\n\r\nok",
    );
    let gw = in_front_of_site(&estate, site);
    assert_eq!(
        fetched(&gw, "/s/cnie-renewal/").await.0,
        599,
        "a status, if unknown"
    );
}

/// Found when tried (a probe): a service whose pages are rewritten, answered a page or a
/// redirect with `Content-Length: 0`, sent it with no length and no chunks while saying
/// `Connection: keep-alive`, then closed the connection: the citizen's next request on it
/// failed. An empty body keeps its length of 0, and the connection goes on.
#[test]
fn an_empty_page_of_a_rewritten_service_keeps_its_length_and_the_connection() {
    let estate = start_estate(None);
    let site = raw_http::scripted_site(
        b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Type: text/html\r\n\
          Content-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let gw = in_front_of_site(&estate, site);
    let mut conn = std::net::TcpStream::connect(gw.addr).expect("connect");
    let request = format!(
        "GET /s/cnie-renewal/old HTTP/1.1\r\nHost: {}\r\n\r\n",
        gw.addr
    );
    for _ in 0..2 {
        let answer = raw_http::exchange(&mut conn, request.as_bytes()).expect("an answer");
        assert_eq!(answer.status, 302);
        assert_eq!(answer.header("content-length"), Some("0"));
    }
}

/// Found when tried: 200,000 `103 Early Hints` from a site were each passed on, grown by the
/// gateway's own headers. A request gets at most 32 interim answers; beyond, the 502 page.
#[tokio::test]
async fn a_flood_of_interim_answers_from_a_legacy_site_gets_the_502_page() {
    let estate = start_estate(None);
    let answer = |hints: usize| {
        let mut a =
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n".repeat(hints);
        a.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
              Connection: close\r\n\r\nok",
        );
        &*Box::leak(a.into_boxed_slice())
    };
    let gw = in_front_of_site(&estate, raw_http::scripted_site(answer(3)));
    assert_eq!(
        fetched(&gw, "/s/cnie-renewal/").await,
        (200, "ok".to_string())
    );
    let gw = in_front_of_site(&estate, raw_http::scripted_site(answer(40)));
    assert_eq!(fetched(&gw, "/s/cnie-renewal/").await.0, 502);
}

/// Found by a bypass probe: interim `102`s were neither counted nor held to any deadline
/// while the citizen's body was unfinished, so a site that never read it held the request
/// as long as it went on.
#[test]
fn interim_answers_during_an_unfinished_upload_are_bounded_too() {
    use std::io::{Read, Write};
    let estate = start_estate(None);
    let mut processing = b"HTTP/1.1 102 Processing\r\n\r\n".repeat(40);
    processing
        .extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    let site = raw_http::scripted_site(Box::leak(processing.into_boxed_slice()));
    let gw = in_front_of_site(&estate, site);
    let mut citizen = std::net::TcpStream::connect(gw.addr).expect("connect");
    citizen
        .write_all(
            format!(
                "POST /s/cnie-renewal/upload HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\n\
                 Content-Length: 10\r\n\r\nhalf-",
                gw.addr
            )
            .as_bytes(),
        )
        .expect("write");
    citizen
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = citizen.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    let finals: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("HTTP/1.1 ") && !l.starts_with("HTTP/1.1 1"))
        .collect();
    assert_eq!(
        finals,
        ["HTTP/1.1 502 Bad Gateway"],
        "{}",
        &text[..text.len().min(300)]
    );
    assert!(text.matches("102 Processing").count() <= 32);
}

/// Found when tried: a site sending a `103` a second held a request for 100 s against a
/// total timeout of 30: the total was looked at only once a final answer came.
#[tokio::test]
async fn a_site_that_trickles_interim_answers_is_held_to_the_total_timeout() {
    use std::io::{Read, Write};
    let estate = start_estate(None);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let site = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                for _ in 0..30 {
                    let hint = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n";
                    if stream.write_all(hint).is_err() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(300));
                }
            });
        }
    });
    let gw = TestGateway::with(&estate, |c| {
        egov_integration::backend_at(c, "cnie-renewal", site.port());
        let s = egov_integration::service_mut(c, "cnie-renewal");
        s.upstream.timeouts.total = std::time::Duration::from_secs(1);
    });
    let started = std::time::Instant::now();
    let (status, _) = fetched(&gw, "/s/cnie-renewal/").await;
    assert_eq!(status, 504);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "held {:?} by a site trickling for 9 s",
        started.elapsed()
    );
}

/// Found when tried: an HTTP/1.0 client (a load balancer's health check, `ab`) got a
/// rewritten page in chunks it cannot decode, so the chunk sizes were part of the page.
#[test]
fn an_http10_client_gets_a_rewritten_page_without_chunks() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let req = format!(
        "GET /s/cnie-renewal/ HTTP/1.0\r\nHost: {}\r\nAccept-Encoding: gzip\r\n\r\n",
        gw.addr
    );
    let resp = raw_http::send(gw.addr, req.as_bytes());
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("transfer-encoding"), None, "{:?}", resp.headers);
    assert_eq!(resp.header("content-encoding"), None, "{:?}", resp.headers);
    assert_eq!(resp.header("connection"), Some("close"));
    let page = resp.text();
    assert!(
        page.trim_start().starts_with('<'),
        "{}",
        &page[..page.len().min(80)]
    );
    assert!(page.contains("/s/cnie-renewal/"), "the page was rewritten");
}

/// Found when tried: a legacy site's `103 Early Hints` went to an HTTP/1.0 client, which
/// takes the first status line it reads for the answer.
#[test]
fn an_http10_client_gets_no_interim_answer() {
    let estate = start_estate(None);
    let site = raw_http::scripted_site(
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
          HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
          Connection: close\r\n\r\nok",
    );
    let gw = in_front_of_site(&estate, site);
    let req = format!(
        "GET /s/cnie-renewal/x HTTP/1.0\r\nHost: {}\r\n\r\n",
        gw.addr
    );
    let resp = raw_http::send(gw.addr, req.as_bytes());
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.text(), "ok");
    // An HTTP/1.1 client still gets it.
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/x", "");
    assert_eq!(resp.status, 103, "{resp:?}");
}

/// Found when tried: a legacy `204` with a `Content-Length` kept it (RFC 9110 §8.6 forbids
/// one), and a client or proxy trusting it reads the next answer as its body.
#[test]
fn a_legacy_204_goes_out_without_a_content_length() {
    let estate = start_estate(None);
    let site = raw_http::scripted_site(
        b"HTTP/1.1 204 No Content\r\nContent-Length: 20\r\nConnection: close\r\n\r\n",
    );
    let chunked = raw_http::scripted_site(
        b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    let gw = in_front_of_site(&estate, site);
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(resp.status, 204, "{resp:?}");
    assert_eq!(resp.header("content-length"), None, "{resp:?}");
    // Nor chunks (found when the fix was tried).
    let gw = in_front_of_site(&estate, chunked);
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/", "");
    assert_eq!(resp.status, 204, "{resp:?}");
    assert_eq!(resp.header("transfer-encoding"), None, "{resp:?}");
}

/// Found when the fix was tried: an answer's `Content-Length` went to citizens as the
/// legacy site wrote it (`010`), for a proxy in front to read its own way.
#[test]
fn a_citizen_gets_one_plain_decimal_content_length() {
    let estate = start_estate(None);
    let site = raw_http::scripted_site(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
          Content-Length: 010\r\nConnection: close\r\n\r\n0123456789",
    );
    let gw = in_front_of_site(&estate, site);
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/file.bin", "");
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.header("content-length"), Some("10"), "{resp:?}");
    assert_eq!(resp.body, b"0123456789");
}

/// Found when the fix was tried: a WebSocket handshake's answer (101) kept every field of
/// the legacy connection, and the field its `Connection` named as the proxy's only.
#[test]
fn a_handshakes_answer_keeps_only_its_upgrade() {
    let estate = start_estate(None);
    let site = raw_http::scripted_site(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
          Connection: Upgrade, X-Internal-Token\r\nX-Internal-Token: secret\r\n\
          Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic realm=x\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    let gw = in_front_of_site(&estate, site);
    let resp = raw_http::websocket_handshake(gw.addr, "/s/cnie-renewal/ws");
    assert_eq!(resp.status, 101, "{resp:?}");
    assert_eq!(resp.header("upgrade"), Some("websocket"));
    assert!(resp.header("sec-websocket-accept").is_some(), "{resp:?}");
    for name in ["x-internal-token", "keep-alive", "proxy-authenticate"] {
        assert_eq!(resp.header(name), None, "{name} reached the citizen");
    }
    assert!(
        !resp
            .header("connection")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .contains("x-internal-token"),
        "{resp:?}"
    );
}

/// Found when tried: a site answering `101` to a plain GET had the 101 passed on and then
/// its bytes raw: a second answer whose `Set-Cookie; Domain` and `Clear-Site-Data` no
/// adapter saw, and which Chromium obeyed. A switch the citizen did not ask for is a 502.
#[test]
fn a_101_to_a_request_that_asked_for_no_upgrade_is_a_bad_gateway() {
    let estate = start_estate(None);
    let site = raw_http::scripted_site(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\
          HTTP/1.1 200 OK\r\nSet-Cookie: planted=1; Domain=localhost; Path=/\r\n\
          Clear-Site-Data: \"*\"\r\nContent-Length: 2\r\n\r\nhi",
    );
    let gw = in_front_of_site(&estate, site);
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/page", "");
    assert_eq!(resp.status, 502, "{resp:?}");
    let raw = String::from_utf8_lossy(&resp.body);
    assert!(!raw.contains("planted"), "{raw}");
    assert!(!raw.contains("Clear-Site-Data"), "{raw}");
}

/// Found when tried: a site answering a WebSocket handshake with a `101` to `h2c` had it
/// passed on (RFC 9110 §7.8: a server switches only to a protocol the client asked for).
#[test]
fn a_101_switching_a_websocket_handshake_to_another_protocol_is_a_bad_gateway() {
    let estate = start_estate(None);
    let site = raw_http::scripted_site(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    );
    let gw = in_front_of_site(&estate, site);
    let resp = raw_http::websocket_handshake(gw.addr, "/s/cnie-renewal/ws");
    assert_eq!(resp.status, 502, "{resp:?}");
}

/// A `101` the gateway refuses is the site's failure, counted by the service's breaker as
/// any 502 of the site's making. It was taken for an exchange that succeeded (the attempt
/// was marked upgraded before the check): a site answering every handshake so never opened
/// its breaker, and its half-open trial counted it a success.
#[test]
fn refused_101s_open_the_services_breaker() {
    let estate = start_estate(None);
    let site = raw_http::scripted_site(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
    );
    let gw = TestGateway::with(&estate, |c| {
        egov_integration::backend_at(c, "cnie-renewal", site.port());
        let upstream = &mut egov_integration::service_mut(c, "cnie-renewal").upstream;
        upstream.outlier.consecutive_failures = 0;
        upstream.breaker.failures = 3;
    });
    // Three citizens: one address alone cannot open a service's breaker.
    for n in 0..3u8 {
        let citizen = std::net::IpAddr::from([127, 0, 0, 2 + n]);
        let resp = raw_http::websocket_handshake_from(citizen, gw.addr, "/s/cnie-renewal/ws");
        assert_eq!(resp.status, 502, "{resp:?}");
    }
    let text = raw_http::get(gw.metrics, "/metrics", "");
    let text = String::from_utf8_lossy(&text.body);
    assert!(
        text.contains(r#"egov_circuit_breaker_state{breaker="service:cnie-renewal"} 2"#),
        "{text}"
    );
}

/// The gateway removes a legacy site's `Strict-Transport-Security` (its `max-age=0` would
/// switch HSTS off), so on an HTTPS portal it declares its own on every legacy answer, fresh
/// or from the cache, as on the answers it writes itself: otherwise a service's origin, whose
/// pages all come from its legacy site, would never be told to refuse plain HTTP.
#[test]
fn on_an_https_portal_every_legacy_answer_carries_the_gateways_hsts() {
    let estate = start_estate(None);
    let staged = Staged::new(&estate);
    staged.append_to_service("interior", "cnie-renewal", "[cache]");
    let gw = TestGateway::staged(&estate, staged, |c| {
        c.gateway.portal.public_url.https = true
    });
    let hsts = Some("max-age=63072000");
    let switched_off = raw_http::get(
        gw.addr,
        "/s/cnie-renewal/__estate/headers?set=Strict-Transport-Security:max-age=0",
        "",
    );
    assert_eq!(switched_off.status, 200);
    assert_eq!(switched_off.header("strict-transport-security"), hsts);
    let cacheable = "/s/cnie-renewal/__estate/cacheable?tag=hsts&cc=max-age%3D60";
    let first = raw_http::get(gw.addr, cacheable, "");
    let again = raw_http::get(gw.addr, cacheable, "");
    assert_eq!(again.header("x-cache-status"), Some("HIT"));
    for (answer, what) in [(&first, "fetched"), (&again, "from the cache")] {
        assert_eq!(answer.header("strict-transport-security"), hsts, "{what}");
    }
}

#[test]
fn on_a_plain_http_portal_a_legacy_answer_carries_no_hsts() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let resp = raw_http::get(gw.addr, "/s/cnie-renewal/__estate/echo", "");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("strict-transport-security"), None);
}

/// Found when tried: one cookie whose value was not plain ASCII (a legacy site's own
/// `ville=Fès`, which the gateway had passed to the browser byte for byte) made the gateway
/// drop the whole `Cookie` header, the site's session with it.
#[test]
fn a_cookie_value_that_is_not_ascii_reaches_the_site_with_the_others() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let resp = raw_http::get(
        gw.addr,
        "/s/cnie-renewal/__estate/echo",
        "Cookie: JSESSIONID=abc; ville=Fès; egov_session=x\r\n",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let echo: serde_json::Value = serde_json::from_slice(&resp.body).expect("echo JSON");
    assert_eq!(echo["cookies"]["JSESSIONID"], "abc", "{echo}");
    assert_eq!(echo["cookies"]["ville"], "Fès", "{echo}");
    assert!(echo["cookies"].get("egov_session").is_none(), "{echo}");
}

/// Browsers speaking HTTP/2 send each cookie as a header field of its own: a signed-in
/// citizen's 60 legacy cookies (120 with their session bindings) are not 120 headers.
#[tokio::test(flavor = "multi_thread")]
async fn http2_cookies_sent_one_field_each_count_as_one_header() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .no_proxy()
        .build()
        .expect("client");
    let mut request = h2.get(gw.url("/s/cnie-renewal/__estate/echo"));
    for i in 0..150 {
        request = request.header("cookie", format!("c{i}=v"));
    }
    let resp = request.send().await.expect("request");
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let echo: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(
        echo["cookies"].as_object().map(|c| c.len()),
        Some(150),
        "{echo}"
    );
}

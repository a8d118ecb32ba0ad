//! The portal serves every ministry service behind one origin.

use egov_integration::{all_public, client, start_estate, TestGateway};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn every_service_answers_through_its_portal_path_with_its_legacy_site() {
    let estate = start_estate(None);
    // Login is tested in `sso`; here every service is opened to test the proxying itself.
    let gw = TestGateway::with(&estate, all_public);
    let http = client();
    let snap = gw.registry.snapshot();
    assert_eq!(snap.services().len(), 56);
    for service in snap.services() {
        let id = service.id();
        let resp = http
            .get(gw.url(&format!("/s/{id}/__estate/echo")))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "{id}: the legacy site was not reached");
        let echo: Value = resp.json().await.expect("echo JSON");
        assert_eq!(echo["site"], id, "{id} reached the wrong legacy site");

        let home = http
            .get(gw.url(&format!("/s/{id}/")))
            .send()
            .await
            .expect("request");
        assert!(
            home.status().is_success() || home.status().is_redirection(),
            "{id}: home answered {}",
            home.status()
        );
        assert_eq!(
            home.headers()
                .get("x-estate-site")
                .and_then(|v| v.to_str().ok()),
            Some(id),
            "{id}: home page is not the estate's"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backend_sees_the_path_under_its_own_base_and_its_own_host() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let echo: Value = client()
        .get(gw.url("/s/vat-declaration/__estate/echo/a/b?x=1&y=%20"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(echo["path"], "/vat-declaration/__estate/echo/a/b");
    assert_eq!(echo["query"], "x=1&y=%20");
    assert_eq!(echo["host"], "www.tax.gov.ma");
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_host_gets_a_301_to_the_same_page_on_the_portal_with_its_query() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let resp = client()
        .get(gw.url("/vat-declaration/formulaire?annee=2024"))
        .header("host", "www.tax.gov.ma")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 301);
    assert_eq!(
        resp.headers()["location"],
        format!("http://{}/s/vat-declaration/formulaire?annee=2024", gw.addr).as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_host_page_no_service_owns_redirects_to_the_portal_home() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let resp = client()
        .get(gw.url("/"))
        .header("host", "WWW.TAX.GOV.MA:80")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 301);
    assert_eq!(
        resp.headers()["location"],
        format!("http://{}/", gw.addr).as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn legacy_host_is_proxied_in_place_when_the_service_says_so() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, |c| {
        for s in &mut c.services {
            if s.id == "passport-application" {
                s.legacy.on_host = egov_gateway::config::LegacyHostMode::Proxy;
            }
        }
    });
    let resp = client()
        .get(gw.url("/__estate/echo"))
        .header("host", "www.passeport.ma")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let echo: Value = resp.json().await.expect("json");
    assert_eq!(echo["site"], "passport-application");
}

#[tokio::test(flavor = "multi_thread")]
async fn service_root_without_trailing_slash_redirects_to_it() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let resp = client()
        .get(gw.url("/s/cnie-renewal?lang=ar"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 301);
    assert_eq!(resp.headers()["location"], "/s/cnie-renewal/?lang=ar");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_service_gets_a_404_page_in_three_languages() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    for path in ["/s/no-such-service/", "/nothing-here", "/s/"] {
        let resp = client().get(gw.url(path)).send().await.expect("request");
        assert_eq!(resp.status(), 404, "{path}");
        let id = egov_integration::request_id(&resp);
        let body = resp.text().await.expect("body");
        assert!(body.contains("الخدمة غير موجودة"), "{path}: no Arabic");
        assert!(body.contains("Service introuvable"), "{path}: no French");
        assert!(body.contains("Service not found"), "{path}: no English");
        assert!(
            body.contains(&id),
            "{path}: the page does not quote the request id"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_service_is_two_links_from_the_home_page_and_its_page_starts_it() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let http = client();
    let page = |path: String| {
        let http = http.clone();
        let url = gw.url(&path);
        async move {
            let resp = http.get(url).send().await.expect("request");
            assert_eq!(resp.status(), 200, "{path}");
            resp.text().await.expect("body")
        }
    };
    let home = page("/".into()).await;
    let snapshot = gw.registry.snapshot();
    let mut categories: Vec<&str> = snapshot
        .services()
        .iter()
        .map(|s| s.config.category.as_str())
        .collect();
    categories.sort_unstable();
    categories.dedup();
    for category in categories {
        assert!(
            home.contains(&format!("href=\"/categories/{category}\"")),
            "{category} missing from the home page"
        );
        let listing = page(format!("/categories/{category}")).await;
        for s in snapshot
            .services()
            .iter()
            .filter(|s| s.config.category.as_str() == category)
        {
            assert!(
                listing.contains(&format!("href=\"/services/{}\"", s.id())),
                "{} missing from /categories/{category}",
                s.id()
            );
        }
    }
    for s in snapshot.services() {
        let service = page(format!("/services/{}", s.id())).await;
        assert!(
            service.contains(&format!("/s/{}/\"", s.id())),
            "{}: no start link",
            s.id()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_a_request_id_that_the_backend_also_saw() {
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let resp = client()
        .get(gw.url("/s/cnie-renewal/__estate/echo"))
        .send()
        .await
        .expect("request");
    let id = egov_integration::request_id(&resp);
    let echo: Value = resp.json().await.expect("json");
    assert_eq!(echo["headers"]["x-request-id"][0], id.as_str());
    assert_eq!(id.len(), 32);
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_site_is_reached_without_the_citizen_seeing_a_prompt() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let resp = client()
        .get(gw.url("/s/vat-declaration/__estate/echo"))
        .header("authorization", "Basic Y2l0aXplbjpndWVzcw==")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("www-authenticate").is_none());
    let echo: Value = resp.json().await.expect("json");
    let sent = echo["headers"]["authorization"][0]
        .as_str()
        .expect("authorization");
    assert_ne!(
        sent, "Basic Y2l0aXplbjpndWVzcw==",
        "the citizen's credentials leaked upstream"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn site_requiring_x_forwarded_for_accepts_requests_through_the_gateway() {
    let estate = start_estate(None);
    let gw = TestGateway::with(&estate, all_public);
    let xff_site = egov_estate::sites()
        .iter()
        .find(|s| s.has(egov_estate::Quirk::RequiresXff))
        .expect("a site requires X-Forwarded-For");
    let resp = client()
        .get(gw.url(&format!("/s/{}/", xff_site.id)))
        .send()
        .await
        .expect("request");
    assert!(resp.status().is_success(), "{}", resp.status());
}

/// Found when tried: the portal's home page (5.5 KB, 1.9 KB gzipped) and its stylesheet went
/// uncompressed to every citizen, while legacy pages were compressed.
#[test]
fn the_portals_own_pages_are_compressed_but_not_its_refusals() {
    use egov_integration::raw_http;
    let estate = start_estate(None);
    let gw = TestGateway::in_front_of(&estate);
    let ask = |path: &str| {
        raw_http::send(
            gw.addr,
            format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
                gw.addr
            )
            .as_bytes(),
        )
    };
    let home = ask("/");
    assert_eq!(home.status, 200);
    assert_eq!(
        home.header("content-encoding"),
        Some("gzip"),
        "{:?}",
        home.headers
    );
    let plain = raw_http::get(gw.addr, "/", "");
    let css = plain
        .text()
        .split('"')
        .find(|s| s.starts_with("/assets/") && s.ends_with(".css"))
        .map(str::to_string)
        .expect("the stylesheet's link");
    assert_eq!(ask(&css).header("content-encoding"), Some("gzip"), "{css}");
    // A refusal is sent as it is: a flood of them must not cost a compressor each.
    let missing = ask("/no-such-page");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("content-encoding"), None);
    // Nor a page that may hold a secret of the citizen's (a signed-in one's logout token).
    let with_cookies = raw_http::send(
        gw.addr,
        format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nAccept-Encoding: gzip\r\nCookie: egov_session=x\r\nConnection: close\r\n\r\n",
            gw.addr
        )
        .as_bytes(),
    );
    assert_eq!(with_cookies.status, 200);
    assert_eq!(with_cookies.header("content-encoding"), None);
}

//! Access gates: basic-auth, api-key, requires-xff.

use crate::common::{basic, header, site_of, TestEstate};

#[tokio::test]
async fn basic_auth_site_answers_401_without_credentials() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("vat-declaration", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 401);
    let challenge = header(&response, "www-authenticate").expect("challenge");
    assert_eq!(
        challenge,
        format!("Basic realm=\"{}\"", site_of("vat-declaration").title.fr)
    );
    assert!(header(&response, "content-type").is_some_and(|c| c.starts_with("text/html")));
}

#[tokio::test]
async fn basic_auth_site_answers_200_with_service_account() {
    let estate = TestEstate::calm();
    let (user, password) = basic("vat-declaration");
    assert_eq!(user, "svc-portal");
    let response = estate
        .get_site("vat-declaration", "/demande")
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let wrong = estate
        .get_site("vat-declaration", "/demande")
        .basic_auth(&user, Some("wrong"))
        .send()
        .await
        .expect("response");
    assert_eq!(wrong.status(), 401);
}

#[tokio::test]
async fn api_key_site_answers_403_without_key_and_200_with_it() {
    let estate = TestEstate::calm();
    let without = estate
        .get_site("rnp-registration", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(without.status(), 403);
    let Some(egov_estate::Credential::ApiKey { header: name, key }) =
        egov_estate::credential("rnp-registration")
    else {
        panic!("rnp-registration has an api key");
    };
    let with = estate
        .get_site("rnp-registration", "/")
        .header(name, key)
        .send()
        .await
        .expect("response");
    assert_eq!(with.status(), 200);
}

#[tokio::test]
async fn requires_xff_site_refuses_direct_access() {
    let estate = TestEstate::calm();
    let direct = estate
        .get_site("consular-appointment", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(direct.status(), 403);
    assert!(direct
        .text()
        .await
        .expect("body")
        .contains("Accès direct interdit"));
    let proxied = estate
        .get_site("consular-appointment", "/")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("response");
    assert_eq!(proxied.status(), 200);
}

#[tokio::test]
async fn gates_also_guard_instrument_endpoints() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("criminal-record-extract", "/__estate/echo")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 401);
}

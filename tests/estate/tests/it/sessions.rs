//! Java sessions of `jsessionid` sites.

use serde_json::Value;

use crate::common::{header, TestEstate};

async fn session(estate: &TestEstate, id: &str, cookie: Option<&str>) -> (Option<String>, Value) {
    let mut request = estate.get_site(id, "/session");
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("JSESSIONID={cookie}"));
    }
    let response = request.send().await.expect("response");
    assert_eq!(response.status(), 200);
    let set_cookie = header(&response, "set-cookie");
    (set_cookie, response.json().await.expect("json"))
}

#[tokio::test]
async fn jsessionid_is_set_once_and_visits_are_counted() {
    let estate = TestEstate::calm();
    let (set_cookie, first) = session(&estate, "negative-certificate", None).await;
    let id = first["jsessionid"]
        .as_str()
        .expect("session id")
        .to_string();
    assert_eq!(first["new"], true);
    assert_eq!(first["visits"], 1);
    assert_eq!(first["site"], "negative-certificate");
    assert_eq!(
        set_cookie,
        Some(format!("JSESSIONID={id}; Path=/; HttpOnly"))
    );
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    let (set_cookie, second) = session(&estate, "negative-certificate", Some(&id)).await;
    assert_eq!(set_cookie, None);
    assert_eq!(second["new"], false);
    assert_eq!(second["visits"], 2);
    assert_eq!(second["jsessionid"], id.as_str());
}

#[tokio::test]
async fn two_jsessionid_sites_on_one_host_keep_separate_sessions() {
    let estate = TestEstate::calm();
    let (_, income) = session(&estate, "income-tax-declaration", None).await;
    let income_id = income["jsessionid"].as_str().expect("id").to_string();

    // The other site on www.tax.gov.ma does not know this session.
    let (set_cookie, certificates) = session(&estate, "tax-certificates", Some(&income_id)).await;
    assert_eq!(certificates["new"], true);
    assert_ne!(certificates["jsessionid"], income_id.as_str());
    assert!(set_cookie.is_some());

    let (_, again) = session(&estate, "income-tax-declaration", Some(&income_id)).await;
    assert_eq!(again["visits"], 2);
    assert_eq!(again["new"], false);
}

#[tokio::test]
async fn session_ids_are_reproducible_for_a_seed() {
    let first = TestEstate::calm();
    let second = TestEstate::calm();
    let (_, a) = session(&first, "nationality-certificate", None).await;
    let (_, b) = session(&second, "nationality-certificate", None).await;
    assert_eq!(a["jsessionid"], b["jsessionid"]);
}

#[tokio::test]
async fn sites_without_sessions_report_null() {
    let estate = TestEstate::calm();
    let (set_cookie, report) = session(&estate, "university-housing", None).await;
    assert_eq!(set_cookie, None);
    assert_eq!(report["jsessionid"], Value::Null);
    assert_eq!(report["visits"], 0);
}

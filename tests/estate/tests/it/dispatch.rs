//! Dispatch by Host header then longest base path.

use serde_json::Value;

use crate::common::{header, TestEstate};

#[tokio::test]
async fn unknown_host_is_404_text() {
    let estate = TestEstate::calm();
    let response = estate
        .get("www.example.org", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 404);
    assert!(response
        .text()
        .await
        .expect("body")
        .contains("no legacy site for host www.example.org"));
}

#[tokio::test]
async fn site_list_is_served_on_unknown_hosts() {
    let estate = TestEstate::calm();
    let host = estate.estate.addr().to_string();
    let list: Value = estate
        .get(&host, "/__estate/sites")
        .send()
        .await
        .expect("response")
        .json()
        .await
        .expect("json");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 56);
    let vat = list
        .iter()
        .find(|s| s["id"] == "vat-declaration")
        .expect("vat");
    assert_eq!(vat["host"], "www.tax.gov.ma");
    assert_eq!(vat["path"], "/vat-declaration");
    assert!(vat["quirks"]
        .as_array()
        .expect("quirks")
        .contains(&Value::from("soap")));
}

#[tokio::test]
async fn shared_host_dispatches_on_longest_base_path() {
    let estate = TestEstate::calm();
    for (path, id) in [
        (
            "/income-tax-declaration/__estate/echo",
            "income-tax-declaration",
        ),
        ("/tax-certificates/__estate/echo/x", "tax-certificates"),
        ("/income-tax-declaration", "income-tax-declaration"),
    ] {
        let response = estate
            .get("Www.Tax.Gov.Ma:80", path)
            .send()
            .await
            .expect("response");
        assert_eq!(
            header(&response, "x-estate-site").as_deref(),
            Some(id),
            "{path}"
        );
    }
    let nowhere = estate
        .get("www.tax.gov.ma", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(nowhere.status(), 404);
    let prefix_only = estate
        .get("www.tax.gov.ma", "/tax-certificatesX")
        .send()
        .await
        .expect("response");
    assert_eq!(prefix_only.status(), 404);
    assert_eq!(header(&prefix_only, "x-estate-site"), None);
}

#[test]
fn site_for_picks_the_longest_prefix() {
    let site =
        egov_estate::site_for("WWW.MACNSS.MA:8443", "/amo-reimbursement/releve").expect("site");
    assert_eq!(site.id, "amo-reimbursement");
    assert!(egov_estate::site_for("www.macnss.ma", "/").is_none());
    assert_eq!(
        egov_estate::site_for("www.rsu.ma", "/x").map(|s| s.id.as_str()),
        Some("rsu-registration")
    );
}

//! The SOAP 1.1 endpoint of `soap` sites.

use reqwest::Method;

use crate::common::{header, TestEstate};

fn envelope(operation: &str, field: &str, value: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:leg="urn:egov:legacy:income-tax-declaration">
<soapenv:Header/>
<soapenv:Body><leg:{operation}><leg:{field}>{value}</leg:{field}></leg:{operation}></soapenv:Body>
</soapenv:Envelope>"#
    )
}

async fn call(
    estate: &TestEstate,
    content_type: &str,
    action: Option<&str>,
    body: String,
) -> reqwest::Response {
    let mut request = estate
        .request(Method::POST, "www.tax.gov.ma", "/income-tax-declaration/ws")
        .header("content-type", content_type)
        .body(body);
    if let Some(action) = action {
        request = request.header("soapaction", action);
    }
    request.send().await.expect("response")
}

#[tokio::test]
async fn soap_get_status_round_trip() {
    let estate = TestEstate::calm();
    let body = envelope("GetStatus", "reference", "IR-2008-000123");
    let response = call(
        &estate,
        "text/xml; charset=utf-8",
        Some("\"GetStatus\""),
        body.clone(),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").is_some_and(|c| c.starts_with("text/xml")));
    let xml = response.text().await.expect("body");
    assert!(xml.contains(r#"<GetStatusResponse xmlns="urn:egov:legacy:income-tax-declaration">"#));
    assert!(xml.contains("<reference>IR-2008-000123</reference>"));
    let status = ["EN_COURS", "VALIDE", "REJETE"]
        .into_iter()
        .find(|s| xml.contains(&format!("<status>{s}</status>")))
        .expect("a known status");
    assert!(xml.contains("<updated>20"));

    // Deterministic: the same reference gives the same status.
    let again = call(&estate, "text/xml", Some("GetStatus"), body)
        .await
        .text()
        .await
        .expect("body");
    assert!(again.contains(&format!("<status>{status}</status>")));
}

#[tokio::test]
async fn soap_list_documents_returns_several_documents() {
    let estate = TestEstate::calm();
    let response = call(
        &estate,
        "text/xml",
        Some("ListDocuments"),
        envelope("ListDocuments", "cin", "AB123456"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let xml = response.text().await.expect("body");
    assert!(xml.contains("<ListDocumentsResponse"));
    assert!(xml.matches("<document>").count() >= 3);
}

#[tokio::test]
async fn soap_unknown_operation_is_a_client_fault() {
    let estate = TestEstate::calm();
    let response = call(
        &estate,
        "text/xml",
        Some("Hack"),
        envelope("DeleteEverything", "x", "1"),
    )
    .await;
    assert_eq!(response.status(), 500);
    let xml = response.text().await.expect("body");
    assert!(xml.contains("<soap:Fault><faultcode>soap:Client</faultcode>"));
    assert!(xml.contains("DeleteEverything"));
}

#[tokio::test]
async fn soap_wrong_content_type_is_415_fault() {
    let estate = TestEstate::calm();
    let response = call(
        &estate,
        "application/json",
        Some("GetStatus"),
        "{}".to_string(),
    )
    .await;
    assert_eq!(response.status(), 415);
    assert!(response.text().await.expect("body").contains("soap:Fault"));
}

#[tokio::test]
async fn soap_missing_soapaction_is_400_fault() {
    let estate = TestEstate::calm();
    let response = call(
        &estate,
        "text/xml",
        None,
        envelope("GetStatus", "reference", "X"),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.expect("body").contains("soap:Fault"));
}

#[tokio::test]
async fn soap_malformed_xml_is_a_client_fault() {
    let estate = TestEstate::calm();
    let response = call(
        &estate,
        "text/xml",
        Some("GetStatus"),
        "<Envelope><Body><GetStatus>".to_string(),
    )
    .await;
    assert_eq!(response.status(), 500);
    assert!(response.text().await.expect("body").contains("soap:Client"));
}

#[tokio::test]
async fn soap_wsdl_describes_both_operations() {
    let estate = TestEstate::calm();
    let response = estate
        .get("www.tax.gov.ma", "/income-tax-declaration/ws?wsdl")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let wsdl = response.text().await.expect("body");
    assert!(wsdl.contains("<wsdl:definitions"));
    assert!(wsdl.contains(r#"targetNamespace="urn:egov:legacy:income-tax-declaration""#));
    assert!(wsdl.contains(r#"<wsdl:operation name="GetStatus">"#));
    assert!(wsdl.contains(r#"<wsdl:operation name="ListDocuments">"#));
    assert!(wsdl.contains(r#"location="http://www.tax.gov.ma/income-tax-declaration/ws""#));
}

//! Pages are served in the site's real charset.

use crate::common::{header, site_of, TestEstate};

#[tokio::test]
async fn windows_1256_page_decodes_to_arabic_title_and_is_not_utf8() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("cnie-renewal", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/html")
    );
    let bytes = response.bytes().await.expect("body");
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "page must not be UTF-8"
    );
    let (text, _, had_errors) = encoding_rs::WINDOWS_1256.decode(&bytes);
    assert!(!had_errors);
    assert!(text.contains(&site_of("cnie-renewal").title.ar));
    assert!(text
        .contains(r#"<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">"#));
    assert!(text.contains("Pièces à fournir"));
}

#[tokio::test]
async fn iso_8859_1_page_decodes_to_french_with_accents() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("passport-application", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/html; charset=ISO-8859-1")
    );
    let bytes = response.bytes().await.expect("body");
    assert!(std::str::from_utf8(&bytes).is_err());
    assert!(
        bytes.iter().all(|&b| !(0x80..0xa0).contains(&b)),
        "no C1 bytes"
    );
    let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
    assert!(text.contains(r#"<meta charset="iso-8859-1">"#));
    assert!(text.contains("Demande de passeport biométrique"));
    assert!(text.contains("Horaires d'ouverture") && text.contains("à 16h30"));
}

#[tokio::test]
async fn other_sites_serve_utf8_with_arabic_and_french() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("university-housing", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/html; charset=utf-8")
    );
    let text = response.text().await.expect("utf-8 body");
    let site = site_of("university-housing");
    assert!(text.contains(&site.title.ar));
    assert!(text.contains(&site.summary.fr.replace('\'', "&#39;")));
}

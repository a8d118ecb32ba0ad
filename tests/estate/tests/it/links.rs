//! Absolute links, absolute forms, frames and self-redirects.

use reqwest::Method;

use crate::common::{header, TestEstate};

async fn windows_1256_text(response: reqwest::Response) -> String {
    let bytes = response.bytes().await.expect("body");
    encoding_rs::WINDOWS_1256.decode(&bytes).0.into_owned()
}

#[tokio::test]
async fn absolute_links_site_writes_its_own_hostname_everywhere() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("cnie-renewal", "/")
        .send()
        .await
        .expect("response");
    let page = windows_1256_text(response).await;
    let own = "http://www.cnie.ma/cnie-renewal/";
    for needle in [
        format!(r#"href="{own}demande""#),
        format!(r#"<link rel="stylesheet" type="text/css" href="{own}css/style.css">"#),
        format!(r#"<script type="text/javascript" src="{own}js/app.js">"#),
        format!(r#"<img src="{own}img/logo.gif""#),
        format!(r#"srcset="{own}img/logo.gif 1x, {own}img/logo-2x.gif 2x""#),
        format!(r#"style="background:url({own}img/bg.png) repeat-x""#),
        format!(r#"<meta http-equiv="refresh" content="300;url={own}">"#),
        r#"href="https://www.cnie.ma/cnie-renewal/suivi""#.to_string(),
        r#"href="//www.cnie.ma/cnie-renewal/demande""#.to_string(),
    ] {
        assert!(page.contains(&needle), "missing {needle}");
    }
}

#[tokio::test]
async fn sites_without_absolute_links_use_relative_links() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("birth-certificate-extract", "/demande")
        .send()
        .await
        .expect("response");
    let page = windows_1256_text(response).await;
    assert!(page.contains(r#"href="/birth-certificate-extract/suivi""#));
    assert!(page.contains(r#"href="/birth-certificate-extract/css/style.css""#));
    assert!(!page.contains("http://www.watiqa.ma/birth-certificate-extract/suivi"));
    assert!(!page.contains("refresh"));
}

#[tokio::test]
async fn absolute_form_posts_to_own_host_and_redirects_to_thank_you_page() {
    let estate = TestEstate::calm();
    let form = estate
        .get_site("passport-application", "/demande")
        .send()
        .await
        .expect("response")
        .bytes()
        .await
        .expect("body");
    let form = encoding_rs::WINDOWS_1252.decode(&form).0.into_owned();
    assert!(form.contains(r#"<form method="post" action="http://www.passeport.ma/submit""#));

    let submitted = estate
        .request(Method::POST, "www.passeport.ma", "/submit")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("nom=Alaoui&cin=AB123456")
        .send()
        .await
        .expect("response");
    assert_eq!(submitted.status(), 302);
    assert_eq!(
        header(&submitted, "location").as_deref(),
        Some("http://www.passeport.ma/merci")
    );
    let merci = estate
        .get_site("passport-application", "/merci")
        .send()
        .await
        .expect("response");
    assert_eq!(merci.status(), 200);
    let merci = encoding_rs::WINDOWS_1252
        .decode(&merci.bytes().await.expect("body"))
        .0
        .into_owned();
    assert!(merci.contains("votre demande a bien été enregistrée"));
}

#[tokio::test]
async fn frames_site_serves_frameset_with_absolute_frames_and_iframe() {
    let estate = TestEstate::calm();
    let home = estate
        .get_site("local-taxes-payment", "/")
        .send()
        .await
        .expect("response");
    let home = encoding_rs::WINDOWS_1252
        .decode(&home.bytes().await.expect("body"))
        .0
        .into_owned();
    assert!(home.contains("<frameset"));
    assert!(home.contains(r#"<frame src="http://www.tgr.gov.ma/menu""#));
    assert!(home.contains(r#"<frame src="http://www.tgr.gov.ma/contenu""#));
    assert!(home.contains("<noframes>"));
    for rel in ["/menu", "/contenu", "/carte"] {
        let page = estate
            .get_site("local-taxes-payment", rel)
            .send()
            .await
            .expect("response");
        assert_eq!(page.status(), 200, "{rel}");
        if rel == "/contenu" {
            let text = page.text().await.expect("body");
            assert!(text.contains(r#"<iframe src="http://www.tgr.gov.ma/carte""#));
        }
    }
}

#[tokio::test]
async fn self_redirects_site_redirects_to_its_own_absolute_hostname() {
    let estate = TestEstate::calm();
    let own = "http://www.cnie.ma/cnie-first-application";
    let root = estate
        .get_site("cnie-first-application", "/")
        .send()
        .await
        .expect("response");
    assert_eq!(root.status(), 302);
    assert_eq!(header(&root, "location"), Some(format!("{own}/accueil")));

    let login = estate
        .get_site("cnie-first-application", "/login")
        .send()
        .await
        .expect("response");
    assert_eq!(login.status(), 302);
    assert_eq!(
        header(&login, "location"),
        Some(format!("{own}/accueil?from=login"))
    );

    let accueil = estate
        .get_site("cnie-first-application", "/accueil")
        .send()
        .await
        .expect("response");
    assert_eq!(accueil.status(), 200);
    assert_eq!(
        header(&accueil, "content-location"),
        Some(format!("{own}/accueil.html"))
    );

    let logout = estate
        .get_site("cnie-first-application", "/deconnexion")
        .send()
        .await
        .expect("response");
    assert_eq!(
        header(&logout, "refresh"),
        Some(format!("5; url={own}/accueil"))
    );
}

#[tokio::test]
async fn unknown_path_gets_legacy_404_page_in_site_charset() {
    let estate = TestEstate::calm();
    let response = estate
        .get_site("cnie-renewal", "/nulle-part.php")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 404);
    assert_eq!(
        header(&response, "content-type").as_deref(),
        Some("text/html")
    );
    let page = windows_1256_text(response).await;
    assert!(page.contains("Page introuvable"));
    assert!(page.contains("الصفحة المطلوبة غير موجودة"));
}

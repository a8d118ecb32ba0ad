//! What happens to whole response bodies, one behaviour per test.

use super::*;
use crate::links::LinkMapBuilder;
use encoding_rs::{UTF_8, WINDOWS_1252, WINDOWS_1256};

fn policy(transcode: Option<&'static Encoding>) -> BodyPolicy {
    let mut b = LinkMapBuilder::new();
    b.add_legacy("www.tax.gov.ma", "/vat-declaration", "/s/vat-declaration")
        .expect("valid");
    BodyPolicy {
        transcode_fallback: transcode,
        links: Some((
            Arc::new(b.build()),
            ServiceLinks::new("www.tax.gov.ma", "/s/vat-declaration"),
        )),
        banner: None,
    }
}

fn transform(p: BodyPlan) -> BodyTransform {
    match p {
        BodyPlan::Transform(t) => t,
        BodyPlan::Untouched(why) => panic!("expected a transform, got {why:?}"),
    }
}

fn run(ct: &str, policy: &BodyPolicy, chunks: &[&[u8]]) -> Vec<u8> {
    let t = transform(plan(200, Some(ct), None, policy));
    let mut p = BodyPipeline::new(&t, policy).expect("pipeline");
    let mut out = Vec::new();
    for c in chunks {
        out.extend(p.feed(c).expect("feed"));
    }
    out.extend(p.finish().expect("finish"));
    out
}

const PAGE: &str = concat!(
    r#"<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1256">"#,
    r#"<title>الضريبة على القيمة المضافة</title></head><body>"#,
    r#"<a href="http://www.tax.gov.ma/vat-declaration/demande">التصريح</a>"#,
    r#"<p>Déclaration — الرجاء ملء الاستمارة</p></body></html>"#,
);

fn expected_page() -> String {
    PAGE.replace("charset=windows-1256", "charset=utf-8")
        .replace(
            "http://www.tax.gov.ma/vat-declaration/",
            "/s/vat-declaration/",
        )
}

fn windows_1256_page() -> Vec<u8> {
    // 'é' is in windows-1256 too.
    let (bytes, _, unmappable) = WINDOWS_1256.encode(PAGE);
    assert!(!unmappable);
    bytes.into_owned()
}

#[test]
fn the_pipeline_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<BodyPipeline>();
}

#[test]
fn bodiless_statuses_are_untouched() {
    for status in [101, 204, 205, 304] {
        assert_eq!(
            plan(status, Some("text/html"), None, &policy(Some(WINDOWS_1256))),
            BodyPlan::Untouched(Untouched::NoBody)
        );
    }
}

#[test]
fn only_html_xhtml_and_css_are_transformed() {
    let p = policy(None);
    assert_eq!(
        plan(200, Some("application/javascript"), None, &p),
        BodyPlan::Untouched(Untouched::NotHtml)
    );
    assert_eq!(
        transform(plan(200, Some("text/css"), None, &p)).kind,
        BodyKind::Css
    );
    assert_eq!(
        plan(200, None, None, &p),
        BodyPlan::Untouched(Untouched::NotHtml)
    );
    assert!(matches!(
        plan(200, Some("Application/XHTML+XML"), None, &p),
        BodyPlan::Transform(_)
    ));
}

#[test]
fn compressed_bodies_are_untouched_but_identity_is_fine() {
    let p = policy(None);
    assert_eq!(
        plan(200, Some("text/html"), Some("gzip"), &p),
        BodyPlan::Untouched(Untouched::Compressed)
    );
    assert!(matches!(
        plan(200, Some("text/html"), Some("identity"), &p),
        BodyPlan::Transform(_)
    ));
}

#[test]
fn a_service_without_body_steps_is_untouched() {
    assert_eq!(
        plan(200, Some("text/html"), None, &BodyPolicy::default()),
        BodyPlan::Untouched(Untouched::NothingToDo)
    );
    assert!(!BodyPolicy::default().is_active());
}

#[test]
fn transcoding_announces_utf8_and_decodes_what_the_header_declares() {
    let t = transform(plan(
        200,
        Some("text/html; charset=windows-1256"),
        None,
        &policy(Some(WINDOWS_1252)),
    ));
    assert_eq!(t.content_type.as_deref(), Some("text/html; charset=utf-8"));
    assert_eq!(t.charset, CharsetPlan::Declared(WINDOWS_1256));
    assert!(t.transcodes());
}

#[test]
fn without_a_declared_charset_the_page_is_sniffed() {
    let t = transform(plan(
        200,
        Some("text/html"),
        None,
        &policy(Some(WINDOWS_1252)),
    ));
    assert_eq!(
        t.charset,
        CharsetPlan::Sniff {
            fallback: WINDOWS_1252
        }
    );
}

#[test]
fn utf16_cannot_be_rewritten_without_transcoding() {
    assert_eq!(
        plan(200, Some("text/html; charset=utf-16"), None, &policy(None)),
        BodyPlan::Untouched(Untouched::UnsupportedEncoding)
    );
}

#[test]
fn a_windows_1256_page_found_by_its_meta_becomes_utf8_with_links_and_meta_fixed() {
    let out = run(
        "text/html",
        &policy(Some(WINDOWS_1252)),
        &[&windows_1256_page()],
    );
    assert_eq!(String::from_utf8(out).expect("utf-8"), expected_page());
}

#[test]
fn a_windows_1256_page_split_at_every_byte_comes_out_identical() {
    let bytes = windows_1256_page();
    let p = policy(Some(WINDOWS_1252));
    for cut in 0..=bytes.len() {
        let (a, b) = bytes.split_at(cut);
        let out = run("text/html; charset=windows-1256", &p, &[a, b]);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            expected_page(),
            "cut {cut}"
        );
    }
}

#[test]
fn a_meta_after_the_first_chunk_is_found_when_the_1024_byte_window_fills() {
    // Long enough that the charset is decided while streaming, not at the end of the body.
    let paragraph = "<p>الرجاء ملء الاستمارة — Déclaration mensuelle</p>";
    let long_page = PAGE.replace("</body>", &format!("{}</body>", paragraph.repeat(40)));
    let (bytes, _, unmappable) = WINDOWS_1256.encode(&long_page);
    assert!(!unmappable && bytes.len() > 2 * PRESCAN_LEN);
    let p = policy(Some(WINDOWS_1252));
    let t = transform(plan(200, Some("text/html"), None, &p));
    let mut pipeline = BodyPipeline::new(&t, &p).expect("pipeline");
    let mut streamed = Vec::new();
    for chunk in bytes.chunks(7) {
        streamed.extend(pipeline.feed(chunk).expect("feed"));
    }
    assert!(
        streamed.len() > PRESCAN_LEN,
        "only {} bytes came out before the end",
        streamed.len()
    );
    streamed.extend(pipeline.finish().expect("finish"));
    let expected = long_page
        .replace("charset=windows-1256", "charset=utf-8")
        .replace(
            "http://www.tax.gov.ma/vat-declaration/",
            "/s/vat-declaration/",
        );
    assert_eq!(String::from_utf8(streamed).expect("utf-8"), expected);
}

#[test]
fn an_undeclared_page_uses_the_service_fallback() {
    let out = run(
        "text/html",
        &policy(Some(WINDOWS_1252)),
        &[b"<p>R\xe9sultat</p>"],
    );
    assert_eq!(out, "<p>Résultat</p>".as_bytes());
}

#[test]
fn a_large_page_is_streamed_in_bounded_steps() {
    let mut page = windows_1256_page();
    while page.len() < 200_000 {
        page.extend_from_slice(b"<tr><td><a href=\"/vat-declaration/x\">\xc7\xe1</a></td></tr>");
    }
    let t = transform(plan(
        200,
        Some("text/html"),
        None,
        &policy(Some(WINDOWS_1256)),
    ));
    let mut p = BodyPipeline::new(&t, &policy(Some(WINDOWS_1256))).expect("pipeline");
    let mut total = 0;
    for chunk in page.chunks(16 * 1024) {
        let out = p.feed(chunk).expect("feed");
        assert!(
            out.len() <= 3 * 16 * 1024,
            "{} bytes out of one chunk",
            out.len()
        );
        total += out.len();
    }
    total += p.finish().expect("finish").len();
    assert!(total > page.len());
    assert_eq!(p.fallback(), None);
}

#[test]
fn without_a_charset_step_an_undeclared_page_is_rewritten_in_place() {
    let t = transform(plan(200, Some("text/html"), None, &policy(None)));
    assert_eq!(t.content_type, None);
    assert_eq!(
        t.charset,
        CharsetPlan::InPlace {
            encoding: WINDOWS_1252,
            follow_meta: true
        }
    );
    assert!(!t.transcodes());
}

#[test]
fn without_a_charset_step_the_page_keeps_its_bytes_and_links_are_mapped() {
    let out = run(
        "text/html; charset=windows-1256",
        &policy(None),
        &[b"<a href=\"/vat-declaration/\">\xc7\xe1</a>"],
    );
    assert_eq!(out, b"<a href=\"/s/vat-declaration/\">\xc7\xe1</a>");
}

#[test]
fn utf8_pages_pass_through_the_transcoder_unharmed() {
    let page = "<p>مرحبا — Déclaration</p>";
    let out = run(
        "text/html; charset=utf-8",
        &policy(Some(WINDOWS_1256)),
        &[page.as_bytes()],
    );
    assert_eq!(out, page.as_bytes());
}

#[test]
fn a_page_declared_utf8_goes_through_the_transcoder() {
    let t = transform(plan(
        200,
        Some("text/html; charset=utf-8"),
        None,
        &policy(Some(WINDOWS_1256)),
    ));
    assert_eq!(t.charset, CharsetPlan::Declared(UTF_8));
}

#[test]
fn an_empty_body_gives_empty_output() {
    assert!(run("text/html", &policy(Some(WINDOWS_1252)), &[]).is_empty());
}

#[test]
fn a_stylesheet_gets_its_legacy_links_mapped_and_its_charset_converted() {
    let css = ".ar:before { content: \"ضريبة\" }\nbody { background: url(http://www.tax.gov.ma/vat-declaration/img/bg.png) }";
    let (legacy, _, _) = WINDOWS_1256.encode(css);
    let policy = policy(Some(WINDOWS_1256));
    assert_eq!(
        transform(plan(200, Some("text/css"), None, &policy))
            .content_type
            .as_deref(),
        Some("text/css; charset=utf-8")
    );
    let out = run("text/css", &policy, &[&legacy[..40], &legacy[40..]]);
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        css.replace(
            "http://www.tax.gov.ma/vat-declaration/",
            "/s/vat-declaration/"
        )
    );
}

#[test]
fn a_banner_alone_leaves_stylesheets_untouched() {
    let banner_only = BodyPolicy {
        banner: Some("<p>portal</p>".into()),
        ..BodyPolicy::default()
    };
    assert_eq!(
        plan(200, Some("text/css"), None, &banner_only),
        BodyPlan::Untouched(Untouched::NothingToDo)
    );
}

/// A page rewritten in place (no `charset` step) with the portal strip, `chunks` at a time.
fn in_place_with_strip(ct: &str, chunks: &[&[u8]]) -> Vec<u8> {
    let mut p = policy(None);
    p.banner = Some("<p>portal</p>".into());
    let t = transform(plan(200, Some(ct), None, &p));
    let strip: Arc<str> = Arc::from("<p>البوابة الوطنية</p>");
    let mut pipeline = BodyPipeline::with_banner(&t, &p, Some(strip)).expect("pipeline");
    let mut out = Vec::new();
    for c in chunks {
        out.extend(pipeline.feed(c).expect("feed"));
    }
    out.extend(pipeline.finish().expect("finish"));
    out
}

/// Found when tried: a UTF-8 page (byte order mark first) declared `windows-1256` got the
/// portal strip in windows-1256, which browsers, following the mark, showed as garbage.
#[test]
fn a_byte_order_mark_wins_over_the_declared_charset_for_a_page_rewritten_in_place() {
    let page = "\u{feff}<html><body><a href=\"http://www.tax.gov.ma/vat-declaration/x\">التصريح</a></body></html>";
    let whole = in_place_with_strip("text/html; charset=windows-1256", &[page.as_bytes()]);
    let text = String::from_utf8(whole.clone()).expect("the page stays UTF-8");
    assert!(text.contains("البوابة الوطنية"), "{text}");
    assert!(text.contains("href=\"/s/vat-declaration/x\""), "{text}");
    let bytes = page.as_bytes();
    let byte_by_byte: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(
        in_place_with_strip("text/html; charset=windows-1256", &byte_by_byte),
        whole
    );
    // Without the mark, the declared charset still rules.
    let declared = in_place_with_strip("text/html; charset=windows-1256", &[&windows_1256_page()]);
    assert!(
        String::from_utf8(declared).is_err(),
        "the strip was written in windows-1256"
    );
}

/// A UTF-16 page (by its byte order mark) cannot be rewritten in place: it passes on as
/// it is rather than being read as windows-1256.
#[test]
fn a_utf16_page_by_its_byte_order_mark_passes_on_untouched() {
    let mut page = vec![0xff, 0xfe];
    for unit in "<a href=\"http://www.tax.gov.ma/vat-declaration/x\">x</a>".encode_utf16() {
        page.extend(unit.to_le_bytes());
    }
    assert_eq!(
        in_place_with_strip("text/html; charset=windows-1256", &[&page]),
        page
    );
}

#[test]
fn a_page_held_for_its_charset_can_be_settled_before_a_kilobyte_has_come() {
    let p = policy(Some(WINDOWS_1256));
    let t = transform(plan(200, Some("text/html"), None, &p));
    let mut pipeline = BodyPipeline::new(&t, &p).expect("pipeline");
    let (first, _, _) = WINDOWS_1256.encode("<p>جاري المعالجة</p>");
    assert!(pipeline.feed(&first).expect("feed").is_empty(), "held");
    assert!(pipeline.is_sniffing());
    let out = pipeline.settle_charset().expect("settle");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "<p>جاري المعالجة</p>"
    );
    assert!(!pipeline.is_sniffing());
    // The rest of the page follows as it comes.
    let (rest, _, _) = WINDOWS_1256.encode("<p>تم</p>");
    let mut out = pipeline.feed(&rest).expect("feed");
    out.extend(pipeline.finish().expect("finish"));
    assert_eq!(String::from_utf8(out).expect("utf-8"), "<p>تم</p>");
}

/// Found when tried: Arabic typed into a windows-1256 site's form, once the page was
/// UTF-8, was sent as UTF-8 and stored garbled.
#[test]
fn a_transcoded_pages_forms_send_in_the_charset_the_site_reads() {
    let page = |forms: &str| {
        let text = format!(
            r#"<html><head><meta charset="windows-1256"></head><body>{forms}<p>الاسم</p></body></html>"#
        );
        WINDOWS_1256.encode(&text).0.into_owned()
    };
    // Found by its `<meta>` (sniffed), and declared in the header.
    for ct in ["text/html", "text/html; charset=windows-1256"] {
        let out = run(
            ct,
            &policy(Some(WINDOWS_1252)),
            &[&page(
                r#"<form action="/x" method="post"><input name="nom"></form>"#,
            )],
        );
        let out = String::from_utf8(out).expect("utf-8");
        assert!(
            out.contains(r#"<form action="/x" method="post" accept-charset="windows-1256">"#),
            "{ct}: {out}"
        );
    }
    // A form that names its own charset keeps it.
    let out = run(
        "text/html",
        &policy(Some(WINDOWS_1252)),
        &[&page(r#"<form accept-charset="utf-8"></form>"#)],
    );
    let out = String::from_utf8(out).expect("utf-8");
    assert!(out.contains(r#"<form accept-charset="utf-8">"#), "{out}");
    // A page that was UTF-8 already, or rewritten in place, is sent as it is.
    let utf8 = r#"<form action="/x"></form>"#;
    let out = run(
        "text/html; charset=utf-8",
        &policy(Some(WINDOWS_1256)),
        &[utf8.as_bytes()],
    );
    assert_eq!(out, utf8.as_bytes());
    let out = run("text/html", &policy(None), &[&page("<form></form>")]);
    assert!(!String::from_utf8_lossy(&out).contains("accept-charset"));
}

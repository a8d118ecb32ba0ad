//! Random bytes, cut at random points, through the body pipeline and the HTML rewriter.
//!
//! Nothing may panic; a transcoded body always comes out as UTF-8, and a UTF-8 page
//! rewritten in place stays UTF-8.

#![no_main]

use egov_adapters::body::{plan, BodyPipeline, BodyPlan, BodyPolicy};
use egov_adapters::html::{HtmlOptions, HtmlRewriter};
use egov_adapters::links::{LinkMap, LinkMapBuilder, ServiceLinks};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fn links() -> (Arc<LinkMap>, ServiceLinks) {
    let mut b = LinkMapBuilder::new();
    for (host, base, prefix) in [
        ("www.tax.gov.ma", "/vat-declaration", "/s/vat-declaration"),
        (
            "www.tax.gov.ma",
            "/income-tax-declaration",
            "/s/income-tax-declaration",
        ),
        ("www.agriculture.gov.ma", "/", "/s/agricultural-subsidy-fda"),
    ] {
        b.add_legacy(host, base, prefix).expect("valid mount");
    }
    b.add_upstream("127.0.0.1:9400", "/", "/s/vat-declaration")
        .expect("valid mount");
    (
        Arc::new(b.build()),
        ServiceLinks::new("www.tax.gov.ma", "/s/vat-declaration"),
    )
}

/// Cuts `body` into chunks of 0 to 255 bytes chosen by `seed`.
fn chunks(body: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut state = u32::from(seed) | 1;
    let mut at = 0;
    while at < body.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % 256).min(body.len() - at);
        out.push(&body[at..at + n]);
        at += n;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [seed, mode, body @ ..] = data else {
        return;
    };
    let parts = chunks(body, *seed);
    let policy = BodyPolicy {
        transcode_fallback: (mode & 1 == 0).then_some(encoding_rs::WINDOWS_1256),
        links: Some(links()),
        banner: (mode & 2 == 0).then(|| "<div id=\"egov-banner\">Portail</div>".to_string()),
    };
    let content_type = match mode >> 2 & 3 {
        0 => "text/html",
        1 => "text/html; charset=windows-1256",
        2 => "application/xhtml+xml; charset=utf-8",
        _ => "text/html; charset=shift_jis",
    };
    if let BodyPlan::Transform(t) = plan(200, Some(content_type), None, &policy) {
        let mut p = BodyPipeline::new(&t, &policy).expect("pipeline");
        let mut out = Vec::new();
        for part in &parts {
            out.extend(p.feed(part).expect("feed"));
        }
        out.extend(p.finish().expect("finish"));
        if t.transcodes() {
            assert!(
                std::str::from_utf8(&out).is_ok(),
                "transcoded output must be UTF-8"
            );
        }
    }

    // The rewriter alone on the raw bytes: UTF-8 in, UTF-8 out.
    let mut r = HtmlRewriter::new(HtmlOptions {
        links: Some(links()),
        fix_charset_meta: mode & 16 == 0,
        banner: None,
        form_charset: None,
    })
    .expect("rewriter");
    let mut out = Vec::new();
    for part in &parts {
        out.extend(r.feed(part).expect("feed"));
    }
    out.extend(r.finish().expect("finish"));
    if std::str::from_utf8(body).is_ok() {
        assert!(
            std::str::from_utf8(&out).is_ok(),
            "UTF-8 in must give UTF-8 out"
        );
    }
});

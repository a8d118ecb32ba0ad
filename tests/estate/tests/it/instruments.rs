//! The delay, status and blob instruments.

use std::time::{Duration, Instant};

use crate::common::{header, TestEstate};

#[tokio::test]
async fn delay_instrument_sleeps_the_requested_time() {
    let estate = TestEstate::calm();
    let started = Instant::now();
    let response = estate
        .get_site("university-housing", "/__estate/delay?ms=150")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn status_instrument_answers_the_requested_status() {
    let estate = TestEstate::calm();
    for code in [200u16, 404, 503] {
        let response = estate
            .get_site("university-housing", &format!("/__estate/status/{code}"))
            .send()
            .await
            .expect("response");
        assert_eq!(response.status().as_u16(), code);
        assert!(response
            .text()
            .await
            .expect("body")
            .contains(&code.to_string()));
    }
}

#[tokio::test]
async fn blob_instrument_serves_exactly_n_bytes() {
    let estate = TestEstate::calm();
    for (query, expected) in [("", 1024usize), ("?bytes=200000", 200_000)] {
        let response = estate
            .get_site("vehicle-tax-vignette", &format!("/__estate/blob{query}"))
            .send()
            .await
            .expect("response");
        assert_eq!(
            header(&response, "content-type").as_deref(),
            Some("text/plain")
        );
        assert_eq!(response.content_length(), Some(expected as u64));
        assert_eq!(response.bytes().await.expect("body").len(), expected);
    }
}

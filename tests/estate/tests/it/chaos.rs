//! Seeded chaos: flakiness and latency decisions.

use std::time::Duration;

use egov_estate::chaos::{flaky_failure, slow_latency};
use egov_estate::{EstateOptions, Latency};

use crate::common::{index_of, TestEstate};

#[test]
fn flaky_decisions_are_reproducible_and_about_five_percent() {
    let site = index_of("vehicle-tax-vignette");
    let decisions =
        |seed| -> Vec<bool> { (0..2_000).map(|n| flaky_failure(seed, site, n)).collect() };
    let first = decisions(42);
    assert_eq!(first, decisions(42));
    assert_ne!(first, decisions(43));
    let failures = first.iter().filter(|&&f| f).count();
    assert!(
        (60..=140).contains(&failures),
        "{failures} failures out of 2000"
    );
}

#[test]
fn slow_latency_median_is_above_800_ms() {
    let site = index_of("rnp-registration");
    let mut samples: Vec<Duration> = (0..2_000).map(|n| slow_latency(42, site, n)).collect();
    assert_eq!(
        samples,
        (0..2_000)
            .map(|n| slow_latency(42, site, n))
            .collect::<Vec<_>>()
    );
    samples.sort();
    let median = samples[1_000];
    let p90 = samples[1_800];
    assert!(median > Duration::from_millis(800), "median {median:?}");
    assert!(median < Duration::from_millis(1_000), "median {median:?}");
    assert!(
        p90 > Duration::from_millis(1_300) && p90 < Duration::from_millis(1_800),
        "p90 {p90:?}"
    );
}

#[test]
fn latency_policy_scales_or_disables_the_sample() {
    let sample = Duration::from_millis(900);
    assert_eq!(Latency::Realistic.apply(sample), sample);
    assert_eq!(
        Latency::Scaled(0.1).apply(sample),
        Duration::from_millis(90)
    );
    assert_eq!(Latency::Off.apply(sample), Duration::ZERO);
    assert_eq!(EstateOptions::default().seed, 42);
}

#[tokio::test]
async fn flaky_site_answers_502_exactly_when_the_seed_decides() {
    let id = "vehicle-tax-vignette";
    let index = index_of(id);
    let first_failure = (0..500)
        .find(|&n| flaky_failure(7, index, n))
        .expect("a failure");
    let estate = TestEstate::with(EstateOptions {
        seed: 7,
        latency: Latency::Off,
        flaky: true,
        portal: None,
    });
    for n in 0..=first_failure {
        // Instrument endpoints never fail and do not consume decisions.
        let echo = estate
            .get_site(id, "/__estate/echo")
            .send()
            .await
            .expect("response");
        assert_eq!(echo.status(), 200);
        let response = estate
            .get_site(id, "/suivi")
            .send()
            .await
            .expect("response");
        if n == first_failure {
            assert_eq!(response.status(), 502);
            assert!(response.text().await.expect("body").contains("Proxy Error"));
        } else {
            assert_eq!(response.status(), 200, "request {n}");
        }
    }
}

#[tokio::test]
async fn slow_site_is_delayed_by_the_scaled_sample() {
    let id = "rnp-registration";
    let expected = Latency::Scaled(0.2).apply(slow_latency(42, index_of(id), 0));
    let estate = TestEstate::with(EstateOptions {
        seed: 42,
        latency: Latency::Scaled(0.2),
        flaky: true,
        portal: None,
    });
    let started = std::time::Instant::now();
    let response = estate
        .get_site(id, "/")
        .header("x-api-key", "estate-rnp-registration-key")
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() >= expected,
        "{:?} < {expected:?}",
        started.elapsed()
    );
}

//! How long redaction takes per query of the longest length the router takes (1,000
//! characters), for ordinary text and for the shapes that stress the number scanner (many
//! short digit groups), in one run, each as a ratio to the ordinary text: a citizen's query
//! must not be able to cost many ordinary ones.
//!
//! ```text
//! cargo run --release -p egov-gateway --example redact_bench [only cases whose name has this]
//! ```

use egov_gateway::assist::redact::redact;
use std::time::{Duration, Instant};

/// `unit` repeated up to `chars` characters.
fn repeated(unit: &str, chars: usize) -> String {
    unit.chars().cycle().take(chars).collect()
}

/// Mean and p99 of `rounds` redactions of `text`.
fn measure(text: &str, rounds: usize) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        std::hint::black_box(redact(std::hint::black_box(text)));
        times.push(t.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / rounds as u32;
    (mean, times[rounds * 99 / 100])
}

fn main() {
    const CHARS: usize = 1_000;
    let ordinary = repeated(
        "bonjour je voudrais renouveler ma carte nationale et mon passeport pour le voyage ",
        CHARS,
    );
    let cases = [
        ("ordinary words", ordinary.clone()),
        ("'1 ' repeated", repeated("1 ", CHARS)),
        ("'1/' repeated", repeated("1/", CHARS)),
        ("'06 12 34 ' repeated", repeated("06 12 34 ", CHARS)),
        ("one run of digits", repeated("1", CHARS)),
        ("phones, spaced", repeated("06 12 34 56 78 et ", CHARS)),
    ];
    let rounds = 200;
    let (base, _) = measure(&ordinary, rounds);
    println!("{CHARS}-character queries, {rounds} redactions each");
    println!(
        "{:<24} {:>10} {:>10} {:>12}",
        "text", "mean µs", "p99 µs", "÷ ordinary"
    );
    let only = std::env::args().nth(1).unwrap_or_default();
    for (label, text) in cases
        .iter()
        .filter(|(label, _)| label.contains(only.as_str()))
    {
        let (mean, p99) = measure(text, rounds);
        println!(
            "{label:<24} {:>10.1} {:>10.1} {:>12.2}",
            mean.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6,
            mean.as_secs_f64() / base.as_secs_f64()
        );
    }
}

//! How long the local intent ranker takes per query, with the real 56-service catalog and
//! with a 5,000-service catalog (the real one replicated with perturbed ids and words), in
//! one run, so the two are comparable.
//!
//! ```text
//! cargo run --release -p egov-gateway --example ranker_bench
//! ```

use egov_gateway::assist::Catalog;
use egov_gateway::config;
use std::path::Path;
use std::time::{Duration, Instant};

fn queries(root: &Path) -> Vec<String> {
    ["queries-dev.tsv", "queries-holdout.tsv"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(root.join("tests/data").join(f)).ok())
        .flat_map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| l.split('\t').nth(1).map(str::to_string))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn measure(catalog: &Catalog, queries: &[String], rounds: usize) -> (Duration, Duration, Duration) {
    let mut times = Vec::with_capacity(queries.len() * rounds);
    for _ in 0..rounds {
        for q in queries {
            let t = Instant::now();
            std::hint::black_box(catalog.ranker().rank(q, 5));
            times.push(t.elapsed());
        }
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len().max(1) as u32;
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    (mean, p50, p99)
}

fn main() -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let config =
        config::load(&root.join("config/gateway.toml")).map_err(|e| anyhow::anyhow!("{e}"))?;
    let queries = queries(&root);
    let small = Catalog::new(&config.services);
    let mut big_services = Vec::with_capacity(5_000);
    let mut n = 0;
    while big_services.len() < 5_000 {
        for s in &config.services {
            if big_services.len() == 5_000 {
                break;
            }
            let mut c = s.clone();
            c.id = format!("{}-{n}", s.id);
            // Perturb the vocabulary so replicas are not identical documents.
            c.keywords.push(format!("variante{n}"));
            c.names.fr = format!("{} {n}", c.names.fr);
            big_services.push(c);
        }
        n += 1;
    }
    let t = Instant::now();
    let big = Catalog::new(&big_services);
    let build_big = t.elapsed();
    println!(
        "{} queries, ranked top-5, 20 rounds each (release build)",
        queries.len()
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10}",
        "services", "mean µs", "p50 µs", "p99 µs"
    );
    let mut rows = Vec::new();
    for (label, catalog) in [("56", &small), ("5000", &big)] {
        let (mean, p50, p99) = measure(catalog, &queries, 20);
        println!(
            "{label:<10} {:>10.1} {:>10.1} {:>10.1}",
            mean.as_secs_f64() * 1e6,
            p50.as_secs_f64() * 1e6,
            p99.as_secs_f64() * 1e6
        );
        rows.push(mean);
    }
    println!(
        "5000/56 mean ratio: {:.2}",
        rows[1].as_secs_f64() / rows[0].as_secs_f64()
    );
    println!("building the 5000-service index took {build_big:?}");
    Ok(())
}

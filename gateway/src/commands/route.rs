//! `egov-gateway route "text"` and `egov-gateway eval FILE.tsv`: the intent router from the
//! command line, on the configuration's services, with the same decisions `/api/route` makes.

use crate::assist::api::response_json;
use crate::assist::{eval, Assist, Catalog};
use crate::config::{self, Config, Secrets};
use crate::kv::MemoryKv;
use crate::telemetry::Metrics;
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

fn setup(path: &Path, local_only: bool) -> anyhow::Result<(Config, Catalog, Assist)> {
    let mut config =
        config::load(path).map_err(|e| anyhow::anyhow!("invalid configuration:\n{e}"))?;
    if local_only {
        config.gateway.assist.llm = None;
    }
    let catalog = Catalog::with_owners(&config.services, &config.ministries)
        .on_origins(config.gateway.portal.service_origins.as_ref());
    let metrics = Arc::new(Metrics::new()?);
    let assist = Assist::new(
        &config.gateway.assist,
        config.gateway.identity.pairwise_secret.as_ref(),
        &Secrets::from_process(),
        // The command line decides on its own: its cache lives and dies with it.
        Arc::new(MemoryKv::default()),
        metrics,
    )
    .context("intent routing (use --local-only to run without the LLM)")?;
    Ok((config, catalog, assist))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// `route`.
pub fn route(
    path: &Path,
    text: &str,
    local_only: bool,
    json: bool,
    lang: &str,
) -> anyhow::Result<ExitCode> {
    let (_, catalog, assist) = setup(path, local_only)?;
    let decision = runtime()?.block_on(assist.decide(
        &catalog,
        text,
        local_only,
        None,
        &crate::assist::Unbudgeted,
    ));
    let lang = crate::lang::Lang::from_code(lang).map_or("fr", crate::lang::Lang::code);
    let value = response_json(&catalog, &decision, lang);
    if json {
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    let name = |id: &str| {
        catalog
            .name(id)
            .map(|n| n.get(lang).to_string())
            .unwrap_or_default()
    };
    match &decision.service {
        Some(id) => println!(
            "{} {id} ({}) [{}, confidence {:.2}]",
            match decision.outcome {
                crate::assist::Outcome::Routed => "→",
                _ => "?",
            },
            name(id),
            decision.source.as_str(),
            decision.confidence
        ),
        None => println!(
            "✗ {} [{}]",
            decision.outcome.as_str(),
            decision.source.as_str()
        ),
    }
    let chosen = decision
        .service
        .as_deref()
        .filter(|_| decision.outcome == crate::assist::Outcome::Routed);
    for alt in decision
        .alternatives
        .iter()
        .filter(|a| Some(a.as_str()) != chosen)
    {
        println!("  did you mean: {alt} ({})", name(alt));
    }
    Ok(ExitCode::SUCCESS)
}

/// `eval`.
pub fn eval(path: &Path, file: &Path, local_only: bool, json: bool) -> anyhow::Result<ExitCode> {
    let (_, catalog, assist) = setup(path, local_only)?;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let examples = eval::parse(&text).with_context(|| format!("{}", file.display()))?;
    // An empty file measured nothing: its "accuracy 1.0" passed a CI gate (found when tried).
    if examples.is_empty() {
        anyhow::bail!(
            "{}: no examples (lang<TAB>query<TAB>service_id lines): nothing to measure",
            file.display()
        );
    }
    let report = runtime()?
        .block_on(eval::run(&assist, &catalog, &examples, local_only))
        .with_context(|| format!("{}", file.display()))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {}/{} correct, accuracy {:.1} %{}",
        file.display(),
        report.correct,
        report.total,
        report.accuracy * 100.0,
        if local_only { " (local only)" } else { "" }
    );
    for (lang, s) in &report.by_lang {
        println!(
            "  {lang:<9} {:>4}/{:<4} {:>6.1} %  ({} did-you-mean)",
            s.correct,
            s.total,
            s.accuracy * 100.0,
            s.ambiguous
        );
    }
    println!(
        "  did-you-mean answers: {:.1} %; the right service in the first three shown: {:.1} %",
        report.ambiguous_rate() * 100.0,
        report.top3_accuracy * 100.0
    );
    println!(
        "  LLM {}: {:.1} % of queries",
        if local_only {
            "would be asked"
        } else {
            "asked"
        },
        report.llm_rate * 100.0
    );
    println!(
        "  none: precision {:.2}, recall {:.2}; LLM calls: {}",
        report.none.precision, report.none.recall, report.llm_calls
    );
    for (expected, got, lang) in &report.misses {
        println!("  miss [{lang}] expected {expected}, got {got}");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    /// Found when tried: an empty file reported `accuracy 1.0` and exited 0.
    #[test]
    fn eval_of_a_file_without_examples_is_an_error() {
        let config =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/gateway.toml");
        let empty =
            std::env::temp_dir().join(format!("egov-eval-empty-{}.tsv", std::process::id()));
        std::fs::write(&empty, "lang\tquery\tservice_id\n").expect("write");
        let e = super::eval(&config, &empty, true, true).expect_err("nothing to measure");
        let _ = std::fs::remove_file(&empty);
        assert!(e.to_string().contains("no examples"), "{e}");
    }
}

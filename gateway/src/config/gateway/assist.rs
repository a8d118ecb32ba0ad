//! `[assist]` and `[assist.llm]`: routing citizens' free text to a service, and the optional
//! OpenAI-compatible endpoint that advises on ambiguous questions.
//!
//! Each key is parsed here into its type (durations, bounds, the response format), then the
//! endpoint as a whole is checked by [`check_llm_endpoint`]: the one rule for whether such
//! settings make a usable client (a base URL without credentials or query, a model name, an
//! API key that fits a header). The LLM client applies the same rule when the router is
//! built, once the API key's secret is read, so a configuration that passes
//! `egov-gateway check` builds a client, and every problem is reported in one run.

use crate::config::error::Problems;
use crate::config::fields::{opt_duration, secret_ref};
use crate::config::raw::{RawAssist, RawLlm};
use crate::config::values;
use crate::config::{AssistSettings, LlmConfig, ResponseFormatMode};
use http::HeaderValue;
use std::time::Duration;
use url::Url;

pub(super) fn validate(raw: &RawAssist, p: &mut Problems<'_>) -> Option<AssistSettings> {
    let shortlist = match raw.shortlist {
        None => Some(5),
        Some(v) => p.check("assist.shortlist", values::bounded(v, 2, 10)),
    };
    let cache_ttl = opt_duration(
        p,
        "assist.cache_ttl",
        raw.cache_ttl.as_deref(),
        Duration::from_secs(600),
    );
    let llm = match &raw.llm {
        None => Some(None),
        Some(l) => llm(l, p).map(Some),
    };
    Some(AssistSettings {
        shortlist: shortlist?,
        cache_ttl: cache_ttl?,
        llm: llm?,
    })
}

/// `[assist.llm]`. Every `None` comes with a recorded problem.
fn llm(l: &RawLlm, p: &mut Problems<'_>) -> Option<LlmConfig> {
    let file = p.file().to_path_buf();
    let key = match &l.api_key {
        None => Some(None),
        Some(k) => secret_ref(&file, "assist.llm.api_key", k, p).map(Some),
    };
    let deadline = opt_duration(
        p,
        "assist.llm.deadline",
        l.deadline.as_deref(),
        Duration::from_secs(2),
    );
    let open_for = opt_duration(
        p,
        "assist.llm.breaker_open_for",
        l.breaker_open_for.as_deref(),
        Duration::from_secs(30),
    );
    let retries = match l.retries {
        None => Some(2),
        Some(v) => p.check("assist.llm.retries", values::bounded(v, 0, 5)),
    };
    let max_tokens = match l.max_tokens {
        None => Some(32),
        Some(v) => p.check("assist.llm.max_tokens", values::bounded(v, 8, 4096)),
    };
    let failures = match l.breaker_failures {
        None => Some(5),
        Some(v) => p.check("assist.llm.breaker_failures", values::bounded(v, 1, 1000)),
    };
    let in_flight = match l.max_in_flight {
        None => Some(DEFAULT_MAX_IN_FLIGHT as usize),
        Some(v) => p.check("assist.llm.max_in_flight", values::bounded(v, 1, 10_000)),
    };
    let format = match l.response_format.as_deref() {
        None => Some(ResponseFormatMode::default()),
        Some(f) => p.check(
            "assist.llm.response_format",
            f.parse::<ResponseFormatMode>(),
        ),
    };
    let base_url = l.base_url.trim().trim_end_matches('/').to_string();
    // Keys that failed above are already reported; their defaults stand in so the endpoint
    // as a whole is still checked in this run. (The API key's value is only known once its
    // secret is read: its form is checked then.)
    let endpoint = LlmEndpoint {
        base_url: &base_url,
        model: &l.model,
        api_key: None,
        keyed: l.api_key.is_some(),
        deadline: deadline.unwrap_or(Duration::from_secs(2)),
        max_tokens: max_tokens.unwrap_or(32) as u32,
        breaker_failures: failures.unwrap_or(5) as u32,
    };
    let usable = match check_llm_endpoint(&endpoint) {
        Ok(_) => Some(()),
        Err(problems) => {
            for problem in problems {
                p.add(format!("assist.llm.{}", problem.key), problem.reason);
            }
            None
        }
    };
    usable?;
    Some(LlmConfig {
        model: l.model.clone(),
        base_url,
        api_key: key?,
        deadline: deadline?,
        retries: retries? as u32,
        response_format: format?,
        max_tokens: max_tokens? as u32,
        breaker_failures: failures? as u32,
        breaker_open_for: open_for?,
        max_in_flight: in_flight? as u32,
    })
}

/// `[assist.llm] max_in_flight` by default: far more than one instance's ambiguous
/// questions take at once (each waits at most `deadline`), far fewer than a flood's.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 64;

/// The parts of an LLM endpoint's settings that decide whether a client can use them.
#[derive(Debug, Clone, Copy)]
pub struct LlmEndpoint<'a> {
    pub base_url: &'a str,
    pub model: &'a str,
    pub api_key: Option<&'a str>,
    /// Whether an API key is sent (known before its secret is read, when the
    /// configuration is checked).
    pub keyed: bool,
    pub deadline: Duration,
    pub max_tokens: u32,
    pub breaker_failures: u32,
}

/// One invalid LLM setting: the key as `[assist.llm]` spells it, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct InvalidSetting {
    /// `base_url`, `model`, `deadline`, `max_tokens`, `breaker_failures` or `api_key`.
    pub key: &'static str,
    pub reason: String,
}

/// Checks an endpoint's settings and returns its `chat/completions` URL, or every problem
/// found. The one such rule: the configuration check and the LLM client both apply it.
pub fn check_llm_endpoint(settings: &LlmEndpoint<'_>) -> Result<Url, Vec<InvalidSetting>> {
    let mut problems = Vec::new();
    let mut bad = |key: &'static str, reason: String| problems.push(InvalidSetting { key, reason });
    let base = settings.base_url.trim();
    let shown = crate::config::values::url_shown(base);
    let mut endpoint = None;
    match Url::parse(base) {
        Err(error) => bad("base_url", format!("{shown:?}: {error}")),
        Ok(url) if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() => bad(
            "base_url",
            format!("{shown:?}: must be an http(s) URL with a host"),
        ),
        Ok(url) if url.query().is_some() || url.fragment().is_some() => bad(
            "base_url",
            format!("{shown:?}: no query or fragment allowed"),
        ),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => bad(
            "base_url",
            "put credentials in api_key, not in the URL".into(),
        ),
        // Found when tried: `http://api.ai71.ai/v1` with a key passed the check, and the
        // bearer key and the citizens' questions would have crossed the network in clear.
        Ok(url) if settings.keyed && url.scheme() == "http" && !is_loopback(&url) => bad(
            "base_url",
            format!(
                "{shown:?}: an api_key is never sent in clear text; use https \
                 (plain http only to a server on this machine: 127.0.0.1, ::1, localhost)"
            ),
        ),
        Ok(_) => {
            let joined = format!("{}/chat/completions", base.trim_end_matches('/'));
            match Url::parse(&joined) {
                Ok(url) => endpoint = Some(url),
                Err(error) => bad("base_url", format!("{shown:?}: {error}")),
            }
        }
    }
    if settings.model.trim().is_empty() || settings.model.chars().any(char::is_control) {
        bad(
            "model",
            format!("{:?}: must be a non-empty name", settings.model),
        );
    }
    if settings.deadline.is_zero() {
        bad("deadline", "must be more than zero".into());
    }
    if settings.max_tokens == 0 {
        bad("max_tokens", "must be at least 1".into());
    }
    if settings.breaker_failures == 0 {
        bad("breaker_failures", "must be at least 1".into());
    }
    if let Some(key) = settings.api_key {
        if key.is_empty() || HeaderValue::from_str(&format!("Bearer {key}")).is_err() {
            bad("api_key", "must be non-empty visible ASCII".into());
        }
    }
    match endpoint {
        Some(url) if problems.is_empty() => Ok(url),
        _ => Err(problems),
    }
}

/// Whether `url` names this machine ([`crate::config::is_loopback_host`]).
fn is_loopback(url: &Url) -> bool {
    url.host_str().is_some_and(crate::config::is_loopback_host)
}

#[cfg(test)]
mod tests {
    use super::super::validate_text;
    use crate::config::{LlmConfig, ResponseFormatMode};

    /// `gateway.toml` with a minimal portal and `llm` as the `[assist.llm]` table's body.
    fn text(llm: &str) -> String {
        format!(
            "[portal]\npublic_url = \"http://127.0.0.1:8080\"\nlisten = [\"127.0.0.1:8080\"]\n\n\
             [assist.llm]\n{llm}\n"
        )
    }

    fn llm_config(llm: &str) -> LlmConfig {
        match validate_text(&text(llm)) {
            (Some(settings), errors) if errors.is_empty() => {
                settings.assist.llm.expect("an [assist.llm]")
            }
            (_, errors) => panic!("{llm}: {errors:?}"),
        }
    }

    const ENDPOINT: &str = "base_url = \"http://127.0.0.1:8000/v1\"\nmodel = \"m\"";

    #[test]
    fn each_documented_response_format_is_read_from_toml() {
        // The spellings themselves are the vocabulary's to test; here, that each is read.
        for mode in ResponseFormatMode::ALL {
            let text = mode.as_str();
            let cfg = llm_config(&format!("{ENDPOINT}\nresponse_format = \"{text}\""));
            assert_eq!(cfg.response_format, mode, "{text}");
        }
    }

    /// The error messages recorded for `llm`, which must be refused.
    fn refused(llm: &str) -> Vec<String> {
        let (settings, errors) = validate_text(&text(llm));
        assert!(settings.is_none(), "{llm}: accepted");
        assert!(!errors.is_empty(), "{llm}: refused without a reason");
        errors
    }

    #[test]
    fn the_check_refuses_what_the_llm_client_would_refuse() {
        for (llm, key) in [
            (
                "base_url = \"http://127.0.0.1:8000/v1?key=x\"\nmodel = \"m\"",
                "assist.llm.base_url",
            ),
            (
                "base_url = \"http://user:pass@127.0.0.1:8000/v1\"\nmodel = \"m\"",
                "assist.llm.base_url",
            ),
            (
                "base_url = \"ftp://127.0.0.1/v1\"\nmodel = \"m\"",
                "assist.llm.base_url",
            ),
            (
                "base_url = \"http://127.0.0.1:8000/v1\"\nmodel = \"\\u0007\"",
                "assist.llm.model",
            ),
            (
                &format!("{ENDPOINT}\ndeadline = \"0s\""),
                "assist.llm.deadline",
            ),
        ] {
            let errors = refused(llm);
            assert!(errors.iter().any(|e| e.contains(key)), "{llm}: {errors:?}");
        }
    }

    #[test]
    fn a_base_url_is_refused_without_quoting_a_key_in_its_query_or_userinfo() {
        for url in [
            "https://api.example/v1?key=sk-live-123",
            "https://user:sk-live-123@api.example/v1",
            "http://user:sk-live-123@[::1/v1",
        ] {
            let errors = refused(&format!("base_url = \"{url}\"\nmodel = \"m\""));
            assert!(
                errors.iter().all(|e| !e.contains("sk-live-123")),
                "{url}: {errors:?}"
            );
        }
    }

    #[test]
    fn an_api_key_is_never_sent_in_clear_text_to_another_machine() {
        let key = "api_key = { env = \"AI71_KEY\" }\nmodel = \"m\"";
        for remote in [
            "http://api.ai71.ai/v1",
            "http://127.0.0.1.evil.example/v1",
            "http://localhost.evil.example/v1",
            "http://llm.localhost/v1",
            "HTTP://api.ai71.ai/v1",
        ] {
            let errors = refused(&format!("base_url = \"{remote}\"\n{key}"));
            assert!(
                errors
                    .iter()
                    .any(|e| e.contains("assist.llm.base_url") && e.contains("https")),
                "{remote}: {errors:?}"
            );
        }
        for fine in [
            "https://api.ai71.ai/v1",
            "http://127.0.0.1:8000/v1",
            "http://[::1]:8000/v1",
            "http://localhost:8000/v1",
        ] {
            llm_config(&format!("base_url = \"{fine}\"\n{key}"));
        }
        // Without a key, a server of the deployment's own network may be reached in http.
        llm_config("base_url = \"http://10.0.0.5:8000/v1\"\nmodel = \"m\"");
    }

    #[test]
    fn every_problem_of_the_table_is_reported_in_one_run() {
        let errors = refused(
            "base_url = \"http://127.0.0.1:8000/v1#frag\"\nmodel = \" \"\nretries = 9\n\
             response_format = \"xml\"",
        );
        for key in ["base_url", "model", "retries", "response_format"] {
            let key = format!("assist.llm.{key}");
            assert!(errors.iter().any(|e| e.contains(&key)), "{key}: {errors:?}");
        }
    }

    #[test]
    fn the_response_format_defaults_to_json_schema() {
        assert_eq!(
            llm_config(ENDPOINT).response_format,
            ResponseFormatMode::JsonSchema
        );
    }

    #[test]
    fn an_unknown_response_format_is_an_error_naming_the_key() {
        let (settings, errors) =
            validate_text(&text(&format!("{ENDPOINT}\nresponse_format = \"grammar\"")));
        assert!(settings.is_none());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("assist.llm.response_format")
                && errors[0].contains("json_object_schema"),
            "{errors:?}"
        );
    }
}

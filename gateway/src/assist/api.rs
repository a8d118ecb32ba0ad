//! `POST /api/route`: `{"query": "...", "lang"?: "ar"|"zgh"|"fr"|"en"}` → where to go.
//!
//! ```json
//! {"service": "passport-application", "confidence": 0.93, "source": "local",
//!  "outcome": "routed",
//!  "alternatives": [{"id": "...", "name": "...", "url": "/s/.../"}],
//!  "redirect": "/s/passport-application/"}
//! ```
//! Names are in the language the request asks for (`lang`, else the best of
//! `Accept-Language` as the portal reads it, [`crate::lang`], else French). `redirect` is set only when the decision is firm. The routed service still
//! applies its own access policy when the citizen follows the link.

use super::catalog::Catalog;
use super::decide::Assist;
use super::decision::{Decision, Outcome};
use super::MAX_QUERY_CHARS;
use crate::lang::{from_accept_language, Lang};
use crate::response::LocalResponse;
use http::StatusCode;
use serde_json::{json, Value};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The request, validated.
#[derive(Debug)]
pub struct RouteRequest {
    pub query: String,
    pub lang: &'static str,
}

/// Answers `POST /api/route` on `session`, asked by `asker` (the citizen's address key).
pub async fn handle(
    assist: &Assist,
    catalog: &Catalog,
    session: &mut pingora::proxy::Session,
    pace: crate::request_body::BodyPace,
    asker: Option<std::net::IpAddr>,
    budget: &dyn super::LlmBudget,
) -> LocalResponse {
    if session.req_header().method != http::Method::POST {
        return LocalResponse::post_only(
            "method_not_allowed",
            "POST a JSON object {\"query\": \"...\"}",
        );
    }
    let body = match crate::request_body::read_limited::<crate::request_body::BodyError>(
        session,
        MAX_BODY_BYTES,
        pace,
    )
    .await
    {
        Ok(b) => b,
        Err(e) => return e.response(),
    };
    let accept_language = session
        .req_header()
        .headers
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let request = match parse_request(&body, accept_language) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let decision = assist
        .decide(catalog, &request.query, false, asker, budget)
        .await;
    LocalResponse::json(
        StatusCode::OK,
        &response_json(catalog, &decision, request.lang),
    )
}

/// Parses the JSON body; a clear 400 on anything else.
pub fn parse_request(
    body: &[u8],
    accept_language: Option<&str>,
) -> Result<RouteRequest, LocalResponse> {
    let bad = |what: String| {
        LocalResponse::json(
            StatusCode::BAD_REQUEST,
            &json!({ "error": "invalid_request", "error_description": what }),
        )
    };
    let v: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body must be JSON: {e}")))?;
    let query = v
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("\"query\" (a string) is required".into()))?
        .trim();
    if query.is_empty() {
        return Err(bad("\"query\" must not be empty".into()));
    }
    if query.chars().count() > MAX_QUERY_CHARS {
        return Err(bad(format!(
            "\"query\" is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let lang = v
        .get("lang")
        .and_then(Value::as_str)
        .and_then(|tag| Lang::from_code(tag.trim()))
        .or_else(|| accept_language.and_then(from_accept_language))
        .map_or("fr", Lang::code);
    Ok(RouteRequest {
        query: query.to_string(),
        lang,
    })
}

/// The JSON answer for `decision`.
pub fn response_json(snap: &Catalog, decision: &Decision, lang: &str) -> Value {
    let url = |id: &str| snap.url(id);
    // Once routed, the alternatives are the *other* candidates.
    let chosen = match decision.outcome {
        Outcome::Routed => decision.service.as_deref(),
        _ => None,
    };
    let alternatives: Vec<Value> = decision
        .alternatives
        .iter()
        .filter(|id| Some(id.as_str()) != chosen)
        .filter_map(|id| Some((id, snap.name(id)?)))
        .map(|(id, names)| json!({ "id": id, "name": names.get(lang), "url": url(id) }))
        .collect();
    let redirect = match (decision.outcome, &decision.service) {
        (Outcome::Routed, Some(id)) => Some(url(id)),
        _ => None,
    };
    let message = match decision.outcome {
        Outcome::NotGovernment => Some(match lang {
            // Amazigh pages show Arabic where a text has no Tifinagh version.
            "ar" | "zgh" => "يبدو أن هذا الطلب لا يخص خدمة إدارية. يمكنك تصفح جميع الخدمات في الصفحة الرئيسية.",
            "en" => "This does not look like a government service. You can browse every service on the home page.",
            _ => "Cette demande ne semble pas concerner un service administratif. Tous les services sont listés sur l'accueil.",
        }),
        Outcome::Refused => Some(match lang {
            "ar" | "zgh" => "لا يمكن معالجة هذا الطلب. صف الخدمة التي تبحث عنها.",
            "en" => "This request cannot be processed. Describe the service you are looking for.",
            _ => "Cette demande ne peut pas être traitée. Décrivez le service que vous cherchez.",
        }),
        _ => None,
    };
    json!({
        "service": decision.service,
        "confidence": (f64::from(decision.confidence) * 1000.0).round() / 1000.0,
        "source": decision.source.as_str(),
        "outcome": decision.outcome.as_str(),
        "alternatives": alternatives,
        "redirect": redirect,
        "message": message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found when tried: only the first `Accept-Language` tag was read, weights ignored,
    /// and Amazigh fell back to French.
    #[test]
    fn the_language_is_negotiated_as_the_portal_does_and_amazigh_is_one() {
        let lang = |body: &str, accept: Option<&str>| {
            parse_request(body.as_bytes(), accept).expect("valid").lang
        };
        let q = r#"{"query": "passeport"}"#;
        assert_eq!(lang(q, Some("fr;q=0, en")), "en");
        assert_eq!(lang(q, Some("ar;q=0.1, en;q=0.9")), "en");
        assert_eq!(lang(q, Some("de")), "fr");
        assert_eq!(lang(r#"{"query": "x", "lang": "zgh"}"#, None), "zgh");
        assert_eq!(lang(r#"{"query": "x", "lang": "ary"}"#, Some("en")), "ar");
    }

    /// The status and JSON body of a refused request.
    fn refusal(body: &[u8]) -> (StatusCode, Value) {
        let response = parse_request(body, None).expect_err("refused");
        let json = serde_json::from_slice(&response.body).expect("a JSON body");
        (response.status, json)
    }

    #[test]
    fn bad_requests_get_a_400_invalid_request_that_says_what_is_wrong() {
        let long = format!(r#"{{"query": "{}"}}"#, "a".repeat(MAX_QUERY_CHARS + 1));
        for (body, says) in [
            (&b"nope"[..], "must be JSON"),
            (br#"{"query": ""}"#, "must not be empty"),
            (br#"{"query": "   "}"#, "must not be empty"),
            (br#"{"q": "x"}"#, "is required"),
            (br#"{"query": 3}"#, "is required"),
            (long.as_bytes(), "longer than 1000 characters"),
        ] {
            let (status, json) = refusal(body);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
            assert_eq!(json["error"], "invalid_request", "{json}");
            let description = json["error_description"].as_str().expect("a description");
            assert!(description.contains(says), "{description}");
        }
    }

    #[test]
    fn a_query_of_the_longest_length_is_accepted() {
        let longest = format!(r#"{{"query": "{}"}}"#, "ب".repeat(MAX_QUERY_CHARS));
        let ok = parse_request(longest.as_bytes(), None).expect("valid");
        assert_eq!(ok.query.chars().count(), MAX_QUERY_CHARS);
    }

    #[test]
    fn the_language_comes_from_the_body_before_accept_language() {
        let ok = parse_request(
            r#"{"query": "باسبور", "lang": "ar"}"#.as_bytes(),
            Some("en"),
        )
        .expect("valid");
        assert_eq!(ok.lang, "ar");
        let ok =
            parse_request(r#"{"query": "passport"}"#.as_bytes(), Some("en-GB")).expect("valid");
        assert_eq!(ok.lang, "en");
        let ok = parse_request(r#"{"query": "passeport"}"#.as_bytes(), None).expect("valid");
        assert_eq!(ok.lang, "fr");
    }
}

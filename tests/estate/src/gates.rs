//! The access checks legacy sites make before anything else: the front proxy's
//! `X-Forwarded-For` requirement (`requires-xff`), HTTP Basic with the portal's
//! service account (`basic-auth`) and the static API key (`api-key`).
//!
//! They apply to every request of the site, instrument endpoints included, so
//! tests can prove the gateway injected the right credentials.

use axum::http::{header, HeaderMap};
use axum::response::Response;
use base64::Engine as _;

use crate::credentials::{credential, Credential};
use crate::error_pages;
use crate::respond::add_header;
use crate::sites::{Quirk, Site};

/// The refusal of the first gate the request does not pass, if any.
pub(crate) fn check(site: &Site, headers: &HeaderMap) -> Option<Response> {
    if site.has(Quirk::RequiresXff) && !headers.contains_key("x-forwarded-for") {
        return Some(error_pages::forbidden(
            site,
            "Accès direct interdit",
            "Ce service n'est accessible qu'à travers le portail national. \
             Les connexions directes au serveur applicatif sont refusées.",
        ));
    }
    match credential(&site.id) {
        Some(Credential::Basic { username, password })
            if !basic_matches(headers, &username, &password) =>
        {
            let mut response = error_pages::unauthorized(site);
            let realm = site.title.fr.replace(['"', '\\'], "");
            add_header(
                &mut response,
                "www-authenticate",
                &format!("Basic realm=\"{realm}\""),
            );
            Some(response)
        }
        Some(Credential::ApiKey { header, key })
            if headers.get(header.as_str()).map(|v| v.as_bytes()) != Some(key.as_bytes()) =>
        {
            Some(error_pages::forbidden(
                site,
                "Clé d'API manquante ou invalide",
                "Ce service est réservé aux applications partenaires munies d'une clé d'accès.",
            ))
        }
        _ => None,
    }
}

/// Whether the request carries `Authorization: Basic` with exactly these credentials.
fn basic_matches(headers: &HeaderMap, username: &str, password: &str) -> bool {
    headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(token.trim())
        })
        .filter_map(|token| base64::engine::general_purpose::STANDARD.decode(token).ok())
        .any(|decoded| decoded == format!("{username}:{password}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_scheme_is_case_insensitive() {
        let token = base64::engine::general_purpose::STANDARD.encode("u:p");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("bAsIc {token}").parse().expect("header"),
        );
        assert!(basic_matches(&headers, "u", "p"));
        assert!(!basic_matches(&headers, "u", "q"));
    }
}

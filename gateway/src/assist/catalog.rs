//! What the router knows of the services: their ranker index and their names and
//! descriptions in the portal's languages, built once per registry snapshot.

use super::index::ServiceDoc;
use super::ranker::Ranker;
use crate::config::{Localized, Ministry, ServiceConfig, ServiceOrigins};
use std::collections::{BTreeMap, HashMap};

/// What the router knows of the services: their ranker index and how to name them. Built
/// once per registry snapshot (and by the CLI straight from the configuration).
#[derive(Debug)]
pub struct Catalog {
    ranker: Ranker,
    ids: Vec<String>,
    names: Vec<Localized>,
    descriptions: Vec<Localized>,
    by_id: HashMap<String, usize>,
    /// Each service on its own origin, or `None` for `/s/<id>/` paths.
    origins: Option<ServiceOrigins>,
}

impl Catalog {
    /// The services as their own files describe them (tests, and a catalog whose owners'
    /// names are not at hand).
    pub fn new(services: &[ServiceConfig]) -> Self {
        Self::with_owners(services, &BTreeMap::new())
    }

    /// The services, each also found by the acronyms of the agency that runs it
    /// (`ministries.toml`, the platform's): citizens type "DGSN", "ONEE" or "TGR" for what
    /// those agencies serve (found in a probe: "DGSN" alone was "not a government service"
    /// with nothing offered).
    pub fn with_owners(
        services: &[ServiceConfig],
        ministries: &BTreeMap<String, Ministry>,
    ) -> Self {
        Self {
            ranker: build_ranker(services, ministries),
            ids: services.iter().map(|s| s.id.clone()).collect(),
            names: services.iter().map(|s| s.names.clone()).collect(),
            descriptions: services.iter().map(|s| s.descriptions.clone()).collect(),
            by_id: services
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect(),
            origins: None,
        }
    }

    /// The same catalog, with every service on its own origin (`portal.service_origin`).
    pub fn on_origins(mut self, origins: Option<&ServiceOrigins>) -> Self {
        self.origins = origins.cloned();
        self
    }

    /// Where a citizen goes for service `id`: its own origin, or its portal path.
    pub fn url(&self, id: &str) -> String {
        match &self.origins {
            Some(o) => format!("{}/", o.origin(id)),
            None => format!("/s/{id}/"),
        }
    }

    pub fn ranker(&self) -> &Ranker {
        &self.ranker
    }

    /// The id of the service at ranker index `i`.
    pub fn id(&self, i: usize) -> Option<&str> {
        self.ids.get(i).map(String::as_str)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn name(&self, id: &str) -> Option<&Localized> {
        self.by_id.get(id).and_then(|&i| self.names.get(i))
    }

    pub fn description(&self, id: &str) -> Option<&Localized> {
        self.by_id.get(id).and_then(|&i| self.descriptions.get(i))
    }
}

/// Builds the ranker over `services` (in registry order: candidate indexes are service
/// indexes).
fn build_ranker(services: &[ServiceConfig], ministries: &BTreeMap<String, Ministry>) -> Ranker {
    let docs: Vec<ServiceDoc> = services
        .iter()
        .map(|s| {
            let agency = s
                .agency
                .as_ref()
                .and_then(|a| ministries.get(&s.ministry).and_then(|m| m.agencies.get(a)));
            let mut keywords = s.keywords.clone();
            keywords.extend(agency.into_iter().flat_map(acronyms));
            ServiceDoc {
                id: s.id.clone(),
                names: [s.names.ar.clone(), s.names.fr.clone(), s.names.en.clone()],
                descriptions: [
                    s.descriptions.ar.clone(),
                    s.descriptions.fr.clone(),
                    s.descriptions.en.clone(),
                ],
                keywords,
                examples: s.examples.clone(),
            }
        })
        .collect();
    Ranker::build(&docs)
}

/// The acronyms an agency's names hold ("DGSN" in "Direction Générale de la Sûreté
/// Nationale (DGSN)"): what citizens type for it. Only those: the whole name's words
/// ("nationale", "office", "eau") are shared with other services' and moved them (two
/// held-out questions lost when tried).
fn acronyms(names: &Localized) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for word in [&names.fr, &names.en]
        .into_iter()
        .flat_map(|n| n.split(|c: char| !c.is_ascii_alphanumeric()))
    {
        let acronym = word.len() >= 2
            && word
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && word.bytes().any(|b| b.is_ascii_uppercase());
        if acronym && !found.iter().any(|f| f == word) {
            found.push(word.to_string());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(fr: &str, en: &str) -> Localized {
        Localized {
            fr: fr.into(),
            en: en.into(),
            ..Localized::default()
        }
    }

    #[test]
    fn an_agencys_acronyms_are_its_upper_case_words_once() {
        let dgsn = named(
            "Direction Générale de la Sûreté Nationale (DGSN)",
            "General Directorate of National Security (DGSN)",
        );
        assert_eq!(acronyms(&dgsn), ["DGSN"]);
        let onee = named("Office National (ONEE - Branche Eau)", "ONEE, water (M2T)");
        assert_eq!(acronyms(&onee), ["ONEE", "M2T"]);
        assert!(acronyms(&named("Ministère de l'Intérieur", "A ministry")).is_empty());
    }
}

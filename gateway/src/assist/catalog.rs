//! What the router knows of the services: their ranker index and their names and
//! descriptions in the portal's languages, built once per registry snapshot.

use super::index::ServiceDoc;
use super::ranker::Ranker;
use crate::config::{Localized, ServiceConfig, ServiceOrigins};
use std::collections::HashMap;

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
    pub fn new(services: &[ServiceConfig]) -> Self {
        Self {
            ranker: build_ranker(services),
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
fn build_ranker(services: &[ServiceConfig]) -> Ranker {
    let docs: Vec<ServiceDoc> = services
        .iter()
        .map(|s| ServiceDoc {
            id: s.id.clone(),
            names: [s.names.ar.clone(), s.names.fr.clone(), s.names.en.clone()],
            descriptions: [
                s.descriptions.ar.clone(),
                s.descriptions.fr.clone(),
                s.descriptions.en.clone(),
            ],
            keywords: s.keywords.clone(),
            examples: s.examples.clone(),
        })
        .collect();
    Ranker::build(&docs)
}

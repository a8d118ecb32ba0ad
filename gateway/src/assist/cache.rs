//! The decision cache: the same question (after normalisation) gets the same answer without
//! asking the LLM again. In the shared state ([`crate::kv`]): memory by default, Redis when
//! the deployment shares one, so every instance benefits from each LLM answer.
//!
//! Keys are a hash of the normalised query, never the text itself; values are service ids,
//! so a cached decision survives a registry reload (ids are stable) and is dropped if the
//! service disappears.

use crate::config::Secret;
use crate::kv::{Kv, Write};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;

/// What is remembered of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cached {
    pub service: Option<String>,
    pub confidence: f32,
    pub outcome: String,
    pub alternatives: Vec<String>,
    /// The shortlist the LLM chose from: its "none" is an answer about these services only
    /// (empty in entries written before it was kept, which held no "none").
    #[serde(default)]
    pub shortlist: Vec<String>,
}

/// The key of a normalised, redacted query in the decision cache and the routing audit: a
/// keyed digest (HMAC-SHA-256, 128 bits shown), never the text.
///
/// Keyed because a plain digest of a short text can be confirmed by hashing guesses: whoever
/// reads the audit log or lists Redis could tell which citizen asked "casier judiciaire
/// [NAME]" by trying the catalog's few thousand phrasings (found by a data-protection
/// audit). The key is derived from the deployment's `identity.pairwise_secret` (which every
/// instance sharing a Redis must be given, so their cache keys agree) under a label of its
/// own, so it is of no use for pairwise subjects; without that secret, from random bytes for
/// the process's life.
#[derive(Clone)]
pub struct QueryKeys {
    key: [u8; 32],
}

impl QueryKeys {
    /// Keys derived from `deployment_secret`, or random ones when there is none.
    pub fn new(deployment_secret: Option<&Secret>) -> Self {
        Self {
            key: derived_key(deployment_secret, b"egov-gateway routing query key v1"),
        }
    }

    /// The key of `normalized`, 32 hex digits.
    pub fn of(&self, normalized: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes a 32-byte key");
        mac.update(normalized.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// A key of its own for each use of the deployment's secret (`label` names the use), so
/// that no use can serve for another (the pairwise subjects, the query digests, the sealed
/// search queries); without the secret, random for the process's life.
pub(super) fn derived_key(deployment_secret: Option<&Secret>, label: &[u8]) -> [u8; 32] {
    match deployment_secret {
        Some(secret) => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
                .expect("HMAC takes a key of any length");
            mac.update(label);
            mac.finalize().into_bytes().into()
        }
        None => rand::random(),
    }
}

/// The decision cache, in the deployment's shared state (memory, or Redis shared by every
/// instance).
pub struct DecisionCache {
    kv: Arc<dyn Kv>,
    ttl: Duration,
}

impl DecisionCache {
    pub fn new(kv: Arc<dyn Kv>, ttl: Duration) -> Self {
        Self { kv, ttl }
    }

    /// The cached decision for `key`; `None` when absent, unreadable or the store is down
    /// (the router then decides afresh).
    pub async fn get(&self, key: &str) -> Option<Cached> {
        let raw = self.kv.get(&self.kv.key("route", key)).await.ok()??;
        serde_json::from_slice(&raw).ok()
    }

    /// Remembers `value` for the cache's TTL (best effort: a store that is down only costs
    /// a later LLM call).
    pub async fn put(&self, key: &str, value: Cached) {
        if let Ok(json) = serde_json::to_vec(&value) {
            let _ = self
                .kv
                .set(
                    &self.kv.key("route", key),
                    &json,
                    Some(self.ttl),
                    Write::Always,
                )
                .await;
        }
    }
}

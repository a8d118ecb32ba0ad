//! The decision cache: the same question (after normalisation) gets the same answer without
//! asking the LLM again. In the shared state ([`crate::kv`]): memory by default, Redis when
//! the deployment shares one, so every instance benefits from each LLM answer.
//!
//! Keys are a hash of the normalised query, never the text itself; values are service ids,
//! so a cached decision survives a registry reload (ids are stable) and is dropped if the
//! service disappears.

use crate::kv::{Kv, Write};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// What is remembered of a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cached {
    pub service: Option<String>,
    pub confidence: f32,
    pub outcome: String,
    pub alternatives: Vec<String>,
}

/// A stable, non-reversible key for a normalised query.
pub fn query_key(normalized: &str) -> String {
    let digest = Sha256::digest(normalized.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
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

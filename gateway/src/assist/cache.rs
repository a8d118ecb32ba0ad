//! The decision cache: the same question (after normalisation) gets the same answer without
//! asking the LLM again. In memory by default; in Redis when the deployment shares one, so
//! every instance benefits from each LLM answer.
//!
//! Keys are a hash of the normalised query, never the text itself; values are service ids,
//! so a cached decision survives a registry reload (ids are stable) and is dropped if the
//! service disappears.

use crate::kv::RedisKv;
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

/// Memory or Redis.
pub enum DecisionCache {
    Memory(moka::sync::Cache<String, Cached>),
    Redis { kv: Arc<RedisKv>, ttl: Duration },
}

impl DecisionCache {
    pub fn memory(ttl: Duration) -> Self {
        DecisionCache::Memory(
            moka::sync::Cache::builder()
                .time_to_live(ttl)
                .max_capacity(50_000)
                .build(),
        )
    }

    pub async fn get(&self, key: &str) -> Option<Cached> {
        match self {
            DecisionCache::Memory(c) => c.get(key),
            DecisionCache::Redis { kv, .. } => {
                let raw: Option<String> = kv
                    .run(redis::cmd("GET").arg(kv.key("route", key)))
                    .await
                    .ok()?;
                raw.and_then(|r| serde_json::from_str(&r).ok())
            }
        }
    }

    pub async fn put(&self, key: &str, value: Cached) {
        match self {
            DecisionCache::Memory(c) => c.insert(key.to_string(), value),
            DecisionCache::Redis { kv, ttl } => {
                if let Ok(json) = serde_json::to_string(&value) {
                    let _: Result<(), _> = kv
                        .run(
                            redis::cmd("SET")
                                .arg(kv.key("route", key))
                                .arg(json)
                                .arg("EX")
                                .arg(ttl.as_secs().max(1)),
                        )
                        .await;
                }
            }
        }
    }
}

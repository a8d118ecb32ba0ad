//! Where the live set of services is kept, and its history.
//!
//! A service is kept as a **document**: exactly the service file's schema, as JSON (what the
//! admin API reads and writes). Every change gets a version (a number that only grows across
//! the whole registry), is recorded with who made it, when, and what changed, and can be
//! rolled back (a rollback is a change too). Two implementations:
//!
//! - [`FileStore`], the embedded default: `config/services/` stays the source of truth
//!   (written atomically, and watched, so a hand or GitOps edit applies too); the history is
//!   a JSON-lines file beside `gateway.toml`;
//! - [`SharedStore`], `[registry] store = "redis"`: versioned records in the shared state
//!   ([`crate::kv::Kv`]), optimistic concurrency by compare-and-set, a change notification to
//!   every instance, and a version counter an instance that missed notifications catches up
//!   from.
//!
//! Secrets given to the admin API are kept by the store too (never in a document, never
//! returned): a document names them `{ stored = "<id>:<pointer>" }`.

mod file_text;
pub mod files;
mod shared;

pub use files::{BrokenFile, FileStore};
pub use shared::{RestoreMark, SharedStore};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The store failed, or refused a write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record is not at the version the writer read (`If-Match`), or a record that was
    /// to be created exists already.
    #[error("the service changed meanwhile (now at version {current:?})")]
    Conflict { current: Option<u64> },
    #[error("registry store unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt registry record: {0}")]
    Corrupt(String),
}

/// One service as kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub ministry: String,
    /// The version of its last change.
    pub version: u64,
    /// The service file's schema, as JSON.
    pub document: Value,
    /// For a record an instance wrote back into a shared store that lost its data: the
    /// version of the change it was a reading of, which decides between two instances'
    /// readings (`SharedStore::restore_record`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u64>,
}

impl Record {
    /// The version of the change this record's document came from: its own, or for a
    /// record written back by a restore, the one it was read at.
    pub fn origin(&self) -> u64 {
        self.restored_from.unwrap_or(self.version)
    }
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Replace,
    Patch,
    Delete,
    Rollback,
    /// A file was edited by hand (files store).
    FileEdit,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Replace => "replace",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::Rollback => "rollback",
            Action::FileEdit => "file_edit",
        }
    }
}

/// Adds every `{ stored }` reference (a secret the store keeps, see `admin::checks`) in
/// `doc` to `out`.
pub fn stored_references(doc: &Value, out: &mut std::collections::HashSet<String>) {
    match doc {
        Value::Object(map) => match map.get("stored").and_then(Value::as_str) {
            Some(key) if map.len() == 1 => {
                out.insert(key.to_string());
            }
            _ => map.values().for_each(|v| stored_references(v, out)),
        },
        Value::Array(items) => items.iter().for_each(|v| stored_references(v, out)),
        _ => {}
    }
}

/// The secrets `forgotten` changes of service `id` named that none of its `kept` changes
/// names: what forgetting those versions leaves unreachable, to be forgotten with them
/// (else each change giving a new secret while the history is trimmed kept one for good).
pub fn secrets_only_named_by(forgotten: &[Change], kept: &[Change]) -> Vec<String> {
    let mut named = std::collections::HashSet::new();
    forgotten
        .iter()
        .filter_map(|c| c.document.as_ref())
        .for_each(|d| stored_references(d, &mut named));
    let mut still = std::collections::HashSet::new();
    kept.iter()
        .filter_map(|c| c.document.as_ref())
        .for_each(|d| stored_references(d, &mut still));
    let mut out: Vec<String> = named.difference(&still).cloned().collect();
    out.sort();
    out
}

/// One version in a service's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub version: u64,
    pub id: String,
    pub ministry: String,
    pub action: Action,
    /// Who: an API key's id, a token's client, `file` for a hand edit.
    pub actor: String,
    /// Unix seconds.
    pub at: u64,
    /// JSON pointer → `{ "from": .., "to": .. }` for every leaf that changed.
    pub diff: BTreeMap<String, Value>,
    /// The document after the change (`None` after a delete): what a rollback restores.
    pub document: Option<Value>,
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No record (a create).
    Absent,
    /// The record at exactly this version (`If-Match`).
    Version(u64),
    /// Whatever is there (no `If-Match`).
    Any,
}

/// Every service a store keeps, and the records it holds that cannot be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub records: Vec<Record>,
    /// `(id, why)` of each record that does not decode (written by a newer release, by
    /// hand, or damaged): reported, its running version kept, and every other record still
    /// applied. One such record used to fail the whole listing, and with it every change on
    /// every instance.
    pub unreadable: Vec<(String, String)>,
}

/// Who makes a change, and how.
#[derive(Debug, Clone)]
pub struct Author {
    pub actor: String,
    pub action: Action,
}

/// Where services are kept.
#[async_trait]
pub trait RegistryStore: Send + Sync {
    /// Every service now.
    async fn list(&self) -> Result<Listing, StoreError>;
    /// One service now.
    async fn get(&self, id: &str) -> Result<Option<Record>, StoreError>;
    /// Writes `document` for service `id` of `ministry` if the record is as `expect`ed;
    /// returns the new version.
    async fn put(
        &self,
        id: &str,
        ministry: &str,
        document: &Value,
        expect: Expect,
        author: &Author,
    ) -> Result<u64, StoreError>;
    /// Removes service `id` if the record is as `expect`ed; returns the change's version.
    async fn delete(&self, id: &str, expect: Expect, author: &Author) -> Result<u64, StoreError>;
    /// The service's changes, oldest first.
    async fn history(&self, id: &str) -> Result<Vec<Change>, StoreError>;
    /// Keeps `secrets` (key → value) for service `id`, replacing those with the same keys.
    async fn put_secrets(&self, id: &str, secrets: &[(String, String)]) -> Result<(), StoreError>;
    /// Removes the secrets named `keys` of service `id`: those kept for a change that the
    /// store then refused (a stale `If-Match`), which no version will ever name.
    async fn forget_secrets(&self, id: &str, keys: &[String]) -> Result<(), StoreError>;
    /// Every stored secret, by key.
    async fn secrets(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// The registry's latest version (for catching up).
    async fn version(&self) -> Result<u64, StoreError>;
}

/// Every leaf of `after` that differs from `before`, by JSON pointer: `{from, to}` (a missing
/// side is `null`).
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    walk(
        "",
        before.unwrap_or(&Value::Null),
        after.unwrap_or(&Value::Null),
        &mut out,
    );
    out
}

fn walk(at: &str, a: &Value, b: &Value, out: &mut BTreeMap<String, Value>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let here = format!("{at}/{}", escape_pointer(k));
                walk(
                    &here,
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for i in 0..x.len().max(y.len()) {
                walk(
                    &format!("{at}/{i}"),
                    x.get(i).unwrap_or(&Value::Null),
                    y.get(i).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        _ if a != b => {
            out.insert(
                if at.is_empty() { "/".into() } else { at.into() },
                serde_json::json!({ "from": a, "to": b }),
            );
        }
        _ => {}
    }
}

/// A JSON pointer reference token for `key` (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_diff_names_every_changed_leaf_by_pointer() {
        let before = json!({ "names": { "fr": "A" }, "keywords": ["x", "y"], "a/b": 1 });
        let after = json!({ "names": { "fr": "B" }, "keywords": ["x"], "a/b": 1, "new": true });
        let d = diff(Some(&before), Some(&after));
        assert_eq!(d["/names/fr"], json!({ "from": "A", "to": "B" }));
        assert_eq!(d["/keywords/1"], json!({ "from": "y", "to": null }));
        assert_eq!(d["/new"], json!({ "from": null, "to": true }));
        assert!(!d.contains_key("/a~1b"), "{d:?}");
        assert_eq!(d.len(), 3, "{d:?}");
    }

    #[test]
    fn stored_references_are_found_anywhere_in_a_document() {
        let doc = serde_json::json!({
            "adapters": [
                { "step": "basic-auth", "password": { "stored": "svc:/adapters/0/password:1" } },
                { "step": "api-key", "key": { "stored": "svc:/adapters/1/key:2" } }
            ],
            "names": { "stored": "not a secret", "en": "x" }
        });
        let mut found = std::collections::HashSet::new();
        stored_references(&doc, &mut found);
        let mut found: Vec<_> = found.into_iter().collect();
        found.sort();
        assert_eq!(
            found,
            ["svc:/adapters/0/password:1", "svc:/adapters/1/key:2"]
        );
    }
}

//! The secrets given to the admin API, kept beside the history, readable by the gateway's
//! user only.

use super::{unavailable, FileStore};
use crate::registry::store::StoreError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

impl FileStore {
    pub(super) fn read_secrets(&self) -> Result<BTreeMap<String, String>, StoreError> {
        read_secrets(&self.secrets)
    }

    /// Replaces the secrets file with `all` (owner-only, synced, renamed into place).
    pub(super) fn write_secrets(&self, all: &BTreeMap<String, String>) -> Result<(), StoreError> {
        let json = serde_json::to_vec(all).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Self::write_atomically(&self.secrets, &json, true)
    }
}

/// The secrets the admin API keeps, in `path` (none if there is no file yet).
pub fn read_secrets(path: &Path) -> Result<BTreeMap<String, String>, StoreError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(unavailable(format!("{}: {e}", path.display()))),
    }
}

/// `secrets` with those a files registry keeps (what the admin API was given), so that the
/// service files' `{ stored = … }` references resolve at start-up and in `check` as they do
/// at every reload. Found when tried: a restart after a ministry gave a secret through the
/// API refused the whole configuration ("no stored secret …, give it again through the
/// admin API", with the API down), so one ordinary restart took the portal down. A shared
/// (Redis) registry is read after start and gives its secrets then.
pub fn with_kept_secrets(
    config: &crate::config::Config,
    secrets: &crate::config::Secrets,
) -> Result<crate::config::Secrets, StoreError> {
    let registry = &config.gateway.registry;
    if registry.store != crate::config::RegistryStoreKind::Files {
        return Ok(secrets.clone());
    }
    let kept = read_secrets(&secrets_file(&registry.history))?;
    Ok(secrets.clone().with_stored(kept))
}

/// Where the files store keeps the secrets given to the admin API: beside its history.
pub fn secrets_file(history: &Path) -> PathBuf {
    history.with_file_name("registry-secrets.json")
}

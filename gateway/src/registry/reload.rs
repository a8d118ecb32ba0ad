//! The one way a change reaches the running registry, whatever made it (the ministries'
//! admin API, an edit of `config/services/`, SIGHUP, another instance's change):
//!
//! ```text
//!  the next configuration ─▶ cross-service checks ─▶ diff against the running snapshot
//!      ─▶ build the new snapshot off the request path (blocking pool: DNS)
//!         carrying over what did not change (balancers, resolved backends)
//!      ─▶ swap ─▶ metrics: egov_registry_services, deleted services' series dropped
//! ```
//!
//! Changes are applied one at a time, in order. A change that fails (any problem, in any
//! service) leaves the running snapshot untouched and says why, with every problem.

use super::{Registry, Snapshot};
use crate::config::{cross_checked, Config, ConfigError, ConfigErrors, Secrets};
use crate::telemetry::Metrics;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What a change did to the set of services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Ministries, portal or other gateway settings held in the snapshot changed.
    pub settings_changed: bool,
}

impl Diff {
    /// What turns `before` into `after`.
    pub fn between(before: &Config, after: &Config) -> Diff {
        let ids = |c: &Config| {
            c.services
                .iter()
                .map(|s| s.id.clone())
                .collect::<BTreeSet<_>>()
        };
        let (old, new) = (ids(before), ids(after));
        let changed = after
            .services
            .iter()
            .filter(|s| {
                before
                    .services
                    .iter()
                    .find(|b| b.id == s.id)
                    .is_some_and(|b| b != *s)
            })
            .map(|s| s.id.clone())
            .collect();
        Diff {
            added: new.difference(&old).cloned().collect(),
            removed: old.difference(&new).cloned().collect(),
            changed,
            settings_changed: before.ministries != after.ministries
                || before.gateway != after.gateway,
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.changed.is_empty()
            && self.removed.is_empty()
            && !self.settings_changed
    }
}

/// `added [a, b], changed [c], settings changed`, or `no change`, for logs.
impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("no change");
        }
        let mut parts = Vec::new();
        for (what, ids) in [
            ("added", &self.added),
            ("changed", &self.changed),
            ("removed", &self.removed),
        ] {
            if !ids.is_empty() {
                parts.push(format!("{what} [{}]", ids.join(", ")));
            }
        }
        if self.settings_changed {
            parts.push("settings changed".into());
        }
        f.write_str(&parts.join(", "))
    }
}

/// Applies configurations to a [`Registry`], one at a time.
pub struct Reloader {
    registry: Arc<Registry>,
    metrics: Option<Arc<Metrics>>,
    secrets: std::sync::RwLock<Secrets>,
    /// One change at a time, in order.
    turn: tokio::sync::Mutex<()>,
}

impl Reloader {
    pub fn new(registry: Arc<Registry>, secrets: Secrets, metrics: Option<Arc<Metrics>>) -> Self {
        Self {
            registry,
            metrics,
            secrets: std::sync::RwLock::new(secrets),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Replaces the secrets later builds read (the stored secrets the admin API keeps).
    pub fn set_secrets(&self, secrets: Secrets) {
        if let Ok(mut s) = self.secrets.write() {
            *s = secrets;
        }
    }

    fn secrets(&self) -> Secrets {
        self.secrets.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Builds the running configuration again, looking up the backend names it runs
    /// without ([`Snapshot::unresolved`]), and swaps the build in when what resolves
    /// changed; every other service keeps its upstream (nothing else is looked up). The
    /// names are first looked up with no lock held: a DNS that times out holds up no change
    /// (found in review). Returns how many services still run without a backend name.
    pub async fn resolve_again(&self) -> Result<usize, ConfigErrors> {
        let running = self.registry.snapshot();
        if running.unresolved().is_empty() {
            return Ok(0);
        }
        let probed = Arc::clone(&running);
        let now = tokio::task::spawn_blocking(move || probed.unresolved_now())
            .await
            .unwrap_or_else(|_| running.unresolved().clone());
        if &now == running.unresolved() {
            return Ok(now.len());
        }
        let _turn = self.turn.lock().await;
        let previous = self.registry.snapshot();
        let next = previous.config.clone();
        let (secrets, metrics) = (self.secrets(), self.metrics.clone());
        let before = Arc::clone(&previous);
        let built = off_the_request_threads(move || {
            Snapshot::build_resolving_again(&next, &secrets, metrics.as_deref(), &before)
        })
        .await?;
        let left = built.unresolved().len();
        if built.unresolved() != previous.unresolved() {
            tracing::info!(unresolved = ?built.unresolved(), "registry: backend names resolved again");
            self.registry.swap(built);
        }
        Ok(left)
    }

    /// Whether `next` would be accepted: the same checks and build as [`Self::apply`], on the
    /// running snapshot, without the swap (a dry run).
    pub async fn check(&self, next: Config) -> Result<Diff, ConfigErrors> {
        let secrets = self.secrets();
        self.check_with(next, secrets).await
    }

    /// [`Self::check`] with `secrets` (e.g. ones a change is about to store).
    pub async fn check_with(&self, next: Config, secrets: Secrets) -> Result<Diff, ConfigErrors> {
        let previous = self.registry.snapshot();
        self.build_with(next, &previous, secrets, None)
            .await
            .map(|(_, diff)| diff)
    }

    /// Validates `next` as a whole, builds it off the request path and swaps it in. On any
    /// problem the running snapshot stays and every problem is returned.
    pub async fn apply(&self, next: Config) -> Result<Diff, ConfigErrors> {
        let _turn = self.turn.lock().await;
        let previous = self.registry.snapshot();
        let (built, diff) = self.build(next, &previous).await?;
        let Some(built) = built else {
            return Ok(diff);
        };
        let count = built.services().len();
        let moved: Vec<(String, String)> = built
            .services()
            .iter()
            .filter_map(|s| {
                let before = previous.service(s.id())?;
                (before.config.ministry != s.config.ministry)
                    .then(|| (s.id().to_string(), before.config.ministry.clone()))
            })
            .collect();
        self.registry.swap(built);
        if let Some(m) = &self.metrics {
            m.registry_services.set(count as i64);
            for id in &diff.removed {
                m.forget_service(id);
            }
            for (id, ministry) in &moved {
                m.forget_ministry_of(id, ministry);
            }
            let current = self.registry.snapshot();
            for id in &diff.changed {
                if let Some(s) = current.service(id) {
                    m.forget_backends_but(id, s.upstream.backends());
                }
            }
        }
        tracing::info!(
            added = ?diff.added,
            changed = ?diff.changed,
            removed = ?diff.removed,
            settings = diff.settings_changed,
            "registry updated"
        );
        Ok(diff)
    }

    /// The new snapshot for `next` (`None` when nothing changed) and the diff.
    async fn build(
        &self,
        next: Config,
        previous: &Arc<Snapshot>,
    ) -> Result<(Option<Snapshot>, Diff), ConfigErrors> {
        let secrets = self.secrets();
        self.build_with(next, previous, secrets, self.metrics.clone())
            .await
    }

    /// [`Self::build`] with `secrets`, resolving metric handles from `metrics` (none for a
    /// dry run: it must not create series for a service that may never exist).
    async fn build_with(
        &self,
        next: Config,
        previous: &Arc<Snapshot>,
        secrets: Secrets,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<(Option<Snapshot>, Diff), ConfigErrors> {
        let problems = cross_checked(&next.services, Some(&next.gateway.portal));
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        let diff = Diff::between(&previous.config, &next);
        if diff.is_empty() {
            return Ok((None, diff));
        }
        let previous = Arc::clone(previous);
        let built = off_the_request_threads(move || {
            Snapshot::build_from(&next, &secrets, metrics.as_deref(), Some(&previous))
        })
        .await?;
        Ok((Some(built), diff))
    }
}

/// Runs a snapshot build on the blocking pool: resolving backends' names blocks, never on
/// a request's thread.
async fn off_the_request_threads(
    build: impl FnOnce() -> Result<Snapshot, ConfigErrors> + Send + 'static,
) -> Result<Snapshot, ConfigErrors> {
    tokio::task::spawn_blocking(build).await.map_err(|e| {
        ConfigErrors(vec![ConfigError::new(
            std::path::Path::new(""),
            "",
            format!("the snapshot build stopped: {e}"),
        )])
    })?
}

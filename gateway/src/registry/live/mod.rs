//! The live registry: the store ([`super::store`]) turned into the running snapshot, kept in
//! step whatever changes it (this instance's admin API, another instance, a hand edit of
//! `config/services/`, SIGHUP), always through the one [`Reloader`].
//!
//! A service document that does not validate (a broken hand edit, a record written by a
//! newer release) is reported (log, `egov_registry_broken_services`, `/readyz` detail) and
//! the running version of that service keeps serving; a new one is left out until fixed.

mod follow;

use super::reload::{Diff, Reloader};
use super::store::{FileStore, Listing, Record, RegistryStore, SharedStore, StoreError};
use super::{Registry, Snapshot};
use crate::config::{
    service_file, service_from_document, Config, ConfigError, ConfigErrors, GatewaySettings,
    LimitsSettings, Ministry, PortalSettings, RateLimits, Secrets, ServiceConfig,
};
use crate::telemetry::Metrics;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// How often backend names that did not resolve are looked up again.
pub const RESOLVE_AGAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Which store, with what only that kind can do.
#[derive(Clone)]
pub enum Backing {
    Files(Arc<FileStore>),
    Shared(Arc<SharedStore>),
}

impl Backing {
    pub fn store(&self) -> Arc<dyn RegistryStore> {
        match self {
            Backing::Files(f) => Arc::clone(f) as Arc<dyn RegistryStore>,
            Backing::Shared(s) => Arc::clone(s) as Arc<dyn RegistryStore>,
        }
    }
}

/// What stays fixed between changes of services: the gateway's settings and the ministries
/// (both replaced by SIGHUP).
#[derive(Clone)]
struct Base {
    gateway: GatewaySettings,
    ministries: BTreeMap<String, Ministry>,
}

/// The registry, live.
pub struct LiveRegistry {
    reloader: Reloader,
    backing: Backing,
    base: RwLock<Base>,
    /// Secrets from the environment and files (the store's own are added at each change).
    secrets: Secrets,
    /// The store's version the running snapshot reflects.
    applied: AtomicU64,
    /// What cannot be served as written, for `/readyz`.
    broken: Mutex<Vec<String>>,
    /// The records and stored secrets last read from the store: what a shared store that
    /// lost its data (a Redis restarted without persistence) is given back.
    last_read: Mutex<LastRead>,
    /// The store's last loss this instance gave its reading back for (or found done when it
    /// started): see `SharedStore::losses`.
    restored_loss: Mutex<Option<String>>,
    metrics: Option<Arc<Metrics>>,
    /// One refresh at a time: the watcher's and an admin API write's could interleave, and
    /// an older reading of the store be applied over a newer one.
    refreshing: tokio::sync::Mutex<()>,
    /// The last refresh failed: the store holds what is not serving, so the files store's
    /// watcher tries again at each look. Found in a bypass probe: once the platform had
    /// mended the registry's secrets file, a service deleted meanwhile was still served,
    /// and `/readyz` still named the mended file, until some unrelated change or a reload.
    behind: AtomicBool,
}

/// The records and the stored secrets (`(pointer, value)`) of one read of the store.
type LastRead = (Vec<Record>, Vec<(String, String)>);

/// A change could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("invalid registry:\n{0}")]
    Invalid(#[from] ConfigErrors),
}

impl LiveRegistry {
    pub fn new(
        registry: Arc<Registry>,
        backing: Backing,
        config: &Config,
        secrets: Secrets,
        metrics: Option<Arc<Metrics>>,
    ) -> Self {
        Self {
            reloader: Reloader::new(registry, secrets.clone(), metrics.clone()),
            backing,
            base: RwLock::new(Base {
                gateway: config.gateway.clone(),
                ministries: config.ministries.clone(),
            }),
            secrets,
            applied: AtomicU64::new(0),
            broken: Mutex::new(Vec::new()),
            last_read: Mutex::new((Vec::new(), Vec::new())),
            restored_loss: Mutex::new(None),
            metrics,
            refreshing: tokio::sync::Mutex::new(()),
            behind: AtomicBool::new(false),
        }
    }

    /// Whether the last refresh failed (see `behind`).
    pub fn behind(&self) -> bool {
        self.behind.load(Ordering::Relaxed)
    }

    pub fn registry(&self) -> &Arc<Registry> {
        self.reloader.registry()
    }

    pub fn store(&self) -> Arc<dyn RegistryStore> {
        self.backing.store()
    }

    pub fn backing(&self) -> &Backing {
        &self.backing
    }

    /// The stored record of `id`. One this instance serves that a shared store lost (Redis
    /// restarted empty, not yet restored) is not known to be gone: `Unavailable` (503,
    /// retry). Found when tried: for a few hundred milliseconds after Redis restarted
    /// empty, a ministry's reads and writes of its service answered 404 "there is no
    /// service". An id nobody serves is absent as ever (a create goes on).
    pub async fn stored(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let record = self.store().get(id).await?;
        if record.is_none() && self.snapshot().service(id).is_some() {
            self.intact().await?;
        }
        Ok(record)
    }

    /// The stored record of `id`, for a caller that needs it to exist (a read, a change or
    /// a delete of it): while a shared store lost its data, no id's absence is known, this
    /// instance's or not: `Unavailable` (503, retry). Found when tried: a service created
    /// on another instance, and not yet known here, was 404 "there is no service" while the
    /// store was being restored.
    pub async fn stored_existing(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let record = self.store().get(id).await?;
        if record.is_none() {
            self.intact().await?;
        }
        Ok(record)
    }

    /// Every stored record, `Unavailable` while a shared store lost its data (found in a
    /// bypass probe: for seconds after a `FLUSHALL` the list said "no services", then grew
    /// as the restore wrote them back).
    pub async fn listed(&self) -> Result<Listing, StoreError> {
        let listing = self.store().list().await?;
        self.intact().await?;
        Ok(listing)
    }

    /// `Unavailable` while a shared store lost data this instance applied (see
    /// [`SharedStore::intact_at`]).
    async fn intact(&self) -> Result<(), StoreError> {
        match &self.backing {
            Backing::Shared(shared) => {
                let version = RegistryStore::version(shared.as_ref()).await?;
                shared.intact_at(version).await
            }
            Backing::Files(_) => Ok(()),
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.reloader.registry().snapshot()
    }

    /// Services that cannot be served as written now (empty when all is well): changes held
    /// back, and services running without a backend whose name did not resolve. Files are
    /// named without the gateway's directories: `/readyz` says this to whoever reaches the
    /// admin or metrics listener (the log names them in full).
    pub fn broken(&self) -> Vec<String> {
        let mut broken: Vec<String> = self
            .broken
            .lock()
            .map(|b| {
                b.iter()
                    .map(|why| {
                        why.lines()
                            .map(without_directories)
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (service, why) in self.snapshot().unresolved() {
            broken.push(format!("{service}: {}", why.join("; ")));
        }
        broken
    }

    /// Why the stored version of service `id` is not the one serving, when a change to it
    /// was held back (its last good version, or nothing, serves instead): its problems as
    /// `key: reason`, one a line, without the file's place on the gateway's disk (which
    /// the ministries' API never tells).
    pub fn held_back(&self, id: &str) -> Option<String> {
        let broken = self.broken.lock().ok()?;
        let why = broken
            .iter()
            .find_map(|b| b.strip_prefix(id)?.strip_prefix(": "))?;
        let lines: Vec<String> = why
            .lines()
            .map(|line| line.split_once(".toml: ").map_or(line, |(_, rest)| rest))
            .map(without_directories)
            .collect();
        Some(lines.join("\n"))
    }

    /// For the life of the server: while a backend name of the running services does not
    /// resolve, it is looked up again every [`RESOLVE_AGAIN_EVERY`], and the registry built
    /// again when the answer changed, so the service is served as soon as its name resolves
    /// (found when tried: one lapsed name refused the whole registry at start-up).
    pub async fn resolve_names_again(self: Arc<Self>) {
        loop {
            self.publish_broken();
            tokio::time::sleep(RESOLVE_AGAIN_EVERY).await;
            if self.snapshot().unresolved().is_empty() {
                continue;
            }
            if let Err(e) = self.reloader.resolve_again().await {
                tracing::warn!(error = %e, "registry: the services did not build again");
            }
        }
    }

    fn base(&self) -> Base {
        match self.base.read() {
            Ok(b) => b.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Where a service lives (or would) as a file, for error messages and relative paths.
    pub fn file_of(&self, ministry: &str, id: &str) -> std::path::PathBuf {
        service_file(&self.base().gateway.services_dir, ministry, id)
    }

    /// Validates one service document as its file would be.
    pub fn validate(
        &self,
        document: &serde_json::Value,
        ministry: &str,
        id: &str,
    ) -> Result<ServiceConfig, ConfigErrors> {
        let base = self.base();
        service_from_document(
            document,
            &self.file_of(ministry, id),
            &base.ministries,
            &base.gateway.defaults,
        )
    }

    /// The running configuration with `id` replaced by `service` (or removed with `None`).
    pub fn with_service(&self, id: &str, service: Option<ServiceConfig>) -> Config {
        let mut config = self.snapshot().config.clone();
        let base = self.base();
        config.gateway = base.gateway;
        config.ministries = base.ministries;
        match (config.services.iter().position(|s| s.id == id), service) {
            (Some(i), Some(s)) => config.services[i] = s,
            (Some(i), None) => {
                config.services.remove(i);
            }
            (None, Some(s)) => config.services.push(s),
            (None, None) => {}
        }
        config
    }

    /// Whether `next` would be accepted, with `extra` secrets being stored alongside.
    pub async fn check(
        &self,
        next: Config,
        extra: &[(String, String)],
    ) -> Result<Diff, ConfigErrors> {
        let stored = self.store().secrets().await.unwrap_or_default();
        let secrets = self
            .secrets
            .clone()
            .with_stored(stored)
            .with_stored(extra.iter().cloned());
        self.reloader.check_with(next, secrets).await
    }

    /// The configuration the store describes now, on the current base; services whose
    /// documents do not validate keep their running version (and are reported).
    async fn desired(&self) -> Result<(Config, Vec<String>, u64), StoreError> {
        let store = self.store();
        let version = store.version().await?;
        // A shared store behind what this instance applied lost its data: it is restored
        // from this instance's last reading ([`Self::restore`]), never applied as it is
        // (an emptied store would take every service off; found in review).
        if let Backing::Shared(shared) = &self.backing {
            shared.intact_at(version).await?;
        }
        let Listing {
            records,
            unreadable,
        } = store.list().await?;
        let base = self.base();
        let running = self.snapshot();
        let mut services = Vec::with_capacity(records.len() + unreadable.len());
        let mut broken = Vec::new();
        for (id, why) in unreadable {
            broken.push(format!("{id}: {why}"));
            if let Some(s) = running.service(&id) {
                services.push(s.config.clone());
            }
        }
        for r in &records {
            let file = service_file(&base.gateway.services_dir, &r.ministry, &r.id);
            match service_from_document(
                &r.document,
                &file,
                &base.ministries,
                &base.gateway.defaults,
            ) {
                Ok(s) => services.push(s),
                Err(errors) => {
                    broken.push(format!("{}: {errors}", r.id));
                    if let Some(s) = running.service(&r.id) {
                        services.push(s.config.clone());
                    }
                }
            }
        }
        if let Ok(mut last) = self.last_read.lock() {
            last.0 = records;
        }
        Ok((
            Config {
                gateway: base.gateway,
                ministries: base.ministries,
                services,
            },
            broken,
            version,
        ))
    }

    /// Brings the running snapshot in step with the store.
    pub async fn refresh(&self) -> Result<Diff, RefreshError> {
        let _turn = self.refreshing.lock().await;
        let refreshed = self.refresh_in_turn().await;
        self.behind.store(refreshed.is_err(), Ordering::Relaxed);
        refreshed
    }

    /// [`Self::refresh`], its turn taken.
    async fn refresh_in_turn(&self) -> Result<Diff, RefreshError> {
        let (next, mut broken, version) = self.desired().await?;
        let stored = match self.store().secrets().await {
            Ok(s) => s,
            Err(e) => {
                // Every change waits for them: said where SREs look, not only in the log
                // (found when tried: a corrupt secrets file stopped every edit, /readyz 200).
                broken.push(format!("registry secrets: {e}"));
                self.report(broken);
                return Err(e.into());
            }
        };
        if let Ok(mut last) = self.last_read.lock() {
            last.1 = stored.clone();
        }
        self.reloader
            .set_secrets(self.secrets.clone().with_stored(stored));
        let diff = match self.reloader.apply(next.clone()).await {
            Ok(d) => d,
            Err(errors) => match self.apply_each(next, &errors, &mut broken).await {
                Some(d) => d,
                None => {
                    broken.push(errors.to_string());
                    self.report(broken);
                    return Err(errors.into());
                }
            },
        };
        self.applied.store(version, Ordering::Relaxed);
        if let Backing::Shared(shared) = &self.backing {
            shared.seen(version);
        }
        self.report(broken);
        Ok(diff)
    }

    /// `next` as far as it can be applied, when it cannot be as a whole (`errors`): the
    /// changes its errors name are held back and the rest applied in one build; each held
    /// back is then taken in turn and kept when the configuration still builds with it. One
    /// that does not (it claims another's legacy host or name, say) keeps its running
    /// version, or stays out if new, and is reported in `broken`. Found when tried: a
    /// hand-copied file clashing with another service failed the whole snapshot, and from
    /// then on no ministry's change was applied, though the admin API answered 200. When the
    /// errors name none of the changes (they fell on a service that did not change), every
    /// change is taken in turn, a build each. `None` when not even the running services
    /// build on `next`'s settings.
    async fn apply_each(
        &self,
        next: Config,
        errors: &ConfigErrors,
        broken: &mut Vec<String>,
    ) -> Option<Diff> {
        let running = self.snapshot();
        let before: Vec<Option<ServiceConfig>> = next
            .services
            .iter()
            .map(|s| running.service(&s.id).map(|r| r.config.clone()))
            .collect();
        let changed: Vec<usize> = (0..next.services.len())
            .filter(|&i| before[i].as_ref() != Some(&next.services[i]))
            .collect();
        let named: Vec<usize> = changed
            .iter()
            .copied()
            .filter(|&i| errors.iter().any(|e| e.file == next.services[i].file))
            .collect();
        let with = |chosen: &[Option<ServiceConfig>]| Config {
            gateway: next.gateway.clone(),
            ministries: next.ministries.clone(),
            services: chosen.iter().flatten().cloned().collect(),
        };
        // Every change but those the errors name, at once.
        let mut chosen: Vec<Option<ServiceConfig>> =
            next.services.iter().cloned().map(Some).collect();
        for &i in &named {
            chosen[i] = before[i].clone();
        }
        let in_turn = if !named.is_empty() && self.reloader.check(with(&chosen)).await.is_ok() {
            named
        } else {
            chosen = before.clone();
            self.reloader.check(with(&chosen)).await.ok()?;
            changed
        };
        for i in in_turn {
            let service = &next.services[i];
            let held = chosen[i].replace(service.clone());
            if let Err(errors) = self.reloader.check(with(&chosen)).await {
                broken.push(format!("{}: {errors}", service.id));
                chosen[i] = held;
            }
        }
        self.reloader.apply(with(&chosen)).await.ok()
    }

    /// Counts a SIGHUP reload, `applied` or refused (`egov_config_reloads_total`).
    pub fn count_reload(&self, applied: bool) {
        if let Some(m) = &self.metrics {
            let result = if applied { "applied" } else { "refused" };
            m.config_reloads.with_label_values(&[result]).inc();
        }
    }

    /// Says how many restart-only settings the last applied reload found changed
    /// (`egov_config_restart_pending_settings`).
    pub fn restart_pending(&self, settings: usize) {
        if let Some(m) = &self.metrics {
            m.config_restart_pending
                .set(i64::try_from(settings).unwrap_or(i64::MAX));
        }
    }

    fn report(&self, broken: Vec<String>) {
        for b in &broken {
            tracing::warn!(problem = %b, "registry: a service cannot be served as written; its last good version keeps serving");
        }
        if let Ok(mut slot) = self.broken.lock() {
            *slot = broken;
        }
        self.publish_broken();
    }

    /// `egov_registry_broken_services`: what [`Self::broken`] lists, services running
    /// without a backend name included (they were in no alert, found in review).
    fn publish_broken(&self) {
        if let Some(m) = &self.metrics {
            m.registry_broken.set(self.broken().len() as i64);
        }
    }

    /// Takes what reloads from a freshly loaded `config` (SIGHUP): the ministries, the
    /// portal settings the snapshot holds but the origins (trusted proxies, hosts, header
    /// limit) and the service defaults; then refreshes the services from the store.
    /// Settings that need a restart (listeners, SSO, sessions, Redis, admin but its keys,
    /// registry, telemetry, assist, server) keep their running values; each one that
    /// differs is returned, for the operator to be told.
    pub async fn rebase(&self, config: &Config) -> Result<(Diff, Vec<&'static str>), RefreshError> {
        let running = self.base();
        let (gateway, needs_restart) = reloadable(&running.gateway, &config.gateway);
        if let Ok(mut b) = self.base.write() {
            *b = Base {
                gateway,
                ministries: config.ministries.clone(),
            };
        }
        match self.refresh().await {
            Ok(diff) => Ok((diff, needs_restart)),
            Err(e) => {
                // Nothing of the new base is kept when it does not validate with the services.
                if let Ok(mut b) = self.base.write() {
                    *b = running;
                }
                Err(e)
            }
        }
    }
}

/// `running` with what a reload may change taken from `loaded`, and the names of the
/// restart-only settings that `loaded` would change.
fn reloadable(
    running: &GatewaySettings,
    loaded: &GatewaySettings,
) -> (GatewaySettings, Vec<&'static str>) {
    let mut next = running.clone();
    // The portal's and the services' origins stay: single sign-on was set up for them at
    // start (its redirect URI, where `/auth/hop` sends browsers, its cookies), and found when
    // tried, moving the services' origins on SIGHUP sent every sign-in to the old one (421).
    next.portal.trusted_proxies = loaded.portal.trusted_proxies.clone();
    next.portal.max_header_bytes = loaded.portal.max_header_bytes;
    next.portal.hosts = loaded.portal.hosts.clone();
    next.limits.rate = RateLimits {
        // Where rates are counted is chosen at start.
        shared: running.limits.rate.shared,
        ..loaded.limits.rate.clone()
    };
    next.limits.max_uri_bytes = loaded.limits.max_uri_bytes;
    // Applied to every service's bulkhead at the swap (`resilience::bulkhead`); found when
    // tried, a reload ignored it without a word.
    next.limits.max_in_flight_per_service = loaded.limits.max_in_flight_per_service;
    next.limits.max_headers = loaded.limits.max_headers;
    // Read from the snapshot by each request: found in a reload probe, they were neither
    // taken nor named (a `max_body_bytes` lowered to 1,000 still let 5,000 bytes through,
    // and the reload said "no change").
    next.limits.max_body_bytes = loaded.limits.max_body_bytes;
    next.limits.body_grace = loaded.limits.body_grace;
    next.limits.body_min_rate = loaded.limits.body_min_rate;
    next.limits.send_timeout = loaded.limits.send_timeout;
    next.limits.upgraded_idle_timeout = loaded.limits.upgraded_idle_timeout;
    next.defaults = loaded.defaults.clone();
    // Revoking a key must not wait for a restart.
    next.admin.keys = loaded.admin.keys.clone();
    let mut restart = Vec::new();
    let p = (&running.portal, &loaded.portal);
    if p.0.listen != p.1.listen || p.0.h2c != p.1.h2c || p.0.tls != p.1.tls {
        restart.push("portal listeners");
    }
    if p.0.public_url != p.1.public_url || p.0.service_origins != p.1.service_origins {
        restart.push("portal.public_url and portal.service_origin");
    }
    for (name, differs) in [
        ("server", running.server != loaded.server),
        (
            "admin (but its keys)",
            next.admin != loaded.admin || running.admin_listen != loaded.admin_listen,
        ),
        ("metrics", running.metrics_listen != loaded.metrics_listen),
        (
            "limits.rate.shared",
            running.limits.rate.shared != loaded.limits.rate.shared,
        ),
        (
            "limits (connections, header and keep-alive timeouts)",
            (
                running.limits.header_timeout,
                running.limits.keepalive_timeout,
                running.limits.max_connections,
                running.limits.max_connections_per_ip,
            ) != (
                loaded.limits.header_timeout,
                loaded.limits.keepalive_timeout,
                loaded.limits.max_connections,
                loaded.limits.max_connections_per_ip,
            ),
        ),
        (
            "registry",
            running.registry != loaded.registry || running.services_dir != loaded.services_dir,
        ),
        ("sso", running.sso != loaded.sso),
        ("redis", running.redis != loaded.redis),
        ("sessions", running.sessions != loaded.sessions),
        ("identity", running.identity != loaded.identity),
        ("assist", running.assist != loaded.assist),
        ("telemetry", running.telemetry != loaded.telemetry),
        ("cache", running.cache != loaded.cache),
        (
            "limits.flood_penalty",
            running.limits.flood_penalty != loaded.limits.flood_penalty,
        ),
        (
            "portal.feedback_log",
            running.portal.feedback_log != loaded.portal.feedback_log,
        ),
    ] {
        if differs {
            restart.push(name);
        }
    }
    // Whatever else a reload neither takes nor names above: a setting added later is named
    // rather than silently kept at its running value.
    let unnamed_portal = PortalSettings {
        listen: next.portal.listen.clone(),
        h2c: next.portal.h2c,
        tls: next.portal.tls.clone(),
        public_url: next.portal.public_url.clone(),
        service_origins: next.portal.service_origins.clone(),
        feedback_log: next.portal.feedback_log.clone(),
        ..loaded.portal.clone()
    } != next.portal;
    let unnamed_limits = LimitsSettings {
        header_timeout: next.limits.header_timeout,
        keepalive_timeout: next.limits.keepalive_timeout,
        max_connections: next.limits.max_connections,
        max_connections_per_ip: next.limits.max_connections_per_ip,
        flood_penalty: next.limits.flood_penalty,
        rate: next.limits.rate.clone(),
        ..loaded.limits.clone()
    } != next.limits;
    for (name, differs) in [
        ("portal (other settings)", unnamed_portal),
        ("limits (other settings)", unnamed_limits),
    ] {
        if differs {
            restart.push(name);
        }
    }
    (next, restart)
}

/// The document of a service file, if it reads.
fn document_of_file(file: &std::path::Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(file).ok()?;
    super::store::files::document_of(&text).ok()
}

/// `line` with each absolute path in it cut to its file name (found in a bypass probe: a
/// missing secret file's message named `/tmp/egov-demo-.../config/services/justice/pw.txt`).
fn without_directories(line: &str) -> String {
    line.split(' ')
        .map(
            |word| match word.strip_prefix('/').and_then(|w| w.rsplit_once('/')) {
                Some((_, name)) => format!(".../{name}"),
                None => word.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// A problem with no file to name.
pub fn problem(reason: impl Into<String>) -> ConfigErrors {
    ConfigErrors(vec![ConfigError::new(std::path::Path::new(""), "", reason)])
}

#[cfg(test)]
mod held_back_tests {
    #[test]
    fn a_held_back_changes_reason_names_files_without_their_directories() {
        assert_eq!(
            super::without_directories(
                "adapters[0].password: cannot read secret file /tmp/egov-demo-1/config/services/justice/pw.txt"
            ),
            "adapters[0].password: cannot read secret file .../pw.txt"
        );
        assert_eq!(
            super::without_directories("access: \"publik\" is not one of public, citizen"),
            "access: \"publik\" is not one of public, citizen"
        );
    }
}

#[cfg(test)]
mod reload_tests {
    use super::reloadable;
    use crate::config::Rate;
    use std::time::Duration;

    #[test]
    fn admin_keys_reload_but_the_rest_of_admin_needs_a_restart() {
        let running = crate::config::fixtures::config_without_secrets().gateway;
        let mut loaded = running.clone();
        loaded.admin.keys.push(crate::config::AdminKey {
            id: "added".into(),
            holder: crate::config::KeyHolder::Platform,
            hash: "$argon2id$placeholder".into(),
        });
        let (next, restart) = reloadable(&running, &loaded);
        assert_eq!(next.admin.keys, loaded.admin.keys);
        assert_ne!(next.admin.keys, running.admin.keys);
        assert!(restart.is_empty(), "{restart:?}");
        loaded.admin.max_services_per_ministry += 1;
        let (next, restart) = reloadable(&running, &loaded);
        assert_eq!(
            next.admin.max_services_per_ministry,
            running.admin.max_services_per_ministry
        );
        assert_eq!(restart, ["admin (but its keys)"]);
    }

    #[test]
    fn the_bulkheads_limit_reloads() {
        let running = crate::config::fixtures::config_without_secrets().gateway;
        let mut loaded = running.clone();
        loaded.limits.max_in_flight_per_service = Some(7);
        let (next, restart) = reloadable(&running, &loaded);
        assert_eq!(next.limits.max_in_flight_per_service, Some(7));
        assert!(restart.is_empty(), "{restart:?}");
    }

    /// Found in a reload probe: a `max_body_bytes` lowered to 1,000 still let 5,000 bytes
    /// through after SIGHUP, and the reload said "no change".
    #[test]
    fn the_limits_each_request_reads_reload() {
        let running = crate::config::fixtures::config_without_secrets().gateway;
        let mut loaded = running.clone();
        loaded.limits.max_body_bytes = 1000;
        loaded.limits.body_grace = Duration::from_secs(3);
        loaded.limits.body_min_rate = 77;
        loaded.limits.send_timeout = Duration::from_secs(4);
        loaded.limits.upgraded_idle_timeout = Duration::from_secs(5);
        let (next, restart) = reloadable(&running, &loaded);
        assert_eq!(next.limits, loaded.limits);
        assert!(restart.is_empty(), "{restart:?}");
    }

    /// Found in a reload probe: `[cache]`, `limits.flood_penalty` and
    /// `portal.feedback_log` were kept at their running values and the reload said "no
    /// change"; they are built at start, so they are named as needing a restart.
    #[test]
    fn what_a_reload_does_not_take_it_names() {
        let running = crate::config::fixtures::config_without_secrets().gateway;
        let mut loaded = running.clone();
        loaded.cache.max_object_size += 1;
        loaded.limits.flood_penalty = Some(Duration::from_secs(99));
        loaded.portal.feedback_log = Some("/elsewhere/feedback.jsonl".into());
        let (next, restart) = reloadable(&running, &loaded);
        assert_eq!(next.cache, running.cache);
        assert_eq!(
            restart,
            ["cache", "limits.flood_penalty", "portal.feedback_log"]
        );
    }

    #[test]
    fn rates_reload_but_where_they_are_counted_needs_a_restart() {
        let running = crate::config::fixtures::config_without_secrets().gateway;
        let mut loaded = running.clone();
        loaded.limits.rate.per_ip = Some(Rate {
            count: 10,
            per: Duration::from_secs(1),
        });
        loaded.limits.rate.shared = !running.limits.rate.shared;
        let (next, restart) = reloadable(&running, &loaded);
        assert_eq!(next.limits.rate.per_ip, loaded.limits.rate.per_ip);
        assert_eq!(next.limits.rate.shared, running.limits.rate.shared);
        assert!(restart.contains(&"limits.rate.shared"), "{restart:?}");
    }

    #[test]
    fn the_origins_sign_in_was_set_up_for_need_a_restart() {
        let running = crate::config::fixtures::config_without_secrets().gateway;
        let mut loaded = running.clone();
        loaded.portal.public_url = crate::config::PublicUrl {
            https: true,
            host: "portail.example.ma".into(),
            authority: "portail.example.ma".into(),
        };
        let (next, restart) = reloadable(&running, &loaded);
        assert_eq!(next.portal.public_url, running.portal.public_url);
        assert!(
            restart.contains(&"portal.public_url and portal.service_origin"),
            "{restart:?}"
        );
    }
}

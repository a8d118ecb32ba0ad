//! Building a [`Snapshot`] from validated config: resolve backends, read secrets, compile
//! adapter chains, index services by id and by legacy URL.

use super::service::{Service, Upstream};
use crate::assist::Catalog;
use crate::chain::{AdapterChain, ChainContext};
use crate::config::{
    Config, ConfigError, ConfigErrors, Ministry, PortalSettings, Secrets, ServiceConfig,
};
use crate::telemetry::Metrics;
use egov_adapters::links::{LinkMap, LinkMapBuilder};
use egov_adapters::paths::LegacyMap;
use http::HeaderValue;
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

/// What requests need to know about the portal itself.
#[derive(Debug, Clone)]
pub struct PortalInfo {
    /// `https://portail.gov.ma`, for redirects from legacy hosts.
    pub origin: String,
    /// The portal's own host name (lowercase, no port).
    pub host: String,
    /// Every `Origin` the portal's own pages send: its public origin, and its scheme and port
    /// with each alias (a citizen on `www.` posts from it), and with the loopback names when
    /// the portal itself is on one (the demo). Written once, compared per request.
    pub own_origins: Vec<String>,
    pub settings: PortalSettings,
}

impl PortalInfo {
    /// What requests need to know of the portal `settings` describe, worked out once.
    pub fn new(settings: PortalSettings) -> Self {
        let url = &settings.public_url;
        let scheme = if url.https { "https" } else { "http" };
        let authority = url.authority.as_str();
        let port = match authority.rfind(':') {
            Some(i)
                if authority[i + 1..].bytes().all(|b| b.is_ascii_digit())
                    && !authority[i..].contains(']') =>
            {
                &authority[i..]
            }
            _ => "",
        };
        let on_loopback = crate::config::is_loopback_host(&url.host);
        let loopback: &[&str] = if on_loopback {
            &["localhost", "127.0.0.1", "[::1]"]
        } else {
            &[]
        };
        let own_origins = std::iter::once(url.origin())
            .chain(
                settings
                    .hosts
                    .iter()
                    .map(String::as_str)
                    .chain(loopback.iter().copied())
                    .map(|h| format!("{scheme}://{h}{port}")),
            )
            .collect();
        PortalInfo {
            origin: url.origin(),
            host: url.host.clone(),
            own_origins,
            settings,
        }
    }

    /// Whether `origin` (an `Origin` header's bytes) is one of [`Self::own_origins`].
    pub fn is_own_origin(&self, origin: &[u8]) -> bool {
        self.own_origins
            .iter()
            .any(|o| o.as_bytes().eq_ignore_ascii_case(origin))
    }
}

/// One immutable, compiled view of every service. Lookups are hash probes, so their cost
/// does not depend on how many services are registered.
#[derive(Debug)]
pub struct Snapshot {
    /// The configuration it was built from: what the next change starts from.
    pub config: Config,
    pub portal: PortalInfo,
    pub ministries: BTreeMap<String, Ministry>,
    services: Vec<Arc<Service>>,
    by_id: HashMap<String, usize>,
    legacy: LegacyMap<usize>,
    /// The intent router's view of these services.
    catalog: Arc<Catalog>,
    /// Services with a backend name that did not resolve (or resolved where no backend may
    /// be) at this build, and why: they run without it (see `resolve`).
    unresolved: BTreeMap<String, Vec<String>>,
}

impl Snapshot {
    /// Compiles `config`. Every service is attempted and every failure reported (with the
    /// service file and key), so a bad change is refused as a whole with a full list.
    pub fn build(config: &Config, secrets: &Secrets) -> Result<Snapshot, ConfigErrors> {
        Self::build_with_metrics(config, secrets, None)
    }

    /// Like [`Snapshot::build`], with each service's request metrics resolved from `metrics`.
    pub fn build_with_metrics(
        config: &Config,
        secrets: &Secrets,
        metrics: Option<&Metrics>,
    ) -> Result<Snapshot, ConfigErrors> {
        Self::build_from(config, secrets, metrics, None)
    }

    /// Like [`Snapshot::build_with_metrics`], carrying over from `previous` what did not
    /// change: a service whose `[upstream]` is the same keeps its balancer, resolved backends
    /// (no DNS lookup) and what they know of their health. Chains are always recompiled
    /// (cheap): a new service changes where other services' links point.
    ///
    /// A service left without a backend name ([`Self::unresolved`]) keeps that too: one
    /// ministry's failing DNS must not slow every other ministry's change by its lookups
    /// (found in review). [`Self::build_resolving_again`] looks them up again.
    pub fn build_from(
        config: &Config,
        secrets: &Secrets,
        metrics: Option<&Metrics>,
        previous: Option<&Snapshot>,
    ) -> Result<Snapshot, ConfigErrors> {
        Self::build_inner(config, secrets, metrics, previous, false)
    }

    /// Like [`Self::build_from`], looking up again the backend names of the services
    /// `previous` runs without them.
    pub fn build_resolving_again(
        config: &Config,
        secrets: &Secrets,
        metrics: Option<&Metrics>,
        previous: &Snapshot,
    ) -> Result<Snapshot, ConfigErrors> {
        Self::build_inner(config, secrets, metrics, Some(previous), true)
    }

    /// What looking the unresolved services' backend names up again says now (blocking: the
    /// lookups), without building anything: when it says what [`Self::unresolved`] says,
    /// there is nothing to build again.
    pub fn unresolved_now(&self) -> BTreeMap<String, Vec<String>> {
        let own = self.config.gateway.own_listeners();
        let allow = &self.config.gateway.admin.upstream_allow;
        let mut now = BTreeMap::new();
        for id in self.unresolved.keys() {
            let Some(svc) = self.config.services.iter().find(|s| &s.id == id) else {
                continue;
            };
            let (mut errors, mut left_out) = (Vec::new(), Vec::new());
            resolve(svc, &own, allow, false, &mut errors, &mut left_out);
            if !left_out.is_empty() {
                now.insert(id.clone(), left_out);
            }
        }
        now
    }

    fn build_inner(
        config: &Config,
        secrets: &Secrets,
        metrics: Option<&Metrics>,
        previous: Option<&Snapshot>,
        resolve_again: bool,
    ) -> Result<Snapshot, ConfigErrors> {
        let mut errors = crate::assist::terms::problems(&config.services, |s| {
            let before = previous.and_then(|p| p.service(&s.id));
            crate::assist::terms::Settled::of(s, before.map(|p| &p.config))
        });
        let link_map = Arc::new(link_map(config, &mut errors));
        let portal_origin = config.gateway.portal.public_url.origin();
        let service_origins = config.gateway.portal.service_origins.as_ref();
        let own = config.gateway.own_listeners();
        let allow = &config.gateway.admin.upstream_allow;
        let mut unresolved = BTreeMap::new();
        let in_flight_limit = crate::resilience::bulkhead::limit_of(&config.gateway.limits);
        let upstreams: Vec<Option<Arc<Upstream>>> = config
            .services
            .iter()
            .map(|svc| {
                let kept = previous
                    .filter(|p| !(resolve_again && p.unresolved.contains_key(&svc.id)))
                    .and_then(|p| p.service(&svc.id).map(|s| (p, s)))
                    .filter(|(_, s)| s.config.upstream == svc.upstream)
                    .map(|(p, s)| {
                        if let Some(why) = p.unresolved.get(&svc.id) {
                            unresolved.insert(svc.id.clone(), why.clone());
                        }
                        Arc::clone(&s.upstream)
                    });
                kept.or_else(|| {
                    let mut left_out = Vec::new();
                    let offline = secrets.are_unread();
                    let resolved = resolve(svc, &own, allow, offline, &mut errors, &mut left_out);
                    if !left_out.is_empty() {
                        unresolved.insert(svc.id.clone(), left_out);
                    }
                    resolved.and_then(|backends| {
                        let gauge = metrics.map(|m| {
                            m.circuit_breaker_state
                                .with_label_values(&[&format!("service:{}", svc.id)])
                        });
                        Upstream::new(&svc.upstream, &backends, gauge)
                            .map(Arc::new)
                            .map_err(|reason| {
                                errors.push(ConfigError::new(&svc.file, "upstream", reason))
                            })
                            .ok()
                    })
                })
            })
            .collect();
        let forgeable_identity =
            Arc::new(crate::chain::identity_header_spellings(&config.services));
        let cx = ChainContext {
            secrets,
            forgeable_identity: &forgeable_identity,
            link_map: &link_map,
            portal_https: config.gateway.portal.public_url.https,
            portal_origin: &portal_origin,
            service_origins,
        };
        let mut services = Vec::with_capacity(config.services.len());
        for (svc, upstream) in config.services.iter().zip(upstreams) {
            let chain = match AdapterChain::compile(svc, &cx) {
                Ok(mut c) => {
                    let same_site = previous.and_then(|p| p.service(&svc.id)).filter(|p| {
                        p.config.legacy == svc.legacy && p.config.upstream == svc.upstream
                    });
                    if let Some(p) = same_site {
                        c.keep_site_cookies(&p.chain);
                    }
                    Some(c)
                }
                Err(mut e) => {
                    errors.append(&mut e.0);
                    None
                }
            };
            let cache = match crate::cache::Policy::compile(svc) {
                Ok(p) => Some(p.map(Arc::new)),
                Err(reason) => {
                    errors.push(ConfigError::new(&svc.file, "cache", reason));
                    None
                }
            };
            let (Some(upstream), Some(chain), Some(cache)) = (upstream, chain, cache) else {
                continue;
            };
            let origin = service_origins.map(|o| o.origin(&svc.id));
            let authority = origin
                .as_deref()
                .and_then(|o| o.split_once("://").map(|(_, a)| a))
                .unwrap_or(&config.gateway.portal.public_url.authority);
            let canonical_host = HeaderValue::from_str(authority)
                .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
            // The count goes on where the service had one (its requests in flight still
            // hold their places), with this snapshot's limit.
            let in_flight = match previous.and_then(|p| p.service(&svc.id)) {
                Some(s) => s.in_flight.with_limit(in_flight_limit),
                None => crate::resilience::bulkhead::Bulkhead::new(
                    &svc.id,
                    in_flight_limit,
                    metrics.map(|m| m.upstream_in_flight.with_label_values(&[&svc.id])),
                    metrics.map(|m| m.rate_limited.with_label_values(&["service_in_flight"])),
                ),
            };
            services.push(Arc::new(Service {
                in_flight,
                portal_prefix: format!("/s/{}", svc.id),
                canonical_host,
                origin,
                config: svc.clone(),
                metrics: metrics
                    .map(|m| m.for_service(&svc.id, &svc.ministry, upstream.backends())),
                upstream,
                chain,
                cache,
            }));
        }
        let catalog = Arc::new(
            Catalog::with_owners(&config.services, &config.ministries)
                .on_origins(config.gateway.portal.service_origins.as_ref()),
        );
        if let Some(previous) = previous {
            use crate::assist::terms;
            let changed = |s: &ServiceConfig| {
                terms::search_words_changed(s, previous.service(&s.id).map(|p| &p.config))
            };
            // The ministries that made this change: of the services whose words changed
            // (before and after a move), and of those removed.
            let mut changing = std::collections::HashSet::new();
            for s in config.services.iter().filter(|s| changed(s)) {
                changing.insert(s.ministry.clone());
                if let Some(p) = previous.service(&s.id) {
                    changing.insert(p.config.ministry.clone());
                }
            }
            for p in previous.services() {
                if !config.services.iter().any(|s| s.id == p.config.id) {
                    changing.insert(p.config.ministry.clone());
                }
            }
            errors.extend(terms::takeovers(
                &config.services,
                previous.catalog(),
                &catalog,
                changed,
                &changing,
            ));
        }
        if !errors.is_empty() {
            // Refused anyway: at start-up (and by `check`), the names that did not resolve
            // are said with the rest. Not for a change: a ministry would be shown other
            // ministries' backend names, which it cannot fix (found in review).
            for svc in config.services.iter().filter(|_| previous.is_none()) {
                for why in unresolved.get(&svc.id).into_iter().flatten() {
                    let (field, reason) = why.split_once(": ").unwrap_or(("upstream.url", why));
                    errors.push(ConfigError::new(&svc.file, field, reason));
                }
            }
            return Err(ConfigErrors(errors));
        }
        let mut by_id = HashMap::with_capacity(services.len());
        let mut legacy = LegacyMap::default();
        for (i, s) in services.iter().enumerate() {
            by_id.insert(s.config.id.clone(), i);
            for host in s.config.legacy.hosts() {
                legacy.insert(host, &s.config.legacy.path, i);
            }
        }
        let settings = config.gateway.portal.clone();
        Ok(Snapshot {
            config: config.clone(),
            portal: PortalInfo::new(settings),
            ministries: config.ministries.clone(),
            catalog,
            services,
            by_id,
            legacy,
            unresolved,
        })
    }

    /// The service with this id.
    pub fn service(&self, id: &str) -> Option<&Arc<Service>> {
        self.by_id.get(id).map(|&i| &self.services[i])
    }

    /// Every service, in configuration order.
    pub fn services(&self) -> &[Arc<Service>] {
        &self.services
    }

    /// Legacy host + path → the service that now owns it.
    pub fn legacy(&self) -> &LegacyMap<usize> {
        &self.legacy
    }

    /// The intent router's view of this snapshot's services.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The services running without a backend whose name did not resolve, and why (every
    /// build resolves them again: [`crate::registry::Reloader::resolve_again`]).
    pub fn unresolved(&self) -> &BTreeMap<String, Vec<String>> {
        &self.unresolved
    }

    pub fn service_at(&self, index: usize) -> &Arc<Service> {
        &self.services[index]
    }
}

/// The addresses of `svc`'s backends, checked against the gateway's own listeners and the
/// addresses no backend may have. `offline` (`check --no-secrets`: a machine without the
/// deployment's secrets, and maybe without its DNS): a name that does not resolve is not an
/// error, and the service is checked without its backends.
///
/// A backend given by **name** that does not resolve, or resolves to an address no backend
/// may have or a private one `allow` (`[admin] upstream_allow`) does not list, is left out
/// and said in `unresolved`, not an error: DNS is the world's, not the
/// configuration's, and one ministry's lapsed name (or a rebinding) refused the whole
/// registry, so no instance could start or restart for any service (found when tried). The
/// service runs on the backends that did resolve, none at all meaning 503 until a later
/// build resolves it ([`Snapshot::unresolved`]). An address written as such is the
/// configuration's: an error.
fn resolve(
    svc: &crate::config::ServiceConfig,
    own: &[SocketAddr],
    allow: &[ipnet::IpNet],
    offline: bool,
    errors: &mut Vec<ConfigError>,
    unresolved: &mut Vec<String>,
) -> Option<Vec<(SocketAddr, u32)>> {
    let mut out: Vec<(SocketAddr, u32)> = Vec::new();
    let mut ok = true;
    for (i, b) in svc.upstream.backends.iter().enumerate() {
        let field = if svc.upstream.backends.len() == 1 {
            "upstream.url".to_string()
        } else {
            format!("upstream.url[{i}]")
        };
        let named = b
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_err();
        let mut refuse = |reason: String| {
            if named {
                unresolved.push(format!("{field}: {reason}"));
            } else {
                errors.push(ConfigError::new(&svc.file, field.clone(), reason));
                ok = false;
            }
        };
        match (b.host.as_str(), b.port).to_socket_addrs() {
            Ok(mut addrs) => match addrs.next() {
                // Two URLs naming one address are one backend: the balancer keeps one, and
                // failover counts backends.
                Some(a) if out.iter().any(|(o, _)| *o == a) => {}
                // The admin API refuses these too (where it can also name the listeners
                // bound); found when tried: a service file pointing at the admin listener
                // published `/metrics`, `/status` and the API on the portal, and one at the
                // portal itself turned one citizen's request into 256.
                Some(a)
                    if own
                        .iter()
                        .any(|l| super::address::is_listener(*l, a, false)) =>
                {
                    refuse(format!(
                        "{b} resolves to {a}, where the gateway itself listens: a service may not publish the gateway's portal, admin or metrics listeners"
                    ));
                }
                Some(a) => {
                    // A name is checked as the admin API checked it, at every lookup: its
                    // answer may have changed since (DNS rebinding; found when tried).
                    let why = if named {
                        super::address::refused_address(a.ip(), allow)
                    } else {
                        super::address::never_a_backend(a.ip())
                    };
                    match why {
                        Some(why) => refuse(format!("{b} resolves to {}: {why}", a.ip())),
                        None => out.push((a, b.weight)),
                    }
                }
                None if offline => ok = false,
                None => refuse(format!("{b} resolves to no address")),
            },
            Err(_) if offline => ok = false,
            Err(e) => refuse(format!("cannot resolve {b}: {e}")),
        }
    }
    ok.then_some(out)
}

/// Every legacy URL prefix (old domains and the backends' own addresses) → where the service
/// lives now (its portal path or its own origin), so links, redirects and refreshes to any
/// service are rewritten wherever they appear.
fn link_map(config: &Config, errors: &mut Vec<ConfigError>) -> LinkMap {
    let mut b = LinkMapBuilder::new();
    let origins = config.gateway.portal.service_origins.as_ref();
    for s in &config.services {
        let prefix = crate::chain::link_target(&s.id, origins);
        for host in s.legacy.hosts() {
            if let Err(e) = b.add_legacy(host, &s.legacy.path, &prefix) {
                errors.push(ConfigError::new(&s.file, "legacy", e.to_string()));
            }
        }
        for backend in &s.upstream.backends {
            if let Err(e) = b.add_upstream(&backend.to_string(), &s.upstream.base_path, &prefix) {
                errors.push(ConfigError::new(&s.file, "upstream.url", e.to_string()));
            }
        }
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found when tried: the admin API refused a backend on the gateway's own listeners, but
    /// a service file (and `check`) took one, and published `/metrics` and the API on the
    /// portal.
    #[test]
    fn a_service_file_may_not_point_at_the_gateways_own_listeners() {
        let mut config = crate::config::fixtures::config_without_secrets();
        let admin: SocketAddr = "127.0.0.1:9901".parse().expect("address");
        config.gateway.admin_listen = Some(admin);
        let backend = &mut config.services[0].upstream.backends[0];
        backend.host = "127.0.0.1".into();
        backend.port = admin.port();
        let errors = Snapshot::build(&config, &Secrets::from_process()).expect_err("refused");
        let text = errors.to_string();
        assert!(text.contains("where the gateway itself listens"), "{text}");
    }

    /// Found when tried: a request rule of one service renamed a client's header into the
    /// identity header another service is sent the citizen in, after the stripping.
    #[test]
    fn a_header_rule_may_not_write_an_identity_header_of_the_deployment() {
        use crate::config::{AdapterStep, HeaderRules};
        let mut config = crate::config::fixtures::config_without_secrets();
        config.services[0]
            .adapters
            .push(AdapterStep::IdentityHeaders {
                subject: "X-Citizen-Id".into(),
                name: None,
            });
        config.services[1].adapters.push(AdapterStep::Headers {
            request: HeaderRules {
                set: Vec::new(),
                remove: Vec::new(),
                rename: vec![("X-Foo".into(), "x-citizen-id".into())],
            },
            response: HeaderRules {
                set: Vec::new(),
                remove: Vec::new(),
                rename: Vec::new(),
            },
        });
        let errors = Snapshot::build(&config, &Secrets::from_process()).expect_err("refused");
        let text = errors.to_string();
        assert!(text.contains("a rule may not write it"), "{text}");
    }

    /// `config` with service 0's backend given by a name that resolves where no backend may
    /// be (the admin listener, on every address), as a lapsed or rebound name does.
    fn with_a_backend_name_refused(config: &mut Config) {
        let admin: SocketAddr = "0.0.0.0:9901".parse().expect("address");
        config.gateway.admin_listen = Some(admin);
        let backend = &mut config.services[0].upstream.backends[0];
        backend.host = "localhost".into();
        backend.port = admin.port();
    }

    /// Found when tried: a ministry's backend name that stopped resolving (or was rebound
    /// to a metadata address) refused the whole registry at start-up: no instance could
    /// start or restart, for any service.
    #[test]
    fn a_backend_name_that_does_not_resolve_leaves_its_service_without_it_not_the_registry_refused()
    {
        let mut config = crate::config::fixtures::config_without_secrets();
        with_a_backend_name_refused(&mut config);
        let snapshot = Snapshot::build(&config, &Secrets::from_process()).expect("built");
        assert_eq!(snapshot.services().len(), config.services.len());
        let id = &config.services[0].id;
        let service = snapshot.service(id).expect("still registered");
        assert!(service.upstream.backends().is_empty(), "no backend: 503");
        let why = snapshot.unresolved().get(id).expect("said");
        assert!(
            why[0].contains("where the gateway itself listens"),
            "{why:?}"
        );
        assert_eq!(snapshot.unresolved().len(), 1);
    }

    /// The cookie names a site was seen to set outlive a registry change that leaves the
    /// site as it was, and are forgotten with a site that changes.
    #[test]
    fn a_sites_learned_cookie_names_outlive_a_change_that_leaves_the_site_alone() {
        let mut config = crate::config::fixtures::config_without_secrets();
        let secrets = Secrets::from_process();
        let first = Snapshot::build(&config, &secrets).expect("built");
        let id = config.services[0].id.clone();
        let mut answer = http::HeaderMap::new();
        answer.insert(
            http::header::SET_COOKIE,
            HeaderValue::from_static("DOSSIER=1"),
        );
        let service = first.service(&id).expect("service");
        service.chain.site_cookies.learn(&answer);

        config.services[0].agency = Some("another change".into());
        let kept = Snapshot::build_from(&config, &secrets, None, Some(&first)).expect("built");
        assert!(kept
            .service(&id)
            .expect("service")
            .chain
            .site_cookies
            .sets(b"DOSSIER"));

        config.services[0].legacy.hostname = "www.another-site.ma".into();
        let moved = Snapshot::build_from(&config, &secrets, None, Some(&kept)).expect("built");
        assert!(!moved
            .service(&id)
            .expect("service")
            .chain
            .site_cookies
            .sets(b"DOSSIER"));
    }

    #[test]
    fn a_service_left_without_a_backend_name_is_resolved_again_at_the_next_build() {
        let mut config = crate::config::fixtures::config_without_secrets();
        with_a_backend_name_refused(&mut config);
        let secrets = Secrets::from_process();
        let first = Snapshot::build(&config, &secrets).expect("built");
        // Now the name (here: the listener it hit) is fine.
        config.gateway.admin_listen = Some("0.0.0.0:9902".parse().expect("address"));
        config.gateway.admin.upstream_allow = vec!["127.0.0.0/8".parse().expect("net")];
        // A build for another change keeps it as it was, without a lookup.
        let kept = Snapshot::build_from(&config, &secrets, None, Some(&first)).expect("built");
        assert_eq!(kept.unresolved(), first.unresolved());
        assert_ne!(
            kept.unresolved_now(),
            *kept.unresolved(),
            "the name resolves now"
        );
        let next = Snapshot::build_resolving_again(&config, &secrets, None, &kept).expect("built");
        assert!(next.unresolved().is_empty(), "{:?}", next.unresolved());
        let id = &config.services[0].id;
        let backends = next
            .service(id)
            .expect("service")
            .upstream
            .backends()
            .to_vec();
        assert_eq!(backends.len(), 1, "{backends:?}");
        assert!(backends[0].ip().is_loopback() && backends[0].port() == 9901);
    }

    #[test]
    fn an_address_written_as_such_where_no_backend_may_be_is_still_refused() {
        let mut config = crate::config::fixtures::config_without_secrets();
        with_a_backend_name_refused(&mut config);
        config.services[0].upstream.backends[0].host = "127.0.0.1".into();
        let errors = Snapshot::build(&config, &Secrets::from_process()).expect_err("refused");
        assert!(errors
            .to_string()
            .contains("where the gateway itself listens"));
    }

    /// Found when tried: a name that answered a public address to the admin API's check and
    /// a private one afterwards (DNS rebinding) reached the private network at the next
    /// build; only the metadata and link-local addresses were refused there.
    #[test]
    fn a_backend_name_that_resolves_to_a_private_address_not_allowed_is_left_out() {
        let mut config = crate::config::fixtures::config_without_secrets();
        config.gateway.admin.upstream_allow = Vec::new();
        let backend = &mut config.services[0].upstream.backends[0];
        backend.host = "localhost".into();
        backend.port = 6379;
        let snapshot = Snapshot::build(&config, &Secrets::from_process()).expect("built");
        let why = &snapshot.unresolved()[&config.services[0].id];
        assert!(
            why[0].contains("upstream_allow does not list it"),
            "{why:?}"
        );
        // Written as an address, the operators' configuration decides: it is kept.
        assert!(snapshot.unresolved().len() == 1);
    }

    /// A habous service modelled on the probe's: `id`, `names` (fr, ar, en), keywords, a
    /// description of one word.
    fn habous_service(
        config: &Config,
        id: &str,
        names: [&str; 3],
        keywords: &[&str],
        description: &str,
    ) -> ServiceConfig {
        let hajj = config
            .services
            .iter()
            .find(|s| s.id == "hajj-registration")
            .expect("the habous service");
        let mut s = crate::config::fixtures::service_like(hajj, id, names, keywords, &[]);
        s.descriptions.fr = description.into();
        s.descriptions.ar = description.into();
        s.descriptions.en = description.into();
        s
    }

    /// Found when tried again: the takeover check blamed only the changed service, and ran on
    /// no deletion. Ten bland services of its own moved the words' weights; its "passport
    /// for minors" passed while it did not win yet; deleting the ten made the interior's own
    /// "passeport mineur" go to it.
    #[test]
    fn deleting_services_that_held_the_weights_back_cannot_hand_another_ministrys_words_over() {
        let mut config = crate::config::fixtures::config_without_secrets();
        let words = [
            "zitoun", "rommane", "tuffah", "louz", "kermous", "khokh", "meshmash", "banan", "tmar",
            "dellah",
        ];
        let secrets = Secrets::from_process();
        let base = Snapshot::build(&config, &secrets).expect("built");
        for (n, w) in words.iter().enumerate() {
            let shifter = habous_service(
                &config,
                &format!("shift-{n}"),
                [
                    &format!("Service {w}"),
                    &format!("خدمة {w}"),
                    &format!("Habous {w}"),
                ],
                &[],
                "mineur",
            );
            config.services.push(shifter);
        }
        let shifted = Snapshot::build_from(&config, &secrets, None, Some(&base)).expect("built");
        let kids = habous_service(
            &config,
            "kids-docs",
            [
                "Passeport des enfants mineurs",
                "وثائق سفر القاصرين",
                "Travel documents for minors",
            ],
            &["passeport mineur enfant"],
            "mineur",
        );
        config.services.push(kids);
        let Ok(with_kids) = Snapshot::build_from(&config, &secrets, None, Some(&shifted)) else {
            // Refused already: nothing to hand over.
            return;
        };
        config.services.retain(|s| !s.id.starts_with("shift-"));
        let errors = Snapshot::build_from(&config, &secrets, None, Some(&with_kids))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let routed = with_kids.catalog().ranker().rank("passeport mineur", 1);
        let before = routed
            .candidates
            .first()
            .and_then(|c| with_kids.catalog().id(c.index));
        assert_eq!(before, Some("passport-application"));
        let after = Catalog::new(&config.services);
        let top = after.ranker().rank("passeport mineur", 1);
        assert_eq!(
            top.candidates.first().and_then(|c| after.id(c.index)),
            Some("kids-docs"),
            "without the ten, the words would go to it"
        );
        assert!(
            errors.contains(
                "\"kids-docs\" would take the searches of service \"passport-application\""
            ),
            "{errors}"
        );
    }
}

//! A gateway with single sign-on against the real OpenID provider (npm `oidc-provider`),
//! sessions in memory or in a real Redis, and the estate trusting its identity assertions;
//! plus the login dance a citizen's browser performs.

use crate::browser::Browser;
use crate::gateway::{start_estate, Staged, TestGateway};
use crate::oidc::{MachineClient, OidcProvider, OidcProviderConfig};
use crate::ports::{self, Reservation};
use crate::redis::{RedisCluster, RedisServer};
use egov_estate::{EstateOptions, RunningEstate};
use egov_gateway::config::{Config, RedisSettings, SecretRef, SessionStoreKind, SsoSettings};
use std::time::Duration;

/// Where sessions live in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Memory,
    Redis,
    /// A three-master Redis Cluster.
    Cluster,
    /// Three masters with a replica each: a master can die and the cluster fails over.
    ReplicatedCluster,
}

/// The environment variable name the test configs use for the client secret.
const CLIENT_SECRET_ENV: &str = "EGOV_TEST_OIDC_CLIENT_SECRET";
const PAIRWISE_ENV: &str = "EGOV_TEST_PAIRWISE_SECRET";

/// Everything a single sign-on test runs against.
pub struct SsoWorld {
    pub gateway: TestGateway,
    pub provider: OidcProvider,
    pub estate: RunningEstate,
    pub redis: Option<RedisServer>,
    pub cluster: Option<RedisCluster>,
}

/// A change to the gateway's configuration, applied after SSO is set up.
pub type Tweak = Box<dyn FnOnce(&mut Config)>;

/// How to set the world up.
pub struct SsoOptions {
    pub store: Store,
    /// The provider's access-token lifetime (short for refresh tests).
    pub access_token_ttl_secs: u64,
    pub tweak: Option<Tweak>,
    /// Client-credentials clients the provider knows (the ministries' API callers).
    pub machine_clients: Vec<MachineClient>,
}

impl SsoOptions {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            access_token_ttl_secs: 600,
            tweak: None,
            machine_clients: Vec::new(),
        }
    }
}

impl SsoWorld {
    pub fn start(options: SsoOptions) -> SsoWorld {
        let reservation = ports::reserve();
        let origin = format!("http://{}", reservation.addr);
        let estate = start_estate(Some(EstateOptions {
            portal: Some(origin.clone()),
            ..EstateOptions::calm(42)
        }));
        let mut pc =
            OidcProviderConfig::new(format!("{origin}/auth/callback"), format!("{origin}/"));
        pc.backchannel_logout_uri = Some(format!("{origin}/auth/backchannel-logout"));
        pc.access_token_ttl_secs = options.access_token_ttl_secs;
        pc.machine_clients = options.machine_clients;
        let provider = OidcProvider::start(pc);
        let redis = (options.store == Store::Redis).then(RedisServer::start);
        let cluster = match options.store {
            Store::Cluster => Some(RedisCluster::start()),
            Store::ReplicatedCluster => Some(RedisCluster::start_with_replicas()),
            _ => None,
        };
        let urls = match (&redis, &cluster) {
            (Some(r), _) => Some(vec![r.url()]),
            (_, Some(c)) => Some(c.urls()),
            _ => None,
        };
        let gateway = gateway_for_with(&estate, &provider, urls, reservation, options.tweak);
        SsoWorld {
            gateway,
            provider,
            estate,
            redis,
            cluster,
        }
    }

    /// A second gateway instance sharing this world's provider registration and Redis.
    pub fn second_instance(&self) -> TestGateway {
        self.second_instance_with(None)
    }

    /// Like [`SsoWorld::second_instance`], with its own configuration change (instances of
    /// one deployment share theirs: give it the first instance's).
    pub fn second_instance_with(&self, tweak: Option<Tweak>) -> TestGateway {
        let urls = match (&self.redis, &self.cluster) {
            (Some(r), _) => Some(vec![r.url()]),
            (_, Some(c)) => Some(c.urls()),
            _ => None,
        };
        gateway_for_with(&self.estate, &self.provider, urls, ports::reserve(), tweak)
    }

    /// Logs `login` in through the portal, starting from `path` (a protected page), and
    /// returns the final response (the page itself).
    pub async fn login(&self, browser: &Browser, path: &str, login: &str) -> reqwest::Response {
        let first = browser.get(self.gateway.url(path)).await;
        assert_eq!(
            first.status(),
            302,
            "{path}: an anonymous visit must be sent to log in"
        );
        let to_login = browser.follow(first).await;
        assert_eq!(
            to_login.status(),
            302,
            "/auth/login must redirect to the provider"
        );
        let authorize = crate::browser::redirect_target(&to_login);
        let callback = browser
            .oidc_provider_login(authorize.as_str(), login, "any-password")
            .await;
        let back = browser.get(callback).await;
        assert_eq!(back.status(), 302, "the callback must redirect back");
        let target = crate::browser::redirect_target(&back);
        assert_eq!(
            target.path(),
            path.split('?').next().unwrap_or(path),
            "not back at the original page"
        );
        browser.get(target).await
    }
}

/// The repository's configuration in front of `estate`, with SSO against `provider` and
/// sessions in Redis at `redis_urls` (one: standalone, several: Cluster) or memory, on
/// `reservation`.
pub fn gateway_for(
    estate: &RunningEstate,
    provider: &OidcProvider,
    redis_urls: Option<Vec<String>>,
    reservation: Reservation,
) -> TestGateway {
    gateway_for_with(estate, provider, redis_urls, reservation, None)
}

fn gateway_for_with(
    estate: &RunningEstate,
    provider: &OidcProvider,
    redis_urls: Option<Vec<String>>,
    reservation: Reservation,
    tweak: Option<Tweak>,
) -> TestGateway {
    let staged = Staged::new(estate);
    let mut config = staged.load(estate, reservation.addr);
    // Instances sharing a Redis are one deployment: `check` requires them to share its
    // pairwise secret (their pairwise subjects and routing cache keys agree).
    let shared = redis_urls.is_some();
    configure_sso(&mut config, provider, redis_urls);
    if shared {
        config.gateway.identity.pairwise_secret = Some(SecretRef::Env(PAIRWISE_ENV.into()));
    }
    if let Some(t) = tweak {
        t(&mut config);
    }
    let secrets = egov_gateway::demo::estate_secrets(&config)
        .with_env(CLIENT_SECRET_ENV, provider.client_secret())
        .with_env(PAIRWISE_ENV, "one-pairwise-secret-for-the-deployment");
    TestGateway::start(config, secrets, reservation).serving(staged)
}

/// Points `config`'s SSO at `provider` and its sessions at `redis_urls` (or memory).
pub fn configure_sso(
    config: &mut Config,
    provider: &OidcProvider,
    redis_urls: Option<Vec<String>>,
) {
    config.gateway.sso = Some(SsoSettings {
        issuer: provider.issuer().to_string(),
        client_id: provider.client_id().to_string(),
        client_secret: SecretRef::Env(CLIENT_SECRET_ENV.into()),
        scopes: vec!["openid".into(), "profile".into()],
        professional_claim: "profile".into(),
        professional_values: vec!["professional".into()],
        clock_skew: Duration::from_secs(30),
        refresh_before: Duration::from_secs(1),
        provider_timeout: Duration::from_secs(3),
    });
    match redis_urls {
        Some(urls) => {
            config.gateway.redis = Some(RedisSettings::new(urls));
            config.gateway.sessions.store = SessionStoreKind::Redis;
        }
        None => {
            config.gateway.redis = None;
            config.gateway.sessions.store = SessionStoreKind::Memory;
        }
    }
    config.gateway.sessions.cache_ttl = Duration::from_secs(5);
}

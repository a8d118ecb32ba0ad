//! Typed configuration: what the gateway runs from, separate from the files it comes from.
//!
//! Loading is two steps. [`raw`] mirrors the TOML files; [`load`] validates them into the
//! typed structs below, collecting every problem with its file and key (see [`ConfigError`]).
//! Raw strings never reach the request path: durations are `Duration`s, addresses are
//! `SocketAddr`s, vocabularies are enums. The same typed config will later be produced by
//! the ministries' admin API, so nothing here knows about files except `file` fields kept
//! for error messages.

mod error;
mod fields;
#[cfg(test)]
pub mod fixtures;
mod gateway;
mod load;
mod ministries;
pub mod raw;
mod secret;
mod service;
mod structure;
pub mod values;
mod vocab;

pub use error::{ConfigError, ConfigErrors};
pub use gateway::{
    check_llm_endpoint, same_port, InvalidSetting, LlmEndpoint, BUILTIN_TIMEOUTS,
    DEFAULT_KEY_PREFIX, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT_PER_SERVICE,
};
pub use load::{
    cross_checked, hidden, load, load_service_file, load_settings, load_with_warnings,
    read_config_file, service_file, service_files, service_from_document, toml_problem,
    MAX_FILE_BYTES, MISPLACED,
};
pub use secret::{Secret, SecretError, SecretRef, Secrets, MAX_SECRET_BYTES};
pub use service::{BACKENDS, LEGACY_MAY_NOT_SEND, TARGETED_CACHING};
pub use vocab::{
    Access, Category, LegacyHostMode, Quirk, ResponseFormatMode, SiteErrorPages,
    UnknownResponseFormat,
};

use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the gateway needs to start: process settings, ministries and services.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub gateway: GatewaySettings,
    pub ministries: BTreeMap<String, Ministry>,
    pub services: Vec<ServiceConfig>,
}

/// `gateway.toml`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySettings {
    pub file: PathBuf,
    pub server: ServerSettings,
    pub portal: PortalSettings,
    /// The ministries' admin API and the human status page; `None` disables it.
    pub admin_listen: Option<SocketAddr>,
    /// Who may use the ministries' API, and how changes are checked and audited.
    pub admin: AdminSettings,
    /// Where the live set of services is kept.
    pub registry: RegistrySettings,
    /// The response cache's storage (what each service caches is its own `[cache]`).
    pub cache: CacheSettings,
    /// What one client, one connection and everyone together may ask.
    pub limits: LimitsSettings,
    /// Prometheus `/metrics`; `None` disables it.
    pub metrics_listen: Option<SocketAddr>,
    pub defaults: Defaults,
    /// `None`: no login; `citizen` and `professional` services answer 503.
    pub sso: Option<SsoSettings>,
    /// The shared store of every instance; `None`: in-memory defaults (one instance).
    pub redis: Option<RedisSettings>,
    pub sessions: SessionSettings,
    pub identity: IdentitySettings,
    pub assist: AssistSettings,
    pub telemetry: TelemetrySettings,
    pub services_dir: PathBuf,
    pub ministries_file: PathBuf,
    /// What is accepted but should change (deprecated keys...): `check` prints these, `serve`
    /// logs them.
    pub warnings: Vec<ConfigError>,
}

/// Process-wide proxy settings (pingora's `ServerConf`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    /// Worker threads of the proxy service. Pingora defaults to 1; we never rely on that.
    pub threads: usize,
    /// Work stealing between the threads of the shared runtime (without `thread_per_core`).
    pub work_stealing: bool,
    /// Each worker thread runs its own runtime, with its own listening sockets
    /// (`SO_REUSEPORT`: the kernel spreads new connections over them), its own connections
    /// and its own upstream connection pool, like nginx's worker processes. One shared
    /// runtime made its threads wake each other and share one I/O driver and one pool: CPU
    /// per request grew 20 % from one thread to two; with this, it falls 9 % (BENCHMARKS.md,
    /// issue 16).
    pub thread_per_core: bool,
    /// Idle upstream connections kept for reuse across all services (per thread with
    /// `thread_per_core`).
    pub upstream_keepalive_pool_size: usize,
    /// How long a graceful shutdown keeps serving before closing listeners' connections.
    pub grace_period: Duration,
    pub graceful_shutdown_timeout: Duration,
    /// The Unix socket through which a running gateway hands its listening sockets to the
    /// one started with `serve --upgrade` (then told to quit with SIGQUIT).
    pub upgrade_sock: PathBuf,
}

/// `[limits]`: connections, request shapes and request rates.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsSettings {
    /// A complete request header must arrive within this, counted from the connection's
    /// start (or, on a kept-alive connection, from the next request's first byte).
    pub header_timeout: Duration,
    /// How long a kept-alive HTTP/1 connection may wait for its next request (nginx's
    /// `keepalive_timeout`); `None`: no keep-alive, every answer closes its connection.
    pub keepalive_timeout: Option<Duration>,
    /// How long an address whose HTTP/2 connection was closed for a flood (frames that carry
    /// nothing, bursts of abandoned requests) is refused at accept (`limits::penalty`);
    /// `None`: never.
    pub flood_penalty: Option<Duration>,
    /// How long the citizen's side of an upgraded (WebSocket) connection may stay silent
    /// before the connection ends (a pong to the site's ping counts). Nothing else bounds
    /// such a connection: it has no total time, and a site may rightly stay silent.
    pub upgraded_idle_timeout: Duration,
    /// How long one write toward a client may wait for it to take the bytes (nginx's
    /// `send_timeout`): a client that stops reading (or never opens its HTTP/2 window) is
    /// cut off then, and the legacy connection its answer held is freed.
    pub send_timeout: Duration,
    /// Connections open at once on the portal listeners; beyond it a new connection gets a
    /// short 503 and is closed. `None`: a share of the open-file limit, worked out at
    /// start (`limits::connections`), so the process never runs out of descriptors for its
    /// own upstream connections and files.
    pub max_connections: Option<usize>,
    /// Connections open at once from one client address (IPv6: one /64); trusted proxies
    /// are exempt. Beyond it: a short 429 and close.
    pub max_connections_per_ip: usize,
    /// Requests one service may have waiting on its legacy site at once (a bulkhead, as
    /// Envoy's `max_requests`); past it: the 503 page with `Retry-After`, or a stale copy.
    /// `None`: a quarter of the connection cap, at most [`DEFAULT_MAX_IN_FLIGHT_PER_SERVICE`]
    /// (the registry resolves it, `resilience::bulkhead`). Found when tried: a slow site
    /// (8 s an answer) under 1,000 clients held every connection slot, and every other
    /// service and the home page answered 503.
    pub max_in_flight_per_service: Option<usize>,
    /// Request target (path and query) length; longer → 414.
    pub max_uri_bytes: usize,
    /// Header fields per request; more → 431.
    pub max_headers: usize,
    /// A request body to a service that sets no `[limits] max_body_bytes` of its own; larger
    /// gets 413. Without one, 100 MB went to legacy forms that read 1 MB (found when tried).
    pub max_body_bytes: u64,
    /// A request body must keep a pace once it starts: all of it within `body_grace`, plus
    /// a second for every `body_min_rate` bytes (Apache's `mod_reqtimeout`, `body=20,
    /// MinRate=500`); slower gets 408. The body streams to the legacy site as it comes, so
    /// without it a trickled upload held a legacy connection for as long as the body limit
    /// allowed: years (found when tried).
    pub body_grace: Duration,
    pub body_min_rate: u64,
    pub rate: RateLimits,
}

/// `n` requests per `per`, with a burst of `n` (a token bucket of `n` tokens refilled over
/// `per`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

/// `[limits.rate]`: request rates across the portal (each service may add its own).
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    /// Every request of one client address (IPv6: one /64).
    pub per_ip: Option<Rate>,
    /// Every request of one signed-in session.
    pub per_session: Option<Rate>,
    /// Logins started (`/auth/login`) by one client address: each stores a pending login.
    pub login_per_ip: Rate,
    /// Requests to the intent router (`/search`, `/api/route`) and "not what I meant"
    /// answers (`/feedback`) by one client address: each ranks a question or stores an
    /// entry, and a page on any site can make a browser send them.
    pub route_per_ip: Rate,
    /// Questions of one client address the router may ask the LLM about (a hesitant one not
    /// answered from its cache): each is paid for. Past it a question is answered as
    /// without an LLM (the ranker's did-you-mean), never refused: the address may be a
    /// carrier's, shared by thousands of citizens.
    pub llm_per_ip: Rate,
    /// Every request, all clients together.
    pub global: Option<Rate>,
    /// Count in `[redis]`, shared by every instance, as well as locally.
    pub shared: bool,
    /// Logins in progress kept at once; beyond it a new login is refused with 503.
    pub max_pending_logins: usize,
    /// Logins in progress kept at once for one client address.
    pub max_pending_logins_per_ip: usize,
}

/// The citizen-facing listener(s) and the origin citizens see.
#[derive(Debug, Clone, PartialEq)]
pub struct PortalSettings {
    /// The portal's public origin, used for redirects from legacy hosts.
    pub public_url: PublicUrl,
    /// Where each service lives when every service has its own origin; `None`: services are
    /// paths of the portal origin (`/s/<id>/`).
    pub service_origins: Option<ServiceOrigins>,
    /// Plain-text listeners (HTTP/1.1, and HTTP/2 prior knowledge when `h2c`).
    pub listen: Vec<SocketAddr>,
    pub h2c: bool,
    pub tls: Vec<TlsListener>,
    /// Peers whose `X-Forwarded-*`, `X-Request-Id` and `traceparent` headers are believed.
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// Requests whose header block is larger are refused with 431.
    pub max_header_bytes: usize,
    /// Other names the portal answers to, lowercase. A request naming a host that is none
    /// of these, the portal's, a service origin or a legacy host gets 421 (loopback names
    /// are always accepted: a link built from them points at the citizen's own machine).
    pub hosts: Vec<String>,
    /// The file "not what I meant" answers are appended to when no `[redis]` is configured
    /// (`None`: not kept).
    pub feedback_log: Option<PathBuf>,
}

impl GatewaySettings {
    /// Every address the gateway listens on: the portal (plain and TLS), the admin API and
    /// the metrics. A service whose backend is one of them would publish the gateway's own
    /// admin or metrics endpoints on the portal, or loop requests through itself.
    pub fn own_listeners(&self) -> Vec<SocketAddr> {
        let portal = self.portal.listen.iter().copied();
        let tls = self.portal.tls.iter().map(|t| t.listen);
        portal
            .chain(tls)
            .chain(self.admin_listen)
            .chain(self.metrics_listen)
            .collect()
    }
}

/// Whether `host` (no port; an IPv6 literal bracketed or not) names this machine: `localhost`
/// or a loopback address. Not `*.localhost`: whether those reach loopback depends on the
/// resolver. The one such test (the portal's hosts, an LLM endpoint, a service's origin).
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl PortalSettings {
    /// Whether the portal answers to `host` (lowercase, no port): its own host, one of its
    /// aliases, a loopback name (a link built from one points at the citizen's own machine),
    /// or none at all (an HTTP/1.0 client). No service may claim one as its legacy host.
    pub fn answers_to(&self, host: &str) -> bool {
        host.is_empty()
            || host == self.public_url.host
            || self.hosts.iter().any(|h| h == host)
            || crate::config::is_loopback_host(host)
    }
}

/// An `http(s)://host[:port]` origin without path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    pub https: bool,
    /// Lowercase host, without port.
    pub host: String,
    /// `host` or `host:port` as it should appear in URLs.
    pub authority: String,
}

impl PublicUrl {
    /// `https://portail.gov.ma` (no trailing slash).
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.authority
        )
    }
}

/// The `portal.service_origin` template, `<scheme>://{id}.<domain>[:port]`: service `id`
/// lives at its own origin, so the browser's same-origin policy stands between any two
/// legacy sites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOrigins {
    pub https: bool,
    /// The domain under which every service has its label (`services.gov.ma`), lowercase.
    pub domain: String,
    /// `:port` when not the scheme's default.
    pub port: Option<u16>,
}

impl ServiceOrigins {
    /// `https://<id>.<domain>[:port]`, the origin of service `id`.
    pub fn origin(&self, id: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        match self.port {
            Some(p) => format!("{scheme}://{id}.{}:{p}", self.domain),
            None => format!("{scheme}://{id}.{}", self.domain),
        }
    }

    /// The service id a host (lowercase, without port) names, if it is `<id>.<domain>` with
    /// `<id>` one label.
    pub fn service_of<'h>(&self, host: &'h str) -> Option<&'h str> {
        let label = host.strip_suffix(self.domain.as_str())?.strip_suffix('.')?;
        (!label.is_empty() && !label.contains('.')).then_some(label)
    }

    /// Whether `host` is the services' domain or under it (a service's origin, or a name
    /// under one): a page served there may set cookies for the origins (`Domain=`).
    pub fn covers(&self, host: &str) -> bool {
        host == self.domain
            || host
                .strip_suffix(self.domain.as_str())
                .is_some_and(|rest| rest.ends_with('.'))
    }
}

/// A TLS listener with its certificate chain and key (PEM files).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsListener {
    pub listen: SocketAddr,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Offer HTTP/2 by ALPN.
    pub h2: bool,
}

/// The OpenID provider and this portal's registration with it.
#[derive(Debug, Clone, PartialEq)]
pub struct SsoSettings {
    /// The provider's issuer URL; discovery is `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretRef,
    /// Always includes `openid`.
    pub scopes: Vec<String>,
    /// A user is "professional" when this ID-token claim has one of `professional_values`
    /// (a string, or an array containing one).
    pub professional_claim: String,
    pub professional_values: Vec<String>,
    /// Tolerance on `iat`/`exp` between our clock and the provider's.
    pub clock_skew: Duration,
    /// Refresh the access token when it expires within this.
    pub refresh_before: Duration,
    /// Deadline for each call to the provider.
    pub provider_timeout: Duration,
}

/// `[admin]`: the ministries' API.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminSettings {
    pub listen: Option<SocketAddr>,
    /// API keys, by id; stored as hashes only (`sha256:<hex>`, or argon2 for older keys).
    pub keys: Vec<AdminKey>,
    /// Private or loopback networks ministries may point a service's backends at (link-local
    /// and cloud metadata addresses are refused whatever this says).
    pub upstream_allow: Vec<IpNet>,
    pub audit_log: AuditTarget,
    /// The `aud` of OAuth2 client-credentials access tokens (JWTs from `[sso]`'s issuer);
    /// `None`: only API keys.
    pub token_audience: Option<String>,
    /// The token claim naming the ministry (`platform` for the platform role).
    pub ministry_claim: String,
    /// Calls that change (or dry-run) services one ministry may make through one instance;
    /// the platform is not counted. Each builds the whole registry.
    pub changes_per_ministry: Rate,
    /// The most services one ministry may have; the platform may add more.
    pub max_services_per_ministry: u32,
}

/// One admin API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminKey {
    /// The public part of the key (`egov_<id>_<secret>`), to find its hash.
    pub id: String,
    pub holder: KeyHolder,
    /// The whole key's hash: `sha256:<hex>`, or an argon2 PHC string (keys made by earlier
    /// versions).
    pub hash: String,
}

/// How `[admin] keys` writes a key's SHA-256: `sha256:` and 64 hexadecimal digits. A key's
/// secret is 256 random bits, so its digest is as safe to keep as a slow hash (see
/// `admin::auth`).
pub const SHA256_KEY_HASH: &str = "sha256:";

/// The SHA-256 a `sha256:<hex>` key hash names, if `hash` is one.
pub fn sha256_of_key_hash(hash: &str) -> Option<[u8; 32]> {
    let hex = hash.strip_prefix(SHA256_KEY_HASH)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(out)
}

/// Whether `hash` is a key's hash as `[admin] keys` may hold it: `sha256:<64 hex digits>`,
/// or an argon2 PHC string (keys made by earlier versions).
pub fn is_key_hash(hash: &str) -> bool {
    sha256_of_key_hash(hash).is_some() || argon2::PasswordHash::new(hash).is_ok()
}

/// Who an admin credential speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyHolder {
    /// Reads and writes only that ministry's services.
    Ministry(String),
    /// May do everything.
    Platform,
}

/// Where admin changes (and refusals) are recorded, one JSON line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    Off,
    Stdout,
    File(PathBuf),
}

/// `[registry]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistrySettings {
    pub store: RegistryStoreKind,
    /// The files store's history of changes (JSON lines).
    pub history: PathBuf,
    /// The bytes of change records one ministry's history may hold in the Redis store
    /// (its oldest are forgotten past it): that Redis holds sessions too, and must not evict.
    pub history_per_ministry: u64,
    /// How often `services_dir` is checked for edits (files store).
    pub watch_interval: Duration,
}

/// The default of `registry.history_per_ministry`: the bytes one ministry's changes may hold
/// in a store's history before its oldest are forgotten. About 1,600 ordinary changes (5 KB
/// each); the 56 ministries together at most 450 MiB.
pub const DEFAULT_HISTORY_PER_MINISTRY: u64 = 8 << 20;

/// Where services are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryStoreKind {
    /// `services_dir` is the source of truth (written atomically, watched for edits).
    Files,
    /// `[redis]`: versioned records shared by every instance.
    Redis,
}

/// `[redis]`: the Redis deployment every instance shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// One URL for a standalone server, or a Cluster's seed nodes.
    pub urls: Vec<String>,
    pub cluster: bool,
    /// Prefix of every key and channel, so environments can share one Redis.
    pub key_prefix: String,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    /// Where the `AUTH` password is (`redis.password`); `None`: the URLs' own, if any.
    pub password: Option<SecretRef>,
}

impl RedisSettings {
    /// `urls` (several: a Cluster) with the default prefix and timeouts, no password.
    pub fn new(urls: Vec<String>) -> Self {
        Self {
            cluster: urls.len() > 1,
            urls,
            key_prefix: DEFAULT_KEY_PREFIX.to_string(),
            connect_timeout: Duration::from_millis(500),
            response_timeout: Duration::from_millis(800),
            password: None,
        }
    }
}

/// Where sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStoreKind {
    /// In this process only (one gateway instance, or the demo).
    Memory,
    /// In `[redis]`, shared by every instance.
    Redis,
}

/// Session lifetimes and storage.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    pub store: SessionStoreKind,
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after login, used or not.
    pub absolute_timeout: Duration,
    /// How long a session read from Redis is trusted in this process.
    pub cache_ttl: Duration,
    /// How long a one-time code handing a signed-in citizen to a service's origin may wait
    /// to be exchanged (at most 60 s).
    pub origin_code_ttl: Duration,
}

/// The signed identity assertion sent to ministries.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentitySettings {
    /// Request header carrying the JWT.
    pub header: String,
    /// Lifetime of each assertion (at most 60 s).
    pub ttl: Duration,
    /// Key of the pairwise subject derivation; generated per process when absent (then
    /// subjects change at restart: fine for the demo, not for production).
    pub pairwise_secret: Option<SecretRef>,
    /// PKCS#8 PEM EC P-256 keys; the first signs, all are published. Empty: generated and
    /// rotated every `rotate_every`.
    pub signing_keys: Vec<PathBuf>,
    pub rotate_every: Duration,
}

/// Intent routing: the local ranker's shortlist and the optional LLM advisor.
#[derive(Debug, Clone, PartialEq)]
pub struct AssistSettings {
    /// How many ranked services the LLM may choose from.
    pub shortlist: usize,
    /// How long a decision is remembered for the same (normalised) question.
    pub cache_ttl: Duration,
    pub llm: Option<LlmConfig>,
}

/// An OpenAI-compatible chat-completions endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// e.g. `https://api.ai71.ai/v1` (the client appends `/chat/completions`).
    pub base_url: String,
    pub model: String,
    pub api_key: Option<SecretRef>,
    /// Deadline of one routing question, retries included.
    pub deadline: Duration,
    pub retries: u32,
    /// `json_schema` (OpenAI/AI71 strict choice among the shortlist), `json_object_schema`
    /// (the same schema in llama.cpp's `json_object` form), `json_object`, or `off`; parsed
    /// once here, into the mode the client uses, so no later step can guess.
    pub response_format: ResponseFormatMode,
    pub max_tokens: u32,
    pub breaker_failures: u32,
    pub breaker_open_for: Duration,
    /// Calls that may wait on the endpoint at once; a question past them gets the
    /// did-you-mean at once (a flood of ambiguous questions is no flood of paid calls).
    pub max_in_flight: u32,
}

/// Where the access log goes and whether traces are exported.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetrySettings {
    pub access_log: AccessLogTarget,
    /// OTLP/HTTP endpoint (e.g. `http://127.0.0.1:4318`); `None`: no trace export.
    pub otlp_endpoint: Option<String>,
    /// Fraction of requests traced (parent decisions from trusted callers are followed).
    pub sampling_ratio: f64,
    pub service_name: String,
    /// Record Prometheus metrics per request (off only to measure what they cost).
    pub metrics: bool,
}

/// The access log's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Off,
    Stdout,
    File(PathBuf),
}

/// Defaults a service inherits unless it says otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub timeouts: Timeouts,
    pub on_legacy_host: LegacyHostMode,
}

/// Upstream timeouts of one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP (and TLS) connection establishment.
    pub connect: Duration,
    /// Longest wait for any read from the upstream, the response header included.
    pub read: Duration,
    /// The site's time to answer: from the first attempt to the answer's header, retries
    /// included, without the time the citizen takes to send the request's body. The
    /// answer's body is not held to it either (each wait is held to `read`). The SOAP
    /// facade's own calls, whose answers are read whole, hold the whole exchange to it.
    pub total: Duration,
}

/// A ministry and the agencies that run its legacy sites.
#[derive(Debug, Clone, PartialEq)]
pub struct Ministry {
    pub id: String,
    pub names: Localized,
    pub agencies: BTreeMap<String, Localized>,
}

/// A text in the portal's languages: Arabic, French and English always; Amazigh (`zgh`, in
/// Tifinagh) when the ministry has written it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Localized {
    pub ar: String,
    pub fr: String,
    pub en: String,
    pub zgh: Option<String>,
}

/// The language an Amazigh text falls back to when a file has none: Arabic, the other
/// official language (the page marks the fragment `lang="ar" dir="rtl"`).
pub const ZGH_FALLBACK: &str = "ar";

impl Localized {
    /// The text in `lang` (`ar`, `fr`, `en`, `zgh`), French for anything else.
    pub fn get(&self, lang: &str) -> &str {
        self.get_tagged(lang).0
    }

    /// The text in `lang` and the language it is really in: Amazigh without a translation
    /// gives [`ZGH_FALLBACK`]'s text, tagged so the page can mark the fragment.
    pub fn get_tagged(&self, lang: &str) -> (&str, &'static str) {
        match lang {
            "ar" => (&self.ar, "ar"),
            "en" => (&self.en, "en"),
            "zgh" => match &self.zgh {
                Some(t) => (t, "zgh"),
                None => (&self.ar, ZGH_FALLBACK),
            },
            _ => (&self.fr, "fr"),
        }
    }
}

/// One ministry service, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// The file it came from, for error messages.
    pub file: PathBuf,
    pub id: String,
    pub ministry: String,
    pub agency: Option<String>,
    pub category: Category,
    pub access: Access,
    pub names: Localized,
    pub descriptions: Localized,
    /// What to have at hand before starting, when the ministry has said.
    pub prepare: Option<Localized>,
    pub keywords: Vec<String>,
    /// Things citizens type when they look for this service (for intent routing).
    pub examples: Vec<String>,
    pub legacy: LegacySite,
    pub upstream: UpstreamConfig,
    pub adapters: Vec<AdapterStep>,
    /// What of this service's answers the shared response cache may keep (off unless set).
    pub cache: ServiceCache,
    /// Rates and body size this service takes (its backend's capacity), on top of the
    /// portal's `[limits]`.
    pub limits: ServiceLimits,
    /// Which of the citizen's claims the identity assertion to this service carries.
    pub identity_claims: IdentityClaims,
    /// The legacy site's own "log out" pages (`[identity] logout_paths`, paths under the
    /// service's root): the portal's logout answers them, so that the link a citizen sees
    /// on the site ends her session everywhere, not only the site's.
    pub logout_paths: Vec<String>,
}

/// The optional claims of a service's identity assertion (`[identity] claims`). The
/// pairwise `sub` and `sid` are always there; anything else lets ministries join records
/// across services, so each must be asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct IdentityClaims {
    /// The citizen's full name.
    pub name: bool,
    /// How strongly they authenticated.
    pub acr: bool,
    /// Whether they hold the professional profile.
    pub professional: bool,
}

impl IdentityClaims {
    /// The names `[identity] claims` accepts.
    pub const NAMES: [&'static str; 3] = ["name", "acr", "professional"];
}

/// A service's `[limits]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceLimits {
    /// Requests to this service from one client address.
    pub rate_per_ip: Option<Rate>,
    /// Requests to this service from everyone together (what its backend can take).
    pub rate_total: Option<Rate>,
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: Option<usize>,
    /// The methods the service takes, among the portal's (`GET, HEAD, POST, PUT, PATCH,
    /// DELETE, OPTIONS`); `None`: all of those. Others get 405 with this list as `Allow`.
    pub methods: Option<Vec<http::Method>>,
    /// `methods` as an `Allow` header value.
    pub allow: Option<http::HeaderValue>,
}

/// A service's `[cache]`: which of its answers may be stored and for how long. Off by default:
/// a ministry turns it on for the pages that are the same for every citizen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceCache {
    pub enabled: bool,
    /// Freshness for answers that carry none (`Cache-Control`/`Expires`); `None`: not stored.
    pub default_ttl: Option<Duration>,
    /// Cap on any answer's freshness (legacy `max-age=31536000` on dynamic pages).
    pub max_ttl: Option<Duration>,
    /// Larger answers are passed through, not stored.
    pub max_object_size: Option<usize>,
    /// Globs over the service's paths that may be stored (`/**` when empty).
    pub paths: Vec<String>,
    /// Globs never stored, even inside `paths`.
    pub bypass_paths: Vec<String>,
    /// For `citizen`/`professional` services: the paths that are the same for everyone (only
    /// those are stored).
    pub public_paths: Vec<String>,
    /// Query parameters left out of the key (tracking parameters...).
    pub ignore_query: Vec<String>,
    pub stale_while_revalidate: Duration,
    pub stale_if_error: Duration,
    /// Paths whose `Set-Cookie` is dropped so the page can be stored (a JSESSIONID site sets
    /// one on every page, static ones included).
    pub strip_set_cookie_paths: Vec<String>,
}

/// `[cache]` in `gateway.toml`: the response cache's storage, shared by every service.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    /// Bytes the in-memory tier (L1) may hold; the least useful objects are evicted.
    pub memory_size: usize,
    /// Largest object stored (a service may lower it).
    pub max_object_size: usize,
    /// How long concurrent misses for one object wait for the one fetching it.
    pub lock_timeout: Duration,
    /// Whether objects also go to `[redis]` (L2, shared by every instance).
    pub shared: bool,
    /// Bytes this instance's writes may hold in L2 until they expire there (a service at
    /// most a quarter, a ministry half): that Redis holds sessions and the registry too,
    /// and must not evict (see `cache::l2_room`).
    pub shared_size: usize,
}

/// Where the service used to live, so old links and bookmarks still find it.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacySite {
    pub hostname: String,
    /// Other names the same site answers to and its pages link by (`www.emploi.gov.ma`
    /// beside `emploi.gov.ma`): their links, redirects and requests are the service's as
    /// the hostname's are. Found when tried: with one name, the site's links to its other
    /// name went to the citizen untouched, and a second service for it had an origin (and
    /// cookies) of its own, so a citizen logged in on one was a stranger on the other.
    pub aliases: Vec<String>,
    /// The part of the legacy host this service owns (`/` unless the host is shared).
    pub path: String,
    pub quirks: Vec<Quirk>,
    pub on_host: LegacyHostMode,
    /// Whose page a server error of the site's (a 5xx page) shows.
    pub error_pages: SiteErrorPages,
}

/// The most other names one legacy site may have.
pub const MAX_LEGACY_ALIASES: usize = 8;

impl LegacySite {
    /// The site's names: its hostname, then its aliases.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.hostname.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// The configuration key of its `i`th name in [`Self::hosts`].
    pub fn host_field(i: usize) -> String {
        match i {
            0 => "legacy.hostname".to_string(),
            i => format!("legacy.aliases[{}]", i - 1),
        }
    }
}

/// How to reach the legacy backend(s).
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    pub tls: bool,
    /// `host:port` of each backend; requests are balanced round-robin across them.
    pub backends: Vec<Backend>,
    /// Path prefix on the backend that `/s/<id>/` maps to (`/` for none).
    pub base_path: String,
    /// `Host` header (and TLS SNI) sent upstream; the legacy hostname unless set.
    pub host: String,
    pub timeouts: Timeouts,
    /// Active checks of every backend; `None`: none (passive ejection still applies).
    pub health_check: Option<HealthCheckConfig>,
    pub outlier: OutlierConfig,
    pub breaker: BreakerConfig,
    /// Each citizen's requests go to one backend ([`Affinity::Citizen`]), or are spread.
    pub affinity: Affinity,
    /// `upstream.failover_on`: the site's own answers (502, 503 or 504) after which a request
    /// that can be sent again goes to the next backend, as nginx's `proxy_next_upstream
    /// http_503`. Empty (the default): the site's answer is the citizen's. A backend in
    /// maintenance behind its own load balancer answers 503 while the others serve; without
    /// this, one citizen in two got its maintenance page until it was ejected.
    pub failover_on: Vec<u16>,
}

/// Which backend a citizen's requests go to (`upstream.affinity`).
///
/// A legacy site that keeps its sessions in each backend's memory (a `JSESSIONID` of one
/// Tomcat) loses the citizen whose next request goes to the other backend: found when
/// tried, a login on a site with two backends was sent back to the login page on every
/// other request. nginx has `ip_hash` and `hash ... consistent`, Kong `hash_on`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Affinity {
    /// Round-robin by weight, request by request.
    #[default]
    None,
    /// One backend per citizen while it is in service: chosen by her session when she is
    /// signed in to the service, else by her address (as nginx's `ip_hash`: citizens
    /// behind one NAT share a backend), by rendezvous hashing so that every instance of
    /// the gateway chooses alike and a backend's leaving moves only its own citizens.
    Citizen,
}

/// One backend address as configured (resolved when the registry is built).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub host: String,
    pub port: u16,
    /// Its share of the traffic relative to the others (1-100, default 1).
    pub weight: u32,
}

/// How a backend's health is checked (`[upstream.health_check]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    /// `GET <path>` answered 2xx or 3xx, or `None`: a TCP (and TLS) connection.
    pub http_path: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive passes that bring a backend back.
    pub healthy_threshold: u32,
    /// Consecutive failures that take it out.
    pub unhealthy_threshold: u32,
}

/// How a service ejects a backend that keeps failing (`[upstream.outlier]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Consecutive gateway failures (connect, timeout, reset, 502/503/504) that eject a
    /// backend; 0 disables ejection.
    pub consecutive_failures: u32,
    /// The first ejection's length; each further one doubles it.
    pub base_ejection: Duration,
    /// The longest an ejection lasts.
    pub max_ejection: Duration,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(300),
        }
    }
}

/// The service's circuit breaker (`[upstream.breaker]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive gateway failures, all backends together, that open it; 0: no breaker.
    pub failures: u32,
    /// How long it stays open before one trial request goes through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 10,
            open_for: Duration::from_secs(30),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// One step of a service's adapter chain, in the order written.
#[derive(Debug, Clone, PartialEq)]
pub enum AdapterStep {
    /// Convert legacy pages to UTF-8; `fallback` is the charset assumed when the page
    /// declares none.
    Charset {
        fallback: String,
    },
    /// Rewrite absolute links to legacy hosts into portal paths.
    HtmlLinks {
        banner: bool,
    },
    BasicAuth {
        username: String,
        password: SecretRef,
    },
    ApiKey {
        header: String,
        key: SecretRef,
    },
    /// Identity as plain headers (e.g. `X-Remote-User`) instead of the signed JWT.
    IdentityHeaders {
        subject: String,
        name: Option<String>,
    },
    /// A JSON facade over the legacy SOAP endpoint: `POST /s/<id>/api/soap/<operation>`.
    Soap {
        /// Path of the SOAP endpoint under the backend base, e.g. `/ws`.
        endpoint: String,
        operations: Vec<SoapOperationConfig>,
        /// Whether citizens' own requests may still reach the endpoint, past the facade (for
        /// legacy pages that call it from the browser). Off: only the declared operations
        /// are callable, and the raw endpoint (which would take any operation, any
        /// `SOAPAction` and a DTD, with the service's credentials added) answers 403.
        expose_endpoint: bool,
    },
    Headers {
        request: HeaderRules,
        response: HeaderRules,
    },
}

/// One operation of a legacy SOAP service.
#[derive(Debug, Clone, PartialEq)]
pub struct SoapOperationConfig {
    pub name: String,
    pub namespace: String,
    pub action: String,
    pub fields: Vec<String>,
    /// `element_form = "qualified"` (the default) or `"unqualified"`, as the service's WSDL
    /// says (`elementFormDefault`): whether the fields are in the namespace too.
    pub qualified_fields: bool,
}

/// Header edits, applied in the order remove → rename → set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderRules {
    pub set: Vec<(String, String)>,
    pub remove: Vec<String>,
    pub rename: Vec<(String, String)>,
}

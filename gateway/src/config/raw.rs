//! The configuration files exactly as written, before any validation.
//!
//! These structs mirror the TOML and keep values as the operator typed them (strings for
//! durations, URLs and addresses) so validation can report *which* value is wrong and why,
//! with the file and key, instead of a generic deserialisation error. Nothing outside
//! `config/` sees these types; the rest of the gateway only sees the typed config.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `gateway.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    #[serde(default)]
    pub server: RawServer,
    pub portal: RawPortal,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub metrics: RawSideListener,
    #[serde(default)]
    pub defaults: RawDefaults,
    /// Single sign-on; absent means every `citizen`/`professional` service is refused.
    pub sso: Option<RawSso>,
    /// The shared store for every instance; absent means in-memory defaults.
    pub redis: Option<RawRedis>,
    #[serde(default)]
    pub sessions: RawSessions,
    #[serde(default)]
    pub identity: RawIdentity,
    #[serde(default)]
    pub assist: RawAssist,
    #[serde(default)]
    pub telemetry: RawTelemetry,
    #[serde(default)]
    pub registry: RawRegistry,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub limits: RawLimits,
    /// Directory of `<ministry>/<service>.toml` files, relative to `gateway.toml`.
    pub services_dir: Option<String>,
    /// The ministries file, relative to `gateway.toml`.
    pub ministries_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub threads: Option<i64>,
    pub work_stealing: Option<bool>,
    pub thread_per_core: Option<bool>,
    pub upstream_keepalive_pool_size: Option<i64>,
    pub grace_period: Option<String>,
    pub graceful_shutdown_timeout: Option<String>,
    pub upgrade_sock: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPortal {
    pub public_url: String,
    /// `https://{id}.services.gov.ma`: each service on its own origin.
    pub service_origin: Option<String>,
    #[serde(default)]
    pub listen: Vec<String>,
    pub h2c: Option<bool>,
    #[serde(default)]
    pub tls: Vec<RawTlsListener>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub max_header_bytes: Option<i64>,
    /// Other names the portal answers to (a `www.` alias...).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Where "not what I meant" answers are kept: `off`, `file:<path>` (default
    /// `file:routing-feedback.jsonl`); with `[redis]`, in Redis.
    pub feedback_log: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsListener {
    pub listen: String,
    pub cert: String,
    pub key: String,
    pub h2: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSideListener {
    pub listen: Option<String>,
}

/// `[admin]`: the admin listener and the ministries' API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    pub listen: Option<String>,
    #[serde(default, deserialize_with = "admin_keys")]
    pub keys: Vec<RawAdminKey>,
    #[serde(default)]
    pub upstream_allow: Vec<String>,
    pub audit_log: Option<String>,
    pub token_audience: Option<String>,
    pub ministry_claim: Option<String>,
    pub changes_per_ministry: Option<String>,
    pub max_services_per_ministry: Option<u32>,
}

/// One API key: its id, who holds it (a ministry, or the platform role) and its hash.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdminKey {
    pub id: String,
    pub ministry: Option<String>,
    pub role: Option<String>,
    pub hash: String,
}

/// `[admin] keys`: tables only. Found in a bypass probe: a key pasted into the list was
/// answered `invalid type: string "egov_justice-1_...", expected struct RawAdminKey`, the
/// key in `check`'s output and the server's log.
pub fn admin_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<RawAdminKey>, D::Error> {
    struct Key(RawAdminKey);
    impl<'de> Deserialize<'de> for Key {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            table_only(d, ADMIN_KEY_FORM).map(Key)
        }
    }
    Ok(Vec::<Key>::deserialize(d)?
        .into_iter()
        .map(|k| k.0)
        .collect())
}

/// What an admin key's entry is, for one written as the key itself.
const ADMIN_KEY_FORM: &str = "an API key is listed by its hash, never itself: { id = \"...\", ministry = \"...\", hash = \"...\" }, as `egov-gateway admin-key` prints it";

/// `[registry]`: where the live set of services is kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistry {
    pub store: Option<String>,
    pub history: Option<String>,
    pub history_per_ministry: Option<i64>,
    pub watch_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    #[serde(default)]
    pub timeouts: RawTimeouts,
    pub on_legacy_host: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    pub connect: Option<String>,
    pub read: Option<String>,
    pub total: Option<String>,
}

/// `ministries.toml`: ministry id → names and agencies.
pub type RawMinistries = BTreeMap<String, RawMinistry>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMinistry {
    pub names: RawLocalized,
    #[serde(default)]
    pub agencies: BTreeMap<String, RawAgency>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgency {
    pub names: RawLocalized,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLocalized {
    pub ar: Option<String>,
    pub fr: Option<String>,
    pub en: Option<String>,
    /// Amazigh in Tifinagh; optional (falls back to Arabic).
    pub zgh: Option<String>,
}

/// `services/<ministry>/<service>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub id: String,
    pub ministry: String,
    pub agency: Option<String>,
    pub category: String,
    pub access: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub names: RawLocalized,
    #[serde(default)]
    pub descriptions: RawLocalized,
    /// What a citizen should have at hand before starting (the service page shows it).
    pub prepare: Option<RawLocalized>,
    pub legacy: RawLegacy,
    pub upstream: RawUpstream,
    #[serde(default)]
    pub adapters: Vec<RawAdapterStep>,
    pub cache: Option<RawServiceCache>,
    #[serde(default)]
    pub limits: RawServiceLimits,
    #[serde(default)]
    pub identity: RawServiceIdentity,
}

/// A service's `[identity]` table: which of the citizen's claims its assertion carries, and
/// where its legacy site's own "log out" is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServiceIdentity {
    #[serde(default)]
    pub claims: Vec<String>,
    #[serde(default)]
    pub logout_paths: Vec<String>,
}

/// A service's `[limits]` table: what it takes on top of the portal's own limits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServiceLimits {
    pub rate_per_ip: Option<String>,
    pub rate_total: Option<String>,
    pub max_body_bytes: Option<i64>,
    pub methods: Option<Vec<String>>,
}

/// A service's `[cache]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServiceCache {
    pub enabled: Option<bool>,
    pub default_ttl: Option<String>,
    pub max_ttl: Option<String>,
    pub max_object_size: Option<i64>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub bypass_paths: Vec<String>,
    #[serde(default)]
    pub public_paths: Vec<String>,
    #[serde(default)]
    pub ignore_query: Vec<String>,
    pub stale_while_revalidate: Option<String>,
    pub stale_if_error: Option<String>,
    #[serde(default)]
    pub strip_set_cookie_paths: Vec<String>,
}

/// `gateway.toml`'s `[limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub header_timeout: Option<String>,
    pub keepalive_timeout: Option<String>,
    pub flood_penalty: Option<String>,
    pub upgraded_idle_timeout: Option<String>,
    pub send_timeout: Option<String>,
    pub max_connections: Option<i64>,
    pub max_connections_per_ip: Option<i64>,
    pub max_in_flight_per_service: Option<i64>,
    pub max_uri_bytes: Option<i64>,
    pub max_headers: Option<i64>,
    pub max_body_bytes: Option<i64>,
    pub body_grace: Option<String>,
    pub body_min_rate: Option<i64>,
    #[serde(default)]
    pub rate: RawRateLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimits {
    pub per_ip: Option<String>,
    pub per_session: Option<String>,
    pub login_per_ip: Option<String>,
    pub route_per_ip: Option<String>,
    pub llm_per_ip: Option<String>,
    pub global: Option<String>,
    pub shared: Option<bool>,
    pub max_pending_logins: Option<i64>,
    pub max_pending_logins_per_ip: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub memory_size: Option<i64>,
    pub max_object_size: Option<i64>,
    pub shared_size: Option<i64>,
    pub lock_timeout: Option<String>,
    pub shared: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLegacy {
    pub hostname: String,
    /// Other names of the same site (`www.` and the bare domain).
    #[serde(default)]
    pub aliases: Vec<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub quirks: Vec<String>,
    pub on_host: Option<String>,
    /// `"portal"` (the default) or `"site"`.
    pub error_pages: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: RawBackends,
    pub host: Option<String>,
    pub timeouts: Option<RawTimeouts>,
    pub health_check: Option<RawHealthCheck>,
    pub outlier: Option<RawOutlier>,
    pub breaker: Option<RawBreaker>,
    /// `"none"` (the default) or `"citizen"`.
    pub affinity: Option<String>,
    /// Statuses of the site's own answer that send the request to the next backend.
    pub failover_on: Option<Vec<i64>>,
}

/// `upstream.url`: one URL, or a list of URLs and `{ url, weight }` tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawBackends {
    One(String),
    Many(Vec<RawBackendEntry>),
}

/// One backend of a list.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawBackendEntry {
    Url(String),
    Weighted(RawWeightedBackend),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeightedBackend {
    pub url: String,
    pub weight: Option<i64>,
}

impl RawBackends {
    /// Each backend's URL and weight (when given), with the key path it is reported under.
    pub fn entries(&self, field: &str) -> Vec<(String, &str, Option<i64>)> {
        match self {
            RawBackends::One(s) => vec![(field.to_string(), s.as_str(), None)],
            RawBackends::Many(v) => v
                .iter()
                .enumerate()
                .map(|(i, e)| match e {
                    RawBackendEntry::Url(s) => (format!("{field}[{i}]"), s.as_str(), None),
                    RawBackendEntry::Weighted(w) => (
                        format!("{field}[{i}]"),
                        w.url.as_str(),
                        Some(w.weight.unwrap_or(1)),
                    ),
                })
                .collect(),
        }
    }
}

/// `[upstream.health_check]`: active checks of every backend.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    pub kind: Option<String>,
    pub path: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub healthy_threshold: Option<i64>,
    pub unhealthy_threshold: Option<i64>,
}

/// `[upstream.outlier]`: passive ejection of failing backends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutlier {
    pub consecutive_failures: Option<i64>,
    pub base_ejection: Option<String>,
    pub max_ejection: Option<String>,
}

/// `[upstream.breaker]`: the service's circuit breaker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    pub failures: Option<i64>,
    pub open_for: Option<String>,
}

/// A value the operator may write as one string or as a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values with the key path each one should be reported under.
    pub fn entries(&self, field: &str) -> Vec<(String, &str)> {
        match self {
            OneOrMany::One(s) => vec![(field.to_string(), s.as_str())],
            OneOrMany::Many(v) => v
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("{field}[{i}]"), s.as_str()))
                .collect(),
        }
    }
}

/// Where a secret comes from; the secret itself never appears in TOML.
#[derive(Debug, Clone, Default)]
pub struct RawSecret {
    pub env: Option<String>,
    pub file: Option<String>,
    /// Kept by the registry store (given write-only through the admin API).
    pub stored: Option<String>,
}

/// What a secret written where a reference belongs is told: the reference's forms, and
/// nothing of what was written. Found when tried: `password = "hunter2"` was answered
/// `invalid type: string "hunter2", expected struct RawSecret`, the secret in `check`'s
/// output (a CI log) and in the API's answer, and a Rust type's name for a reason.
const SECRET_FORMS: &str = "a secret is never written in the configuration: give { env = \"NAME\" } (an environment variable of the gateway) or { file = \"path\" } (a file only it reads); through the admin API, { \"value\": \"...\" }, kept write-only";

impl<'de> Deserialize<'de> for RawSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        table_only::<D, RawSecretTable>(d, SECRET_FORMS).map(|t| RawSecret {
            env: t.env,
            file: t.file,
            stored: t.stored,
        })
    }
}

/// [`RawSecret`]'s table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecretTable {
    #[serde(default, deserialize_with = "name")]
    env: Option<String>,
    #[serde(default, deserialize_with = "name")]
    file: Option<String>,
    #[serde(default, deserialize_with = "name")]
    stored: Option<String>,
}

/// A table (`T`), never a bare value: where a credential's table belongs, a value written
/// instead is likely the credential itself, and serde's own message would quote it (`invalid
/// type: string "hunter2", expected struct RawSecret`). It is refused with `refusal`, which
/// says what to write; a table's own problems are serde's as usual (a key's name, never a
/// value: see [`name`]).
fn table_only<'de, D, T>(d: D, refusal: &'static str) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    use serde::de::Error;
    struct TableOnly<T>(&'static str, std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for TableOnly<T> {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }

        fn visit_str<E: Error>(self, _: &str) -> Result<T, E> {
            Err(E::custom(self.0))
        }

        fn visit_i64<E: Error>(self, _: i64) -> Result<T, E> {
            Err(E::custom(self.0))
        }

        fn visit_u64<E: Error>(self, _: u64) -> Result<T, E> {
            Err(E::custom(self.0))
        }

        fn visit_f64<E: Error>(self, _: f64) -> Result<T, E> {
            Err(E::custom(self.0))
        }

        fn visit_bool<E: Error>(self, _: bool) -> Result<T, E> {
            Err(E::custom(self.0))
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
            Err(A::Error::custom(self.0))
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(TableOnly(refusal, std::marker::PhantomData))
}

/// A name in a credential's table (a variable, a file, a stored key, an id, a hash): a
/// string; any other value is refused without being repeated (found in a bypass probe: `{
/// env = 98765432 }` was answered `invalid type: integer 98765432`).
fn name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    struct Name;
    impl<'v> serde::de::Visitor<'v> for Name {
        type Value = Option<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(v.to_string()))
        }

        fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(E::custom("must be a string"))
        }

        fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(E::custom("must be a string"))
        }

        fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom("must be a string"))
        }

        fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom("must be a string"))
        }
    }
    d.deserialize_any(Name)
}

/// One adapter step, tagged by `step = "..."`.
#[derive(Debug, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RawAdapterStep {
    /// Re-encode the legacy site's pages to UTF-8.
    Charset { fallback: Option<String> },
    /// Rewrite absolute links to legacy hosts in HTML into portal paths.
    HtmlLinks { banner: Option<bool> },
    /// Log in to the legacy site with a shared service account (HTTP basic auth).
    BasicAuth {
        username: String,
        password: RawSecret,
    },
    /// Send the legacy site's API key.
    ApiKey {
        header: Option<String>,
        key: RawSecret,
    },
    /// Send the citizen's identity as plain headers instead of a signed JWT, for legacy
    /// sites that cannot verify one.
    IdentityHeaders {
        subject: Option<String>,
        name: Option<String>,
    },
    /// Declares the legacy SOAP service's operations for the JSON facade.
    Soap {
        endpoint: Option<String>,
        namespace: String,
        operations: Vec<RawSoapOperation>,
        #[serde(default)]
        expose_endpoint: bool,
        element_form: Option<String>,
    },
    /// Add, remove or rename headers on the way up or down.
    Headers {
        #[serde(default)]
        request: RawHeaderRules,
        #[serde(default)]
        response: RawHeaderRules,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderRules {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub rename: BTreeMap<String, String>,
}

/// `[sso]`: the OpenID provider the portal logs citizens in with.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSso {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: RawSecret,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Claim and accepted values that make a user "professional".
    pub professional_claim: Option<String>,
    #[serde(default)]
    pub professional_values: Vec<String>,
    pub clock_skew: Option<String>,
    pub refresh_before: Option<String>,
    pub provider_timeout: Option<String>,
}

/// `[redis]`: the Redis deployment shared state lives in.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    #[serde(default)]
    pub urls: Vec<String>,
    pub cluster: Option<bool>,
    pub key_prefix: Option<String>,
    pub connect_timeout: Option<String>,
    pub response_timeout: Option<String>,
    /// `AUTH` password (`requirepass`, or an ACL user's named in the URLs), kept out of the
    /// file like every other secret.
    pub password: Option<RawSecret>,
}

/// `[sessions]`: where sessions live and how long.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessions {
    pub store: Option<String>,
    /// Deprecated spelling of `[redis] urls`.
    #[serde(default)]
    pub redis_urls: Vec<String>,
    /// Deprecated spelling of `[redis] cluster`.
    pub cluster: Option<bool>,
    pub idle_timeout: Option<String>,
    pub absolute_timeout: Option<String>,
    pub cache_ttl: Option<String>,
    /// How long a one-time code handing a citizen to a service's origin may wait.
    pub origin_code_ttl: Option<String>,
    /// Deprecated spelling of `[redis] key_prefix`.
    pub key_prefix: Option<String>,
}

/// `[identity]`: the signed assertion ministries receive.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    pub header: Option<String>,
    pub ttl: Option<String>,
    pub pairwise_secret: Option<RawSecret>,
    #[serde(default)]
    pub signing_keys: Vec<String>,
    pub rotate_every: Option<String>,
}

/// One SOAP operation offered through the JSON facade.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSoapOperation {
    pub name: String,
    #[serde(default)]
    pub fields: Vec<String>,
    pub action: Option<String>,
}

/// `[assist]`: routing citizens' free text to a service.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssist {
    pub shortlist: Option<i64>,
    pub cache_ttl: Option<String>,
    pub llm: Option<RawLlm>,
}

/// `[assist.llm]`: an OpenAI-compatible chat-completions endpoint (AI71's, or any other).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLlm {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<RawSecret>,
    pub deadline: Option<String>,
    pub retries: Option<i64>,
    pub response_format: Option<String>,
    pub max_tokens: Option<i64>,
    pub breaker_failures: Option<i64>,
    pub breaker_open_for: Option<String>,
    pub max_in_flight: Option<i64>,
}

/// `[telemetry]`: access log and traces.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    pub access_log: Option<String>,
    pub otlp_endpoint: Option<String>,
    pub sampling_ratio: Option<f64>,
    pub service_name: Option<String>,
    pub metrics: Option<bool>,
}

//! Reading the configuration tree from disk: `gateway.toml`, the ministries file and every
//! `services/<ministry>/<service>.toml`, validated together.
//!
//! All files are read and checked before anything is reported, so `egov-gateway check`
//! lists every problem in one run; cross-file rules (unique ids, one owner per legacy URL)
//! are checked here because no single file can see them.

use super::error::{ConfigError, ConfigErrors, Problems};
use super::fields::relative_to;
use super::gateway::{validate_gateway, BUILTIN_TIMEOUTS};
use super::ministries::validate_ministries;
use super::raw::{RawGateway, RawMinistries, RawService};
use super::service::validate_service;
use super::{Config, Defaults, LegacyHostMode, Ministry, PortalSettings, ServiceConfig};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Loads and validates the whole configuration rooted at `gateway.toml`.
pub fn load(gateway_file: &Path) -> Result<Config, ConfigErrors> {
    load_with_warnings(gateway_file).0
}

/// [`load`], and the warnings `gateway.toml` gave whether or not the whole loads (on
/// success they are in the settings too): `check` lists them beside the errors.
pub fn load_with_warnings(gateway_file: &Path) -> (Result<Config, ConfigErrors>, Vec<ConfigError>) {
    let mut warnings = Vec::new();
    let loaded = load_all(gateway_file, &mut warnings, true);
    (loaded, warnings)
}

/// `gateway.toml` and `ministries.toml` alone, with no service (what a reload takes: the
/// services come from the registry's store, where a service file that does not validate
/// keeps its last good version). Found when tried: one ministry's broken service file made
/// every SIGHUP refused, so a platform setting, or a revoked admin key, waited on it.
pub fn load_settings(gateway_file: &Path) -> Result<Config, ConfigErrors> {
    load_all(gateway_file, &mut Vec::new(), false)
}

fn load_all(
    gateway_file: &Path,
    warnings: &mut Vec<ConfigError>,
    with_services: bool,
) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let raw = parse_file::<RawGateway>(gateway_file, &mut errors);
    // Where the other files are, even when gateway.toml does not parse (an unknown key, a
    // typo): their problems are listed in the same run (found when tried: one error in
    // gateway.toml hid every service file's).
    let (services_dir, ministries_file) = match &raw {
        Some(raw) => (raw.services_dir.clone(), raw.ministries_file.clone()),
        None => paths_in_unparsed(gateway_file),
    };
    let services_dir = relative_to(gateway_file, services_dir.as_deref().unwrap_or("services"));
    let ministries_file = relative_to(
        gateway_file,
        ministries_file.as_deref().unwrap_or("ministries.toml"),
    );
    let parsed = raw.is_some();
    let gateway = raw.and_then(|raw| {
        validate_gateway(raw, &mut Problems::new(gateway_file, &mut errors), warnings)
    });
    if parsed && gateway.is_none() && errors.is_empty() {
        // A validator gave up without saying why: never report "0 errors" for a refusal.
        errors.push(ConfigError::new(
            gateway_file,
            "",
            "invalid settings, but no reason was recorded (a bug in the validation: please report it)",
        ));
    }
    // Go on with built-in defaults when gateway.toml is wrong, so its errors and the
    // services' are all reported in one run.
    let defaults = gateway
        .as_ref()
        .map(|g| g.defaults.clone())
        .unwrap_or(Defaults {
            timeouts: BUILTIN_TIMEOUTS,
            on_legacy_host: LegacyHostMode::Redirect,
        });

    let ministries = parse_file::<RawMinistries>(&ministries_file, &mut errors)
        .map(|raw| validate_ministries(raw, &mut Problems::new(&ministries_file, &mut errors)))
        .unwrap_or_default();

    let mut services = Vec::new();
    let listed = with_services.then(|| service_files(&services_dir));
    match listed {
        None => {}
        Some(Ok((files, misplaced))) => {
            for f in misplaced {
                errors.push(ConfigError::new(&f, "", MISPLACED));
            }
            for file in files {
                if let Some(s) = load_one(&file, &ministries, &defaults, &mut errors) {
                    services.push(s);
                }
            }
        }
        Some(Err(e)) => errors.push(ConfigError::new(
            &services_dir,
            "",
            format!("cannot read the services directory: {e}"),
        )),
    }
    cross_check(&services, gateway.as_ref().map(|g| &g.portal), &mut errors);
    if let Some(g) = &gateway {
        for (i, key) in g.admin.keys.iter().enumerate() {
            if let super::KeyHolder::Ministry(m) = &key.holder {
                if !ministries.contains_key(m) {
                    errors.push(ConfigError::new(
                        gateway_file,
                        format!("admin.keys[{i}].ministry"),
                        format!("{m:?} is not a ministry of {}", ministries_file.display()),
                    ));
                }
            }
        }
    }

    match gateway {
        Some(gateway) if errors.is_empty() => Ok(Config {
            gateway,
            ministries,
            services,
        }),
        _ => Err(ConfigErrors(errors)),
    }
}

/// Loads one service file on its own (the admin API and tests validate single services).
pub fn load_service_file(
    file: &Path,
    ministries: &BTreeMap<String, Ministry>,
    defaults: &Defaults,
) -> Result<ServiceConfig, ConfigErrors> {
    let mut errors = Vec::new();
    match load_one(file, ministries, defaults, &mut errors) {
        Some(s) if errors.is_empty() => Ok(s),
        _ => Err(ConfigErrors(errors)),
    }
}

/// A service given as a document in the service file's schema (JSON, as the admin API
/// receives it, or a file's TOML converted), validated as its file would be. `file` is where
/// it lives (or would): it names the service in errors and anchors relative paths. Schema
/// errors name the key path (`upstream.timeouts.connect`).
pub fn service_from_document(
    doc: &serde_json::Value,
    file: &Path,
    ministries: &BTreeMap<String, Ministry>,
    defaults: &Defaults,
) -> Result<ServiceConfig, ConfigErrors> {
    let raw: RawService = match super::structure::read(doc) {
        Ok(raw) => raw,
        Err(problems) => {
            let errors = problems.into_iter();
            return Err(ConfigErrors(
                errors
                    .map(|e| ConfigError::new(file, e.field, e.reason))
                    .collect(),
            ));
        }
    };
    let mut errors = Vec::new();
    let s = validate_service(
        raw,
        ministries,
        defaults,
        &mut Problems::new(file, &mut errors),
    );
    match s {
        Some(s) if errors.is_empty() => Ok(s),
        _ if errors.is_empty() => Err(ConfigError::new(file, "", "invalid service").into()),
        _ => Err(ConfigErrors(errors)),
    }
}

/// Where service `id` of `ministry` lives under `services_dir`.
pub fn service_file(services_dir: &Path, ministry: &str, id: &str) -> PathBuf {
    services_dir.join(ministry).join(format!("{id}.toml"))
}

fn load_one(
    file: &Path,
    ministries: &BTreeMap<String, Ministry>,
    defaults: &Defaults,
    errors: &mut Vec<ConfigError>,
) -> Option<ServiceConfig> {
    let raw = parse_file::<RawService>(file, errors)?;
    let before = errors.len();
    let s = validate_service(raw, ministries, defaults, &mut Problems::new(file, errors));
    if errors.len() > before {
        None
    } else {
        s
    }
}

fn parse_file<T: DeserializeOwned>(file: &Path, errors: &mut Vec<ConfigError>) -> Option<T> {
    let text = match read_config_file(file)
        .and_then(|b| String::from_utf8(b).map_err(|e| format!("is not UTF-8: {}", e.utf8_error())))
    {
        Ok(t) => t,
        Err(reason) => {
            errors.push(ConfigError::new(file, "", reason));
            return None;
        }
    };
    // Through `serde_path_to_error`, so a wrong or unknown key is named as the other
    // errors are (`server.threadz`), with the line TOML gives (found when tried: only the
    // line was given).
    match serde_path_to_error::deserialize::<_, T>(toml::Deserializer::new(&text)) {
        Ok(v) => Some(v),
        Err(e) => {
            let field = super::structure::field_of(e.path());
            errors.push(ConfigError::new(
                file,
                field.clone(),
                toml_problem(&text, e.inner()),
            ));
            // The others, read from the document as a tree (without their lines: the tree
            // keeps none), all at once rather than one per round of `check`.
            let tree = toml::from_str::<serde_json::Value>(&text);
            if let Ok(Err(others)) = tree.map(|doc| super::structure::read::<T>(&doc)) {
                errors.extend(
                    (others.into_iter())
                        .filter(|o| o.field != field)
                        .map(|o| ConfigError::new(file, o.field, o.reason)),
                );
            }
            None
        }
    }
}

/// `services_dir` and `ministries_file` of a gateway.toml that does not parse as settings,
/// if it is TOML at all.
fn paths_in_unparsed(file: &Path) -> (Option<String>, Option<String>) {
    let text = read_config_file(file)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let table = toml::from_str::<toml::Table>(&text).ok();
    // A file that is not TOML at all (a stray `=`): each key read from its own line, as
    // written before the first table. Found in an SRE probe: one typo in gateway.toml was
    // also reported as "ministries.toml: cannot read" and "cannot read the services
    // directory", at default places the configuration did not use.
    let path = |key: &str| match &table {
        Some(t) => t.get(key).and_then(|v| v.as_str()).map(str::to_string),
        None => top_level_string(&text, key),
    };
    (path("services_dir"), path("ministries_file"))
}

/// The value of `key = "..."` (or `'...'`) on a line of its own before `text`'s first table.
fn top_level_string(text: &str, key: &str) -> Option<String> {
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            return None;
        }
        let Some(rest) = line.strip_prefix(key).map(str::trim_start) else {
            continue;
        };
        let Some(value) = rest.strip_prefix('=').map(str::trim_start) else {
            continue;
        };
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let inner = &value[1..];
        return inner.find(quote).map(|end| inner[..end].to_string());
    }
    None
}

/// The largest configuration file read (the largest shipped one is a few kilobytes): a
/// sparse file of gigabytes, costing no disk, was read whole.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The bytes of the configuration file at `path`, or why it is not read: not a regular
/// file (a FIFO's open waits for a writer, forever: a FIFO named `.toml` held the registry),
/// over [`MAX_FILE_BYTES`], or unreadable (a link to nothing). Every configuration and
/// service file is read through here, at start-up, on SIGHUP and by the registry's poll.
pub fn read_config_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    // Opened without waiting (a FIFO's open would wait for a writer), then judged by what
    // was opened, not by the path: a file swapped for a FIFO between a look and the open
    // is caught all the same.
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "is {} bytes; a configuration file is at most {MAX_FILE_BYTES}",
            meta.len()
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "grew past {MAX_FILE_BYTES} bytes while it was read"
        ));
    }
    Ok(bytes)
}

/// A TOML problem in `text` as one line that says where: `line 3, column 7: ...`.
pub fn toml_problem(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    let message = super::structure::without_values(&message);
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {col}: {message}")
        }
        None => message,
    }
}

/// Whether `path` is named as a TOML file, in any case.
fn named_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// Why a file found in the wrong place of `services/` is refused.
pub const MISPLACED: &str = "service files belong in services/<ministry-id>/<service-id>.toml";

/// Whether a directory entry is hidden (`.git`, an editor's `.swp`, and the `..data` and
/// `..2026_...` entries Kubernetes puts inside a mounted ConfigMap): never a service.
pub fn hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// `(service files, files in the wrong place)`, sorted for a stable order: one listing for
/// a start, `check` and the running registry's poll (found in a reload probe: the poll
/// listed on its own and skipped a misplaced file the next start refused, without a word).
pub fn service_files(dir: &Path) -> std::io::Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    let mut misplaced = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if hidden(&path) {
            continue;
        }
        if path.is_dir() {
            for inner in std::fs::read_dir(&path)? {
                let f = inner?.path();
                if hidden(&f) {
                    continue;
                }
                if f.extension().is_some_and(|e| e == "toml") {
                    files.push(f);
                } else if f.is_dir() || named_toml(&f) {
                    // `x.TOML`: found in a bypass probe, dropped without a word.
                    misplaced.push(f);
                }
            }
        } else if named_toml(&path) {
            misplaced.push(path);
        }
    }
    files.sort();
    misplaced.sort();
    Ok((files, misplaced))
}

/// Rules that span services: ids are unique, each legacy URL prefix has one owner, and no
/// legacy hostname is one the portal answers to. Every problem found (none: the set is
/// consistent).
pub fn cross_checked(
    services: &[ServiceConfig],
    portal: Option<&PortalSettings>,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    cross_check(services, portal, &mut errors);
    errors
}

/// Rules that span files: ids are unique, each legacy URL prefix has one owner, and no
/// legacy hostname is one the portal answers to (names unique as the router reads them:
/// `assist::terms`, when the registry builds) (legacy hosts are routed first: such a
/// service would take the portal's pages over).
fn cross_check(
    services: &[ServiceConfig],
    portal: Option<&PortalSettings>,
    errors: &mut Vec<ConfigError>,
) {
    let mut ids: HashMap<&str, &Path> = HashMap::new();
    let mut claims: HashMap<(&str, &str), &ServiceConfig> = HashMap::new();
    for s in services {
        if let Some(other) = ids.insert(&s.id, &s.file) {
            errors.push(ConfigError::new(
                &s.file,
                "id",
                format!("{:?} is already used by {}", s.id, place(other)),
            ));
        }
    }
    // Hostnames first: a name claimed both as a hostname and as an alias is the alias's
    // error, in its file.
    let names = services
        .iter()
        .flat_map(|s| s.legacy.hosts().enumerate().map(move |(i, h)| (i, h, s)));
    let (hostnames, aliases): (Vec<_>, Vec<_>) = names.partition(|(i, _, _)| *i == 0);
    for (i, host, s) in hostnames.into_iter().chain(aliases) {
        let field = crate::config::LegacySite::host_field(i);
        if portal.is_some_and(|p| p.answers_to(host)) {
            errors.push(ConfigError::new(
                &s.file,
                &field,
                "is a host the portal answers to (portal.public_url, portal.hosts or a loopback name)",
            ));
        }
        // Found when tried: `cnie-renewal.localhost` was taken as a legacy host, and
        // every link to the passport service's own origin in any page would have been
        // rewritten to the taker's service.
        let origins = portal.and_then(|p| p.service_origins.as_ref());
        if let Some(id) = origins.and_then(|o| o.service_of(host)) {
            errors.push(ConfigError::new(
                &s.file,
                &field,
                format!("is the own origin of service {id:?} (portal.service_origin), never a legacy host"),
            ));
        } else if let Some(o) = origins.filter(|o| o.covers(host)) {
            // Found in a bypass probe: `x.cnie-renewal.localhost`, served with
            // `on_host = "proxy"`, set a session cookie for that service's origin.
            errors.push(ConfigError::new(
                &s.file,
                &field,
                format!("is under the services' domain {:?} (portal.service_origin), whose pages may set cookies for every service's origin; never a legacy host", o.domain),
            ));
        }
        let key = (host, s.legacy.path.as_str());
        if let Some(other) = claims.insert(key, s) {
            errors.push(ConfigError::new(
                &s.file,
                if i == 0 { "legacy.path".to_string() } else { field },
                format!(
                    "{host}{} is already claimed by service {:?} ({}); give each service on a shared host its own legacy.path",
                    s.legacy.path,
                    other.id,
                    place(&other.file)
                ),
            ));
        }
    }
}

/// Where a service's file is, as its ministry knows it: `<ministry>/<id>.toml` under the
/// services directory. Found when tried: the admin API's refusals named the other service's
/// file by its absolute path (`/tmp/egov-demo-…/config/services/justice/…`), telling any
/// ministry how the gateway's disk is laid out.
fn place(file: &Path) -> String {
    let mut parts: Vec<_> = file
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy())
        .collect();
    parts.reverse();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped registry's first service as a document, and the configuration it is in.
    fn first_service() -> (crate::config::Config, serde_json::Value) {
        let config = crate::config::fixtures::config_without_secrets();
        let text = std::fs::read_to_string(&config.services[0].file).expect("the service file");
        let doc = crate::registry::store::files::document_of(&text).expect("a document");
        (config, doc)
    }

    /// `doc` validated as the first service's file would be; its errors as text.
    fn validated(
        config: &crate::config::Config,
        doc: &serde_json::Value,
    ) -> Result<ServiceConfig, String> {
        service_from_document(
            doc,
            &config.services[0].file,
            &config.ministries,
            &config.gateway.defaults,
        )
        .map_err(|e| e.to_string())
    }

    /// Found when tried: `read = "40s"` beside `total = "10s"` was taken, and the site was
    /// never given the 40 s meant.
    #[test]
    fn a_read_timeout_longer_than_the_total_is_refused() {
        let (config, mut doc) = first_service();
        let mut with_timeouts = |timeouts: serde_json::Value| {
            doc["upstream"]["timeouts"] = timeouts;
            validated(&config, &doc)
        };
        let refused = with_timeouts(serde_json::json!({ "read": "40s", "total": "10s" }));
        let text = refused.expect_err("refused");
        assert!(
            text.contains("timeouts.read: 40s is longer than the total timeout (10s)"),
            "{text}"
        );
        // A total alone, shorter than the inherited read (a site meant to fail fast), is
        // as before: the total cuts the read.
        assert!(with_timeouts(serde_json::json!({ "total": "5s" })).is_ok());
        assert!(with_timeouts(serde_json::json!({ "read": "10s", "total": "40s" })).is_ok());
    }

    #[test]
    fn a_logout_path_must_be_a_clean_path_of_the_site_and_not_the_gateways() {
        let (config, mut doc) = first_service();
        let mut with_paths = |paths: serde_json::Value| {
            doc["identity"] = serde_json::json!({ "logout_paths": paths });
            validated(&config, &doc)
        };
        let taken = with_paths(serde_json::json!(["/deconnexion", "/app/logout.do"]));
        assert_eq!(
            taken.map(|s| s.logout_paths).ok(),
            Some(vec![
                "/deconnexion".to_string(),
                "/app/logout.do".to_string()
            ])
        );
        for (bad, why) in [
            ("deconnexion", "must start with /"),
            ("/logout?next=/", "without ? or #"),
            ("/a/../logout", "as routing reads it"),
            ("/__egov/session", "the gateway's own"),
        ] {
            let text = with_paths(serde_json::json!([bad])).expect_err(bad);
            assert!(
                text.contains("identity.logout_paths[0]") && text.contains(why),
                "{bad}: {text}"
            );
        }
        let many: Vec<String> = (0..9).map(|i| format!("/out{i}")).collect();
        let text = with_paths(serde_json::json!(many)).expect_err("nine");
        assert!(text.contains("at most 8"), "{text}");
    }

    #[test]
    fn a_legacy_sites_aliases_are_names_of_its_own() {
        let (config, mut doc) = first_service();
        let hostname = config.services[0].legacy.hostname.clone();
        let mut with = |aliases: serde_json::Value| {
            doc["legacy"]["aliases"] = aliases;
            validated(&config, &doc).map(|s| s.legacy.aliases)
        };
        assert_eq!(
            with(serde_json::json!(["old.example.ma"])),
            Ok(vec!["old.example.ma".to_string()])
        );
        for (aliases, field) in [
            (serde_json::json!([hostname.clone()]), "legacy.aliases[0]"),
            (serde_json::json!(["a.ma", "A.ma"]), "legacy.aliases[1]"),
            (serde_json::json!(["not a host"]), "legacy.aliases[0]"),
            (
                serde_json::json!((0..9).map(|i| format!("h{i}.ma")).collect::<Vec<_>>()),
                "legacy.aliases",
            ),
        ] {
            let refused = with(aliases.clone()).expect_err("refused");
            assert!(refused.contains(field), "{aliases}: {refused}");
        }
        // Another service's name, as an alias, is claimed twice.
        let mut config = crate::config::fixtures::config_without_secrets();
        let theirs = config.services[1].legacy.clone();
        config.services[0].legacy.path = theirs.path.clone();
        config.services[0].legacy.aliases = vec![theirs.hostname.clone()];
        let errors = cross_checked(&config.services, None);
        assert!(
            errors.iter().any(|e| e.field == "legacy.aliases[0]"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_malformed_backend_url_is_quoted_without_its_credentials() {
        let (config, mut doc) = first_service();
        doc["upstream"]["url"] = serde_json::json!("http://svc:hunter2@127.0.0.1:99999/");
        let refused = validated(&config, &doc).map(|_| ()).expect_err("refused");
        assert!(
            refused.contains("is not a URL") && !refused.contains("hunter2"),
            "{refused}"
        );
    }

    #[test]
    fn an_affinity_is_none_or_citizen() {
        let (config, mut doc) = first_service();
        let mut with = |affinity: &str| {
            doc["upstream"]["affinity"] = serde_json::json!(affinity);
            validated(&config, &doc).map(|s| s.upstream.affinity)
        };
        assert_eq!(with("citizen"), Ok(crate::config::Affinity::Citizen));
        assert_eq!(with("none"), Ok(crate::config::Affinity::None));
        let refused = with("sticky").expect_err("refused");
        assert!(
            refused.contains("upstream.affinity") && refused.contains("\"citizen\""),
            "{refused}"
        );
    }

    #[test]
    fn a_sites_error_pages_are_the_portals_unless_it_keeps_its_own() {
        let (config, mut doc) = first_service();
        assert_eq!(
            validated(&config, &doc).map(|s| s.legacy.error_pages),
            Ok(crate::config::SiteErrorPages::Portal)
        );
        let mut with = |pages: &str| {
            doc["legacy"]["error_pages"] = serde_json::json!(pages);
            validated(&config, &doc).map(|s| s.legacy.error_pages)
        };
        assert_eq!(with("site"), Ok(crate::config::SiteErrorPages::Site));
        let refused = with("none").expect_err("refused");
        assert!(
            refused.contains("legacy.error_pages") && refused.contains("portal, site"),
            "{refused}"
        );
    }

    /// Found in a bypass probe: `connect = total` was accepted, and never failed over (a
    /// failover needs the connect timeout left of the total).
    #[test]
    fn a_failover_with_no_time_for_it_is_refused() {
        let (config, mut doc) = first_service();
        doc["upstream"]["failover_on"] = serde_json::json!([503]);
        doc["upstream"]["timeouts"] = serde_json::json!({ "connect": "3s", "total": "3s" });
        let refused = validated(&config, &doc).map(|_| ()).expect_err("no time");
        assert!(
            refused.contains("upstream.failover_on") && refused.contains("would never be used"),
            "{refused}"
        );
        doc["upstream"]["timeouts"] = serde_json::json!({ "connect": "1s", "total": "3s" });
        assert!(validated(&config, &doc).is_ok());
    }

    #[test]
    fn a_service_fails_over_only_on_the_statuses_that_say_the_backend_cannot_serve() {
        let (config, mut doc) = first_service();
        let mut with = |statuses: serde_json::Value| {
            doc["upstream"]["failover_on"] = statuses;
            validated(&config, &doc).map(|s| s.upstream.failover_on)
        };
        assert_eq!(with(serde_json::json!([503, 502])), Ok(vec![503, 502]));
        assert_eq!(with(serde_json::json!([])), Ok(vec![]));
        let refused = with(serde_json::json!([503, 500])).expect_err("a 500");
        assert!(
            refused.contains("upstream.failover_on[1]")
                && refused.contains("500 is not a status to fail over on"),
            "{refused}"
        );
        let refused = with(serde_json::json!([504, 504])).expect_err("twice");
        assert!(
            refused.contains("upstream.failover_on[1]") && refused.contains("listed twice"),
            "{refused}"
        );
        let refused = with(serde_json::json!([70000])).expect_err("no status");
        assert!(refused.contains("70000 is not a status"), "{refused}");
        // Found in a bypass probe: 120,000 entries got 21 MB of problems, one each.
        let refused = with(serde_json::json!(vec![0; 120_000])).expect_err("a long list");
        assert!(
            refused.contains("upstream.failover_on") && refused.len() < 200,
            "{refused}"
        );
    }

    /// Found when tried: `fallback = "arabic"` (ISO-8859-6) beside the `windows-1256` quirk
    /// passed, and pages without a `<meta>` came out garbled.
    #[test]
    fn the_charset_fallback_is_the_charset_the_quirks_declare() {
        let (config, mut doc) = first_service();
        // Found in a bypass probe: two charsets in the quirks, and a fallback no page is in.
        let mut two = doc.clone();
        two["legacy"]["quirks"] = serde_json::json!(["windows-1256", "iso-8859-1"]);
        two["adapters"] = serde_json::json!([{ "step": "charset", "fallback": "latin1" }]);
        let refused = validated(&config, &two)
            .map(|_| ())
            .expect_err("two charsets");
        assert!(refused.contains("legacy.quirks[1]"), "{refused}");
        for label in ["replacement", "utf-16le", "x-user-defined"] {
            let mut none = doc.clone();
            none["legacy"]["quirks"] = serde_json::json!([]);
            none["adapters"] = serde_json::json!([{ "step": "charset", "fallback": label }]);
            let refused = validated(&config, &none).map(|_| ()).expect_err(label);
            assert!(refused.contains("adapters[0].fallback"), "{refused}");
        }
        let mut with = |quirk: &str, fallback: Option<&str>| {
            doc["legacy"]["quirks"] = serde_json::json!([quirk]);
            doc["adapters"] = match fallback {
                Some(f) => serde_json::json!([{ "step": "charset", "fallback": f }]),
                None => serde_json::json!([{ "step": "charset" }]),
            };
            validated(&config, &doc).map(|_| ())
        };
        for wrong in [Some("arabic"), Some("utf-8"), None] {
            let refused = with("windows-1256", wrong).expect_err("refused");
            assert!(
                refused.contains("adapters[0].fallback")
                    && refused.contains("write fallback = \"windows-1256\""),
                "{wrong:?}: {refused}"
            );
        }
        // Any label of the declared charset, as browsers read it.
        assert_eq!(with("windows-1256", Some("cp1256")), Ok(()));
        assert_eq!(with("iso-8859-1", Some("latin1")), Ok(()));
        assert_eq!(with("iso-8859-1", None), Ok(()));
    }

    /// Found when tried: `password = "hunter2"` was answered `invalid type: string
    /// "hunter2", expected struct RawSecret`, the secret in `check`'s output and the API's
    /// answer.
    #[test]
    fn a_secret_written_where_its_reference_belongs_is_refused_without_repeating_it() {
        let (config, mut doc) = first_service();
        // What each is told besides: how to write a reference, or what is wrong in one.
        let written = [
            (serde_json::json!("hunter2-секрет"), "{ env = \"NAME\" }"),
            (serde_json::json!(98765432), "{ env = \"NAME\" }"),
            (
                serde_json::json!({ "envv": "hunter2-секрет" }),
                "unknown field `envv`",
            ),
            (serde_json::json!({ "env": 98765432 }), "must be a string"),
        ];
        for (password, told) in written {
            doc["adapters"] = serde_json::json!([
                { "step": "basic-auth", "username": "svc", "password": password }
            ]);
            let refused = validated(&config, &doc).map(|_| ()).expect_err("refused");
            assert!(
                !refused.contains("hunter2") && !refused.contains("98765432"),
                "{refused}"
            );
            assert!(
                refused.contains(told) && !refused.contains("RawSecret"),
                "{refused}"
            );
        }
    }

    /// Found when tried: a ministry's service took `cnie-renewal.localhost`, another service's
    /// own origin, as its legacy host; links to that origin in any page would have been
    /// rewritten to it.
    #[test]
    fn a_clash_names_the_other_services_file_by_its_place_not_the_disks_layout() {
        let mut config = crate::config::fixtures::config_without_secrets();
        config.services[0].file = "/srv/egov/config/services/interior/a.toml".into();
        config.services[1].file = "/srv/egov/config/services/justice/b.toml".into();
        config.services[1].legacy = config.services[0].legacy.clone();
        let errors = cross_checked(&config.services, None);
        let clash = errors
            .iter()
            .find(|e| e.field == "legacy.path")
            .expect("the clash");
        assert!(clash.reason.contains("(interior/a.toml)"), "{clash:?}");
        assert!(!clash.reason.contains("/srv/egov"), "{clash:?}");
    }

    #[test]
    fn a_legacy_host_may_not_be_a_services_own_origin() {
        let mut config = crate::config::fixtures::config_without_secrets();
        let portal = &mut config.gateway.portal;
        portal.service_origins = Some(crate::config::ServiceOrigins {
            https: false,
            domain: "localhost".into(),
            port: Some(8080),
        });
        assert!(cross_checked(&config.services, Some(&config.gateway.portal)).is_empty());
        config.services[1].legacy.hostname = format!("{}.localhost", config.services[0].id);
        let errors = cross_checked(&config.services, Some(&config.gateway.portal));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "legacy.hostname");
        assert!(
            errors[0].reason.contains("own origin of service"),
            "{errors:?}"
        );
        // Nor a name under one, as a hostname or an alias (found in a bypass probe).
        config.services[1].legacy.hostname = "www.other.ma".into();
        config.services[1].legacy.aliases = vec![format!("x.{}.localhost", config.services[0].id)];
        let errors = cross_checked(&config.services, Some(&config.gateway.portal));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "legacy.aliases[0]");
        assert!(
            errors[0].reason.contains("under the services' domain"),
            "{errors:?}"
        );
    }
}

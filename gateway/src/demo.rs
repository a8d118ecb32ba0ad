//! Wiring a configuration to the simulated legacy estate, for `demo` and the test harness.
//!
//! The repository's service files describe the real deployment shape; in the demo every
//! legacy site is served by the estate on one loopback address, so backends are pointed
//! there and the service-account secrets the configs reference are taken from the estate
//! (in memory, without touching the process environment).

use crate::config::{AdapterStep, Config, PublicUrl, SecretRef, Secrets};
use egov_estate::Credential;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Points every service's backends at `estate` (keeping each base path) and makes
/// `portal` the public origin, so legacy-host redirects land on this gateway.
pub fn point_at_estate(config: &mut Config, estate: SocketAddr, portal: SocketAddr) {
    for s in &mut config.services {
        s.upstream.tls = false;
        s.upstream.backends = vec![crate::config::Backend {
            host: estate.ip().to_string(),
            port: estate.port(),
            weight: 1,
        }];
    }
    config.gateway.portal.public_url = PublicUrl {
        https: false,
        host: portal.ip().to_string(),
        authority: portal.to_string(),
    };
}

/// The estate's service-account credentials under the secret names the configs reference.
pub fn estate_secrets(config: &Config) -> Secrets {
    let mut secrets = Secrets::from_process();
    for s in &config.services {
        let Some(credential) = egov_estate::credential(&s.id) else {
            continue;
        };
        for step in &s.adapters {
            match (step, &credential) {
                (
                    AdapterStep::BasicAuth {
                        password: SecretRef::Env(name),
                        ..
                    },
                    Credential::Basic { password, .. },
                ) => secrets = secrets.with_env(name.clone(), password.clone()),
                (
                    AdapterStep::ApiKey {
                        key: SecretRef::Env(name),
                        ..
                    },
                    Credential::ApiKey { key, .. },
                ) => secrets = secrets.with_env(name.clone(), key.clone()),
                _ => {}
            }
        }
    }
    secrets
}

/// Copies the configuration directory of `gateway_toml` into `dest` with every service's
/// backends pointed at `estate`, and returns the copy's `gateway.toml`. The demo and the
/// tests serve (and let the admin API and SIGHUP change) this copy, never the repository's
/// files; what runs is what the copy says, so a reload keeps pointing at the estate.
pub fn stage_config(
    gateway_toml: &Path,
    dest: &Path,
    estate: SocketAddr,
) -> Result<PathBuf, StageError> {
    let src = gateway_toml.parent().unwrap_or(Path::new("."));
    copy_tree(src, dest, estate)?;
    Ok(dest.join(gateway_toml.file_name().unwrap_or("gateway.toml".as_ref())))
}

/// The configuration could not be copied.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Toml { path: PathBuf, reason: String },
}

fn copy_tree(src: &Path, dest: &Path, estate: SocketAddr) -> Result<(), StageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StageError::Io { path, source }
    };
    std::fs::create_dir_all(dest).map_err(io(dest))?;
    for entry in std::fs::read_dir(src).map_err(io(src))? {
        let path = entry.map_err(io(src))?.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        let target = dest.join(name);
        if path.is_dir() {
            copy_tree(&path, &target, estate)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let text = pointed_at(&text, estate).map_err(|reason| StageError::Toml {
                path: path.clone(),
                reason,
            })?;
            std::fs::write(&target, text).map_err(io(&target))?;
        }
    }
    Ok(())
}

/// `text` with each `[upstream] url` (one or a list) on `estate`, keeping its path and the
/// file's comments; files without `[upstream]` are unchanged.
fn pointed_at(text: &str, estate: SocketAddr) -> Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let Some(url) = doc
        .get_mut("upstream")
        .and_then(|u| u.as_table_like_mut())
        .and_then(|u| u.get_mut("url"))
    else {
        return Ok(text.to_string());
    };
    let moved = |v: &str| -> String {
        match url::Url::parse(v) {
            Ok(u) => {
                let path = u.path().trim_end_matches('/');
                format!("http://{estate}{path}")
            }
            Err(_) => v.to_string(),
        }
    };
    if let Some(s) = url.as_str() {
        *url = toml_edit::value(moved(s));
    } else if let Some(list) = url.as_array_mut() {
        let mut seen = Vec::new();
        for v in list.iter() {
            if let Some(s) = v.as_str() {
                let m = moved(s);
                if !seen.contains(&m) {
                    seen.push(m);
                }
            }
        }
        // Several backends of one site are one estate: keep one of each path.
        let mut out = toml_edit::Array::new();
        for m in seen {
            out.push(m);
        }
        *url = toml_edit::value(out);
    }
    Ok(doc.to_string())
}

/// The admin API keys the demo made, as `--admin-keys-out` writes them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoKeys {
    pub platform: String,
    /// Ministry id → its key.
    pub ministries: std::collections::BTreeMap<String, String>,
}

/// Makes one admin API key per ministry of `ministries` and one platform key, and writes
/// their hashes into the staged `gateway_toml`'s `[admin] keys`, with loopback allowed as a
/// backend address (the estate is on 127.0.0.1). Returns the keys themselves.
pub fn add_admin_keys<'a>(
    gateway_toml: &Path,
    ministries: impl IntoIterator<Item = &'a str>,
) -> Result<DemoKeys, StageError> {
    use crate::admin::auth::new_key;
    use crate::config::KeyHolder;
    let mut keys = DemoKeys {
        platform: String::new(),
        ministries: std::collections::BTreeMap::new(),
    };
    let mut entries = toml_edit::Array::new();
    let mut add = |id: String, holder: KeyHolder| -> Result<String, StageError> {
        let (key, hash) = new_key(&id);
        let mut entry = toml_edit::InlineTable::new();
        entry.insert("id", id.into());
        match holder {
            KeyHolder::Platform => entry.insert("role", "platform".into()),
            KeyHolder::Ministry(m) => entry.insert("ministry", m.into()),
        };
        entry.insert("hash", hash.into());
        entries.push(entry);
        Ok(key)
    };
    keys.platform = add("platform".into(), KeyHolder::Platform)?;
    for m in ministries {
        let key = add(format!("{m}-demo"), KeyHolder::Ministry(m.to_string()))?;
        keys.ministries.insert(m.to_string(), key);
    }
    edit_toml(gateway_toml, |doc| {
        let admin = doc["admin"].or_insert(toml_edit::table());
        admin["keys"] = toml_edit::value(entries);
        let mut allow = toml_edit::Array::new();
        allow.push("127.0.0.0/8");
        allow.push("::1");
        admin["upstream_allow"] = toml_edit::value(allow);
    })?;
    Ok(keys)
}

/// Writes the portal's public origin (and, unless `None`, the service-origin template) into
/// the staged `gateway_toml`, so a reload keeps serving where the demo listens.
pub fn set_portal(
    gateway_toml: &Path,
    public_url: &str,
    service_origin: Option<&str>,
) -> Result<(), StageError> {
    edit_toml(gateway_toml, |doc| {
        let portal = doc["portal"].or_insert(toml_edit::table());
        portal["public_url"] = toml_edit::value(public_url);
        if let Some(t) = service_origin {
            portal["service_origin"] = toml_edit::value(t);
        }
    })
}

/// What `demo` runs with beyond the repository's files, written into the staged
/// `gateway.toml` (never kept only in memory: a SIGHUP reloads that file, and settings it
/// lacked read as changed, "only take effect after a restart"; found when tried).
pub struct RunSettings<'a> {
    /// The development identity provider's issuer URL.
    pub issuer: &'a str,
    /// The environment variable name the client secret is handed over under.
    pub client_secret_env: &'a str,
    /// `--redis`: the shared store's URLs (none: in memory), and the identity files every
    /// instance sharing it must have (`[redis]` requires them).
    pub redis: Option<(&'a [String], SharedIdentity)>,
    /// `--access-log`: the JSON access log on stdout.
    pub access_log: bool,
}

/// The identity signing key and pairwise secret files of a deployment (`keys generate`).
pub struct SharedIdentity {
    pub signing_key: std::path::PathBuf,
    pub pairwise_secret: std::path::PathBuf,
}

/// Writes [`RunSettings`] into `gateway_toml`.
pub fn set_run_settings(gateway_toml: &Path, run: &RunSettings<'_>) -> Result<(), StageError> {
    edit_toml(gateway_toml, |doc| {
        let mut sso = toml_edit::Table::new();
        sso["issuer"] = toml_edit::value(run.issuer);
        sso["client_id"] = toml_edit::value("egov-portal");
        let mut secret = toml_edit::InlineTable::new();
        secret.insert("env", run.client_secret_env.into());
        sso["client_secret"] = toml_edit::value(secret);
        sso["scopes"] = toml_edit::value(toml_edit::Array::from_iter(["openid", "profile"]));
        sso["professional_claim"] = toml_edit::value("profile");
        sso["professional_values"] =
            toml_edit::value(toml_edit::Array::from_iter(["professional"]));
        doc["sso"] = toml_edit::Item::Table(sso);
        if let Some((urls, identity)) = &run.redis {
            let redis = doc["redis"].or_insert(toml_edit::table());
            redis["urls"] =
                toml_edit::value(toml_edit::Array::from_iter(urls.iter().map(String::as_str)));
            doc["sessions"].or_insert(toml_edit::table())["store"] = toml_edit::value("redis");
            let shared = doc["identity"].or_insert(toml_edit::table());
            let key = identity.signing_key.display().to_string();
            shared["signing_keys"] = toml_edit::value(toml_edit::Array::from_iter([key]));
            let mut secret = toml_edit::InlineTable::new();
            secret.insert(
                "file",
                identity.pairwise_secret.display().to_string().into(),
            );
            shared["pairwise_secret"] = toml_edit::value(secret);
        }
        if run.access_log {
            let telemetry = doc["telemetry"].or_insert(toml_edit::table());
            telemetry["access_log"] = toml_edit::value("stdout");
        }
    })
}

fn edit_toml(
    path: &Path,
    edit: impl FnOnce(&mut toml_edit::DocumentMut),
) -> Result<(), StageError> {
    let io = |source| StageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| StageError::Toml {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
    edit(&mut doc);
    std::fs::write(path, doc.to_string()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `demo --redis --access-log` runs with loads as the staged gateway.toml says.
    #[test]
    fn the_staged_configuration_with_redis_and_the_access_log_loads() {
        let dir = std::env::temp_dir().join(format!(
            "egov-demo-stage-{}-{}",
            std::process::id(),
            crate::sso::session::random_token()
        ));
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/gateway.toml");
        let estate: SocketAddr = "127.0.0.1:9".parse().expect("an address");
        let staged = stage_config(&repo, &dir.join("config"), estate).expect("staged");
        let (signing_key, pairwise_secret) =
            crate::commands::keys::write_identity_files(&dir.join("identity")).expect("keys");
        let urls = vec!["redis://127.0.0.1:6379".to_string()];
        set_run_settings(
            &staged,
            &RunSettings {
                issuer: "http://127.0.0.1:9500",
                client_secret_env: "EGOV_DEMO_TEST_SECRET",
                redis: Some((
                    &urls,
                    SharedIdentity {
                        signing_key,
                        pairwise_secret,
                    },
                )),
                access_log: true,
            },
        )
        .expect("written");
        let loaded = crate::config::load(&staged);
        let _ = std::fs::remove_dir_all(&dir);
        let config = loaded.expect("the staged configuration loads");
        let gateway = &config.gateway;
        assert_eq!(
            gateway.sessions.store,
            crate::config::SessionStoreKind::Redis
        );
        assert_eq!(gateway.redis.as_ref().map(|r| r.urls.clone()), Some(urls));
        assert_eq!(
            gateway.sso.as_ref().map(|s| s.issuer.as_str()),
            Some("http://127.0.0.1:9500")
        );
        assert_eq!(
            gateway.telemetry.access_log,
            crate::config::AccessLogTarget::Stdout
        );
        assert!(gateway.identity.pairwise_secret.is_some());
    }
}

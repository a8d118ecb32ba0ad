//! `[admin]`: the admin listener and who may change services through the ministries' API
//! (API keys stored only as hashes, and OAuth2 client-credentials tokens), which
//! private addresses ministries may point a service at, and where changes are audited.
//! `[registry]`: where the live set of services is kept.

use crate::config::error::Problems;
use crate::config::fields::{opt_duration, opt_listen, written_file};
use crate::config::raw::{RawAdmin, RawRegistry};
use crate::config::values;
use crate::config::{
    AdminKey, AdminSettings, AuditTarget, KeyHolder, RegistrySettings, RegistryStoreKind,
};
use std::time::Duration;

/// `None` when an error was recorded.
pub(super) fn validate(raw: &RawAdmin, p: &mut Problems<'_>) -> Option<AdminSettings> {
    let file = p.file().to_path_buf();
    let listen = opt_listen(p, "admin.listen", raw.listen.as_deref());
    let mut ok = true;
    let mut keys = Vec::new();
    for (i, k) in raw.keys.iter().enumerate() {
        let field = format!("admin.keys[{i}]");
        if values::slug(&k.id).is_err() {
            p.add(
                format!("{field}.id"),
                format!("{:?} must be lowercase letters, digits and '-'", k.id),
            );
            ok = false;
        }
        if keys.iter().any(|other: &AdminKey| other.id == k.id) {
            p.add(
                format!("{field}.id"),
                format!("{:?} is used by another key", k.id),
            );
            ok = false;
        }
        let holder = match (k.ministry.as_deref(), k.role.as_deref()) {
            (Some(m), None) => Some(KeyHolder::Ministry(m.to_string())),
            (None, Some("platform")) => Some(KeyHolder::Platform),
            (None, Some(other)) => {
                p.add(
                    format!("{field}.role"),
                    format!("{other:?} is not a role (the one role is \"platform\")"),
                );
                None
            }
            _ => {
                p.add(
                    field.clone(),
                    "give exactly one of ministry = \"<id>\" or role = \"platform\"",
                );
                None
            }
        };
        if !crate::config::is_key_hash(&k.hash) {
            p.add(
                format!("{field}.hash"),
                "must be a key's hash as `egov-gateway admin-key` prints it (`sha256:` and 64 hexadecimal digits, or an argon2 PHC hash from an earlier version); never the key itself",
            );
            ok = false;
        }
        match holder {
            Some(holder) => keys.push(AdminKey {
                id: k.id.clone(),
                holder,
                hash: k.hash.clone(),
            }),
            None => ok = false,
        }
    }
    let mut allow = Vec::new();
    for (i, cidr) in raw.upstream_allow.iter().enumerate() {
        let parsed = cidr
            .parse::<ipnet::IpNet>()
            .or_else(|_| cidr.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| format!("{cidr:?} is not an IP address or CIDR block"));
        match p.check(format!("admin.upstream_allow[{i}]"), parsed) {
            Some(net) => allow.push(net),
            None => ok = false,
        }
    }
    let audit = match raw.audit_log.as_deref().unwrap_or("file:admin-audit.jsonl") {
        "off" | "" => Some(AuditTarget::Off),
        "stdout" => Some(AuditTarget::Stdout),
        other => match other.strip_prefix("file:") {
            Some(path) if !path.is_empty() => {
                written_file(p, "admin.audit_log", &file, path).map(AuditTarget::File)
            }
            _ => {
                p.add(
                    "admin.audit_log",
                    format!("{other:?} is not one of: off, stdout, file:<path>"),
                );
                None
            }
        },
    };
    let audience = match raw.token_audience.as_deref().map(str::trim) {
        Some("") => {
            p.add("admin.token_audience", "must not be empty");
            ok = false;
            None
        }
        other => other.map(str::to_string),
    };
    let claim = raw
        .ministry_claim
        .as_deref()
        .unwrap_or("ministry")
        .trim()
        .to_string();
    if claim.is_empty() {
        p.add("admin.ministry_claim", "must not be empty");
        ok = false;
    }
    let changes = p.check(
        "admin.changes_per_ministry",
        values::rate(raw.changes_per_ministry.as_deref().unwrap_or("60/min")),
    );
    let max_services = raw.max_services_per_ministry.unwrap_or(200);
    if max_services == 0 {
        p.add("admin.max_services_per_ministry", "must be at least 1");
        ok = false;
    }
    let (listen, audit, changes) = (listen?, audit?, changes?);
    ok.then_some(AdminSettings {
        listen,
        keys,
        upstream_allow: allow,
        audit_log: audit,
        token_audience: audience,
        ministry_claim: claim,
        changes_per_ministry: changes,
        max_services_per_ministry: max_services,
    })
}

/// `[registry]`.
pub(super) fn registry(
    raw: &RawRegistry,
    has_redis: bool,
    p: &mut Problems<'_>,
) -> Option<RegistrySettings> {
    let file = p.file().to_path_buf();
    let store = match raw.store.as_deref().unwrap_or("files") {
        "files" => Some(RegistryStoreKind::Files),
        "redis" if has_redis => Some(RegistryStoreKind::Redis),
        "redis" => {
            p.add("registry.store", "\"redis\" needs a [redis] section");
            None
        }
        other => {
            p.add(
                "registry.store",
                format!("{other:?} is not one of: files, redis"),
            );
            None
        }
    };
    let interval = opt_duration(
        p,
        "registry.watch_interval",
        raw.watch_interval.as_deref(),
        Duration::from_secs(2),
    );
    if interval.is_some_and(|d| d < Duration::from_millis(100)) {
        p.add("registry.watch_interval", "must be at least 100ms");
        return None;
    }
    let history_per_ministry = p.check(
        "registry.history_per_ministry",
        values::bounded(
            raw.history_per_ministry
                .unwrap_or(crate::config::DEFAULT_HISTORY_PER_MINISTRY as i64),
            1 << 20,
            1 << 40,
        ),
    );
    Some(RegistrySettings {
        store: store?,
        history_per_ministry: history_per_ministry? as u64,
        history: written_file(
            p,
            "registry.history",
            &file,
            raw.history.as_deref().unwrap_or("registry-history.jsonl"),
        )?,
        watch_interval: interval?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::validate_text;

    const PORTAL: &str =
        "[portal]\npublic_url = \"http://127.0.0.1:8080\"\nlisten = [\"127.0.0.1:8080\"]\n";
    const SSO: &str = "[sso]\nissuer = \"https://idp.example.test\"\nclient_id = \"portal\"\nclient_secret = { env = \"X\" }\n";

    #[test]
    fn the_token_audience_may_not_be_the_portals_own_client_id() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}{SSO}[admin]\ntoken_audience = \"portal\"\n"
        ));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("admin.token_audience") && e.contains("ID tokens")),
            "{errors:?} {settings:?}"
        );
    }

    #[test]
    fn a_resource_identifier_as_token_audience_is_accepted() {
        let (settings, errors) = validate_text(&format!(
            "{PORTAL}{SSO}[admin]\ntoken_audience = \"https://admin.services.gov.ma\"\n"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            settings.expect("valid").admin.token_audience.as_deref(),
            Some("https://admin.services.gov.ma")
        );
    }

    #[test]
    fn a_key_entry_holding_a_key_instead_of_its_hash_is_refused() {
        let (_, errors) = validate_text(&format!(
            "{PORTAL}[admin]\nkeys = [{{ id = \"k1\", ministry = \"interior\", hash = \"egov_k1_secret\" }}]\n"
        ));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("admin.keys[0].hash") && e.contains("never the key itself")),
            "{errors:?}"
        );
    }

    /// Found in a bypass probe: a key pasted into the list was quoted back with a Rust
    /// type's name.
    #[test]
    fn a_key_pasted_into_the_list_is_refused_without_repeating_it() {
        let text = format!("{PORTAL}[admin]\nkeys = [\"egov_justice-1_s3cr3t\"]\n");
        let e = toml::from_str::<crate::config::raw::RawGateway>(&text).expect_err("refused");
        let problem = crate::config::toml_problem(&text, &e);
        assert!(
            problem.contains("never itself") && !problem.contains("s3cr3t"),
            "{problem}"
        );
        assert!(!problem.contains("RawAdminKey"), "{problem}");
    }

    #[test]
    fn a_ministrys_history_holds_8_mib_unless_told_and_never_less_than_1_mib() {
        let (settings, errors) = validate_text(PORTAL);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            settings.expect("valid").registry.history_per_ministry,
            8 << 20
        );
        let (_, errors) = validate_text(&format!(
            "{PORTAL}[registry]\nhistory_per_ministry = 4096\n"
        ));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("registry.history_per_ministry")),
            "{errors:?}"
        );
    }
}

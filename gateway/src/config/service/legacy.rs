//! A service's `[legacy]` table: the old site's names, the part of it the service owns, its quirks.

use crate::config::error::Problems;
use crate::config::raw::RawService;
use crate::config::values;
use crate::config::{Defaults, LegacyHostMode, LegacySite, Quirk, SiteErrorPages};

pub(super) fn legacy(
    raw: &RawService,
    defaults: &Defaults,
    p: &mut Problems<'_>,
) -> Option<LegacySite> {
    let hostname = raw.legacy.hostname.trim().to_string();
    let host_ok = p
        .check("legacy.hostname", values::hostname(&hostname))
        .is_some();
    let path = p.check(
        "legacy.path",
        values::path_prefix(raw.legacy.path.as_deref().unwrap_or("/")),
    );
    let mut quirks = Vec::new();
    for (i, q) in raw.legacy.quirks.iter().enumerate() {
        if let Some(q) = p.check(format!("legacy.quirks[{i}]"), Quirk::parse(q)) {
            quirks.push(q);
        }
    }
    let on_host = match raw.legacy.on_host.as_deref() {
        None => Some(defaults.on_legacy_host),
        Some(s) => p.check("legacy.on_host", LegacyHostMode::parse(s)),
    };
    let error_pages = match raw.legacy.error_pages.as_deref() {
        None => Some(SiteErrorPages::Portal),
        Some(s) => p.check("legacy.error_pages", SiteErrorPages::parse(s)),
    };
    let mut aliases: Vec<String> = Vec::new();
    let mut aliases_ok = true;
    if raw.legacy.aliases.len() > crate::config::MAX_LEGACY_ALIASES {
        p.add(
            "legacy.aliases",
            format!(
                "{} names; a legacy site has at most {} aliases",
                raw.legacy.aliases.len(),
                crate::config::MAX_LEGACY_ALIASES
            ),
        );
        aliases_ok = false;
    }
    for (i, alias) in raw.legacy.aliases.iter().enumerate() {
        let field = format!("legacy.aliases[{i}]");
        let alias = alias.trim().to_string();
        if p.check(&field, values::hostname(&alias)).is_none() {
            aliases_ok = false;
            continue;
        }
        let same = |other: &str| egov_adapters::links::same_authority(other, &alias);
        if same(&hostname) || aliases.iter().any(|a| same(a)) {
            p.add(field, format!("{alias:?} is named twice"));
            aliases_ok = false;
            continue;
        }
        aliases.push(alias);
    }
    Some(LegacySite {
        aliases: aliases_ok.then_some(aliases)?,
        hostname: host_ok.then_some(hostname)?,
        path: path?,
        quirks,
        on_host: on_host?,
        error_pages: error_pages?,
    })
}

//! `[sso]`: the OpenID provider the portal logs citizens in with.

use crate::config::error::Problems;
use crate::config::fields::{opt_duration, secret_ref};
use crate::config::raw::RawSso;
use crate::config::SsoSettings;
use std::time::Duration;

pub(super) fn validate(raw: &RawSso, p: &mut Problems<'_>) -> Option<SsoSettings> {
    let file = p.file().to_path_buf();
    let issuer = match url::Url::parse(raw.issuer.trim()) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Some(raw.issuer.trim().trim_end_matches('/').to_string())
        }
        Ok(_) => {
            p.add("sso.issuer", "must be an http(s) URL with a host");
            None
        }
        Err(e) => {
            let shown = crate::config::values::url_shown(&raw.issuer);
            p.add("sso.issuer", format!("{shown:?} is not a URL: {e}"));
            None
        }
    };
    if raw.client_id.trim().is_empty() {
        p.add("sso.client_id", "must not be empty");
    }
    let secret = secret_ref(&file, "sso.client_secret", &raw.client_secret, p);
    let mut scopes = vec!["openid".to_string()];
    for (i, s) in raw.scopes.iter().enumerate() {
        if s.is_empty() || s.contains(' ') {
            p.add(
                format!("sso.scopes[{i}]"),
                "must be one scope token without spaces",
            );
        } else if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    if raw.scopes.is_empty() {
        // No `email`: the gateway never reads it (data minimisation, found by an audit).
        scopes.push("profile".to_string());
    }
    let clock_skew = opt_duration(
        p,
        "sso.clock_skew",
        raw.clock_skew.as_deref(),
        Duration::from_secs(60),
    );
    let refresh_before = opt_duration(
        p,
        "sso.refresh_before",
        raw.refresh_before.as_deref(),
        Duration::from_secs(30),
    );
    let provider_timeout = opt_duration(
        p,
        "sso.provider_timeout",
        raw.provider_timeout.as_deref(),
        Duration::from_secs(5),
    );
    let values = if raw.professional_values.is_empty() {
        vec!["professional".to_string()]
    } else {
        raw.professional_values.clone()
    };
    Some(SsoSettings {
        issuer: issuer?,
        client_id: (!raw.client_id.trim().is_empty()).then(|| raw.client_id.trim().to_string())?,
        client_secret: secret?,
        scopes,
        professional_claim: raw
            .professional_claim
            .clone()
            .unwrap_or_else(|| "profile".to_string()),
        professional_values: values,
        clock_skew: clock_skew?,
        refresh_before: refresh_before?,
        provider_timeout: provider_timeout?,
    })
}

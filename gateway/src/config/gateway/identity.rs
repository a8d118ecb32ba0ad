//! `[identity]`: the signed, pairwise assertion ministries receive.

use crate::config::error::Problems;
use crate::config::fields::{key_file, opt_duration, opt_seconds, secret_ref};
use crate::config::raw::RawIdentity;
use crate::config::IdentitySettings;
use std::time::Duration;

/// `shared`: a `[redis]` is configured, so more than one instance may serve: they must all
/// sign with the same keys and derive the same pairwise subjects, or one citizen would get
/// two subjects and the instances would publish different JWKS.
pub(super) fn validate(
    raw: &RawIdentity,
    shared: bool,
    p: &mut Problems<'_>,
) -> Option<IdentitySettings> {
    let file = p.file().to_path_buf();
    let header = raw
        .header
        .as_deref()
        .unwrap_or("x-egov-identity")
        .to_ascii_lowercase();
    let header_ok = http::HeaderName::from_bytes(header.as_bytes()).is_ok();
    if !header_ok {
        p.add(
            "identity.header",
            format!("{header:?} is not a valid header name"),
        );
    }
    let ttl = opt_seconds(
        p,
        "identity.ttl",
        raw.ttl.as_deref(),
        Duration::from_secs(60),
    );
    if ttl.is_some_and(|t| t > Duration::from_secs(60)) {
        p.add(
            "identity.ttl",
            "must be at most 60s: assertions are short-lived by design",
        );
        return None;
    }
    let secret = match &raw.pairwise_secret {
        None => Some(None),
        Some(s) => secret_ref(&file, "identity.pairwise_secret", s, p).map(Some),
    };
    let mut keys = Vec::new();
    for (i, k) in raw.signing_keys.iter().enumerate() {
        let field = format!("identity.signing_keys[{i}]");
        let Some(path) = key_file(&file, &field, k, p) else {
            continue;
        };
        if !path.is_file() {
            p.add(field, format!("file {} does not exist", path.display()));
        }
        keys.push(path);
    }
    if shared {
        const WHY: &str = "is required when [redis] is configured: every instance must share it \
(one citizen would otherwise get a different subject, and a different JWKS, per instance); \
`egov-gateway keys generate --out DIR` makes one";
        if raw.signing_keys.is_empty() {
            p.add("identity.signing_keys", WHY);
        }
        if raw.pairwise_secret.is_none() {
            p.add("identity.pairwise_secret", WHY);
        }
    }
    let rotate = opt_duration(
        p,
        "identity.rotate_every",
        raw.rotate_every.as_deref(),
        Duration::from_secs(24 * 3600),
    );
    Some(IdentitySettings {
        header: header_ok.then_some(header)?,
        ttl: ttl?,
        pairwise_secret: secret?,
        signing_keys: keys,
        rotate_every: rotate?,
    })
}

//! Who is calling the ministries' API. Two kinds of credential, both sent as
//! `Authorization: Bearer <token-or-key>`:
//!
//! - an API key, `egov_<key id>_<secret>`, checked against the hash `[admin] keys` holds
//!   for that id (the key itself is stored nowhere). A key's secret is 256 random bits, so
//!   its SHA-256 (`sha256:<hex>`, what `egov-gateway admin-key` prints) is as safe to store
//!   as a slow hash and checked in a microsecond: a right key passes before any count of
//!   failures is looked at, so no flood of wrong keys naming its id locks it out (found when
//!   tried: 22 wrong keys naming `housing-demo`, from the address every ministry shares,
//!   refused housing's right key for as long as they went on). Keys hashed with argon2, as
//!   earlier versions printed them, still work, with what follows. A verified key is
//!   remembered for a few minutes (by its SHA-256), and argon2 verifications run a few at a
//!   time, so a flood of wrong keys costs bounded CPU. An address that sent [`FAILURES_ALLOWED`] invalid credentials
//!   naming one key id (or one token client) within [`FAILURE_WINDOW`] gets 429 for it
//!   without a verification until it stops, so its flood does not queue ahead of holders
//!   of a right key; past [`ADDRESS_FAILURES_ALLOWED`] for all ids together, only ids
//!   verified lately are still checked. Ministries reach the API through one internal
//!   gateway, one address: one ministry's wrong keys locked every ministry and the platform
//!   out (found when tried). A key id that does not exist costs the same verification as a
//!   wrong secret of a `sha256:` key, so the answer's time does not tell which ids do (an
//!   argon2 key's id still shows by its slower check: give it a new key);
//! - an OAuth2 client-credentials access token: a JWT from `[sso]`'s issuer, checked against
//!   its JWKS, with `aud` = `[admin] token_audience`; the ministry is the token's
//!   `[admin] ministry_claim` (`platform` for the platform role).
//!
//! Authentication happens before anything else a request asks, so a refusal reveals nothing.

use crate::config::{sha256_of_key_hash, AdminKey, AdminSettings, KeyHolder, SHA256_KEY_HASH};
use crate::sso::Sso;
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a verified API key is remembered.
const VERIFIED_TTL: Duration = Duration::from_secs(300);
/// Argon2 verifications running at once.
const CONCURRENT_VERIFICATIONS: usize = 2;
/// Invalid credentials one address may send within [`FAILURE_WINDOW`] naming one key id
/// (tokens, which name none, count as one id).
pub const FAILURES_ALLOWED: u32 = 20;
/// Invalid credentials one address may send within [`FAILURE_WINDOW`] for all ids
/// together, before only ids verified lately are checked: a bound on the verifications a
/// flood of made-up ids costs.
pub const ADDRESS_FAILURES_ALLOWED: u32 = 10 * FAILURES_ALLOWED;
/// The longest key id a failure is counted under (longer ones are cut).
const MAX_COUNTED_ID: usize = 64;
/// How long an address's invalid credentials are counted (from the first one).
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// For the audit: `key:<id>` or `client:<client id>`.
    pub actor: String,
    pub holder: KeyHolder,
}

impl Caller {
    /// Whether the caller may read and write services of `ministry`.
    pub fn may(&self, ministry: &str) -> bool {
        match &self.holder {
            KeyHolder::Platform => true,
            KeyHolder::Ministry(m) => m == ministry,
        }
    }

    /// Whether the caller holds the platform's key (the operators' role).
    pub fn is_platform(&self) -> bool {
        matches!(self.holder, KeyHolder::Platform)
    }

    /// The ministry the caller speaks for (`platform` for the platform role).
    pub fn ministry(&self) -> &str {
        match &self.holder {
            KeyHolder::Platform => "platform",
            KeyHolder::Ministry(m) => m,
        }
    }
}

/// Why a request was not authenticated (never which part was wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// No `Authorization: Bearer`. `audited` while the address has sent fewer than
    /// [`FAILURES_ALLOWED`] such calls in the window.
    Missing { audited: bool },
    /// A credential that is not valid.
    Invalid,
    /// Too many invalid credentials from this address lately: not even checked. `first`
    /// for the first such refusal of the window.
    Throttled { first: bool },
}

/// Checks credentials.
pub struct Authenticator {
    /// `[admin] keys`, taken again at every reload ([`Self::take_keys`]).
    keys: arc_swap::ArcSwap<Vec<AdminKey>>,
    audience: Option<String>,
    claim: String,
    sso: Arc<Sso>,
    /// Keys verified lately, by fingerprint: the id and hash they were verified against.
    verified: Cache<[u8; 32], (String, String)>,
    verifying: Semaphore,
    /// Credentials being checked or found invalid, by address (an IPv6 address by its /64)
    /// and the key id they name (`""` for tokens); a count is forgotten [`FAILURE_WINDOW`]
    /// after its first.
    failures: Cache<(IpAddr, String), Arc<AtomicU32>>,
    /// The same, by address alone.
    address_failures: Cache<IpAddr, Arc<AtomicU32>>,
    /// Key ids verified within [`VERIFIED_TTL`]: still checked from an address past
    /// [`ADDRESS_FAILURES_ALLOWED`].
    active_ids: Cache<String, ()>,
    /// Calls without a credential, by address, for the same window: never a lockout (an
    /// uptime probe on an address ministries share must not lock them out), only a bound on
    /// their audit lines.
    missing: Cache<IpAddr, Arc<AtomicU32>>,
}

impl Authenticator {
    pub fn new(settings: &AdminSettings, sso: Arc<Sso>) -> Self {
        Self {
            keys: arc_swap::ArcSwap::from_pointee(settings.keys.clone()),
            audience: settings.token_audience.clone(),
            claim: settings.ministry_claim.clone(),
            sso,
            verified: Cache::builder()
                .time_to_live(VERIFIED_TTL)
                .max_capacity(10_000)
                .build(),
            verifying: Semaphore::new(CONCURRENT_VERIFICATIONS),
            failures: Cache::builder()
                .time_to_live(FAILURE_WINDOW)
                .max_capacity(100_000)
                .build(),
            address_failures: Cache::builder()
                .time_to_live(FAILURE_WINDOW)
                .max_capacity(100_000)
                .build(),
            active_ids: Cache::builder()
                .time_to_live(VERIFIED_TTL)
                .max_capacity(10_000)
                .build(),
            missing: Cache::builder()
                .time_to_live(FAILURE_WINDOW)
                .max_capacity(100_000)
                .build(),
        }
    }

    /// [`Self::authenticate`], for a request from `client`. A key verified lately passes at
    /// once. Otherwise the check counts against the address while it runs, and stays counted
    /// if the credential is invalid: an address with [`FAILURES_ALLOWED`] counted is
    /// refused unchecked, so a flood sent all at once is cut off as surely as one sent in
    /// turn (counting only finished failures let hundreds queue ahead of a right key).
    pub async fn authenticate_from(
        &self,
        authorization: Option<&str>,
        client: IpAddr,
    ) -> Result<Caller, Unauthenticated> {
        if let Some(caller) = self.remembered(authorization) {
            return Ok(caller);
        }
        // A right `sha256:` key passes before any count is looked at (see the module's
        // documentation); a wrong one is counted below like any invalid credential.
        if let Some(caller) = self.quick_key(authorization) {
            return Ok(caller);
        }
        let address = crate::client_address::address_key(client);
        if bearer(authorization).is_none() {
            // Calls without one wrote 60 MB of audit lines in a second and a half (found
            // when tried): the first of a window are audited, the rest only answered.
            let sent = self
                .missing
                .get_with(address, || Arc::new(AtomicU32::new(0)))
                .fetch_add(1, Ordering::AcqRel);
            return Err(Unauthenticated::Missing {
                audited: sent < FAILURES_ALLOWED,
            });
        }
        let id = claimed_id(authorization);
        let counter = self
            .failures
            .get_with((address, id.clone()), || Arc::new(AtomicU32::new(0)));
        let all = self
            .address_failures
            .get_with(address, || Arc::new(AtomicU32::new(0)));
        let before = counter.fetch_add(1, Ordering::AcqRel);
        let before_all = all.fetch_add(1, Ordering::AcqRel);
        let flooded = before_all >= ADDRESS_FAILURES_ALLOWED && !self.active_ids.contains_key(&id);
        if before >= FAILURES_ALLOWED || flooded {
            // Left counted: the count says how many were refused, and only the first of a
            // window is the one worth an audit line.
            return Err(Unauthenticated::Throttled {
                first: before == FAILURES_ALLOWED || before_all == ADDRESS_FAILURES_ALLOWED,
            });
        }
        let result = self.authenticate(authorization).await;
        if result != Err(Unauthenticated::Invalid) {
            counter.fetch_sub(1, Ordering::AcqRel);
            all.fetch_sub(1, Ordering::AcqRel);
        }
        if result.is_ok() && !id.is_empty() {
            self.active_ids.insert(id, ());
        }
        result
    }

    /// `[admin] keys` as a reload read them: a key taken out (revoked) or given a new hash
    /// is refused from the next call, a remembered verification included; one added
    /// works at once. Found when tried: a key removed from the file and reloaded still
    /// worked, until a restart.
    pub fn take_keys(&self, keys: &[AdminKey]) {
        self.keys.store(Arc::new(keys.to_vec()));
    }

    /// The caller of an API key verified within [`VERIFIED_TTL`] against the hash its id
    /// still has, without a check.
    fn remembered(&self, authorization: Option<&str>) -> Option<Caller> {
        let key = bearer(authorization)?;
        let (id, _) = key.strip_prefix("egov_")?.split_once('_')?;
        let (verified_id, hash) = self.verified.get(&fingerprint(key))?;
        let keys = self.keys.load();
        let now = keys.iter().find(|k| k.id == id && k.id == verified_id)?;
        (now.hash == hash).then(|| Caller {
            actor: format!("key:{id}"),
            holder: now.holder.clone(),
        })
    }

    /// The caller of a right API key whose id has a `sha256:` hash: one digest and a
    /// comparison, no wait for an argon2 turn.
    fn quick_key(&self, authorization: Option<&str>) -> Option<Caller> {
        let key = bearer(authorization)?;
        let (id, _) = key.strip_prefix("egov_")?.split_once('_')?;
        // Digested first, whether the id exists or not: one digest more or less must not
        // tell which ids do.
        let digest = fingerprint(key);
        let keys = self.keys.load();
        let stored = keys.iter().find(|k| k.id == id)?;
        let want = sha256_of_key_hash(&stored.hash)?;
        crate::sso::endpoints::constant_time_eq(&digest, &want).then(|| Caller {
            actor: format!("key:{id}"),
            holder: stored.holder.clone(),
        })
    }

    /// The caller behind an `Authorization` header value (a key verified lately was let
    /// through by [`Self::authenticate_from`] before this).
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, Unauthenticated> {
        let token = bearer(authorization).ok_or(Unauthenticated::Missing { audited: true })?;
        if let Some(rest) = token.strip_prefix("egov_") {
            return self.api_key(token, rest).await;
        }
        self.access_token(token).await
    }

    async fn api_key(&self, key: &str, rest: &str) -> Result<Caller, Unauthenticated> {
        let (id, _secret) = rest.split_once('_').ok_or(Unauthenticated::Invalid)?;
        let keys = self.keys.load_full();
        let stored = keys.iter().find(|k| k.id == id);
        // A `sha256:` key, or an id that does not exist: `quick_key` has already checked it
        // (its digest taken whether the id exists or not) and let a right one through.
        let Some(stored) = stored.filter(|k| sha256_of_key_hash(&k.hash).is_none()) else {
            return Err(Unauthenticated::Invalid);
        };
        let _permit = self
            .verifying
            .acquire()
            .await
            .map_err(|_| Unauthenticated::Invalid)?;
        let hash = stored.hash.clone();
        let candidate = key.to_string();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|h| {
                    Argon2::default()
                        .verify_password(candidate.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if !ok {
            return Err(Unauthenticated::Invalid);
        }
        // A reload while this waited or ran may have revoked the key (found in review).
        let now = self.keys.load();
        if !now
            .iter()
            .any(|k| k.id == stored.id && k.hash == stored.hash)
        {
            return Err(Unauthenticated::Invalid);
        }
        self.verified
            .insert(fingerprint(key), (stored.id.clone(), stored.hash.clone()));
        Ok(Caller {
            actor: format!("key:{id}"),
            holder: stored.holder.clone(),
        })
    }

    async fn access_token(&self, token: &str) -> Result<Caller, Unauthenticated> {
        let Some(audience) = &self.audience else {
            return Err(Unauthenticated::Invalid);
        };
        let claims = self
            .sso
            .validate_access_token(token, audience)
            .await
            .map_err(|e| {
                tracing::info!(error = %e, "admin API: access token refused");
                Unauthenticated::Invalid
            })?;
        let ministry = claims
            .get(&self.claim)
            .and_then(|v| v.as_str())
            .ok_or(Unauthenticated::Invalid)?;
        let client = claims
            .get("client_id")
            .or_else(|| claims.get("sub"))
            .and_then(|v| v.as_str())
            .unwrap_or("unknown");
        let holder = if ministry == "platform" {
            KeyHolder::Platform
        } else {
            KeyHolder::Ministry(ministry.to_string())
        };
        Ok(Caller {
            actor: format!("client:{client}"),
            holder,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` value.
fn bearer(authorization: Option<&str>) -> Option<&str> {
    authorization
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
}

/// Who a credential says it is, before any check: `key:<id>` for an API key, `client:<id>`
/// for a token naming a `client_id` (or `sub`) in its payload, `""` for anything else; cut
/// to [`MAX_COUNTED_ID`] bytes. Tokens were all one id, so twenty expired ones from the
/// ministries' shared address locked every token client out (found in review).
pub fn claimed_id(authorization: Option<&str>) -> String {
    use base64::Engine;
    let Some(token) = bearer(authorization) else {
        return String::new();
    };
    let claimed = if let Some(rest) = token.strip_prefix("egov_") {
        rest.split_once('_')
            .map(|(id, _)| format!("key:{id}"))
            .unwrap_or_default()
    } else {
        token
            .split('.')
            .nth(1)
            .filter(|p| p.len() <= 8192)
            .and_then(|p| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(p)
                    .ok()
            })
            .and_then(|json| serde_json::from_slice::<serde_json::Value>(&json).ok())
            .and_then(|claims| {
                let id = claims.get("client_id").or_else(|| claims.get("sub"))?;
                Some(format!("client:{}", id.as_str()?))
            })
            .unwrap_or_default()
    };
    let mut end = claimed.len().min(MAX_COUNTED_ID);
    while !claimed.is_char_boundary(end) {
        end -= 1;
    }
    claimed[..end].to_string()
}

/// What a verified key is remembered by: its SHA-256 (the key itself is kept nowhere).
fn fingerprint(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new API key with id `id`: the key (shown once, stored nowhere; its secret 256 random
/// bits) and its hash, `sha256:<hex>` (what `[admin] keys` holds).
pub fn new_key(id: &str) -> (String, String) {
    let secret = crate::sso::session::random_token();
    let key = format!("egov_{id}_{secret}");
    let hash = format!("{SHA256_KEY_HASH}{}", hex::encode(fingerprint(&key)));
    (key, hash)
}

/// The `[admin] keys` entry of key `id` of `holder` with hash `hash`.
pub fn key_entry(id: &str, holder: &KeyHolder, hash: &str) -> String {
    let who = match holder {
        KeyHolder::Platform => "role = \"platform\"".to_string(),
        KeyHolder::Ministry(m) => format!("ministry = \"{m}\""),
    };
    format!("{{ id = \"{id}\", {who}, hash = \"{hash}\" }}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_credentials_are_counted_by_address_and_by_ipv6_slash_64() {
        let key = |s: &str| crate::client_address::address_key(s.parse().expect("ip"));
        assert_eq!(key("192.0.2.7"), key("192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.7"), key("192.0.2.7"));
    }

    /// An authenticator holding `keys` (id, ministry, hash).
    fn holding(keys: &[(&str, &str, &str)]) -> Authenticator {
        let mut settings = crate::testing::config_without_secrets().gateway.admin;
        settings.keys = keys
            .iter()
            .map(|(id, ministry, hash)| AdminKey {
                id: (*id).into(),
                holder: KeyHolder::Ministry((*ministry).into()),
                hash: (*hash).into(),
            })
            .collect();
        Authenticator::new(&settings, Arc::clone(&crate::testing::parts().sso))
    }

    fn bearer_of(key: &str) -> String {
        format!("Bearer {key}")
    }

    #[tokio::test]
    async fn a_new_key_verifies_against_its_hash_and_nothing_else_does() {
        let (key, hash) = new_key("interior-1");
        assert!(key.starts_with("egov_interior-1_"));
        assert!(
            hash.starts_with("sha256:") && crate::config::is_key_hash(&hash),
            "{hash}"
        );
        let entry = key_entry("interior-1", &KeyHolder::Ministry("interior".into()), &hash);
        assert!(!entry.contains(&key), "the entry must not hold the key");
        let auth = holding(&[("interior-1", "interior", &hash)]);
        let client: IpAddr = "192.0.2.7".parse().expect("ip");
        let caller = auth
            .authenticate_from(Some(&bearer_of(&key)), client)
            .await
            .expect("the right key");
        assert_eq!(caller.ministry(), "interior");
        for wrong in [format!("{key}x"), key.replace("interior-1", "interior-2")] {
            assert_eq!(
                auth.authenticate_from(Some(&bearer_of(&wrong)), client)
                    .await,
                Err(Unauthenticated::Invalid),
                "{wrong}"
            );
        }
    }

    /// Found when tried (a hostile ministry's probe of the demo): 22 wrong keys naming
    /// `housing-demo`, from the address every ministry reaches the API from, got housing's
    /// right key a 429 for as long as they went on.
    #[tokio::test]
    async fn a_flood_of_wrong_keys_naming_an_id_does_not_lock_its_holder_out() {
        let (key, hash) = new_key("housing-demo");
        let auth = holding(&[("housing-demo", "housing", &hash)]);
        let shared: IpAddr = "10.0.0.9".parse().expect("ip");
        let wrong = bearer_of("egov_housing-demo_WRONGWRONGWRONGWRONGWRONGWRONGWRONG");
        let mut throttled = 0;
        for _ in 0..(FAILURES_ALLOWED + 10) {
            if let Err(Unauthenticated::Throttled { .. }) =
                auth.authenticate_from(Some(&wrong), shared).await
            {
                throttled += 1;
            }
        }
        assert_eq!(throttled, 10, "the flood itself is throttled");
        let caller = auth
            .authenticate_from(Some(&bearer_of(&key)), shared)
            .await
            .expect("the holder's right key");
        assert_eq!(caller.ministry(), "housing");
    }

    /// Keys printed by earlier versions, hashed with argon2, still verify.
    #[tokio::test]
    async fn a_key_hashed_with_argon2_by_an_earlier_version_still_verifies() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let key = "egov_old-1_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0";
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let hash = Argon2::default()
            .hash_password(key.as_bytes(), &salt)
            .expect("hash")
            .to_string();
        assert!(crate::config::is_key_hash(&hash));
        let auth = holding(&[("old-1", "interior", &hash)]);
        let client: IpAddr = "192.0.2.7".parse().expect("ip");
        assert!(auth
            .authenticate_from(Some(&bearer_of(key)), client)
            .await
            .is_ok());
        assert_eq!(
            auth.authenticate_from(Some(&bearer_of(&format!("{key}x"))), client)
                .await,
            Err(Unauthenticated::Invalid)
        );
        assert!(!crate::config::is_key_hash("egov_old-1_secret"));
        assert!(!crate::config::is_key_hash("sha256:abc"));
    }

    #[test]
    fn a_credential_is_counted_under_the_key_or_client_it_names() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let bearer = |t: &str| format!("Bearer {t}");
        assert_eq!(
            claimed_id(Some(&bearer("egov_interior-1_secret"))),
            "key:interior-1"
        );
        let token = format!(
            "{}.{}.sig",
            b64("{}"),
            b64(r#"{"client_id":"habous-sync"}"#)
        );
        assert_eq!(claimed_id(Some(&bearer(&token))), "client:habous-sync");
        let by_sub = format!("{}.{}.sig", b64("{}"), b64(r#"{"sub":"m2m"}"#));
        assert_eq!(claimed_id(Some(&bearer(&by_sub))), "client:m2m");
        for junk in ["bad1", "a.%%%.c", "egov_", ""] {
            assert_eq!(claimed_id(Some(&bearer(junk))), "", "{junk}");
        }
        let long = format!("egov_{}_s", "é".repeat(100));
        assert!(claimed_id(Some(&bearer(&long))).len() <= MAX_COUNTED_ID);
    }
}

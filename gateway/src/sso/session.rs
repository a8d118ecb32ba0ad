//! What the gateway remembers about a logged-in citizen, server-side.
//!
//! The browser only holds an opaque random id in a small cookie; tokens (however large the
//! provider makes them) stay here, so the cookie never grows and never leaks a token.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// 32 random bytes, base64url: unguessable ids for sessions, states and nonces.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the session store knows a session by: a digest of the cookie that names it, never
/// the cookie itself. Found when tried (a data-protection audit): the store's keys were the
/// citizens' session cookies (`egov:s:<cookie>`), and the origin sessions, indexes and rate
/// windows named them too, so anyone who could list Redis's keys (a backup, a replica,
/// `MONITOR`) could act as any signed-in citizen. The digest is a token's shape too, so it
/// keys, indexes and binds exactly as the cookie did; only a browser holds the cookie.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionHandle([u8; 43]);

impl SessionHandle {
    /// The handle of the session cookie (or origin cookie) `token`.
    pub fn of_cookie(token: &str) -> SessionHandle {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(b"egov session handle\0")
            .chain_update(token.as_bytes())
            .finalize();
        let mut out = [0u8; 43];
        // 32 bytes are 43 base64url characters without padding: always exactly fills it.
        let _ = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_slice(digest, &mut out);
        SessionHandle(out)
    }

    /// The handle as the store's keys write it.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionHandle(..)")
    }
}

/// Whether `s` could be a token made by [`random_token`] (cheap pre-check before a store
/// lookup, so junk cookies never reach Redis).
pub fn looks_like_token(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A logged-in session.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// The store key: the [`SessionHandle`] of the cookie, which only the browser holds.
    /// Never logged, never sent upstream.
    pub id: String,
    /// A second random id, safe to show ministries as the assertion's `sid`.
    pub public_id: String,
    /// The provider's subject.
    pub sub: String,
    /// The ID token's `iss` at login; a refreshed ID token must carry the same one (and the
    /// same `sub`). Empty in records written before it was kept.
    #[serde(default)]
    pub issuer: String,
    /// The provider's session id (`sid` claim), for back-channel logout.
    pub idp_sid: Option<String>,
    pub name: Option<String>,
    pub acr: Option<String>,
    /// Whether the ID token carried the configured professional claim.
    pub professional: bool,
    /// Empty: the ID token was kept for `id_token_hint` at logout, which no longer names
    /// it ([`super::provider::Provider::end_session_url`]). The field stays so that records
    /// written now are read by the version before (a rolling upgrade) and old ones by this.
    #[serde(default)]
    pub id_token: String,
    /// Empty: the provider's access token is never sent anywhere (legacy sites get the
    /// gateway's own assertion), so it is not kept. Found when tried (a bypass probe of a
    /// data-protection fix): read from Redis, it opened the citizen's `/userinfo` at the
    /// provider. The field stays for records written by the version before.
    #[serde(default)]
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Unix seconds.
    pub access_expires_at: u64,
    pub created_at: u64,
    pub last_seen: u64,
    pub absolute_expires_at: u64,
}

/// What the legacy cookies set in the session a request's cookie names are bound to
/// ([`egov_adapters::cookies::CookieBinding`]): a digest of that cookie, so a cookie set for
/// one citizen never reaches a site beside another's identity (a shared computer), no page
/// can name a session it does not hold, and neither can anyone who reads the session store,
/// which knows only the cookie's [`SessionHandle`] (found in review: derived from the
/// handle, a binding could be made by whoever listed Redis's keys).
pub fn cookie_binding_of(cookie: &str) -> egov_adapters::cookies::CookieBinding {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(b"egov legacy cookie binding\0")
        .chain_update(cookie.as_bytes())
        .finalize();
    egov_adapters::cookies::CookieBinding::from_digest(&digest.into())
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("public_id", &self.public_id)
            .field("name", &self.name)
            .field("professional", &self.professional)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// When the session ends if unused, given the idle timeout.
    pub fn idle_expires_at(&self, idle: Duration) -> u64 {
        (self.last_seen + idle.as_secs()).min(self.absolute_expires_at)
    }

    /// Whether the session is over at `now`.
    pub fn expired(&self, now: u64, idle: Duration) -> bool {
        now >= self.idle_expires_at(idle)
    }

    /// How long a store should keep it from `now`.
    pub fn ttl(&self, now: u64, idle: Duration) -> Duration {
        Duration::from_secs(self.idle_expires_at(idle).saturating_sub(now).max(1))
    }
}

/// A login in progress, between `/auth/login` and `/auth/callback`, keyed by `state`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingLogin {
    pub pkce_verifier: String,
    pub nonce: String,
    /// Same-origin relative path to go back to.
    pub return_to: String,
    pub created_at: u64,
    /// The address that started it, to take it off that address's count when it completes.
    #[serde(default)]
    pub client: Option<std::net::IpAddr>,
    /// The provider was asked to authenticate the citizen again (after a logout, or a
    /// session that ended): the ID token must say it did, at or after `created_at`.
    #[serde(default)]
    pub reauthenticate: bool,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

/// A service origin's session: a child of the citizen's portal session, bound to one
/// service's origin. It holds no identity of its own: every request on that origin reads the
/// portal session through it, so whatever ends the portal session (logout, back-channel
/// logout, expiry, on any instance) ends every child with it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OriginSession {
    /// The portal session it belongs to.
    pub parent: String,
    /// The service whose origin it was issued for.
    pub service: String,
    pub created_at: u64,
}

/// A one-time code that hands a signed-in citizen from the portal origin to one service's
/// origin: issued by the portal, exchanged once, server-side, by that origin only, within
/// `sessions.origin_code_ttl`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HopCode {
    /// The portal session the new origin session will belong to.
    pub parent: String,
    /// The only service whose origin may exchange it.
    pub service: String,
    /// Where on that origin the citizen goes next (a relative path).
    pub return_to: String,
    pub created_at: u64,
    /// The SHA-256 (hex) of the nonce the service origin gave the browser that asked for
    /// the code (its hop cookie): only that browser can exchange it.
    #[serde(default)]
    pub binding: String,
}

impl std::fmt::Debug for HopCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HopCode")
            .field("service", &self.service)
            .field("return_to", &self.return_to)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl Session {
    /// A fresh session of `sub` (and provider session `idp_sid`), for tests.
    pub(crate) fn for_test(sub: &str, idp_sid: Option<&str>) -> Session {
        let now = now_secs();
        Session {
            id: random_token(),
            public_id: random_token(),
            sub: sub.into(),
            issuer: "https://idp.test".into(),
            idp_sid: idp_sid.map(str::to_string),
            name: None,
            acr: None,
            professional: false,
            id_token: String::new(),
            access_token: String::new(),
            refresh_token: None,
            access_expires_at: now + 300,
            created_at: now,
            last_seen: now,
            absolute_expires_at: now + 3600,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found in review: a binding derived from the store's handle could be made by whoever
    /// read the store; made from the cookie, the handle gives none.
    #[test]
    fn the_stores_handle_gives_neither_the_session_nor_its_binding() {
        let cookie = random_token();
        let handle = SessionHandle::of_cookie(&cookie);
        assert_ne!(handle.as_str(), cookie);
        assert_ne!(SessionHandle::of_cookie(handle.as_str()), handle);
        assert!(cookie_binding_of(handle.as_str()) != cookie_binding_of(&cookie));
    }

    #[test]
    fn random_tokens_are_unique_and_recognised() {
        let a = random_token();
        assert!(looks_like_token(&a));
        assert_ne!(a, random_token());
        assert!(!looks_like_token("forged"));
        assert!(!looks_like_token(&format!("{}!", &a[..42])));
    }

    #[test]
    fn idle_expiry_never_passes_the_absolute_one() {
        let s = Session {
            last_seen: 100,
            absolute_expires_at: 150,
            ..Session::for_test("u", None)
        };
        assert_eq!(s.idle_expires_at(Duration::from_secs(30)), 130);
        assert_eq!(s.idle_expires_at(Duration::from_secs(300)), 150);
        assert!(s.expired(150, Duration::from_secs(300)));
        assert!(!s.expired(129, Duration::from_secs(30)));
    }
}

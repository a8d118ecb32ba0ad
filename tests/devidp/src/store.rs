//! The dev IdP's memory: IdP login sessions (the SSO cookie), authorization codes, access
//! tokens and refresh tokens, each with its expiry. One mutex around plain maps is plenty for
//! a demo; expired entries are swept whenever something new is stored, so a long demo does
//! not grow without bound. Logging out a session revokes every token issued under it, which
//! lets the gateway's tests see a refresh fail after logout.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::citizens::Citizen;
use crate::jose::random_token;

/// How long a code may wait before it is redeemed.
pub(crate) const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a refresh token lives (rotation issues a new one with a new lifetime).
pub(crate) const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);
/// How long the IdP's own login session lasts.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// A citizen logged in at the IdP: the `sid` shared by all clients they used.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub sid: String,
    pub citizen: &'static Citizen,
    /// Unix seconds of the login.
    pub auth_time: u64,
    /// The clients that received tokens in this session (back-channel logout targets).
    pub clients: BTreeSet<String>,
    expires: Instant,
}

/// What a code was issued for; checked again when it is redeemed.
#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub nonce: String,
    pub code_challenge: String,
    pub scope: String,
    pub sid: String,
    pub citizen: &'static Citizen,
    pub auth_time: u64,
}

/// What a token (access or refresh) stands for.
#[derive(Debug, Clone)]
pub(crate) struct TokenGrant {
    pub client_id: String,
    pub scope: String,
    pub sid: String,
    pub citizen: &'static Citizen,
    pub auth_time: u64,
}

#[derive(Debug)]
struct Code {
    grant: CodeGrant,
    expires: Instant,
    /// Tokens issued when it was redeemed: revoked if the code is replayed (RFC 6749 §4.1.2).
    redeemed: Option<(String, String)>,
}

#[derive(Debug)]
struct Token {
    grant: TokenGrant,
    expires: Instant,
}

/// Why a code could not be redeemed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CodeProblem {
    Unknown,
    Expired,
    Replayed,
}

/// All the state.
#[derive(Debug, Default)]
pub(crate) struct Store {
    sessions: HashMap<String, Session>,
    codes: HashMap<String, Code>,
    access: HashMap<String, Token>,
    refresh: HashMap<String, Token>,
}

impl Store {
    /// Starts an IdP session for `citizen`; returns its id (the cookie value and `sid`).
    pub fn new_session(&mut self, citizen: &'static Citizen, auth_time: u64) -> String {
        self.sweep();
        let sid = random_token();
        self.sessions.insert(
            sid.clone(),
            Session {
                sid: sid.clone(),
                citizen,
                auth_time,
                clients: BTreeSet::new(),
                expires: Instant::now() + SESSION_TTL,
            },
        );
        sid
    }

    /// The live session `sid`.
    pub fn session(&self, sid: &str) -> Option<&Session> {
        self.sessions
            .get(sid)
            .filter(|s| s.expires > Instant::now())
    }

    /// Ends session `sid`, revoking its tokens; returns it so its clients can be told.
    pub fn end_session(&mut self, sid: &str) -> Option<Session> {
        let session = self.sessions.remove(sid)?;
        self.access.retain(|_, t| t.grant.sid != sid);
        self.refresh.retain(|_, t| t.grant.sid != sid);
        self.codes.retain(|_, c| c.grant.sid != sid);
        Some(session)
    }

    /// Issues a code for `grant`.
    pub fn new_code(&mut self, grant: CodeGrant) -> String {
        self.sweep();
        let code = random_token();
        self.codes.insert(
            code.clone(),
            Code {
                grant,
                expires: Instant::now() + CODE_TTL,
                redeemed: None,
            },
        );
        code
    }

    /// Takes the code's grant, once. A second attempt fails and revokes what the first got.
    pub fn redeem_code(&mut self, code: &str) -> Result<CodeGrant, CodeProblem> {
        let entry = self.codes.get_mut(code).ok_or(CodeProblem::Unknown)?;
        if let Some((access, refresh)) = entry.redeemed.take() {
            self.access.remove(&access);
            self.refresh.remove(&refresh);
            return Err(CodeProblem::Replayed);
        }
        if entry.expires <= Instant::now() {
            self.codes.remove(code);
            return Err(CodeProblem::Expired);
        }
        // Marked as used even if the rest of the exchange fails: codes are single-use.
        entry.redeemed = Some((String::new(), String::new()));
        Ok(entry.grant.clone())
    }

    /// Issues an access token and a refresh token for `grant`, records the client in the
    /// session, and, when they come from `code`, remembers them in case the code is replayed.
    pub fn issue_tokens(
        &mut self,
        grant: TokenGrant,
        access_ttl: Duration,
        code: Option<&str>,
    ) -> (String, String) {
        let access = random_token();
        let refresh = random_token();
        let now = Instant::now();
        if let Some(session) = self.sessions.get_mut(&grant.sid) {
            session.clients.insert(grant.client_id.clone());
        }
        if let Some(entry) = code.and_then(|c| self.codes.get_mut(c)) {
            entry.redeemed = Some((access.clone(), refresh.clone()));
        }
        self.access.insert(
            access.clone(),
            Token {
                grant: grant.clone(),
                expires: now + access_ttl,
            },
        );
        self.refresh.insert(
            refresh.clone(),
            Token {
                grant,
                expires: now + REFRESH_TOKEN_TTL,
            },
        );
        (access, refresh)
    }

    /// Takes refresh token `token` (rotation: it is gone afterwards) if it is live and was
    /// issued to `client_id`.
    pub fn take_refresh(&mut self, token: &str, client_id: &str) -> Option<TokenGrant> {
        let entry = self.refresh.get(token)?;
        if entry.grant.client_id != client_id {
            return None;
        }
        let entry = self.refresh.remove(token)?;
        (entry.expires > Instant::now()).then_some(entry.grant)
    }

    /// The grant behind a live access token.
    pub fn access(&self, token: &str) -> Option<&TokenGrant> {
        self.access
            .get(token)
            .filter(|t| t.expires > Instant::now())
            .map(|t| &t.grant)
    }

    /// Drops whatever has expired. Redeemed codes are kept until their expiry so a replay
    /// within the code's lifetime is still detected.
    fn sweep(&mut self) {
        let now = Instant::now();
        self.sessions.retain(|_, s| s.expires > now);
        self.codes.retain(|_, c| c.expires > now);
        self.access.retain(|_, t| t.expires > now);
        self.refresh.retain(|_, t| t.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::citizens::citizens;

    fn code_grant(sid: &str) -> CodeGrant {
        CodeGrant {
            client_id: "gw".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            nonce: "n".into(),
            code_challenge: "c".into(),
            scope: "openid".into(),
            sid: sid.into(),
            citizen: &citizens()[0],
            auth_time: 1,
        }
    }

    fn token_grant(g: &CodeGrant) -> TokenGrant {
        TokenGrant {
            client_id: g.client_id.clone(),
            scope: g.scope.clone(),
            sid: g.sid.clone(),
            citizen: g.citizen,
            auth_time: g.auth_time,
        }
    }

    #[test]
    fn a_replayed_code_is_refused_and_revokes_its_tokens() {
        let mut store = Store::default();
        let sid = store.new_session(&citizens()[0], 1);
        let code = store.new_code(code_grant(&sid));
        let grant = store.redeem_code(&code).expect("first use");
        let (access, refresh) =
            store.issue_tokens(token_grant(&grant), Duration::from_secs(60), Some(&code));
        assert!(store.access(&access).is_some());
        assert_eq!(store.redeem_code(&code).err(), Some(CodeProblem::Replayed));
        assert!(store.access(&access).is_none());
        assert!(store.take_refresh(&refresh, "gw").is_none());
        assert_eq!(store.redeem_code("nope").err(), Some(CodeProblem::Unknown));
    }

    #[test]
    fn ending_a_session_revokes_its_tokens_and_lists_its_clients() {
        let mut store = Store::default();
        let sid = store.new_session(&citizens()[1], 1);
        let grant = token_grant(&code_grant(&sid));
        let (access, refresh) = store.issue_tokens(grant, Duration::from_secs(60), None);
        let ended = store.end_session(&sid).expect("live session");
        assert!(ended.clients.contains("gw"));
        assert!(store.access(&access).is_none());
        assert!(store.take_refresh(&refresh, "gw").is_none());
    }

    #[test]
    fn refresh_tokens_are_bound_to_their_client_and_single_use() {
        let mut store = Store::default();
        let sid = store.new_session(&citizens()[2], 1);
        let grant = token_grant(&code_grant(&sid));
        let (_, refresh) = store.issue_tokens(grant, Duration::from_secs(60), None);
        assert!(store.take_refresh(&refresh, "other").is_none());
        assert!(store.take_refresh(&refresh, "gw").is_some());
        assert!(store.take_refresh(&refresh, "gw").is_none());
    }
}

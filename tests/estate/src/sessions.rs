//! Java servlet sessions of `jsessionid` sites.
//!
//! Each such site keeps its own server-side table of sessions (a visit
//! counter per id), like each Tomcat did. A request whose `JSESSIONID` cookie
//! names no session of *this* site gets a new one and a
//! `Set-Cookie: JSESSIONID=...; Path=/; HttpOnly` — which is exactly what
//! breaks when two such sites share a hostname and the gateway does not keep
//! their cookies apart.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::chaos;

/// Sessions beyond this many are all forgotten at once (like a restart), so
/// cookie-less load tests cannot grow memory without bound.
const MAX_SESSIONS: usize = 50_000;

/// Name of the session cookie.
pub(crate) const COOKIE: &str = "JSESSIONID";

/// One site's session table.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    visits: HashMap<String, u64>,
    created: u64,
}

/// The session a request was served in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Visit {
    /// The session id.
    pub(crate) id: String,
    /// Requests seen in this session, this one included.
    pub(crate) visits: u64,
    /// Whether the session was created by this request.
    pub(crate) new: bool,
}

impl Sessions {
    /// Counts a visit in the first known session among `candidates` (the
    /// request's `JSESSIONID` values), or creates a session.
    pub(crate) fn visit<'a>(
        &self,
        seed: u64,
        site_index: usize,
        candidates: impl IntoIterator<Item = &'a str>,
    ) -> Visit {
        let mut table = self
            .table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for id in candidates {
            if let Some(visits) = table.visits.get_mut(id) {
                *visits += 1;
                return Visit {
                    id: id.to_string(),
                    visits: *visits,
                    new: false,
                };
            }
        }
        if table.visits.len() >= MAX_SESSIONS {
            table.visits.clear();
        }
        let n = table.created;
        table.created += 1;
        let id = chaos::session_id(seed, site_index, n);
        table.visits.insert(id.clone(), 1);
        Visit {
            id,
            visits: 1,
            new: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_session_counts_visits_and_unknown_creates_one() {
        let sessions = Sessions::default();
        let first = sessions.visit(1, 0, ["nope"]);
        assert!(first.new);
        let second = sessions.visit(1, 0, ["nope", first.id.as_str()]);
        assert_eq!(second.visits, 2);
        assert!(!second.new);
        assert_eq!(second.id, first.id);
    }
}

//! Header editing that works on any header container, and per-service header rules.
//!
//! The gateway's headers live in pingora types that must be edited through their own
//! methods (they keep the original header-name case); tests use `http::HeaderMap`.
//! [`HeaderEdit`] is the small surface both provide, so adapters never see either.

use http::{HeaderMap, HeaderName, HeaderValue};
use rustc_hash::FxBuildHasher;
use std::collections::HashSet;

/// What an adapter may do to a set of headers.
pub trait HeaderEdit {
    /// The first value of `name`.
    fn get(&self, name: &HeaderName) -> Option<&HeaderValue>;
    /// All values of `name`, in order.
    fn get_all(&self, name: &HeaderName) -> Vec<HeaderValue>;
    /// Replaces every value of `name` with `value`.
    fn set(&mut self, name: HeaderName, value: HeaderValue);
    /// Adds a value, keeping existing ones.
    fn append(&mut self, name: HeaderName, value: HeaderValue);
    /// Removes every value of `name`.
    fn remove(&mut self, name: &HeaderName);
    /// Removes every value of each header in `names` (a deny list), its prefixes included:
    /// a container must look at the names it holds, not only at the set's.
    fn remove_any(&mut self, names: &HeaderSet);
}

/// A set of header names compiled once (a deny list), asked about each header a message
/// carries. A request carries a handful of headers and the lists are long (every spelling
/// of every identity header): most headers are ruled out by their name's length alone, one
/// bit test, and the rest by one lookup with a fast hash, never by walking the list.
#[derive(Debug, Clone, Default)]
pub struct HeaderSet {
    names: Vec<HeaderName>,
    index: HashSet<HeaderName, FxBuildHasher>,
    /// Bit `n` set when a name `n` bytes long is in the set (bit 63: 63 bytes or more).
    lengths: u64,
    /// Families of names with an open end (`OIDC_CLAIM_<claim>`), written with `-`: a
    /// name's `_` matches a prefix's `-` (see [`spellings`]). Only [`Self::contains`] and
    /// what uses it ([`Self::present_in`], [`Self::any_in`]) see them.
    prefixes: Vec<&'static str>,
    /// Bit `b % 64` set when a prefix begins with byte `b`: most names are ruled out by
    /// their first byte.
    prefix_starts: u64,
}

fn length_bit(name: &HeaderName) -> u64 {
    1u64 << name.as_str().len().min(63)
}

impl HeaderSet {
    /// Whether `name` is in the set.
    pub fn contains(&self, name: &HeaderName) -> bool {
        (self.lengths & length_bit(name) != 0 && self.index.contains(name))
            || self.has_prefix_of(name.as_str().as_bytes())
    }

    /// The set, also holding every name that begins with one of `prefixes` (lowercase,
    /// written with `-`; an `_` in a name matches a `-`).
    pub fn with_prefixes(mut self, prefixes: &[&'static str]) -> Self {
        for p in prefixes {
            if let Some(&first) = p.as_bytes().first() {
                self.prefix_starts |= 1u64 << (first % 64);
                self.prefixes.push(p);
            }
        }
        self
    }

    fn has_prefix_of(&self, name: &[u8]) -> bool {
        let Some(&first) = name.first() else {
            return false;
        };
        self.prefix_starts & (1u64 << (first % 64)) != 0
            && self.prefixes.iter().any(|p| {
                name.len() >= p.len()
                    && name
                        .iter()
                        .zip(p.as_bytes())
                        .all(|(&n, &p)| n == p || (n == b'_' && p == b'-'))
            })
    }

    /// The names, in the order given.
    pub fn names(&self) -> &[HeaderName] {
        &self.names
    }

    /// Whether `headers` carries any name of the set: one pass over the headers present.
    pub fn any_in(&self, headers: &HeaderMap) -> bool {
        headers.keys().any(|k| self.contains(k))
    }

    /// The names of the set `headers` carries, each once (`HeaderMap::keys` yields a name
    /// once however many values it has); allocates only when there are some.
    pub fn present_in(&self, headers: &HeaderMap) -> Vec<HeaderName> {
        headers
            .keys()
            .filter(|k| self.contains(k))
            .cloned()
            .collect()
    }
}

impl FromIterator<HeaderName> for HeaderSet {
    fn from_iter<I: IntoIterator<Item = HeaderName>>(iter: I) -> Self {
        let mut set = Self::default();
        for name in iter {
            if set.index.insert(name.clone()) {
                set.lengths |= length_bit(&name);
                set.names.push(name);
            }
        }
        set
    }
}

impl HeaderEdit for HeaderMap {
    fn get(&self, name: &HeaderName) -> Option<&HeaderValue> {
        HeaderMap::get(self, name)
    }
    fn get_all(&self, name: &HeaderName) -> Vec<HeaderValue> {
        HeaderMap::get_all(self, name).iter().cloned().collect()
    }
    fn set(&mut self, name: HeaderName, value: HeaderValue) {
        self.insert(name, value);
    }
    fn append(&mut self, name: HeaderName, value: HeaderValue) {
        HeaderMap::append(self, name, value);
    }
    fn remove(&mut self, name: &HeaderName) {
        HeaderMap::remove(self, name);
    }
    fn remove_any(&mut self, names: &HeaderSet) {
        for name in names.present_in(self) {
            HeaderMap::remove(self, &name);
        }
    }
}

/// Removes every request field whose name is not made of letters, digits and hyphens, as
/// nginx does by default (`ignore_invalid_headers`, `underscores_in_headers off`). CGI,
/// PHP, Apache's `http2env` and lighttpd turn every other character of a name into `_`, so
/// `X.Citizen.Id`, `X~Citizen~Id` and `X_Citizen_Id` all reach a legacy application as
/// `HTTP_X_CITIZEN_ID`: a deny list of spellings cannot keep up (found when tried: a dotted
/// copy of the identity header went through). Allocates only when there is one to remove.
pub fn remove_unusual_names(headers: &mut HeaderMap) {
    let usual = |name: &HeaderName| {
        name.as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if headers.keys().all(usual) {
        return;
    }
    let unusual: Vec<HeaderName> = headers.keys().filter(|n| !usual(n)).cloned().collect();
    for name in &unusual {
        headers.remove(name);
    }
}

/// The hop-by-hop fields of HTTP/1.1 (RFC 9110 §7.6.1) and the proxy-authentication ones,
/// which describe one connection, not the message; `Connection` itself is read and removed
/// on its own.
static HOP_BY_HOP: std::sync::LazyLock<HeaderSet> = std::sync::LazyLock::new(|| {
    [
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        "proxy-authentication-info",
    ]
    .into_iter()
    .map(HeaderName::from_static)
    .collect()
});

/// Whether `headers` name one upgrade, to the WebSocket protocol (one `Upgrade` field,
/// `websocket` in any case): the only upgrade the gateway lets a citizen ask for and a site
/// switch to.
pub fn upgrade_is_websocket(headers: &HeaderMap) -> bool {
    let mut upgrades = headers.get_all(http::header::UPGRADE).iter();
    matches!(
        (upgrades.next(), upgrades.next()),
        (Some(one), None) if one.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket")
    )
}

/// Removes what belongs to the connection a message came in on, before the message goes
/// out on another: the fields its `Connection` header names, then the hop-by-hop ones. A
/// proxy must (RFC 9110 §7.6.1): a legacy `TE: gzip` made the answer malformed over
/// HTTP/2, which browsers drop, and `Connection: X-Internal-Token` is the site's way of
/// saying the token is for the proxy only. A `101`'s `Connection: upgrade` and `Upgrade`
/// are its handshake and stay (the rest goes: found when tried), as does a `426`'s
/// `Upgrade` (which it must carry). The framing fields are the HTTP library's and are not
/// touched. On the answer path: one lookup for `Connection`, one pass over the names (a
/// length test rules most out) for the rest, and an allocation only when one is there.
pub fn remove_hop_by_hop(headers: &mut HeaderMap, status: u16) {
    let handshake = status == 101;
    let mut nominated: Vec<HeaderName> = Vec::new();
    for value in headers.get_all(http::header::CONNECTION) {
        let Ok(text) = value.to_str() else { continue };
        for token in text.split(',').map(str::trim) {
            let usual = ["close", "keep-alive", "upgrade", ""]
                .iter()
                .any(|u| token.eq_ignore_ascii_case(u));
            if usual {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
                    nominated.push(name);
                }
            }
        }
    }
    for name in &nominated {
        headers.remove(name);
    }
    if handshake {
        if headers.contains_key(http::header::CONNECTION) {
            // Only the upgrade it announces, not the names of fields just removed.
            headers.insert(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
        }
    } else {
        headers.remove(http::header::CONNECTION);
    }
    if !HOP_BY_HOP.any_in(headers) {
        return;
    }
    for name in HOP_BY_HOP.present_in(headers) {
        let kept = name == http::header::UPGRADE && (handshake || status == 426);
        if !kept {
            headers.remove(&name);
        }
    }
}

/// Header edits for one direction, compiled from config: remove, then rename, then set.
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    remove: Vec<HeaderName>,
    rename: Vec<(HeaderName, HeaderName)>,
    set: Vec<(HeaderName, HeaderValue)>,
}

/// A rule named a header or value that is not valid HTTP.
#[derive(Debug, thiserror::Error)]
pub enum HeaderRuleError {
    #[error("{0:?} is not a valid header name")]
    Name(String),
    #[error("the value for {0:?} is not a valid header value")]
    Value(String),
}

fn name(s: &str) -> Result<HeaderName, HeaderRuleError> {
    HeaderName::from_bytes(s.as_bytes()).map_err(|_| HeaderRuleError::Name(s.to_string()))
}

impl HeaderRules {
    /// Compiles rules from their textual form.
    pub fn new(
        remove: &[String],
        rename: &[(String, String)],
        set: &[(String, String)],
    ) -> Result<Self, HeaderRuleError> {
        Ok(Self {
            remove: remove.iter().map(|n| name(n)).collect::<Result<_, _>>()?,
            rename: rename
                .iter()
                .map(|(a, b)| Ok((name(a)?, name(b)?)))
                .collect::<Result<_, HeaderRuleError>>()?,
            set: set
                .iter()
                .map(|(n, v)| {
                    let value =
                        HeaderValue::from_str(v).map_err(|_| HeaderRuleError::Value(n.clone()))?;
                    Ok((name(n)?, value))
                })
                .collect::<Result<_, HeaderRuleError>>()?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.rename.is_empty() && self.set.is_empty()
    }

    /// The headers the rules rename (their sources): a request's own headers the service
    /// asked to have passed on under another name.
    pub fn renamed(&self) -> impl Iterator<Item = &HeaderName> + Clone {
        self.rename.iter().map(|(from, _)| from)
    }

    /// Applies the rules to `headers`.
    pub fn apply(&self, headers: &mut impl HeaderEdit) {
        for n in &self.remove {
            headers.remove(n);
        }
        for (from, to) in &self.rename {
            let values = headers.get_all(from);
            if values.is_empty() {
                continue;
            }
            headers.remove(from);
            headers.remove(to);
            for v in values {
                headers.append(to.clone(), v);
            }
        }
        for (n, v) in &self.set {
            headers.set(n.clone(), v.clone());
        }
    }
}

/// Every spelling of `name` with any of its `-` written `_`, `name` itself first. CGI, PHP
/// and many other stacks map `_` and `-` alike (`X_Remote_User` arrives as
/// `HTTP_X_REMOTE_USER`, just like `X-Remote-User`), so each spelling must be stripped.
/// Header names are stored lower-case, so case needs no variants.
pub fn spellings(name: &HeaderName) -> Vec<HeaderName> {
    let dashes: Vec<usize> = name.as_str().match_indices('-').map(|(i, _)| i).collect();
    // Past a few dashes, only the fully underscored spelling (no real header gets there).
    let masks: Vec<u32> = match dashes.len() {
        0 => vec![0],
        n if n <= 6 => (0..1u32 << n).collect(),
        n => vec![0, (1u32 << n.min(31)) - 1],
    };
    masks
        .into_iter()
        .filter_map(|mask| {
            let mut bytes = name.as_str().as_bytes().to_vec();
            for (bit, at) in dashes.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    bytes[*at] = b'_';
                }
            }
            HeaderName::from_bytes(&bytes).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_upgrade_to_websocket_is_a_websocket_upgrade() {
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(
                    http::header::UPGRADE,
                    HeaderValue::from_str(v).expect("a value"),
                );
            }
            upgrade_is_websocket(&h)
        };
        assert!(with(&["websocket"]) && with(&["WebSocket"]));
        for not in [
            &[][..],
            &["h2c"],
            &["websocket, h2c"],
            &["websocket", "h2c"],
            &["websocket/13"],
        ] {
            assert!(!with(not), "{not:?}");
        }
    }

    #[test]
    fn names_nginx_would_ignore_are_removed_and_the_rest_kept() {
        let mut h = HeaderMap::new();
        for name in [
            "x.citizen.id",
            "x~citizen~id",
            "x_citizen_id",
            "x*a",
            "x-ok",
            "accept",
        ] {
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).expect("a name"),
                HeaderValue::from_static("v"),
            );
        }
        remove_unusual_names(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["accept", "x-ok"]);
    }

    #[test]
    fn a_switching_protocols_answer_keeps_its_handshake() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("Upgrade, X-Token"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("x-token", HeaderValue::from_static("secret"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        remove_hop_by_hop(&mut h, 101);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h["connection"], "upgrade");
        remove_hop_by_hop(&mut h, 426);
        assert_eq!(h.len(), 1, "a 426 keeps its Upgrade: {h:?}");
        remove_hop_by_hop(&mut h, 200);
        assert!(h.is_empty(), "{h:?}");
    }

    #[test]
    fn the_fields_connection_names_go_but_never_the_framing() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("close, X-Token , content-length"),
        );
        h.insert("x-token", HeaderValue::from_static("secret"));
        h.insert("content-length", HeaderValue::from_static("2"));
        remove_hop_by_hop(&mut h, 200);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("content-length"));
    }

    #[test]
    fn remove_any_takes_every_value_of_every_listed_header_and_nothing_else() {
        let deny: HeaderSet = [
            HeaderName::from_static("x-original-url"),
            HeaderName::from_static("true-client-ip"),
        ]
        .into_iter()
        .collect();
        let mut h = HeaderMap::new();
        h.append("true-client-ip", HeaderValue::from_static("1.2.3.4"));
        h.append("true-client-ip", HeaderValue::from_static("5.6.7.8"));
        h.append("accept", HeaderValue::from_static("*/*"));
        assert!(deny.any_in(&h));
        h.remove_any(&deny);
        assert!(h.get("true-client-ip").is_none());
        assert_eq!(h.len(), 1);
        assert!(!deny.any_in(&h));
        // Nothing listed present: nothing changes.
        h.remove_any(&deny);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn a_header_set_tells_names_of_the_same_length_apart() {
        // "x-real-ip" and "forwarded" are both 9 bytes: the length only rules names out.
        let set: HeaderSet = [HeaderName::from_static("x-real-ip")].into_iter().collect();
        assert!(set.contains(&HeaderName::from_static("x-real-ip")));
        assert!(!set.contains(&HeaderName::from_static("forwarded")));
        assert!(!set.contains(&HeaderName::from_static("host")));
        // Names of 63 bytes and more share one length bit and are still compared.
        let long = HeaderName::from_bytes(&[b'x'; 80]).expect("name");
        let longer = HeaderName::from_bytes(&[b'x'; 90]).expect("name");
        let set: HeaderSet = [long.clone()].into_iter().collect();
        assert!(set.contains(&long));
        assert!(!set.contains(&longer));
    }

    fn rules() -> HeaderRules {
        HeaderRules::new(
            &["x-powered-by".into()],
            &[("x-old".into(), "x-new".into())],
            &[("x-portal".into(), "1".into())],
        )
        .expect("valid rules")
    }

    #[test]
    fn rules_remove_rename_and_set_in_order() {
        let mut h = HeaderMap::new();
        h.insert("x-powered-by", HeaderValue::from_static("ASP.NET"));
        h.append("x-old", HeaderValue::from_static("a"));
        h.append("x-old", HeaderValue::from_static("b"));
        rules().apply(&mut h);
        assert!(h.get("x-powered-by").is_none());
        assert!(h.get("x-old").is_none());
        let renamed: Vec<_> = h.get_all("x-new").iter().collect();
        assert_eq!(renamed, vec!["a", "b"]);
        assert_eq!(h.get("x-portal").map(|v| v.as_bytes()), Some(&b"1"[..]));
    }

    #[test]
    fn invalid_header_names_are_refused() {
        assert!(HeaderRules::new(&["bad header".into()], &[], &[]).is_err());
    }

    #[test]
    fn every_mix_of_dashes_and_underscores_is_a_spelling() {
        let all = spellings(&HeaderName::from_static("x-auth-request-user"));
        assert_eq!(all.len(), 8);
        assert_eq!(all[0], "x-auth-request-user");
        assert!(all.iter().any(|n| n == "x_auth-request_user"));
        assert_eq!(spellings(&HeaderName::from_static("user")).len(), 1);
    }
}

//! `X-Forwarded-For/-Proto/-Host`: what the legacy site learns about the citizen's request.
//!
//! Legacy sites log, rate-limit and sometimes refuse requests on these headers, so the
//! gateway sets them itself. Values a client sent are believed only when the connection
//! comes from a configured trusted proxy (a load balancer in front of the gateway); from
//! anyone else they are replaced, so a citizen cannot pretend to be someone else.

use crate::client_address::TrustedProxies;
use egov_adapters::headers::{spellings, HeaderEdit, HeaderSet};
use http::{HeaderName, HeaderValue};
use std::net::IpAddr;
use std::sync::LazyLock;

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The headers in which proxies describe the client; a request the gateway builds itself
/// (the SOAP facade) copies a trusted proxy's before [`Client::apply`] extends them.
pub const FORWARDING_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-real-ip"),
    HeaderName::from_static("forwarded"),
];

/// The downstream connection, as far as forwarding headers are concerned.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// The TCP peer (the citizen, or a trusted proxy); an IPv4 peer of a listener on both
    /// families in its IPv4 form, as legacy sites expect it in `X-Forwarded-For`.
    pub peer: Option<IpAddr>,
    /// Whether the peer is a trusted proxy.
    pub trusted: bool,
    /// Whether the connection to the gateway is TLS.
    pub tls: bool,
}

impl Client {
    pub fn new(peer: Option<IpAddr>, trusted_proxies: &TrustedProxies, tls: bool) -> Self {
        let peer = peer.map(|ip| ip.to_canonical());
        let trusted = peer.is_some_and(|ip| trusted_proxies.trusts(ip));
        Self { peer, trusted, tls }
    }

    /// The citizen's address, for logs and traces. Each trusted proxy appends the address
    /// it received the request from, so walking `X-Forwarded-For` from the right, the first
    /// entry that is not itself a trusted proxy is the citizen; everything left of it was
    /// written by the client and proves nothing. Without a trusted peer, the TCP peer.
    /// (When every entry is a trusted proxy, the left-most one; an unparseable entry ends
    /// the walk at the last address a trusted proxy vouched for.)
    pub fn citizen_ip(
        &self,
        headers: &http::HeaderMap,
        trusted_proxies: &TrustedProxies,
    ) -> Option<IpAddr> {
        if !self.trusted {
            return self.peer;
        }
        let entries = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .rev();
        let mut citizen = self.peer;
        for entry in entries {
            let Some(ip) = parse_entry(entry).map(|ip| ip.to_canonical()) else {
                break;
            };
            citizen = Some(ip);
            if !trusted_proxies.trusts(ip) {
                break;
            }
        }
        citizen
    }

    /// Sets the forwarding headers on the upstream request. `host` is the Host the citizen
    /// asked for.
    pub fn apply(&self, headers: &mut impl HeaderEdit, host: Option<&HeaderValue>) {
        // First what no client may send (fewer headers to look through than after ours).
        if !self.trusted {
            // Alternative spellings of the same claims; only trusted proxies may make them.
            headers.remove_any(&ALTERNATIVE_SPELLINGS);
        }
        headers.remove_any(&SPOOFABLE_SET);
        let xff = if self.trusted {
            self.extended_chain(headers)
        } else {
            // The common case, on every request: the TCP peer alone, formatted without a
            // `String`.
            self.peer.and_then(address_value)
        };
        match xff {
            Some(v) => headers.set(X_FORWARDED_FOR.clone(), v),
            None => headers.remove(&X_FORWARDED_FOR),
        }

        if !(self.trusted && headers.get(&X_FORWARDED_PROTO).is_some()) {
            let proto = if self.tls { "https" } else { "http" };
            headers.set(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
        }
        if !(self.trusted && headers.get(&X_FORWARDED_HOST).is_some()) {
            match host {
                Some(h) => headers.set(X_FORWARDED_HOST.clone(), h.clone()),
                None => headers.remove(&X_FORWARDED_HOST),
            }
        }
    }
}

impl Client {
    /// A trusted proxy's chain, over every header line (some proxies add a line of their own
    /// instead of appending to the client's), as `citizen_ip` reads it, extended with the
    /// proxy's own address.
    fn extended_chain(&self, headers: &impl HeaderEdit) -> Option<HeaderValue> {
        let existing: Vec<String> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        let chain = (!existing.is_empty()).then(|| existing.join(", "));
        let xff = match (chain, self.peer) {
            (Some(chain), Some(peer)) => format!("{chain}, {peer}"),
            (None, Some(peer)) => return address_value(peer),
            (Some(chain), None) => chain,
            (None, None) => return None,
        };
        HeaderValue::from_str(&xff).ok()
    }
}

/// An address as a header value, formatted on the stack ([`crate::ip_text::write_address`]).
pub fn address_value(ip: IpAddr) -> Option<HeaderValue> {
    HeaderValue::from_bytes(crate::ip_text::write_address(ip, &mut [0; 48])).ok()
}

/// `Forwarded` and `X-Real-IP`: what [`Client::apply`] removes unless a trusted proxy sent them.
static ALTERNATIVE_SPELLINGS: LazyLock<HeaderSet> =
    LazyLock::new(|| [FORWARDED.clone(), X_REAL_IP.clone()].into_iter().collect());

/// [`SPOOFABLE`] in every spelling, and the headers the gateway writes here (and the
/// request id) in every spelling but their own, compiled for the request path. CGI, PHP
/// and many other stacks read `_` and `-` alike (`X_Forwarded_For` is PHP's
/// `HTTP_X_FORWARDED_FOR` as much as `X-Forwarded-For` is), so a client's underscored copy
/// would stand beside, or in place of, the gateway's own; nginx drops underscored names
/// for the same reason.
static SPOOFABLE_SET: LazyLock<HeaderSet> = LazyLock::new(|| {
    let written = FORWARDING_HEADERS
        .into_iter()
        .chain([crate::request_id::HEADER.clone()])
        .flat_map(|name| spellings(&name).into_iter().skip(1));
    SPOOFABLE
        .iter()
        .flat_map(spellings)
        .chain(written)
        .collect()
});

/// Headers legacy frameworks believe (PHP's `$_SERVER`, IIS URL Rewrite, Symfony, Spring)
/// that no client may set: another client address than `X-Forwarded-For`'s, another URL or
/// method than the request line's, another port, server or path prefix. They never reach a
/// backend, whoever sent them: the gateway says where a request came from, in
/// `X-Forwarded-*` only. (Also what keeps a stored answer under the right cache key.)
/// `Proxy` is no header of HTTP at all: CGI hands it to the site as `HTTP_PROXY`, which
/// many HTTP client libraries take as the proxy for the site's own outbound calls
/// ("httpoxy", CVE-2016-5385), so a citizen could route them through his machine.
pub const SPOOFABLE: [HeaderName; 17] = [
    HeaderName::from_static("proxy"),
    HeaderName::from_static("true-client-ip"),
    HeaderName::from_static("x-client-ip"),
    HeaderName::from_static("client-ip"),
    HeaderName::from_static("cf-connecting-ip"),
    HeaderName::from_static("x-cluster-client-ip"),
    HeaderName::from_static("fastly-client-ip"),
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-http-method-override"),
    HeaderName::from_static("x-http-method"),
    HeaderName::from_static("x-method-override"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-server"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-forwarded-scheme"),
    HeaderName::from_static("x-host"),
];

/// One `X-Forwarded-For` entry: an address, maybe with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn trusted() -> TrustedProxies {
        TrustedProxies::new(["10.0.0.0/8".parse().expect("cidr")])
    }

    #[test]
    fn addresses_are_written_in_their_usual_form() {
        for ip in [
            "203.0.113.7",
            "2001:db8::1",
            "::ffff:255.255.255.255",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let parsed: IpAddr = ip.parse().expect("address");
            assert_eq!(
                address_value(parsed).expect("value"),
                parsed.to_string().as_str()
            );
        }
    }

    #[test]
    fn untrusted_client_values_are_replaced() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        h.insert("forwarded", HeaderValue::from_static("for=6.6.6.6"));
        let c = Client::new(Some("192.0.2.7".parse().expect("ip")), &trusted(), false);
        c.apply(&mut h, Some(&HeaderValue::from_static("portail.gov.ma")));
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "portail.gov.ma");
        assert!(h.get("forwarded").is_none());
    }

    #[test]
    fn client_ip_and_url_override_headers_never_reach_a_backend() {
        for trusted in [false, true] {
            let mut h = HeaderMap::new();
            for name in &SPOOFABLE {
                h.insert(name.clone(), HeaderValue::from_static("6.6.6.6"));
            }
            let c = Client::new(
                Some("10.0.0.1".parse().expect("ip")),
                &if trusted {
                    self::trusted()
                } else {
                    TrustedProxies::default()
                },
                false,
            );
            c.apply(&mut h, None);
            for name in &SPOOFABLE {
                assert!(h.get(name).is_none(), "{name} kept (trusted: {trusted})");
            }
        }
    }

    #[test]
    fn underscored_spellings_of_the_forwarding_and_override_headers_never_reach_a_backend() {
        for trusted in [false, true] {
            let mut h = HeaderMap::new();
            let forged = [
                "x_forwarded_for",
                "x-forwarded_proto",
                "x_forwarded_host",
                "x_real_ip",
                "x_request_id",
                "true_client_ip",
                "x_original_url",
                "x_http_method_override",
            ];
            for name in forged {
                h.insert(name, HeaderValue::from_static("6.6.6.6"));
            }
            let c = Client::new(
                Some("10.0.0.1".parse().expect("ip")),
                &if trusted {
                    self::trusted()
                } else {
                    TrustedProxies::default()
                },
                false,
            );
            c.apply(&mut h, None);
            for name in forged {
                assert!(h.get(name).is_none(), "{name} kept (trusted: {trusted})");
            }
            assert_eq!(h["x-forwarded-for"], "10.0.0.1", "trusted: {trusted}");
        }
    }

    #[test]
    fn trusted_proxy_chain_is_extended() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let c = Client::new(Some("10.1.2.3".parse().expect("ip")), &trusted(), false);
        c.apply(&mut h, None);
        assert_eq!(h["x-forwarded-for"], "198.51.100.1, 10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_proxy_reaching_a_listener_on_both_families_is_trusted_and_named_in_ipv4_form() {
        // On `[::]:443`, an IPv4 peer is `::ffff:a.b.c.d`.
        let c = Client::new(Some(ip("::ffff:10.1.2.3")), &trusted(), false);
        assert!(c.trusted);
        let mut h = xff("198.51.100.1");
        assert_eq!(c.citizen_ip(&h, &trusted()), Some(ip("198.51.100.1")));
        c.apply(&mut h, None);
        assert_eq!(h["x-forwarded-for"], "198.51.100.1, 10.1.2.3");
    }

    #[test]
    fn a_citizen_reaching_a_listener_on_both_families_is_named_in_ipv4_form() {
        let c = Client::new(Some(ip("::ffff:192.0.2.7")), &trusted(), false);
        assert!(!c.trusted);
        let mut h = HeaderMap::new();
        c.apply(&mut h, None);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(c.citizen_ip(&h, &trusted()), Some(ip("192.0.2.7")));
    }

    fn xff(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static(value));
        h
    }

    #[test]
    fn a_trusted_chain_spread_over_several_lines_is_extended_whole() {
        let c = Client::new(Some(ip("10.1.2.3")), &trusted(), false);
        let mut h = xff("198.51.100.1");
        h.append("x-forwarded-for", HeaderValue::from_static("10.9.9.9"));
        c.apply(&mut h, None);
        let sent: Vec<&HeaderValue> = h.get_all("x-forwarded-for").iter().collect();
        assert_eq!(sent, ["198.51.100.1, 10.9.9.9, 10.1.2.3"]);
    }

    #[test]
    fn citizen_is_the_right_most_forwarded_entry_that_is_not_a_trusted_proxy() {
        let c = Client::new(Some(ip("10.1.2.3")), &trusted(), false);
        // The client forged 6.6.6.6; the load balancer appended the address it saw.
        let h = xff("6.6.6.6, 198.51.100.1, 10.9.9.9");
        assert_eq!(c.citizen_ip(&h, &trusted()), Some(ip("198.51.100.1")));
    }

    #[test]
    fn citizen_behind_only_trusted_hops_is_the_left_most_one() {
        let c = Client::new(Some(ip("10.1.2.3")), &trusted(), false);
        let h = xff("10.0.0.5, 10.9.9.9");
        assert_eq!(c.citizen_ip(&h, &trusted()), Some(ip("10.0.0.5")));
    }

    #[test]
    fn citizen_entries_may_carry_ports_and_span_several_headers() {
        let c = Client::new(Some(ip("10.1.2.3")), &trusted(), false);
        let mut h = xff("6.6.6.6");
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::7]:4711"),
        );
        assert_eq!(c.citizen_ip(&h, &trusted()), Some(ip("2001:db8::7")));
    }

    #[test]
    fn citizen_forwarded_header_is_ignored_from_an_untrusted_peer() {
        let c = Client::new(Some(ip("192.0.2.7")), &trusted(), false);
        let h = xff("198.51.100.1");
        assert_eq!(c.citizen_ip(&h, &trusted()), Some(ip("192.0.2.7")));
    }

    #[test]
    fn citizen_without_forwarded_header_is_the_trusted_peer() {
        let c = Client::new(Some(ip("10.1.2.3")), &trusted(), false);
        assert_eq!(
            c.citizen_ip(&HeaderMap::new(), &trusted()),
            Some(ip("10.1.2.3"))
        );
    }
}

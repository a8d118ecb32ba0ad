//! Who a connection's peer is, as every limit and header sees it: the address a client is
//! counted under ([`address_key`]), and whether the peer is a trusted proxy
//! ([`TrustedProxies`], `portal.trusted_proxies`: the load balancers in front of the
//! gateway).
//!
//! Three parts of the gateway ask whether a peer is one, and must agree: the forwarding
//! headers (`forwarded.rs`) believe its `X-Forwarded-For`, the connection caps
//! (`limits/connections.rs`) count it only against the total (it carries many
//! citizens), and the flood penalty (`limits/penalty.rs`) never refuses it. All
//! three read the running registry snapshot's list (for each new connection and request).
//! Found when tried: the caps and the
//! penalty kept the list they were given at start, so a load balancer added by a reload had
//! its headers believed and its connections capped as one citizen's until a restart.
//!
//! An IPv4 proxy reaching a listener of both families (`[::]:443`) is seen as
//! `::ffff:a.b.c.d`. Found when tried: the forwarding headers and the connection caps
//! compared that form with the configured `10.0.0.0/8` and did not trust the proxy; every
//! citizen then reached the sites as the load balancer, whose connections were capped as
//! one citizen's. Addresses and configured blocks are compared in their IPv4 form, here.

use ipnet::{IpNet, Ipv4Net};
use std::net::IpAddr;

/// The address a client is counted under: itself for IPv4, its /64 for IPv6 (one
/// subscriber usually holds a whole /64, so counting single addresses would be no cap).
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
    }
}

/// The configured blocks, each in its canonical form (an IPv4-mapped IPv6 block written as
/// the IPv4 block it maps).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            nets: nets.into_iter().map(canonical_net).collect(),
        }
    }

    /// No proxy is trusted (the default: the gateway faces citizens itself).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `peer` is a trusted proxy (in either form of an IPv4 address; an IPv6 block
    /// such as `::/0` still holds the mapped form it always held).
    pub fn trusts(&self, peer: IpAddr) -> bool {
        if self.nets.is_empty() {
            return false;
        }
        let canonical = peer.to_canonical();
        self.nets
            .iter()
            .any(|net| net.contains(&canonical) || net.contains(&peer))
    }

    /// Whether a trusted proxy is at `key`, an address as the connection caps and the flood
    /// penalty count it ([`address_key`]: IPv4, or an IPv6 /64):
    /// a penalty on a proxy's /64 would refuse the proxy.
    pub fn within_key(&self, key: IpAddr) -> bool {
        self.trusts(key)
            || self.nets.iter().any(|net| match (net, key) {
                (IpNet::V6(v6), IpAddr::V6(_)) => address_key(IpAddr::V6(v6.network())) == key,
                _ => false,
            })
    }
}

impl FromIterator<IpNet> for TrustedProxies {
    fn from_iter<I: IntoIterator<Item = IpNet>>(nets: I) -> Self {
        Self::new(nets)
    }
}

/// `::ffff:10.0.0.0/104` as `10.0.0.0/8`: addresses are compared in their IPv4 form.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        _ => net,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn proxies(nets: &[&str]) -> TrustedProxies {
        nets.iter().map(|n| n.parse().expect("net")).collect()
    }

    #[test]
    fn an_ipv4_proxy_is_trusted_in_its_ipv6_mapped_form_too() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert!(trusted.trusts(ip("10.1.2.3")));
        assert!(trusted.trusts(ip("::ffff:10.1.2.3")), "dual-stack listener");
        assert!(!trusted.trusts(ip("::ffff:11.1.2.3")));
    }

    #[test]
    fn a_block_written_in_ipv6_mapped_form_trusts_the_ipv4_addresses_it_maps() {
        let trusted = proxies(&["::ffff:10.0.0.0/104"]);
        assert!(trusted.trusts(ip("10.9.9.9")));
        assert!(trusted.trusts(ip("::ffff:10.9.9.9")));
        assert!(!trusted.trusts(ip("11.0.0.1")));
    }

    #[test]
    fn other_ipv6_spellings_of_an_ipv4_address_are_not_its_proxy() {
        // 6to4 and NAT64 addresses are other machines: only the kernel's mapped form is
        // the IPv4 peer itself.
        let trusted = proxies(&["10.0.0.0/8"]);
        assert!(!trusted.trusts(ip("2002:a00:1::1")));
        assert!(!trusted.trusts(ip("64:ff9b::a00:1")));
    }

    #[test]
    fn an_ipv6_block_holds_the_mapped_addresses_it_always_held() {
        let trusted = proxies(&["::/0"]);
        assert!(trusted.trusts(ip("::ffff:10.1.2.3")));
        assert!(!trusted.trusts(ip("10.1.2.3")));
    }

    #[test]
    fn nobody_is_trusted_by_default() {
        assert!(!TrustedProxies::default().trusts(ip("127.0.0.1")));
    }

    #[test]
    fn a_proxys_slash_64_is_within_its_key() {
        let trusted = proxies(&["2001:db8:9:9::10/128", "10.0.0.0/8"]);
        assert!(trusted.within_key(ip("2001:db8:9:9::")));
        assert!(!trusted.within_key(ip("2001:db8:9:8::")));
        assert!(trusted.within_key(ip("10.0.0.1")));
    }
}

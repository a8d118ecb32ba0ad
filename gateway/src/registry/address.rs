//! Which addresses a backend may have. Link-local, cloud-metadata, multicast and
//! unspecified addresses never are, whoever configured the service. Private and loopback
//! addresses are refused for services changed through the ministries' API unless
//! `[admin] upstream_allow` lists them, and for every backend given by name at each build's
//! own lookup, so a name that resolves differently between a check and the build cannot slip
//! through (the service then runs without it: `Snapshot::unresolved`).

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why no service may have `ip` as a backend, if so: `ip` itself, or an IPv4 address it
/// carries ([`carried_ipv4`]).
pub fn never_a_backend(ip: IpAddr) -> Option<&'static str> {
    std::iter::once(unmapped(ip))
        .chain(carried_ipv4(ip).map(IpAddr::V4))
        .find_map(never_a_backend_itself)
}

/// Other IPv6 forms that carry an IPv4 address a connection may end at: SIIT's translated
/// `::ffff:0:a.b.c.d`, Teredo `2001:0::/32` (its server, and its client XOR-ed), and the
/// local-use NAT64 prefix `64:ff9b:1::/48` (the address in its last 32 bits, and where a /48
/// prefix puts it). Found when tried again: the metadata address in each passed.
fn carried_ipv4(ip: IpAddr) -> impl Iterator<Item = Ipv4Addr> {
    let mut out = Vec::new();
    if let IpAddr::V6(v6) = ip {
        let s = v6.segments();
        let v4 = |hi: u16, lo: u16| {
            let [a, b] = hi.to_be_bytes();
            let [c, d] = lo.to_be_bytes();
            Ipv4Addr::new(a, b, c, d)
        };
        match s {
            [0, 0, 0, 0, 0xffff, 0, hi, lo] => out.push(v4(hi, lo)),
            [0x2001, 0, server_hi, server_lo, _, _, client_hi, client_lo] => {
                out.push(v4(server_hi, server_lo));
                out.push(v4(!client_hi, !client_lo));
            }
            [0x64, 0xff9b, 1, ab, u_c, d_rest, hi, lo] => {
                out.push(v4(hi, lo));
                let [_, c] = u_c.to_be_bytes();
                let [d, _] = d_rest.to_be_bytes();
                out.push(v4(ab, u16::from_be_bytes([c, d])));
            }
            _ => {}
        }
    }
    out.into_iter()
}

fn never_a_backend_itself(ip: IpAddr) -> Option<&'static str> {
    let never = match ip {
        IpAddr::V4(v4) => {
            v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4 == Ipv4Addr::new(100, 100, 100, 200)
                // Azure's WireServer and Oracle Cloud's metadata service.
                || v4 == Ipv4Addr::new(168, 63, 129, 16)
                || v4 == Ipv4Addr::new(192, 0, 0, 192)
        }
        IpAddr::V6(v6) => {
            v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x254)
        }
    };
    never.then_some("a link-local, metadata, multicast or unspecified address is never a backend")
}

/// `ip` written as the IPv4 address it reaches when it is an IPv6 spelling of one: mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, not `::1` nor `::`), the NAT64 prefix
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:AABB:CCDD::/48`). Checks and counts by address must
/// not tell the spellings apart (found when tried: `[::a9fe:a9fe]`, `[64:ff9b::a9fe:a9fe]`
/// and `[2002:a9fe:a9fe::1]`, the metadata address, passed the checks).
pub fn unmapped(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    };
    if let Some(mapped) = v6.to_ipv4_mapped() {
        return IpAddr::V4(mapped);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] if hi >> 8 != 0 => v4(hi, lo),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => v4(hi, lo),
        [0x2002, hi, lo, ..] => v4(hi, lo),
        _ => ip,
    }
}

/// Whether a connection to `to` reaches the gateway's `listener`: the same port, and the
/// listener's address or, for a listener on every address (`0.0.0.0`, `::`), a loopback
/// address, or with `probe`, any address of this machine (one a socket can be bound to).
/// The probe is the admin API's, answering one change; a whole configuration loaded at start
/// does without it: on a machine that may bind any address (`ip_nonlocal_bind`, as VIP
/// setups do) every address passes it, and a working configuration would be refused.
pub fn is_listener(listener: SocketAddr, to: SocketAddr, probe: bool) -> bool {
    if listener.port() != to.port() {
        return false;
    }
    let ip = unmapped(to.ip());
    let at = unmapped(listener.ip());
    ip == at
        || (at.is_unspecified()
            && (ip.is_loopback() || (probe && std::net::UdpSocket::bind((ip, 0)).is_ok())))
}

/// Why a ministry may not point a service at `ip`, or `None` if it may.
pub fn refused_address(ip: IpAddr, allow: &[IpNet]) -> Option<&'static str> {
    if let Some(why) = never_a_backend(ip) {
        return Some(why);
    }
    if let Some(carried) = carried_ipv4(ip).find_map(|v4| refused_address(IpAddr::V4(v4), allow)) {
        return Some(carried);
    }
    let ip = unmapped(ip);
    let private = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    };
    if private && !allow.iter().any(|net| net.contains(&ip)) {
        return Some("a private or loopback address; [admin] upstream_allow does not list it");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_listener_probed(listener: SocketAddr, to: SocketAddr) -> bool {
        is_listener(listener, to, true)
    }

    #[test]
    fn the_gateways_own_listeners_are_recognised_by_address_and_port() {
        let on = |s: &str| s.parse::<SocketAddr>().expect("address");
        assert!(is_listener_probed(
            on("127.0.0.1:9901"),
            on("127.0.0.1:9901")
        ));
        assert!(is_listener_probed(
            on("127.0.0.1:9901"),
            on("[::ffff:127.0.0.1]:9901")
        ));
        assert!(is_listener_probed(
            on("[::ffff:127.0.0.1]:9901"),
            on("127.0.0.1:9901")
        ));
        assert!(!is_listener_probed(
            on("127.0.0.1:9901"),
            on("127.0.0.1:9902")
        ));
        assert!(!is_listener_probed(
            on("127.0.0.1:9901"),
            on("127.0.0.2:9901")
        ));
        // A listener on every address answers on every address of this machine.
        assert!(is_listener_probed(on("0.0.0.0:9901"), on("127.0.0.2:9901")));
        assert!(is_listener_probed(on("[::]:9901"), on("[::1]:9901")));
        // Not on another machine's (TEST-NET-1 is nobody's).
        assert!(!is_listener_probed(
            on("0.0.0.0:9901"),
            on("192.0.2.7:9901")
        ));
        // Unprobed (a configuration loaded whole): only loopback stands for "every address".
        assert!(is_listener(on("0.0.0.0:9901"), on("127.0.0.2:9901"), false));
        assert!(!is_listener(
            on("0.0.0.0:9901"),
            on("192.0.2.7:9901"),
            false
        ));
    }

    #[test]
    fn metadata_and_link_local_addresses_are_never_backends() {
        let allow: Vec<IpNet> = vec![
            "0.0.0.0/0".parse().expect("net"),
            "::/0".parse().expect("net"),
        ];
        for ip in [
            "169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "0.0.0.0",
            "::ffff:169.254.169.254",
            "224.0.0.1",
            "::a9fe:a9fe",
            "::169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "64:ff9b:1::a9fe:a9fe",
            "64:ff9b:1:a9fe:a9:fe00::",
            "::ffff:0:a9fe:a9fe",
            "2001:0:4136:e378:8000:63bf:5601:5601",
            "2001:0:a9fe:a9fe::1",
            "168.63.129.16",
            "192.0.0.192",
        ] {
            assert!(
                refused_address(ip.parse().expect("ip"), &allow).is_some(),
                "{ip}"
            );
        }
    }

    #[test]
    fn private_and_loopback_backends_need_the_allow_list() {
        let none: Vec<IpNet> = Vec::new();
        for ip in [
            "127.0.0.1",
            "10.2.0.15",
            "192.168.1.1",
            "172.16.0.1",
            "::1",
            "fd12::1",
            "100.64.0.1",
        ] {
            assert!(
                refused_address(ip.parse().expect("ip"), &none).is_some(),
                "{ip}"
            );
        }
        let allow: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        assert!(refused_address("10.2.0.15".parse().expect("ip"), &allow).is_none());
        assert!(refused_address("8.8.8.8".parse().expect("ip"), &none).is_none());
    }

    #[test]
    fn ipv6_spellings_of_an_ipv4_address_are_read_as_it_and_loopback_stays_ipv6() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        for (six, four) in [
            ("::ffff:127.0.0.1", "127.0.0.1"),
            ("::127.0.0.1", "127.0.0.1"),
            ("64:ff9b::7f00:1", "127.0.0.1"),
            ("2002:7f00:1::5", "127.0.0.1"),
            ("::a9fe:a9fe", "169.254.169.254"),
        ] {
            assert_eq!(unmapped(ip(six)), ip(four), "{six}");
        }
        for kept in ["::1", "::", "2001:db8::1", "fe80::1"] {
            assert_eq!(unmapped(ip(kept)), ip(kept), "{kept}");
        }
        let allow: Vec<IpNet> = Vec::new();
        assert!(refused_address(ip("::127.0.0.1"), &allow).is_some());
        assert!(
            refused_address(ip("64:ff9b::a00:1"), &allow).is_some(),
            "10.0.0.1"
        );
    }
}

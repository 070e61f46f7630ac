//! The client address used for per-IP limits: the socket peer, unless the peer is a configured
//! trusted proxy, in which case the right-most untrusted `X-Forwarded-For` entry. IPv6 clients
//! are bucketed by their /64 (one subscriber usually owns a whole /64).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The client address as seen through the trusted proxies.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer_ip = canonical(peer.ip());
    if !is_trusted(peer_ip, trusted) {
        return peer_ip;
    }
    // Entries are appended left to right by each hop; walk from the right, skipping our proxies.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut last_trusted = peer_ip;
    for entry in entries.iter().rev() {
        match parse_entry(entry) {
            Some(ip) if is_trusted(ip, trusted) => last_trusted = ip,
            Some(ip) => return ip,
            // Garbage where a trusted hop should have written an address: trust nothing further left.
            None => return last_trusted,
        }
    }
    last_trusted
}

/// The rate-limit bucket of an address: IPv4 as is, IPv6 by /64.
pub fn bucket(ip: IpAddr) -> String {
    let mut out = String::with_capacity(48);
    write_bucket(&mut out, ip);
    out
}

/// [`bucket`], appended to `out`.
pub fn write_bucket(out: &mut String, ip: IpAddr) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = match canonical(ip) {
        IpAddr::V4(v4) => write!(out, "v4:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            write!(out, "v6:{net}/64")
        }
    };
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = entry.parse::<SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|inner| inner.parse::<IpAddr>().ok())
        .map(canonical)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn untrusted_peer_ignores_xff() {
        let peer: SocketAddr = "203.0.113.9:4000".parse().unwrap();
        let ip = client_ip(peer, &headers(&["1.1.1.1"]), &["10.0.0.0/8".parse().unwrap()]);
        assert_eq!(ip.to_string(), "203.0.113.9");
    }

    #[test]
    fn trusted_chain_picks_rightmost_untrusted() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let h = headers(&["6.6.6.6, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(client_ip(peer, &h, &trusted).to_string(), "198.51.100.7");
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted).to_string(), "10.0.0.1");
        let garbage = headers(&["198.51.100.7, junk, 10.0.0.3"]);
        assert_eq!(client_ip(peer, &garbage, &trusted).to_string(), "10.0.0.3");
        let ported = headers(&["[2001:db8::1]:443"]);
        assert_eq!(client_ip(peer, &ported, &trusted).to_string(), "2001:db8::1");
    }

    #[test]
    fn ipv6_bucketed_by_64_and_mapped_v4_unwrapped() {
        let a = bucket("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = bucket("2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a, "v6:2001:db8:1:2::/64");
        assert_eq!(bucket("::ffff:192.0.2.1".parse().unwrap()), "v4:192.0.2.1");
    }
}

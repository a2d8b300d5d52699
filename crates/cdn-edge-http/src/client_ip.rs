//! Who the client is, for the access log: the socket peer, unless the peer
//! is a trusted proxy, in which case `X-Forwarded-For` is read from the
//! right (the hop nearest to us) leftwards, skipping trusted proxies; the
//! first address that is not trusted is the client (the "rightmost
//! untrusted" rule: entries left of it could have been written by anyone).
//! A malformed entry stops the walk at the last address known good. When
//! every entry is trusted, the leftmost is the client.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The client's address: `peer`, or what trusted proxies in front of it
/// say in the `X-Forwarded-For` field lines `forwarded_for` (in order).
pub fn client<'a>(
    peer: IpAddr,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for line in forwarded_for.rev() {
        for entry in line.rsplit(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let Some(ip) = address(entry) else {
                return client;
            };
            client = ip;
            if !is_trusted(&ip) {
                return ip;
            }
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an address, or an address with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`) as some proxies write.
fn address(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_says() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client(ip("198.51.100.1"), ["203.0.113.9"].into_iter(), &t),
            ip("198.51.100.1")
        );
        assert_eq!(
            client(ip("10.0.0.1"), std::iter::empty(), &[]),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn rightmost_untrusted_entry_wins() {
        let t = nets(&["10.0.0.0/8", "192.168.0.0/16"]);
        // A client-forged entry left of the real client is ignored.
        let lines = ["1.1.1.1, 203.0.113.9", "192.168.1.1"];
        assert_eq!(
            client(ip("10.0.0.2"), lines.into_iter(), &t),
            ip("203.0.113.9")
        );
        assert_eq!(
            client(
                ip("10.0.0.2"),
                ["203.0.113.9:5555 ,10.1.1.1"].into_iter(),
                &t
            ),
            ip("203.0.113.9")
        );
        assert_eq!(
            client(ip("10.0.0.2"), ["[2001:db8::7]:80"].into_iter(), &t),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn all_trusted_gives_the_leftmost_and_garbage_stops_the_walk() {
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client(ip("10.0.0.2"), ["10.9.9.9, 10.1.1.1"].into_iter(), &t),
            ip("10.9.9.9")
        );
        assert_eq!(
            client(
                ip("10.0.0.2"),
                ["203.0.113.9, unknown, 10.1.1.1"].into_iter(),
                &t
            ),
            ip("10.1.1.1")
        );
        assert_eq!(
            client(ip("10.0.0.2"), std::iter::empty(), &t),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn mapped_v4_peers_match_v4_networks() {
        let t = nets(&["127.0.0.0/8"]);
        assert_eq!(
            client(ip("::ffff:127.0.0.1"), ["203.0.113.9"].into_iter(), &t),
            ip("203.0.113.9")
        );
    }
}

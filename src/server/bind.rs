//! Binding the listen addresses: every address `server.listen` resolves
//! to gets its own socket (as actix-web would make it: `SO_REUSEADDR`,
//! backlog 1024). With port 0 they all share the port the first one got,
//! so `localhost:0` means one port on `127.0.0.1` and `::1`. An address
//! this host does not have (`::1` with IPv6 disabled) is skipped with a
//! warning as long as another one binds; any other failure (in use, no
//! permission) is an error.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// actix-web's default listen backlog.
const BACKLOG: i32 = 1024;
/// Tries at finding a port 0 free on every address at once.
const ATTEMPTS: usize = 8;

/// An address that could not be bound, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}")]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    pub source: io::Error,
}

/// Binds every address of `addrs` (see the module docs).
pub fn bind(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, BindError> {
    // Several addresses: an IPv6 wildcard must not also take IPv4's port.
    let v6_only = addrs.len() > 1;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut bound: Vec<TcpListener> = Vec::new();
        let mut skipped: Vec<BindError> = Vec::new();
        let mut shared_port: Option<u16> = None;
        let mut retry = false;
        for &asked in addrs {
            let mut addr = asked;
            if let (0, Some(p)) = (asked.port(), shared_port) {
                addr.set_port(p);
            }
            match listener(addr, v6_only) {
                Ok(l) => {
                    if asked.port() == 0 && shared_port.is_none() {
                        shared_port = l.local_addr().ok().map(|a| a.port());
                    }
                    bound.push(l);
                }
                Err(source) if not_here(&source) => skipped.push(BindError { addr, source }),
                Err(source)
                    if source.kind() == io::ErrorKind::AddrInUse
                        && addr.port() != asked.port()
                        && attempt < ATTEMPTS =>
                {
                    // The port the first address got is taken here: start over.
                    retry = true;
                    break;
                }
                Err(source) => return Err(BindError { addr, source }),
            }
        }
        if retry {
            continue;
        }
        if bound.is_empty() {
            return Err(skipped.into_iter().next().unwrap_or(BindError {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                source: io::Error::new(io::ErrorKind::InvalidInput, "no address to listen on"),
            }));
        }
        for s in skipped {
            tracing::warn!("{s}; skipped (this host does not have the address)");
        }
        return Ok(bound);
    }
}

/// Whether binding failed because the host lacks the address or its family.
fn not_here(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT)
    )
}

/// One listening socket.
fn listener(addr: SocketAddr, v6_only: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && v6_only {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_shared_by_every_address() {
        let v4: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let v6: SocketAddr = "[::1]:0".parse().unwrap();
        let ls = bind(&[v4, v6]).unwrap();
        let ports: Vec<u16> = ls.iter().map(|l| l.local_addr().unwrap().port()).collect();
        assert_ne!(ports[0], 0);
        // ::1 may be missing on this host (then it is skipped).
        assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    }

    #[test]
    fn an_address_in_use_is_an_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let e = bind(&[addr]).unwrap_err();
        assert_eq!(e.addr, addr);
        assert_eq!(e.source.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn an_address_the_host_lacks_is_skipped_when_another_binds() {
        // 192.0.2.1 (TEST-NET-1) is on no interface here.
        let missing: SocketAddr = "192.0.2.1:0".parse().unwrap();
        let ok: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let ls = bind(&[missing, ok]).unwrap();
        assert_eq!(ls.len(), 1);
        assert!(ls[0].local_addr().unwrap().ip().is_loopback());
        let e = bind(&[missing]).unwrap_err();
        assert_eq!(e.addr.ip(), missing.ip());
    }
}

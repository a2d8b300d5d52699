//! The QUIC listener's UDP sockets: one per worker thread, all bound to
//! the same address with `SO_REUSEPORT`, so the kernel spreads clients
//! over the workers by their address (a client keeps its worker while its
//! address stays the same). With port 0 the first socket's port is shared
//! by the others. quinn turns on UDP GSO and GRO itself where the kernel
//! offers them (Linux ≥ 4.18 and 5.0); [`offload`] says what it found.

use std::io;
use std::net::{SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Receive and send buffers asked of the kernel for each socket (it may
/// cap them at `net.core.rmem_max` / `wmem_max`): a burst of handshakes or
/// a flight of GSO segments must not be dropped for room.
const BUFFER: usize = 2 << 20;

/// `n` sockets bound to `addr` (see the module docs).
pub fn bind(addr: SocketAddr, n: usize) -> io::Result<Vec<UdpSocket>> {
    let mut shared = addr;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            s.set_only_v6(false)?;
        }
        s.set_reuse_port(true)?;
        let _ = s.set_recv_buffer_size(BUFFER);
        let _ = s.set_send_buffer_size(BUFFER);
        s.bind(&shared.into())?;
        if shared.port() == 0 {
            if let Some(a) = s.local_addr()?.as_socket() {
                shared = a;
            }
        }
        out.push(UdpSocket::from(s));
    }
    Ok(out)
}

/// What the kernel offers for `socket`: segments per GSO send, per GRO
/// receive (1: none).
pub fn offload(socket: &UdpSocket) -> (usize, usize) {
    match quinn::udp::UdpSocketState::new(socket.into()) {
        Ok(s) => (s.max_gso_segments(), s.gro_segments()),
        Err(_) => (1, 1),
    }
}

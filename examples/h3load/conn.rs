//! One HTTP/3 connection (quinn + h3-quinn + h3) and one GET on it: what
//! the three modes share.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, Bytes};
use http::header::{HeaderMap, HeaderValue, CONTENT_ENCODING};
use http::Uri;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::task::JoinHandle;

use crate::args::Target;
use crate::Error;

/// The h3 request sender of one connection (cheap to clone: one per stream task).
pub type Sender = h3::client::SendRequest<h3_quinn::OpenStreams, Bytes>;

/// A client UDP endpoint: 127.0.0.1 (or ::1) for a loopback server, the
/// unspecified address of the server's family otherwise.
pub fn endpoint(target: &Target) -> Result<quinn::Endpoint, Error> {
    let ip = target.addr.ip();
    let local = match (ip.is_loopback(), ip.is_ipv4()) {
        (true, true) => SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        (true, false) => SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
        (false, true) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        (false, false) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    };
    let err = |e: std::io::Error| format!("UDP socket on {local}: {e}");
    let socket =
        Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    // Bursts of many connections' packets overflow the default 208 KB
    // receive buffer (UdpRcvbufErrors) and stall handshakes for seconds
    // of retransmission timers; the kernel caps this at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.bind(&local.into()).map_err(err)?;
    let runtime = quinn::default_runtime().ok_or("no async runtime for quinn")?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        None,
        socket.into(),
        runtime,
    )
    .map_err(err)
}

/// The UDP socket buffers asked for (the kernel may grant less).
const SOCKET_BUFFER: usize = 4 << 20;

/// An open HTTP/3 connection; its h3 control streams are driven by a task
/// that ends when the connection closes (or when this is dropped).
pub struct Conn {
    /// The QUIC connection (close reason, ALPN).
    pub quic: quinn::Connection,
    /// Opens request streams.
    pub send: Sender,
    driver: JoinHandle<()>,
}

impl Conn {
    /// The QUIC handshake, then HTTP/3's SETTINGS exchange.
    pub async fn open(
        endpoint: &quinn::Endpoint,
        config: &quinn::ClientConfig,
        target: &Target,
    ) -> Result<Conn, Error> {
        let quic = endpoint
            .connect_with(config.clone(), target.addr, &target.server_name)
            .map_err(|e| format!("connect {}: {e}", target.addr))?
            .await
            .map_err(|e| format!("connect {}: {e}", target.addr))?;
        let (mut driver, send) = h3::client::new(h3_quinn::Connection::new(quic.clone()))
            .await
            .map_err(|e| format!("HTTP/3 set-up with {}: {e}", target.addr))?;
        let driver = tokio::spawn(async move {
            let _ = driver.wait_idle().await;
        });
        Ok(Conn { quic, send, driver })
    }

    /// True once the connection is closed (by either side or idle timeout).
    pub fn is_closed(&self) -> bool {
        self.quic.close_reason().is_some()
    }

    /// The negotiated ALPN protocol (`h3`), or `-`.
    pub fn alpn(&self) -> String {
        self.quic
            .handshake_data()
            .and_then(|d| d.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
            .and_then(|d| d.protocol)
            .map_or_else(|| "-".into(), |p| String::from_utf8_lossy(&p).into_owned())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.quic.close(0u32.into(), b"done");
        self.driver.abort();
    }
}

/// What a GET got back.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// `Content-Encoding`, if any.
    pub encoding: Option<HeaderValue>,
    /// Body bytes received.
    pub bytes: u64,
}

/// One GET of `uri` with `headers`: every body chunk goes to `sink`.
pub async fn get(
    send: &mut Sender,
    uri: &Uri,
    headers: &HeaderMap,
    mut sink: impl FnMut(&[u8]),
) -> Result<Response, Error> {
    let mut request = http::Request::get(uri.clone())
        .body(())
        .map_err(|e| format!("{uri}: {e}"))?;
    *request.headers_mut() = headers.clone();
    let mut stream = send
        .send_request(request)
        .await
        .map_err(|e| format!("{uri}: request: {e}"))?;
    // A server may answer in full and stop our side with H3_NO_ERROR
    // before the request's FIN goes out (RFC 9114 §4.1): read on.
    if let Err(e) = stream.finish().await {
        if !e.is_h3_no_error() {
            return Err(format!("{uri}: request: {e}"));
        }
    }
    let response = stream
        .recv_response()
        .await
        .map_err(|e| format!("{uri}: response: {e}"))?;
    let mut bytes = 0u64;
    while let Some(mut chunk) = stream
        .recv_data()
        .await
        .map_err(|e| format!("{uri}: body: {e}"))?
    {
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            sink(part);
            bytes += n as u64;
            chunk.advance(n);
        }
    }
    Ok(Response {
        status: response.status().as_u16(),
        encoding: response.headers().get(CONTENT_ENCODING).cloned(),
        bytes,
    })
}

//! A malicious origin for the bounds tests: a raw `TcpListener` on
//! 127.0.0.1:0 that answers every request the same way ([`Mode`]): a large
//! body half sent and then held until released, an endless chunked body, or
//! a large body sent at once. It counts the connections it accepted and the
//! ones still open (a connection is open until the node closes its end or
//! the answer is complete), which is what the tests assert on.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How every request is answered.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// `Content-Length: len`; the first half sent, the rest only after
    /// [`Evil::release`].
    Held { len: usize },
    /// `Transfer-Encoding: chunked`, chunks of 16 KiB that never end.
    Endless,
    /// `Content-Length: len`, all of it at once.
    Sized { len: usize },
}

struct Shared {
    mode: Mode,
    stop: AtomicBool,
    released: AtomicBool,
    accepted: AtomicUsize,
    open: AtomicUsize,
    /// Connections that sent the first half of a held body.
    holding: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The running origin; dropping it stops it and joins its threads.
pub struct Evil {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// Counts a connection open until dropped.
struct Open(Arc<Shared>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Evil {
    /// Starts answering every request as `mode` says.
    pub fn start(mode: Mode) -> Evil {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode,
            stop: AtomicBool::new(false),
            released: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            holding: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let acceptor = thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                s.accepted.fetch_add(1, Ordering::SeqCst);
                s.open.fetch_add(1, Ordering::SeqCst);
                let guard = Open(s.clone());
                let s2 = s.clone();
                let t = thread::spawn(move || {
                    let _open = guard;
                    let _ = serve(&s2, conn);
                });
                s.threads.lock().unwrap().push(t);
            }
        });
        Evil {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Connections that sent the first half of a held body so far.
    pub fn holding(&self) -> usize {
        self.shared.holding.load(Ordering::SeqCst)
    }

    /// Lets held bodies finish.
    pub fn release(&self) {
        self.shared.released.store(true, Ordering::SeqCst);
    }
}

impl Drop for Evil {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.released.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        let threads = std::mem::take(&mut *self.shared.threads.lock().unwrap());
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Reads a request head (and a declared body), then answers it.
fn serve(s: &Shared, mut conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_millis(50)))?;
    conn.set_write_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if again(&e) && !s.stop.load(Ordering::SeqCst) => continue,
            Err(e) => return Err(e),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let declared = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf.len() - head_end;
    while body < declared {
        match conn.read(&mut chunk) {
            Ok(0) => return Ok(()),
            Ok(n) => body += n,
            Err(e) if again(&e) && !s.stop.load(Ordering::SeqCst) => continue,
            Err(e) => return Err(e),
        }
    }
    match s.mode {
        Mode::Held { len } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nCache-Control: max-age=600\r\nConnection: close\r\n\r\n"
            );
            send(s, &mut conn, head.as_bytes())?;
            send(s, &mut conn, &vec![b'h'; len / 2])?;
            s.holding.fetch_add(1, Ordering::SeqCst);
            while !s.released.load(Ordering::SeqCst) {
                // The node closing its end ends the connection here.
                match conn.peek(&mut chunk) {
                    Ok(0) => return Ok(()),
                    Err(e) if !again(&e) => return Err(e),
                    _ => thread::sleep(Duration::from_millis(20)),
                }
            }
            send(s, &mut conn, &vec![b'h'; len - len / 2])
        }
        Mode::Endless => {
            let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\nCache-Control: max-age=600\r\n\r\n";
            send(s, &mut conn, head.as_bytes())?;
            let mut chunk = b"4000\r\n".to_vec();
            chunk.extend_from_slice(&[b'e'; 0x4000]);
            chunk.extend_from_slice(b"\r\n");
            loop {
                send(s, &mut conn, &chunk)?;
            }
        }
        Mode::Sized { len } => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
            );
            send(s, &mut conn, head.as_bytes())?;
            send(s, &mut conn, &vec![b's'; len])
        }
    }
}

/// Writes all of `data`, waiting while the node does not read, until it
/// is written, the connection fails, or the origin stops.
fn send(s: &Shared, conn: &mut TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        if s.stop.load(Ordering::SeqCst) {
            return Err(ErrorKind::Interrupted.into());
        }
        match conn.write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if again(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn again(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

//! The command line, and the target it names: the address, the server
//! name for TLS, the request URIs and headers every request carries.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Uri;

use crate::Error;

/// `h3load URL PATHS [options]` (see the module doc of main.rs).
#[derive(Parser, Debug)]
#[command(name = "h3load", about = "A small HTTP/3 load client (quinn + h3)")]
pub struct Args {
    /// Base URL, `https://HOST:PORT` (the paths are appended).
    pub url: String,
    /// A file of URL paths, one a line (`/a.css`), requested round-robin.
    pub paths: PathBuf,
    /// QUIC connections (load mode), each on its own UDP socket.
    #[arg(long, short = 'c', default_value_t = 4)]
    pub connections: usize,
    /// Concurrent requests (streams) per connection.
    #[arg(long, short = 's', default_value_t = 32)]
    pub streams: usize,
    /// Seconds of load, measured after the warm-up.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before the measured part (not counted).
    #[arg(long, default_value_t = 0.0)]
    pub warm_up: f64,
    /// A request header `Name: value`, added to every request (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// Trust the certificate(s) in this PEM file (instead of the web PKI).
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Do not verify the server's certificate (signatures still checked).
    #[arg(long, short = 'k')]
    pub insecure: bool,
    /// The TLS server name (SNI); default: the URL's host.
    #[arg(long)]
    pub server_name: Option<String>,
    /// Tokio worker threads.
    #[arg(long, short = 't', default_value_t = 1)]
    pub threads: usize,
    /// Seconds a request may take (connect and handshake too) before it
    /// counts as failed.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// One GET per path, one line each, instead of load.
    #[arg(long, conflicts_with = "hold")]
    pub list: bool,
    /// Hold mode: open N connections, one GET on each, then keep them idle.
    #[arg(long)]
    pub hold: Option<usize>,
    /// Seconds to hold the idle connections (the server's idle timeout
    /// must be longer).
    #[arg(long, default_value_t = 10.0)]
    pub hold_secs: f64,
}

/// Seconds from the command line as a `Duration` (negative or NaN is zero).
pub fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

/// What the requests go to, parsed once.
pub struct Target {
    /// The server's UDP address.
    pub addr: SocketAddr,
    /// The TLS server name.
    pub server_name: String,
    /// One absolute URI per path, in file order.
    pub uris: Vec<Uri>,
    /// The headers every request carries.
    pub headers: HeaderMap,
}

impl Target {
    /// Parses the URL, reads the paths file and the headers.
    pub fn from_args(args: &Args) -> Result<Target, Error> {
        let base: Uri = args
            .url
            .parse()
            .map_err(|e| format!("{}: not a URL: {e}", args.url))?;
        if base.scheme_str() != Some("https") {
            return Err(format!("{}: HTTP/3 needs an https:// URL", args.url));
        }
        let authority = base
            .authority()
            .ok_or_else(|| format!("{}: no host", args.url))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(443);
        let addr = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("{host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host}: no address"))?;
        let text = std::fs::read_to_string(&args.paths)
            .map_err(|e| format!("{}: {e}", args.paths.display()))?;
        let prefix = args.url.trim_end_matches('/');
        let mut uris = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let path = line.trim();
            if path.is_empty() || path.starts_with('#') {
                continue;
            }
            let uri = format!("{prefix}{path}")
                .parse::<Uri>()
                .map_err(|e| format!("{}:{}: not a URL path: {e}", args.paths.display(), n + 1))?;
            uris.push(uri);
        }
        if uris.is_empty() {
            return Err(format!("{}: no paths", args.paths.display()));
        }
        let mut headers = HeaderMap::new();
        for h in &args.headers {
            let (name, value) = h
                .split_once(':')
                .ok_or_else(|| format!("--header {h:?}: want `Name: value`"))?;
            let name =
                HeaderName::try_from(name.trim()).map_err(|e| format!("--header {h:?}: {e}"))?;
            let value =
                HeaderValue::try_from(value.trim()).map_err(|e| format!("--header {h:?}: {e}"))?;
            headers.append(name, value);
        }
        Ok(Target {
            addr,
            server_name: args.server_name.clone().unwrap_or_else(|| host.to_string()),
            uris,
            headers,
        })
    }
}

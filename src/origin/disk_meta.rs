//! The record the disk cache keeps of a pulled response besides its body:
//! status, end-to-end headers, request and response times (so `Age` keeps
//! counting across restarts), the request path and the `Vary` names.

use std::time::SystemTime;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use super::client::Fetched;
use super::pull::PulledMeta;

/// What the disk cache keeps besides the body: enough to rebuild the
/// metadata and the asset after a restart.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DiskMeta {
    /// Status code.
    pub status: u16,
    /// End-to-end response headers (name, value), values as Latin-1-safe text.
    pub headers: Vec<(String, String)>,
    /// When the request was sent.
    pub request_time: SystemTime,
    /// When the response arrived.
    pub response_time: SystemTime,
    /// The request path (for the Content-Type guess when there is none).
    pub path: String,
    /// The request headers the response varies on.
    #[serde(default)]
    pub vary: Vec<String>,
    /// The content codings (`br`, `gzip`) of the parts stored after the
    /// body: encodings made once, read back instead of made again.
    #[serde(default)]
    pub encodings: Vec<String>,
    /// The origin it came from ([`OriginClient::identity`]); 0 in records
    /// written before origins were told apart. A record from another
    /// origin is not served.
    ///
    /// [`OriginClient::identity`]: super::client::OriginClient::identity
    #[serde(default)]
    pub origin: u64,
}

impl DiskMeta {
    /// The record of a response stored from the origin `origin`.
    pub fn of(meta: &PulledMeta, path: &str, origin: u64) -> Self {
        Self {
            status: meta.status,
            headers: meta
                .headers
                .iter()
                .filter_map(|(n, v)| {
                    v.to_str()
                        .ok()
                        .map(|v| (n.as_str().to_string(), v.to_string()))
                })
                .collect(),
            request_time: meta.request_time,
            response_time: meta.response_time,
            path: path.to_string(),
            vary: meta.vary.clone(),
            encodings: Vec::new(),
            origin,
        }
    }

    /// The response as it was fetched, with `body`.
    pub fn fetched(&self, body: bytes::Bytes) -> Fetched {
        let mut headers = HeaderMap::new();
        for (n, v) in &self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(n.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                headers.append(n, v);
            }
        }
        Fetched {
            status: self.status,
            headers,
            body,
            request_time: self.request_time,
            response_time: self.response_time,
        }
    }
}

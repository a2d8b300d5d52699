//! One asset, one request, one response: pick the representation, evaluate
//! preconditions, honour a byte range, and write the prebuilt headers.
//! Nothing here touches the disk or formats a date or ETag (a body left on
//! disk is read as it is sent: `file_body`, `stored_body`).

use actix_web::body::BoxBody;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;

use std::rc::Rc;

use super::cors::{self, Grant};
use super::limits::send::Taken;
use super::stored_body::StoredBody;
use super::{errors, file_body};
use crate::asset::{Asset, Body, Coding, Representation};
use crate::headers::list_field;
use crate::http::conditional::{self, Outcome, Preconditions, Validators};
use crate::http::range;

const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const BYTES: HeaderValue = HeaderValue::from_static("bytes");

/// The full response for a GET or HEAD of `asset`.
pub fn asset(method: &Method, req: &HeaderMap, asset: &Asset, grant: &Grant) -> HttpResponse {
    asset_watched(method, req, asset, grant, &|| None)
}

/// [`asset`], a body streamed from a store counting its progress for the
/// send timeout by what `watch` gives (called only for such a body).
pub fn asset_watched(
    method: &Method,
    req: &HeaderMap,
    asset: &Asset,
    grant: &Grant,
    watch: &dyn Fn() -> Option<Rc<Taken>>,
) -> HttpResponse {
    let sending = Sending {
        head: method == Method::HEAD,
        watch,
    };
    let varies = Some(asset.varies_by_encoding());
    let accept = list_field(req, header::ACCEPT_ENCODING);
    let dictionary = asset
        .varies_by_dictionary()
        .then(|| available_dictionary(req))
        .flatten();
    let Some(rep) = asset.select_for(accept.as_deref(), dictionary.as_ref()) else {
        let mut resp = errors::text(
            StatusCode::NOT_ACCEPTABLE,
            "no acceptable content coding (identity is refused by Accept-Encoding)\n",
        );
        cors::apply(resp.headers_mut(), grant, varies);
        vary_dictionary(resp.headers_mut(), asset);
        return resp;
    };
    let validators = Validators {
        etag: rep.etag_str(),
        last_modified: asset.last_modified,
        modified_fallback: asset.modified_fallback,
    };
    let if_match = list_field(req, header::IF_MATCH);
    let if_none_match = list_field(req, header::IF_NONE_MATCH);
    let pre = Preconditions {
        if_match: if_match.as_deref(),
        if_none_match: if_none_match.as_deref(),
        if_modified_since: single_field(req, header::IF_MODIFIED_SINCE),
        if_unmodified_since: single_field(req, header::IF_UNMODIFIED_SINCE),
    };
    match conditional::evaluate(&pre, &validators, true) {
        Outcome::Proceed => {}
        Outcome::NotModified => {
            // RFC 9110 §15.4.5: a 304 carries the fields a 200 would have
            // that guide caches (ETag, Cache-Control, Vary), and no content.
            // Its body is "none", not "empty": HTTP/2 and HTTP/3 would
            // otherwise send `Content-Length: 0`, which a 304 may only carry
            // if the 200 were empty too (RFC 9110 §8.6).
            let mut resp = HttpResponse::new(StatusCode::NOT_MODIFIED)
                .set_body(actix_web::body::BoxBody::new(actix_web::body::None::new()));
            let h = resp.headers_mut();
            h.reserve(4 + asset.extra_headers.len());
            h.insert(header::ETAG, rep.etag.clone());
            if let Some(cc) = &asset.cache_control {
                h.insert(header::CACHE_CONTROL, cc.clone());
            }
            add_common(h, asset, grant);
            return resp;
        }
        Outcome::PreconditionFailed => {
            let mut resp = errors::text(StatusCode::PRECONDITION_FAILED, "precondition failed\n");
            cors::apply(resp.headers_mut(), grant, varies);
            vary_dictionary(resp.headers_mut(), asset);
            return resp;
        }
    }

    let len = rep.len;
    // Range is defined for GET only (RFC 9110 §14.2); If-Range gates it.
    if method == Method::GET {
        let asked = single_field(req, header::RANGE).and_then(range::parse);
        if let Some(range::Request::Single(spec)) = asked {
            if conditional::if_range_allows(single_field(req, header::IF_RANGE), &validators) {
                return match range::resolve(spec, len) {
                    Some((first, last)) => {
                        let Some(body) = body(rep, Some((first, last)), &sending) else {
                            return busy();
                        };
                        let mut resp = full(StatusCode::PARTIAL_CONTENT, asset, rep, grant, body);
                        // Cannot fail: digits, a dash and a slash are valid in a header value.
                        let cr = format!("bytes {first}-{last}/{len}");
                        resp.headers_mut().insert(
                            header::CONTENT_RANGE,
                            HeaderValue::from_str(&cr).expect("digits"),
                        );
                        resp
                    }
                    None => {
                        let mut resp = errors::text(
                            StatusCode::RANGE_NOT_SATISFIABLE,
                            "range not satisfiable\n",
                        );
                        // Cannot fail: digits, `*` and a slash are valid in a header value.
                        let cr = HeaderValue::from_str(&format!("bytes */{len}")).expect("digits");
                        resp.headers_mut().insert(header::CONTENT_RANGE, cr);
                        cors::apply(resp.headers_mut(), grant, varies);
                        vary_dictionary(resp.headers_mut(), asset);
                        resp
                    }
                };
            }
        }
    }
    match body(rep, None, &sending) {
        Some(body) => full(StatusCode::OK, asset, rep, grant, body),
        None => busy(),
    }
}

/// How a body is sent: for a HEAD (never read), counting its progress.
pub struct Sending<'a> {
    /// The response is to a HEAD: no body is read.
    pub head: bool,
    /// The send timeout's count for a body streamed from a store.
    pub watch: &'a dyn Fn() -> Option<Rc<Taken>>,
}

/// The bytes of `rep`, or of the inclusive range `first..=last` of it: a
/// cloned (or sliced) `Bytes` for memory, a file stream for disk, verified
/// chunks for a store. `None` when the memory bound has no room for a
/// store's chunks in flight now (the caller answers 503).
pub fn body(
    rep: &Representation,
    range: Option<(u64, u64)>,
    sending: &Sending<'_>,
) -> Option<BoxBody> {
    let (offset, len) = range.map_or((0, rep.len), |(first, last)| (first, last - first + 1));
    Some(match (&rep.body, range) {
        (Body::Memory(b), None) => BoxBody::new(b.clone()),
        (Body::Memory(b), Some((first, last))) => {
            BoxBody::new(b.slice(first as usize..=last as usize))
        }
        (Body::File { path, modified }, _) => BoxBody::new(file_body::sized(
            path.clone(),
            *modified,
            rep.len,
            offset,
            len,
        )),
        (Body::Stored(_), _) if sending.head => BoxBody::new(actix_web::body::SizedStream::new(
            len,
            futures_util::stream::empty::<Result<bytes::Bytes, std::io::Error>>(),
        )),
        (Body::Stored(s), _) => BoxBody::new(StoredBody::new(
            s.stream(offset, len)?,
            len,
            (sending.watch)(),
        )),
    })
}

/// No room in the memory bound for a body streamed from the disk cache
/// now: 503, retry soon (it frees as responses end).
pub fn busy() -> HttpResponse {
    let mut resp = errors::text(
        StatusCode::SERVICE_UNAVAILABLE,
        "node busy: memory bound reached, retry soon\n",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// A response carrying (part of) the representation, with all its headers.
/// Headers are inserted into a map sized once, from prebuilt values.
fn full(
    status: StatusCode,
    asset: &Asset,
    rep: &Representation,
    grant: &Grant,
    body: BoxBody,
) -> HttpResponse {
    let mut resp = HttpResponse::with_body(status, body);
    let h = resp.headers_mut();
    h.reserve(12 + asset.extra_headers.len() + asset.preload.as_ref().map_or(0, |p| p.len()));
    h.insert(header::CONTENT_TYPE, asset.content_type.clone());
    h.insert(header::ETAG, rep.etag.clone());
    if let Some(lm) = &asset.last_modified_value {
        h.insert(header::LAST_MODIFIED, lm.clone());
    }
    if let Some(cc) = &asset.cache_control {
        h.insert(header::CACHE_CONTROL, cc.clone());
    }
    h.insert(header::ACCEPT_RANGES, BYTES);
    h.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    if rep.coding != Coding::Identity {
        h.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(rep.coding.token()),
        );
    }
    if let Some(links) = &asset.preload {
        for v in links.get_all(header::LINK) {
            h.append(header::LINK, v.clone());
        }
    }
    add_common(h, asset, grant);
    resp
}

/// Rule headers (or a pulled object's origin headers), CORS and Vary: on
/// every response that describes the asset.
fn add_common(h: &mut HeaderMap, asset: &Asset, grant: &Grant) {
    if let Some(d) = asset.deltas.as_ref().and_then(|d| d.use_as.as_ref()) {
        h.insert(USE_AS_DICTIONARY, d.clone());
    }
    apply_extra(h, &asset.extra_headers);
    cors::apply(h, grant, Some(asset.varies_by_encoding()));
    vary_dictionary(h, asset);
}

/// `Use-As-Dictionary` (RFC 9842 §2.1).
const USE_AS_DICTIONARY: HeaderName = HeaderName::from_static("use-as-dictionary");
/// `Available-Dictionary` (RFC 9842 §2.2).
const AVAILABLE_DICTIONARY: HeaderName = HeaderName::from_static("available-dictionary");

/// The dictionary a request says it holds, `None` when it names none or
/// names it badly (a wrong length, not a byte sequence, several lines):
/// such a request gets the answer it would get without the field.
fn available_dictionary(req: &HeaderMap) -> Option<[u8; 32]> {
    let lines = req.get_all(AVAILABLE_DICTIONARY).map(|v| v.as_bytes());
    match crate::http::dictionary::available_dictionary(lines) {
        Ok(h) => h,
        Err(why) => {
            tracing::debug!("Available-Dictionary ignored: {why}");
            None
        }
    }
}

/// Adds `Available-Dictionary` to `Vary` for an asset with deltas: every
/// response of such a resource says its answer depends on the field
/// (RFC 9110 §12.5.5, RFC 9842 §6.2), unless `Vary` already covers it.
fn vary_dictionary(h: &mut HeaderMap, asset: &Asset) {
    if !asset.varies_by_dictionary() {
        return;
    }
    if !cors::vary_covers(h, "available-dictionary") {
        h.append(
            header::VARY,
            HeaderValue::from_static("Available-Dictionary"),
        );
    }
}

/// Writes `extra` over `h`: each name in `extra` replaces what `h` has
/// under it, and its values are appended in order, so an origin's repeated
/// fields stay repeated (RFC 9110 §5.3) and never sit beside a default of
/// the node's own (its `X-Content-Type-Options`, `Accept-Ranges`, ...).
pub fn apply_extra(h: &mut HeaderMap, extra: &[(HeaderName, HeaderValue)]) {
    for (i, (n, v)) in extra.iter().enumerate() {
        if !extra[..i].iter().any(|(seen, _)| seen == n) {
            h.remove(n);
        }
        h.append(n.clone(), v.clone());
    }
}

/// A singleton field: ignored (None) when sent more than once or not text.
fn single_field(req: &HeaderMap, name: HeaderName) -> Option<&str> {
    let mut values = req.get_all(name);
    let first = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.to_str().ok()
}

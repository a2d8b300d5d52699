//! Pages a rule puts in place of an error (`fallback`, `error_pages`):
//! a single-page app's document for client-side routes, and the site's
//! own error pages. Applied after the lookup, only when the answer is an
//! error, only for a client's request (a peer's request is answered as
//! the cache holds it: the node that asked applies its own rules), and
//! only from pages the node can serve (local or pulled, as any request);
//! a page that is itself missing leaves the original answer.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

use super::live::Live;
use super::{limits, respond};
use crate::config::Rule;
use crate::edge::EdgeError;
use crate::http::accept_encoding::parse_qvalue;
use crate::http::path::{self, Key};
use crate::http::syntax::split_list;
use crate::lookup::{Ask, Lookup};

/// The rules that name a fallback or error pages (none: nothing to do,
/// at no cost per request).
#[derive(Debug, Clone)]
pub struct Pages {
    rules: Vec<Rule>,
}

impl Pages {
    /// The pages of `rules`, if any rule names one.
    pub fn of(rules: &[Rule]) -> Option<Self> {
        let rules: Vec<Rule> = (rules.iter())
            .filter(|r| r.fallback.is_some() || !r.error_pages.is_empty())
            .cloned()
            .collect();
        (!rules.is_empty()).then_some(Self { rules })
    }
}

/// The status an answer would have when it is an error a page may stand
/// in for (`None`: not an error).
pub fn error_status(found: &Result<Lookup, EdgeError>) -> Option<u16> {
    let status = match found {
        Ok(Lookup::NotFound) => 404,
        Ok(Lookup::Asset { asset, .. }) => asset.status(),
        Ok(Lookup::Passed(f, _)) => f.status,
        Ok(Lookup::Streamed(s, _)) => s.status,
        Ok(Lookup::OriginFailed(e)) => e.status(),
        // only-if-cached asked not to go anywhere: its 504 stands.
        Ok(Lookup::NotCached | Lookup::Directory) => return None,
        Err(e) => e.public().0,
    };
    (status >= 400).then_some(status)
}

/// What to answer instead of an error `status` for `key`: the rule's
/// fallback document (200) for a page that exists nowhere, or the rule's
/// error page for `status`; `None` when no rule names one, or the page is
/// not there.
pub async fn instead(
    live: &Live,
    pages: &Pages,
    req: &HttpRequest,
    key: &Key,
    ask: &Ask<'_>,
    status: u16,
) -> Option<Instead> {
    let said = crate::rule_set::said(&pages.rules, key.path());
    if status == 404 {
        if let Some(doc) = said
            .fallback
            .as_deref()
            .filter(|_| wants_a_document(key, ask.headers))
        {
            if let Some(found) = page(live, doc, ask).await {
                return Some(Instead::Fallback(found));
            }
        }
    }
    let (_, page_path) = said.error_pages.iter().find(|(s, _)| *s == status)?;
    let found = page(live, page_path, ask).await?;
    let Ok(Lookup::Asset { asset, .. }) = &found else {
        return None;
    };
    let status = StatusCode::from_u16(status).ok()?;
    Some(Instead::ErrorPage(error_page(req, asset, status)))
}

/// What stands in for an error.
pub enum Instead {
    /// The fallback document, as found: answered like any request for it.
    Fallback(Result<Lookup, EdgeError>),
    /// An error page, with the error's status.
    ErrorPage(HttpResponse),
}

/// The page at `at`, looked up as a request for it would be (no query),
/// when it is there (a 200).
async fn page(live: &Live, at: &str, ask: &Ask<'_>) -> Option<Result<Lookup, EdgeError>> {
    let key = path::key(at).ok()?;
    let ask = Ask {
        query: None,
        ..*ask
    };
    let found = live.edge.lookup(&key, &ask).await;
    match &found {
        Ok(Lookup::Asset { asset, .. }) if asset.status() == 200 => Some(found),
        _ => None,
    }
}

/// Whether a request for a page that exists nowhere gets the fallback
/// document: its last segment has no extension (a client-side route,
/// `/about`, `/users/42`), or its `Accept` prefers `text/html` (a
/// browser's navigation, whatever the path looks like). `/missing.js`
/// fetched by a script (`Accept: */*`) still gets its 404.
fn wants_a_document(key: &Key, headers: &HeaderMap) -> bool {
    let last = key.path().rsplit('/').next().unwrap_or("");
    let has_extension = last.rfind('.').is_some_and(|i| i > 0 && i + 1 < last.len());
    !has_extension || prefers_html(headers)
}

/// Whether `Accept` lists `text/html` with a weight no other range beats
/// (RFC 9110 §12.5.1): the list and q-values read as `Accept-Encoding`'s
/// are (`http::syntax::split_list`, `accept_encoding::parse_qvalue`); a
/// member with a malformed weight is skipped.
fn prefers_html(headers: &HeaderMap) -> bool {
    let mut html = None;
    let mut best = 0;
    let lines = headers
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok());
    for range in lines.flat_map(split_list) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let weight = parts.find_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim().eq_ignore_ascii_case("q").then_some(value)
        });
        let Some(q) = weight.map_or(Some(1000), parse_qvalue) else {
            continue;
        };
        if media.eq_ignore_ascii_case("text/html") {
            html = Some(html.map_or(q, |h: u16| h.max(q)));
        }
        best = best.max(q);
    }
    html.is_some_and(|h| h > 0 && h >= best)
}

/// An error page: the page's body in the encoding the client accepts,
/// under the error's status. Conditionals and ranges do not apply (they
/// are about the resource asked for, not the page), nor do its
/// validators; it is marked `no-store` so no cache keeps the page as the
/// answer for this URL (RFC 9111 §5.2.2.5).
fn error_page(
    req: &HttpRequest,
    asset: &crate::lookup::Served,
    status: StatusCode,
) -> HttpResponse {
    let mut negotiation = HeaderMap::new();
    for v in req.headers().get_all(header::ACCEPT_ENCODING) {
        negotiation.append(header::ACCEPT_ENCODING, v.clone());
    }
    let watch = || limits::conns::watch_body(req);
    let grant = Default::default();
    let mut resp = respond::asset_watched(req.method(), &negotiation, asset, &grant, &watch);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    for name in [
        header::ETAG,
        header::LAST_MODIFIED,
        header::ACCEPT_RANGES,
        header::AGE,
    ] {
        h.remove(name);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn html_is_preferred_only_when_no_range_outweighs_it() {
        for yes in [
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "TEXT/HTML",
            "*/*;q=0.5, text/html",
            "text/html;level=1;q=1, */*",
        ] {
            assert!(prefers_html(&accept(yes)), "{yes}");
        }
        for no in [
            "*/*",
            "image/avif,image/webp,*/*;q=0.8",
            "text/html;q=0.5, */*",
            "text/html;q=0",
            "",
        ] {
            assert!(!prefers_html(&accept(no)), "{no}");
        }
        assert!(!prefers_html(&HeaderMap::new()));
        // A malformed weight is skipped, not read as 1.
        assert!(!prefers_html(&accept("text/html;q=2, */*;q=0.5")));
    }
}

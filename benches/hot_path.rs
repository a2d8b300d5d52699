//! The pure hot path: pick a representation by Accept-Encoding, evaluate
//! validators, and build the response head, for an asset already in memory.
//! Run with `cargo bench --bench hot_path`.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use bytes::Bytes;
use cdn_edge::asset::{self, Asset, Coding, Representation};
use cdn_edge::config::CorsConfig;
use cdn_edge::server::cors::Cors;
use cdn_edge::server::respond;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn css_asset() -> Asset {
    let body = Bytes::from("a{color:red}".repeat(2500));
    let reps = vec![
        Representation::new(Coding::Identity, body.clone()),
        Representation::new(Coding::Br, body.slice(..3000)),
        Representation::new(Coding::Gzip, body.slice(..4000)),
    ];
    Asset::new(
        reps,
        asset::content_type("app.css"),
        Some(std::time::SystemTime::now()),
        Some(HeaderValue::from_static(
            "public, max-age=31536000, immutable",
        )),
        vec![],
    )
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.insert(
            HeaderName::from_static(n),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn bench(c: &mut Criterion) {
    let asset = css_asset();
    let cors = Cors::new(&CorsConfig::default());
    let etag = asset.select(Some("br")).unwrap().etag_str().to_string();
    let cases = [
        (
            "200 br",
            headers(&[("accept-encoding", "gzip, deflate, br, zstd")]),
        ),
        ("200 identity", headers(&[])),
        (
            "304 if-none-match",
            headers(&[
                ("accept-encoding", "gzip, deflate, br"),
                ("if-none-match", &etag),
            ]),
        ),
        ("206 range", headers(&[("range", "bytes=100-199")])),
    ];
    for (name, req) in &cases {
        c.bench_function(name, |b| {
            b.iter(|| {
                let grant = cors.grant(req);
                black_box(respond::asset(&Method::GET, black_box(req), &asset, &grant))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! HTTP/3 (`[http3]`): the QUIC listener answers as the HTTPS one does.

use crate::common::http2::{test_cert, tls_table, Client, Proto};
use crate::common::http3::{h3_table, H3Client};
use crate::common::Server;

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.css"),
        "body { color: red }\n".repeat(100),
    )
    .unwrap();
    std::fs::write(dir.path().join("big.bin"), vec![7u8; 3 << 20]).unwrap();
    dir
}

#[test]
fn a_request_over_http3_is_answered_and_advertised() {
    let root = site();
    let cert = test_cert(&["localhost"]);
    let s = Server::start(root.path(), &(tls_table(&cert, "") + &h3_table("")));
    crate::common::wait_for_encoding(&s, "/app.css", "br");
    let mut c = H3Client::new(&s, &cert);
    let r = c.get("/app.css", &[("accept-encoding", "br")]);
    assert_eq!(r.status, 200, "{}", r.summary());
    assert_eq!(r.header("content-encoding"), Some("br"));
    let port = s.h3_addr().port();
    let alt = format!("h3=\":{port}\"; ma=86400");
    assert_eq!(r.header("alt-svc"), Some(alt.as_str()));
    let h2 = Client::new(&s, &cert, Proto::H2Tls).get("/app.css", &[]);
    assert_eq!(h2.header("alt-svc"), Some(alt.as_str()));
    let big = c.get("/big.bin", &[]);
    assert_eq!(big.body.len(), 3 << 20);
}

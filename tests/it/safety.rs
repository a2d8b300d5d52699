//! Nothing outside the root is ever served; dotfiles are hidden; only GET,
//! HEAD and OPTIONS are allowed; garbage headers never cause a 500.

use crate::common;

use common::*;

fn start(f: &Fixture) -> Server {
    Server::start(&f.root, &config_with(""))
}

/// Why a response to a path that must be refused is wrong, if it is.
fn refusal_problem(r: &Response, ctx: &str) -> Option<String> {
    let body = r.text();
    if body.contains("TOP-SECRET") {
        return Some(format!("{ctx}: LEAKED the secret: {}", r.summary()));
    }
    if body.contains("root:x:0:0") {
        return Some(format!("{ctx}: LEAKED /etc/passwd"));
    }
    if r.status != 400 && r.status != 404 {
        return Some(format!("{ctx}: expected 400 or 404, got {}", r.summary()));
    }
    None
}

/// Checks every case, then fails once listing every problem.
fn assert_no_problems(problems: Vec<String>) {
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn fixture_secret_is_really_reachable_by_naive_join() {
    // Sanity for the traversal tests: root/../outside/secret.txt exists.
    let f = Fixture::new();
    let p = f.root.join("../outside/secret.txt");
    assert_eq!(std::fs::read(p).unwrap(), SECRET);
    assert_eq!(std::fs::read(f.root.join("escape.txt")).unwrap(), SECRET);
    assert_eq!(
        std::fs::read(f.root.join("escape_dir/secret.txt")).unwrap(),
        SECRET
    );
}

#[test]
fn traversal_in_every_spelling_is_refused() {
    let f = Fixture::new();
    let s = start(&f);
    let paths = [
        "/../outside/secret.txt",
        "/../../outside/secret.txt",
        "/docs/../../outside/secret.txt",
        "/./../outside/secret.txt",
        "//../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/.%2e/outside/secret.txt",
        "/%2e./outside/secret.txt",
        "/docs/%2e%2e/%2e%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/%2e%2e%2foutside%2fsecret.txt",
        "/%2E%2E%2Foutside%2Fsecret.txt",
        "/docs%2f..%2f..%2foutside%2fsecret.txt",
        "/..%5coutside%5csecret.txt",
        "/%2e%2e%5coutside%5csecret.txt",
        "/..\\outside\\secret.txt",
        "/docs\\..\\..\\outside\\secret.txt",
        "/%252e%252e/outside/secret.txt",
        "/%252e%252e%252foutside%252fsecret.txt",
        "/..%252foutside%252fsecret.txt",
        "/%c0%ae%c0%ae/outside/secret.txt",
        "/%c0%ae%c0%ae%c0%afoutside%c0%afsecret.txt",
        "/..;/outside/secret.txt",
        "/%2e%2e",
        "/..",
        "/%2fetc%2fpasswd",
        "//etc/passwd",
        "/%2F%2Fetc%2Fpasswd",
        "/..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/../../../../../../../etc/passwd",
    ];
    let mut problems = Vec::new();
    for p in paths {
        problems.extend(refusal_problem(&s.get(p), p));
        problems.extend(refusal_problem(&s.head_h(p, &[]), &format!("HEAD {p}")));
    }
    assert_no_problems(problems);
}

#[test]
fn nul_and_control_bytes_are_refused() {
    let f = Fixture::new();
    let s = start(&f);
    let mut problems = Vec::new();
    for p in [
        "/plain.txt%00",
        "/plain.txt%00.png",
        "/%00",
        "/%00/../outside/secret.txt",
        "/escape.txt%00",
        "/plain%0a.txt",
        "/plain.txt%0d%0aX-Injected:%20yes",
    ] {
        let r = s.get(p);
        problems.extend(refusal_problem(&r, p));
        if r.header("x-injected").is_some() {
            problems.push(format!("{p}: header injection"));
        }
    }
    assert_no_problems(problems);
}

#[test]
fn symlinks_out_of_root_are_refused() {
    let f = Fixture::new();
    let s = start(&f);
    let mut problems = Vec::new();
    for p in [
        "/escape.txt",
        "/escape_dir/secret.txt",
        "/escape_dir/",
        "/escape_dir",
        "/escape%2etxt",
        "/escape_dir%2fsecret.txt",
    ] {
        problems.extend(refusal_problem(&s.get(p), p));
        problems.extend(refusal_problem(&s.head_h(p, &[]), &format!("HEAD {p}")));
        problems.extend(refusal_problem(
            &s.get_h(p, &[("Range", "bytes=0-3")]),
            &format!("{p} with Range"),
        ));
    }
    assert_no_problems(problems);
}

#[test]
fn symlinked_sibling_representation_out_of_root_is_not_served() {
    // A `.br` sibling that is a symlink out of the root must not leak either.
    let f = Fixture::new();
    f.write("lib.js", b"lib();");
    std::os::unix::fs::symlink(f.outside.join("secret.txt"), f.root.join("lib.js.br")).unwrap();
    let s = start(&f);
    let r = s.get_h("/lib.js", &[("Accept-Encoding", "br")]);
    assert!(!r.text().contains("TOP-SECRET"), "{}", r.summary());
    assert!(r.status < 500, "{}", r.summary());
    let r = s.get("/lib.js.br");
    assert!(!r.text().contains("TOP-SECRET"), "{}", r.summary());
}

#[test]
fn dotfiles_and_dot_directories_are_404() {
    let f = Fixture::new();
    f.write("a/.git/x", b"TOP-SECRET dot dir");
    f.write("docs/.hidden", b"TOP-SECRET hidden");
    let s = start(&f);
    for p in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/.git",
        "/%2eenv",
        "/%2Eenv",
        "/%2egit/config",
        "/.git%2fconfig",
        "/a/.git/x",
        "/a/%2egit/x",
        "/docs/.hidden",
        "/docs/%2ehidden",
    ] {
        let r = s.get(p);
        assert_eq!(r.status, 404, "{p}: {}", r.summary());
        assert!(!r.text().contains("TOP-SECRET"), "{p}: leaked");
        let r = s.head_h(p, &[]);
        assert_eq!(r.status, 404, "HEAD {p}: {}", r.summary());
    }
}

#[test]
fn other_methods_are_405_with_allow() {
    let f = Fixture::new();
    let s = start(&f);
    for m in ["POST", "PUT", "DELETE", "PATCH", "TRACE"] {
        for p in ["/plain.txt", "/app.css", "/"] {
            let r = s.req(m, p, &[("Content-Length", "0")]);
            assert_eq!(r.status, 405, "{m} {p}: {}", r.summary());
            assert_eq!(
                allow_set(&r),
                vec!["GET", "HEAD", "OPTIONS"],
                "{m} {p}: {}",
                r.summary()
            );
        }
    }
}

#[test]
fn post_with_body_is_405_and_file_untouched() {
    let f = Fixture::new();
    let s = start(&f);
    let body = "overwritten";
    let raw = format!(
        "PUT /plain.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let r = parse_response(&send_raw(s.addr, raw.as_bytes()), false).unwrap();
    assert_eq!(r.status, 405, "{}", r.summary());
    assert_eq!(std::fs::read(f.path("plain.txt")).unwrap(), PLAIN_TXT);
    assert_eq!(s.get("/plain.txt").body, PLAIN_TXT);
}

#[test]
fn garbage_headers_never_500() {
    let f = Fixture::new();
    let s = start(&f);
    let cases: &[(&str, &str)] = &[
        ("Range", "bytes="),
        ("Range", "bytes=-"),
        ("Range", "bytes=abc-def"),
        ("Range", "bytes=99999999999999999999999-"),
        ("Range", "bytes=0-1,"),
        ("Range", ",,,,"),
        ("Range", "bytes=0-1,2-3,4-5,6-7,8-9,10-11,12-13,14-15,16-17"),
        ("If-Modified-Since", "yesterday"),
        ("If-Modified-Since", "Mon, 99 Foo 2021 25:61:61 GMT"),
        ("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"),
        ("If-Modified-Since", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("If-Modified-Since", "Sunday, 06-Nov-94 08:49:37 GMT"),
        ("If-Modified-Since", "Sun Nov  6 08:49:37 1994"),
        ("If-None-Match", "\"unterminated"),
        ("If-None-Match", "W/"),
        ("If-None-Match", ",,,"),
        ("If-None-Match", "\u{e9}\u{e9}"),
        ("Accept-Encoding", ";;;q="),
        ("Accept-Encoding", "br;q=abc"),
        ("Accept-Encoding", "gzip;q=2"),
        ("Accept-Encoding", "br;q=-1"),
        ("Accept-Encoding", ",,,,"),
        ("Accept-Encoding", "\u{e9}"),
        ("Accept-Encoding", "br;q=0.5;q=0.7"),
        ("If-Range", "garbage"),
        ("If-Match", "garbage"),
        ("If-Unmodified-Since", "garbage"),
        ("Origin", "not a url"),
        ("Access-Control-Request-Method", "???"),
    ];
    for p in ["/app.css", "/plain.txt", "/data.bin"] {
        for (h, v) in cases {
            let r = s.get_h(p, &[(h, v)]);
            assert!(r.status < 500, "{p} {h}: {v:?}: {}", r.summary());
            let r = s.head_h(p, &[(h, v)]);
            assert!(r.status < 500, "HEAD {p} {h}: {v:?}: {}", r.summary());
            let r = s.req("OPTIONS", p, &[(h, v)]);
            assert!(r.status < 500, "OPTIONS {p} {h}: {v:?}: {}", r.summary());
        }
    }
}

#[test]
fn garbage_in_ignored_headers_gives_200() {
    let f = Fixture::new();
    let s = start(&f);
    let cases: &[(&str, &str)] = &[
        ("Range", "bytes=abc-def"),
        ("Range", "bytes=5-1"),
        ("If-Modified-Since", "yesterday"),
        ("If-None-Match", "\"unterminated"),
        ("Accept-Encoding", ";;;q="),
        ("Accept-Encoding", "br;q=abc"),
    ];
    for (h, v) in cases {
        let r = s.get_h("/plain.txt", &[(h, v)]);
        assert_eq!(r.status, 200, "{h}: {v:?}: {}", r.summary());
        assert_eq!(r.body, PLAIN_TXT, "{h}: {v:?}");
    }
}

#[test]
fn weird_paths_never_500() {
    let f = Fixture::new();
    let s = start(&f);
    let long = format!("/{}", "a".repeat(4000));
    let deep = format!("/{}", "d/".repeat(500));
    for p in [
        "/%",
        "/%zz",
        "/%ff%fe",
        "/%e9",
        "/plain.txt?x=1",
        "/?",
        "/#frag",
        "/plain.txt;param",
        long.as_str(),
        deep.as_str(),
        "/%2f",
        "/%5c",
        "/\u{e9}",
    ] {
        // A server may also refuse an unparsable request line by closing.
        if let Ok(r) = try_request(s.addr, "GET", p, &[]) {
            assert!(r.status < 500, "{p:?}: {}", r.summary());
            assert!(!r.text().contains("TOP-SECRET"), "{p:?}");
        }
    }
    assert_eq!(s.get("/plain.txt").status, 200, "server still serves");
}

#[test]
fn asterisk_and_absolute_form_targets_do_not_escape() {
    let f = Fixture::new();
    let s = start(&f);
    for p in [
        "http://127.0.0.1/../outside/secret.txt",
        "*",
        "../outside/secret.txt",
    ] {
        if let Ok(r) = try_request(s.addr, "GET", p, &[]) {
            assert!(r.status < 500, "{p}: {}", r.summary());
            assert!(!r.text().contains("TOP-SECRET"), "{p}: leaked");
        }
    }
}

//! The documentation, checked against the code so it cannot drift:
//!
//! - every relative link and `#anchor` in README.md and docs/**/*.md
//!   resolves (GitHub's heading slugs), and every page under docs/ is
//!   reachable from the docs index;
//! - the README stays short and readable (its line and table-cell limits);
//! - docs/reference/configuration.md has a row for every key of the
//!   configuration schema, and no row for a key the schema does not have,
//!   and its reload column agrees with `server::restart::KEYS`;
//! - the manifest helper of docs/guides/templates.md, run by `python3` on a
//!   tree made by a real `cdn-edge build`, prints the tags the manifest
//!   calls for, and a real node serves those URLs with bytes that match
//!   their `integrity` and the CORS header `crossorigin` needs.
//!
//! Markdown is read with pulldown-cmark (the CommonMark parser rustdoc's
//! ecosystem uses), so code blocks and code spans are never taken for links.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

use common::oracle;

/// The repository's root (where Cargo.toml is).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown options GitHub renders with that change what is a link.
fn md_options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_FOOTNOTES
}

/// README.md and every `.md` file under docs/, relative to the repo, sorted.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "md") {
                out.push(p);
            }
        }
    }
    let mut files = vec![repo().join("README.md"), repo().join("fuzz/README.md")];
    walk(&repo().join("docs"), &mut files);
    files.sort();
    files
}

/// GitHub's anchor for a heading's text: lower case, spaces to `-`, every
/// other character that is not a letter, a digit, `-` or `_` removed.
fn slug(text: &str) -> String {
    text.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings, with GitHub's `-1`, `-2` suffixes for
/// repeated ones.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut heading: Option<String> = None;
    for ev in Parser::new_ext(text, md_options()) {
        match ev {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = &mut heading {
                    h.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let s = slug(&heading.take().unwrap_or_default());
                let n = seen.entry(s.clone()).or_insert(0);
                out.insert(if *n == 0 {
                    s.clone()
                } else {
                    format!("{s}-{n}")
                });
                *n += 1;
            }
            _ => {}
        }
    }
    out
}

/// Every link destination of a page (inline, reference and image links).
fn links(text: &str) -> Vec<String> {
    Parser::new_ext(text, md_options())
        .filter_map(|ev| match ev {
            Event::Start(Tag::Link { dest_url, .. })
            | Event::Start(Tag::Image { dest_url, .. }) => Some(dest_url.to_string()),
            _ => None,
        })
        .collect()
}

/// `base/rel` with `.` and `..` folded, without touching the file system.
fn join(base: &Path, rel: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in base.join(rel).components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let files = markdown_files();
    let mut anchor_cache: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        let dir = file.parent().unwrap();
        for dest in links(&text) {
            if dest.contains("://") || dest.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = match dest.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (dest.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                join(dir, path)
            };
            let rel = file.strip_prefix(repo()).unwrap().display().to_string();
            if !target.exists() {
                broken.push(format!("{rel}: {dest}: no such file"));
                continue;
            }
            if !target.starts_with(repo()) {
                broken.push(format!("{rel}: {dest}: outside the repository"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if target.extension().is_none_or(|x| x != "md") {
                broken.push(format!(
                    "{rel}: {dest}: an anchor into a file that is not Markdown"
                ));
                continue;
            }
            let set = anchor_cache
                .entry(target.clone())
                .or_insert_with(|| anchors(&fs::read_to_string(&target).unwrap()));
            if !set.contains(anchor) {
                broken.push(format!(
                    "{rel}: {dest}: no heading has the anchor #{anchor}"
                ));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} links found: is the parser reading the pages?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_docs_page_is_reachable_from_the_index() {
    // Follow links from README.md and docs/README.md, page to page.
    let mut seen = BTreeSet::new();
    let mut todo = vec![repo().join("README.md"), repo().join("docs/README.md")];
    while let Some(page) = todo.pop() {
        if !seen.insert(page.clone()) {
            continue;
        }
        let text = fs::read_to_string(&page).unwrap();
        for dest in links(&text) {
            if dest.contains("://") {
                continue;
            }
            let path = dest.split('#').next().unwrap();
            if path.is_empty() {
                continue;
            }
            let target = join(page.parent().unwrap(), path);
            if target.extension().is_some_and(|x| x == "md") && target.exists() {
                todo.push(target);
            }
        }
    }
    let orphans: Vec<String> = markdown_files()
        .into_iter()
        .filter(|f| !seen.contains(f))
        .map(|f| f.strip_prefix(repo()).unwrap().display().to_string())
        .collect();
    assert!(orphans.is_empty(), "pages no link leads to: {orphans:?}");
}

#[test]
fn readme_is_short_and_readable() {
    let text = fs::read_to_string(repo().join("README.md")).unwrap();
    let lines = text.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; the rest belongs in docs/"
    );
    for (i, line) in text.lines().enumerate() {
        assert!(
            line.chars().count() <= 200,
            "README.md:{}: {} characters (at most 200)",
            i + 1,
            line.chars().count()
        );
    }
    for row in table_rows(&text) {
        for cell in row {
            let words = cell.split_whitespace().count();
            assert!(
                words <= 40,
                "README.md: a table cell of {words} words: {cell}"
            );
        }
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    // The README's first `sh` block holds the two commands; .ci/run must run
    // the test one exactly (a line of its own), so "the README's two
    // commands" are what CI checks.
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let block = code_blocks(&readme, "sh")
        .into_iter()
        .next()
        .expect("a ```sh block");
    let command = block
        .lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .find(|l| l.starts_with("cargo test"))
        .expect("the README's test command");
    let ci = fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == command),
        ".ci/run does not run the README's test command `{command}`"
    );
}

/// The rows of every table of a page (header rows included), each a list of
/// cells' text (code spans as their content).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row: Option<Vec<String>> = None;
    let mut cell: Option<String> = None;
    for ev in Parser::new_ext(text, md_options()) {
        match ev {
            Event::Start(Tag::TableHead) | Event::Start(Tag::TableRow) => row = Some(Vec::new()),
            Event::End(TagEnd::TableHead) | Event::End(TagEnd::TableRow) => {
                rows.extend(row.take());
            }
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                if let (Some(r), Some(c)) = (&mut row, cell.take()) {
                    r.push(c.trim().to_string());
                }
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = &mut cell {
                    c.push_str(&t);
                }
            }
            _ => {}
        }
    }
    rows
}

// ---------------------------------------------------------------------------
// The configuration reference
// ---------------------------------------------------------------------------

/// A table of the TOML document to probe: its name and whether it is an
/// array of tables (`[[rules]]`).
#[derive(Clone)]
struct Seg {
    name: String,
    array: bool,
}

/// A TOML document that puts the key `__probe__` in the table at `path`.
fn probe_doc(path: &[Seg]) -> String {
    let mut doc = String::new();
    for i in 0..path.len() {
        let name: Vec<&str> = path[..=i].iter().map(|s| s.name.as_str()).collect();
        let name = name.join(".");
        if path[i].array {
            doc.push_str(&format!("[[{name}]]\n"));
        } else if i + 1 == path.len() {
            doc.push_str(&format!("[{name}]\n"));
        }
    }
    doc.push_str("__probe__ = 1\n");
    doc
}

/// The fields of the table at `path`, from the schema itself; `None` when
/// the value at `path` is not a table of the schema.
///
/// Every table of the configuration is a serde struct with
/// `deny_unknown_fields`, so the parser refuses a probe key with serde's
/// "unknown field `__probe__`, expected one of `a`, `b`, ...", which lists
/// exactly that struct's fields. The config types derive `Deserialize` only
/// (no `Serialize`), and `Config::default()` would hide the tables that are
/// `Option`s (`[cluster]`) and the entries of arrays (`[[rules]]`), so asking
/// the real parser is the one key list that cannot drift from the code.
fn fields(path: &[Seg]) -> Option<Vec<String>> {
    let err = match cdn_edge::config::Config::parse("probe", &probe_doc(path)) {
        Ok(_) => panic!("the schema accepted an unknown key: {}", probe_doc(path)),
        Err(e) => e.to_string(),
    };
    if !err.contains("unknown field `__probe__`") {
        return None;
    }
    // serde: "expected one of `a`, `b`", "expected `a` or `b`", "expected `a`",
    // or "there are no fields": the backticked names after "expected".
    let list = err.split_once(", expected").map_or("", |(_, l)| l);
    Some(
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
    )
}

/// Every key of the schema, as the reference spells it: `server.listen`,
/// `rules[].glob`, `tls.certificates[].names`.
fn schema_keys() -> Vec<String> {
    fn walk(path: &[Seg], out: &mut Vec<String>) {
        let names = fields(path).expect("a table of the schema");
        for name in names {
            let mut as_table = path.to_vec();
            as_table.push(Seg {
                name: name.clone(),
                array: false,
            });
            let mut as_array = path.to_vec();
            as_array.push(Seg {
                name: name.clone(),
                array: true,
            });
            if fields(&as_table).is_some() {
                walk(&as_table, out);
            } else if fields(&as_array).is_some() {
                walk(&as_array, out);
            } else {
                let spelled: Vec<String> = path
                    .iter()
                    .map(|s| format!("{}{}", s.name, if s.array { "[]" } else { "" }))
                    .chain([name])
                    .collect();
                out.push(spelled.join("."));
            }
        }
    }
    let mut out = Vec::new();
    walk(&[], &mut out);
    out
}

/// What the reference's reload column must say for `key`.
fn reload_word(key: &str) -> &'static str {
    if key.starts_with("build.") {
        "-" // read by `cdn-edge build`, not by a running node
    } else if key.starts_with("cluster.") || cdn_edge::server::restart::KEYS.contains(&key) {
        "restart"
    } else {
        "SIGHUP"
    }
}

#[test]
fn the_configuration_reference_has_every_key_of_the_schema() {
    let keys = schema_keys();
    // The probe itself is checked: it found the tables and keys we know of.
    for known in [
        "server.listen",
        "cache.memory_bytes",
        "rules[].glob",
        "cluster.token",
    ] {
        assert!(
            keys.iter().any(|k| k == known),
            "probe missed {known}: {keys:?}"
        );
    }
    let text = fs::read_to_string(repo().join("docs/reference/configuration.md")).unwrap();
    // key -> reload cell, from every table whose header has "key" and "reload".
    let mut documented: BTreeMap<String, String> = BTreeMap::new();
    let mut columns: Option<(usize, usize)> = None;
    let mut in_head = false;
    let mut row: Vec<String> = Vec::new();
    let mut cell: Option<String> = None;
    for ev in Parser::new_ext(&text, md_options()) {
        match ev {
            Event::Start(Tag::Table(_)) => columns = None,
            Event::Start(Tag::TableHead) => {
                in_head = true;
                row.clear();
            }
            Event::Start(Tag::TableRow) => row.clear(),
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::Text(t) | Event::Code(t) => {
                if let Some(c) = &mut cell {
                    c.push_str(&t);
                }
            }
            Event::End(TagEnd::TableCell) => {
                row.push(cell.take().unwrap_or_default().trim().into())
            }
            Event::End(TagEnd::TableHead) => {
                in_head = false;
                let k = row.iter().position(|c| c == "key");
                let r = row.iter().position(|c| c == "reload");
                columns = k.zip(r);
            }
            Event::End(TagEnd::TableRow) if !in_head => {
                if let Some((k, r)) = columns {
                    let key = row[k].clone();
                    let reload = row.get(r).cloned().unwrap_or_default();
                    assert!(
                        documented.insert(key.clone(), reload).is_none(),
                        "configuration.md: {key} has two rows"
                    );
                }
            }
            _ => {}
        }
    }
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "keys of the schema missing from docs/reference/configuration.md: {missing:?}"
    );
    let stale: Vec<&String> = documented.keys().filter(|k| !keys.contains(k)).collect();
    assert!(
        stale.is_empty(),
        "configuration.md documents keys the schema does not have: {stale:?}"
    );
    let wrong: Vec<String> = keys
        .iter()
        .filter(|k| documented[*k] != reload_word(k))
        .map(|k| {
            format!(
                "{k}: says {:?}, the code: {:?}",
                documented[k],
                reload_word(k)
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "reload column disagrees with server::restart::KEYS:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The template helper of docs/guides/templates.md
// ---------------------------------------------------------------------------

/// Every fenced block of a page whose info string is `info`, in order.
fn code_blocks(text: &str, info: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for ev in Parser::new_ext(text, md_options()) {
        match ev {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(i))) if &*i == info => {
                current = Some(String::new())
            }
            Event::Text(t) => {
                if let Some(c) = &mut current {
                    c.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => found.extend(current.take()),
            _ => {}
        }
    }
    found
}

/// The one fenced block whose info string is `info` in a page.
fn code_block(page: &str, info: &str) -> String {
    let text = fs::read_to_string(repo().join(page)).unwrap();
    let mut found = code_blocks(&text, info);
    assert_eq!(found.len(), 1, "{page}: one ```{info} block expected");
    found.remove(0)
}

/// What the docs' Python helper (`asset_tags.py` in `dir`) prints for
/// `calls`, run with `m` = the manifest of the built tree `out`.
fn run_helper(dir: &Path, out: &Path, calls: &str) -> String {
    let driver = format!(
        "import sys\nsys.path.insert(0, {dir:?})\nimport asset_tags as a\n\
         m = a.load_manifest({manifest:?})\n{calls}",
        dir = dir.display().to_string(),
        manifest = out.join("manifest.json").display().to_string(),
    );
    let ran = Command::new("python3")
        .arg("-c")
        .arg(&driver)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&ran.stderr)
    );
    String::from_utf8(ran.stdout).unwrap()
}

#[test]
#[ignore = "needs python3: run by .ci/run"]
fn the_template_helper_prints_the_tags_the_manifest_calls_for() {
    assert!(
        Command::new("python3").arg("--version").output().is_ok(),
        "this test needs python3 (the docs' template helper is Python)"
    );
    let helper = code_block("docs/guides/templates.md", "python asset_tags.py");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("dist");
    let built = Command::new(env!("CARGO_BIN_EXE_cdn-edge"))
        .args(["build", "-q", "--out"])
        .arg(&out)
        .arg(repo().join("examples/site"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    fs::write(tmp.path().join("asset_tags.py"), &helper).unwrap();
    let base = "https://assets.example.com/";
    let printed = run_helper(
        tmp.path(),
        &out,
        &format!(
            "print(a.asset_tag(m, 'css/app.css', {base:?}))\n\
             print(a.asset_tag(m, 'js/app.js', {base:?}))\n\
             print(a.preload_tag(m, 'css/app.css', {base:?}))\n\
             print(a.asset_url(m, 'img/logo.svg', {base:?}))\n"
        ),
    );

    let m = cdn_edge::manifest::read(&out)
        .unwrap()
        .expect("manifest.json");
    let url = |l: &str| format!("https://assets.example.com/{}", m[l].file);
    let sri = |l: &str| m[l].integrity.clone();
    let want = [
        format!(
            r#"<link rel="stylesheet" href="{}" integrity="{}" crossorigin="anonymous">"#,
            url("css/app.css"),
            sri("css/app.css")
        ),
        format!(
            r#"<script src="{}" integrity="{}" crossorigin="anonymous" defer></script>"#,
            url("js/app.js"),
            sri("js/app.js")
        ),
        format!(
            r#"<link rel="preload" href="{}" as="style" integrity="{}" crossorigin="anonymous">"#,
            url("css/app.css"),
            sri("css/app.css")
        ),
        url("img/logo.svg"),
    ];
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        want,
        "printed:\n{printed}"
    );

    // A bundler's entry, built with --base-url: the helper walks the chunk
    // graph the manifest carries, with each entry's own url.
    let vite = tmp.path().join("vite");
    let built = Command::new(env!("CARGO_BIN_EXE_cdn-edge"))
        .args([
            "build",
            "-q",
            "--base-url",
            "https://static.example.com/",
            "--out",
        ])
        .arg(&vite)
        .arg(repo().join("tests/it/build/fixtures/vite/dist"))
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let printed = run_helper(
        tmp.path(),
        &vite,
        "print(a.entry_tags(m, 'src/details.js'))\n",
    );
    let v = cdn_edge::manifest::read(&vite)
        .unwrap()
        .expect("manifest.json");
    let tag = |rel: &str, l: &str| {
        format!(
            r#"{rel}"{}" integrity="{}" crossorigin="anonymous">"#,
            v[l].url, v[l].integrity
        )
    };
    let css = "assets/index-Q_wk7ucL.css";
    let chunk = "assets/index-Bf86mH4T.js";
    assert!(v[css].url.starts_with("https://static.example.com/assets/"));
    assert_eq!(
        printed.lines().collect::<Vec<_>>(),
        [
            tag(r#"<link rel="stylesheet" href="#, css),
            tag(r#"<link rel="modulepreload" href="#, chunk),
            tag(r#"<script type="module" src="#, "src/details.js") + "</script>",
        ]
    );

    // What the tags point at is what a node serves: the integrity matches
    // the bytes sent (as the browser checks it), and a cross-origin request
    // gets the CORS header `crossorigin="anonymous"` needs.
    let node = common::Server::start(&out, "[log]\naccess = \"off\"\n");
    for l in ["css/app.css", "js/app.js"] {
        let path = format!("/{}", m[l].file);
        let r = node.get_h(&path, &[("Origin", "https://www.example.com")]);
        assert_eq!(r.status, 200, "{}", r.summary());
        assert_eq!(oracle::sri_sha384(&r.body), m[l].integrity, "{l}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{l}");
        let cc = r.header("cache-control").unwrap_or_default();
        assert!(cc.contains("immutable"), "{l}: {cc}");
    }
}

//! The command line: subcommands and their flags (clap). Flags override the
//! config file; the file overrides built-in defaults.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, Encoding};
use crate::listen::ListenAddr;

/// A static-asset CDN edge server.
///
/// Without a subcommand, prints this help on stderr and exits 2.
#[derive(Debug, Parser)]
#[command(name = "cdn-edge", version = crate::VERSION, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the static root over HTTP.
    Serve(ServeArgs),
    /// Check the configuration as `serve` would, without serving: exit 0
    /// and print "ok", or exit 2 with the reason; with --explain PATH, also
    /// say what the node does for that path and why.
    Check(CheckArgs),
    /// Fingerprint, rewrite CSS references, precompress and write manifest.json.
    Build(BuildArgs),
    /// Drop objects from every node's cache (PURGE / POST /_purge).
    Purge(PurgeArgs),
}

/// Flags of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The configuration, as `serve` takes it.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// A request path (`/assets/app-1a2b3c4d.js`) to explain: which rules
    /// match, what clients are told, how long this node keeps it and why,
    /// stale on error, the query policy, fallback and error pages.
    #[arg(long, value_name = "PATH")]
    pub explain: Option<String>,
    /// An origin response header to explain the lifetime against
    /// (`"Cache-Control: max-age=60"`), repeatable; with --explain.
    #[arg(
        long = "origin-header",
        value_name = "NAME: VALUE",
        requires = "explain"
    )]
    pub origin_headers: Vec<String>,
}

/// Flags of `purge`.
#[derive(Debug, clap::Args)]
pub struct PurgeArgs {
    /// Request paths to drop (`/app.css`); with --prefix, path prefixes (`/img/`).
    #[arg(value_name = "PATH", required_unless_present = "tags")]
    pub paths: Vec<String>,
    /// Treat PATHs as prefixes.
    #[arg(long)]
    pub prefix: bool,
    /// Drop every object carrying this tag (the origin's `Surrogate-Key` /
    /// `Cache-Tag`, see purge.tag_headers); repeatable, and with PATHs.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Make the objects stale instead of dropping them: they are
    /// revalidated with the origin on their next request.
    #[arg(long)]
    pub soft: bool,
    /// Config file giving [purge] token and nodes (default: the embedded config).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Node base URL to call (http://host:port; host:port alone means
    /// http://), repeatable; overrides purge.nodes. One node of a cluster
    /// is enough: it sends the purge on to its peers.
    #[arg(long = "node", value_name = "URL")]
    pub nodes: Vec<String>,
}

/// Flags of `build`. Each overrides the same key of the config's `[build]`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Source tree (dotfiles and dot-directories are skipped).
    #[arg(value_name = "SRC")]
    pub src: PathBuf,
    /// Output tree (created if missing; must not be inside SRC).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Config file whose [build] table gives defaults for the flags below.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Hex digits of the blake3 content hash in fingerprinted names, 8 to 64 [default: 10].
    #[arg(long, value_name = "N")]
    pub hash_len: Option<usize>,
    /// Siblings to write, a comma-separated list of "br", "zstd" and "gzip",
    /// or "none" [default: br,zstd,gzip]; "br,gzip" writes no .zst.
    #[arg(long, value_name = "LIST")]
    pub encodings: Option<String>,
    /// Brotli quality, 0 to 11 [default: 11].
    #[arg(long, value_name = "Q")]
    pub brotli_quality: Option<u32>,
    /// Gzip level, 1 to 9 [default: 9].
    #[arg(long, value_name = "L")]
    pub gzip_level: Option<u32>,
    /// Zstd level, 1 to 19 [default: 19]; the window is at most 8 MiB.
    #[arg(long, value_name = "L")]
    pub zstd_level: Option<u32>,
    /// Keep a sibling only when it saves at least PCT percent of the bytes [default: 5].
    #[arg(long, value_name = "PCT")]
    pub min_saving: Option<f64>,
    /// After building, remove fingerprinted files that none of the last --keep manifests references.
    #[arg(long)]
    pub prune: bool,
    /// How many manifests (this build's included) --prune keeps files of [default: 3].
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Write deltas (RFC 9842 dcz and dcb) of each changed script, stylesheet,
    /// JSON, SVG or WASM file against its versions in the last N builds,
    /// 0 for none [default: 2].
    #[arg(long, value_name = "N")]
    pub dictionary_versions: Option<usize>,
    /// Keep a delta only when it saves at least PCT percent of the file's
    /// brotli size [default: 20].
    #[arg(long, value_name = "PCT")]
    pub dictionary_min_gain: Option<f64>,
    /// Worker threads, 0 = one per core [default: 0].
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Fail on any warning (default: warn and build): a reference to a file
    /// missing from SRC, a CSS/JS/HTML file that is not UTF-8, a bundler
    /// manifest naming files that are not there.
    #[arg(long)]
    pub strict: bool,
    /// Fingerprint HTML pages too (by default they are entry points: they
    /// keep their name and are served no-cache).
    #[arg(long)]
    pub fingerprint_html: bool,
    /// Leave ES module specifiers as written and write importmap.json (and
    /// importmap.html, a <script type="importmap"> snippet) mapping each
    /// module to its fingerprinted URL, for apps that load modules through
    /// an import map.
    #[arg(long)]
    pub importmap: bool,
    /// The asset host's base URL (https://static.example.com/), recorded in
    /// the manifest: every entry's `url` starts with it (overrides
    /// build.base_url; '' for none: URLs are absolute paths).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Print nothing but warnings and errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print every file written.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
}

impl BuildArgs {
    /// The effective build options: config `[build]` (or defaults), then flags.
    pub fn options(&self) -> Result<crate::build::Options, ConfigError> {
        let mut c = Config::load(self.config.as_deref())?;
        let b = &mut c.build;
        if let Some(v) = self.hash_len {
            b.hash_len = v;
        }
        if let Some(list) = &self.encodings {
            b.encodings = match list.trim() {
                "none" | "" => Vec::new(),
                l => (l.split(',').map(str::parse::<Encoding>))
                    .collect::<Result<_, _>>()
                    .map_err(|why| ConfigError::Invalid {
                        origin: "command line".into(),
                        key: "--encodings".into(),
                        value: format!("{list:?}"),
                        allowed: format!(
                            "{why}: a list of \"br\", \"zstd\" and \"gzip\" (\"br,zstd,gzip\"), or \"none\""
                        ),
                    })?,
            };
        }
        if let Some(v) = self.brotli_quality {
            b.brotli_quality = v;
        }
        if let Some(v) = self.gzip_level {
            b.gzip_level = v;
        }
        if let Some(v) = self.zstd_level {
            b.zstd_level = v;
        }
        if let Some(v) = self.min_saving {
            b.min_saving_percent = v;
        }
        if let Some(v) = self.keep {
            b.keep = v;
        }
        if let Some(v) = self.dictionary_versions {
            b.dictionary_versions = v;
        }
        if let Some(v) = self.dictionary_min_gain {
            b.dictionary_min_gain_percent = v;
        }
        if let Some(v) = self.jobs {
            b.jobs = v;
        }
        b.strict |= self.strict;
        b.fingerprint_html |= self.fingerprint_html;
        b.importmap |= self.importmap;
        if let Some(u) = &self.base_url {
            b.base_url = Some(u.clone()).filter(|u| !u.is_empty());
        }
        c.validate("command line")?;
        let patterns = c.fingerprints()?;
        let b = &c.build;
        Ok(crate::build::Options {
            src: self.src.clone(),
            out: self.out.clone(),
            hash_len: b.hash_len,
            encodings: b.wanted(),
            settings: crate::precompress::Settings {
                brotli_quality: b.brotli_quality,
                gzip_level: b.gzip_level,
                zstd_level: b.zstd_level,
                min_saving: b.min_saving_percent / 100.0,
                ..Default::default()
            },
            prune: self.prune,
            keep: b.keep,
            deltas: crate::build::DeltaOptions {
                versions: b.dictionary_versions,
                min_gain: b.dictionary_min_gain_percent / 100.0,
            },
            jobs: b.jobs,
            strict: b.strict,
            patterns,
            fingerprint_html: b.fingerprint_html,
            importmap: b.importmap,
            base_url: b.base_url.clone(),
            progress: !self.quiet,
        })
    }
}

/// Flags of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (TOML). Without it, the embedded default config.toml is
    /// used: serve ./static on 127.0.0.1:8080.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, overriding server.listen: host:port, where host
    /// may be a name (localhost:8080); port 0 picks a free port.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<ListenAddr>,
    /// Directory to serve, overriding server.root; '' for none (origin-only
    /// mode: every request goes to the cache and the origin).
    #[arg(long, value_name = "DIR", value_parser = any_path)]
    pub root: Option<PathBuf>,
    /// Worker threads, overriding server.workers (0 = one per core).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Origin to pull misses from, overriding origin.url (e.g. http://127.0.0.1:9000).
    #[arg(long, value_name = "URL")]
    pub origin: Option<String>,
    /// Disk cache directory for pulled objects, overriding cache.dir; ''
    /// for none.
    #[arg(long, value_name = "DIR", value_parser = any_path)]
    pub cache_dir: Option<PathBuf>,
    /// This node's base URL as its peers reach it, overriding cluster.advertise.
    #[arg(long, value_name = "URL")]
    pub advertise: Option<String>,
    /// A peer's base URL, repeatable; replaces the config's source of peers.
    #[arg(long = "peer", value_name = "URL")]
    pub peers: Vec<String>,
}

impl ServeArgs {
    /// The effective configuration: file (or embedded default), then flags.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut c = Config::load(self.config.as_deref())?;
        if let Some(l) = &self.listen {
            c.server.listen = l.clone();
        }
        if let Some(r) = &self.root {
            c.server.root = Some(r.clone()).filter(|r| !r.as_os_str().is_empty());
        }
        if let Some(w) = self.workers {
            c.server.workers = w;
        }
        if let Some(o) = &self.origin {
            c.origin.url = Some(o.clone()).filter(|o| !o.is_empty());
        }
        if let Some(d) = &self.cache_dir {
            c.cache.dir = Some(d.clone()).filter(|d| !d.as_os_str().is_empty());
        }
        if self.config.is_none() && self.root.is_none() {
            default_root(&mut c)?;
        }
        let advertise = self.advertise.as_deref();
        crate::config::ClusterConfig::apply_flags(&mut c.cluster, advertise, &self.peers);
        c.validate("command line")?;
        if let Some(cluster) = &c.cluster {
            // What only the file or the flags together can miss.
            let file = self.config.as_ref().map(|p| p.display().to_string());
            cluster.settings(file.as_deref().unwrap_or("embedded config.toml"))?;
        }
        Ok(c)
    }
}

/// A path as given, `''` included (clap's own path parser refuses an
/// empty value; here it means "none").
fn any_path(s: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(s))
}

/// The embedded default's root, `static` in the working directory, when it
/// is not there: with an origin, no root (origin-only mode); without one,
/// an error saying what to do.
fn default_root(c: &mut Config) -> Result<(), ConfigError> {
    let Some(root) = &c.server.root else {
        return Ok(());
    };
    if root.exists() {
        return Ok(());
    }
    if c.origin.url.is_some() {
        tracing::debug!("no {} here: serving from the origin only", root.display());
        c.server.root = None;
        return Ok(());
    }
    let here = std::env::current_dir().unwrap_or_default();
    Err(ConfigError::Invalid {
        origin: crate::config::EMBEDDED.into(),
        key: "server.root".into(),
        value: format!("{:?}", root.display().to_string()),
        allowed: format!(
            "a directory, and {} has no {}: serve a folder with --root DIR, run from the repository's root (its static/ is the default), or give --origin URL to serve from an origin only",
            here.display(),
            root.display()
        ),
    })
}

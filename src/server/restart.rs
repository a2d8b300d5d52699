//! The keys a reload cannot apply: they shape the sockets, the worker
//! threads or the stores opened once at start. A reload that changes one
//! reports it as needing a restart, keeps the running value, and applies
//! the rest of the new config.
//!
//! A part added to the node with settings of this kind (say, a listener
//! that cannot be moved while serving) lists its keys here.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::listen::ListenAddr;

/// A restart-only key whose new value differs from the running one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The dotted key (`server.listen`).
    pub key: &'static str,
    /// Its running value, as written in TOML.
    pub running: String,
    /// Its value in the new config.
    pub wanted: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} = {} needs a restart (running with {})",
            self.key, self.wanted, self.running
        )
    }
}

/// A value as TOML writes it, for [`Change`].
trait Shown {
    fn shown(&self) -> String;
}

impl Shown for String {
    fn shown(&self) -> String {
        format!("{self:?}")
    }
}

impl Shown for Vec<String> {
    fn shown(&self) -> String {
        format!("{self:?}")
    }
}

impl Shown for PathBuf {
    fn shown(&self) -> String {
        format!("{:?}", self.display().to_string())
    }
}

/// Off (`None`) is written `""` in the file.
impl<T: Shown> Shown for Option<T> {
    fn shown(&self) -> String {
        match self {
            Some(v) => v.shown(),
            None => "\"\"".into(),
        }
    }
}

impl Shown for Duration {
    fn shown(&self) -> String {
        format!("\"{}\"", crate::config::units::show_duration(*self))
    }
}

impl Shown for ListenAddr {
    fn shown(&self) -> String {
        format!("\"{self}\"")
    }
}

macro_rules! shown_by_display {
    ($($t:ty),*) => {$(
        impl Shown for $t {
            fn shown(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
shown_by_display!(bool, u32, u64, usize);

macro_rules! restart_only {
    ($($($field:ident).+),* $(,)?) => {
        /// The restart-only keys, in the order they are reported.
        pub const KEYS: &[&str] = &[$(stringify!($($field).+)),*];

        /// `new` with every restart-only key set back to its `running`
        /// value, and the keys that differed.
        pub fn split(running: &Config, new: &Config) -> (Config, Vec<Change>) {
            let mut applied = new.clone();
            let mut changes = Vec::new();
            // The `[cluster]` table: the token, this node's address and
            // the source of peers are set once (the peers themselves are
            // read again on each reload). Its values are not shown: the
            // token is a secret.
            if running.cluster != new.cluster {
                changes.push(Change {
                    key: "cluster",
                    running: "the table read at start".into(),
                    wanted: "(a changed table)".into(),
                });
                applied.cluster = running.cluster.clone();
            }
            $(
                if running.$($field).+ != new.$($field).+ {
                    changes.push(Change {
                        key: stringify!($($field).+),
                        running: running.$($field).+.shown(),
                        wanted: new.$($field).+.shown(),
                    });
                    applied.$($field).+ = running.$($field).+.clone();
                }
            )*
            (applied, changes)
        }
    };
}

restart_only!(
    // The sockets and the threads serving them.
    server.listen,
    server.workers,
    server.shutdown_timeout,
    tls.listen,
    // Set on the rustls config and the listener once they are built.
    tls.tickets,
    tls.session_cache,
    tls.handshake_timeout,
    // Connection settings of actix-web's HTTP/2 (h2c on the plain
    // listener, the flow-control windows).
    http2.h2c,
    http2.initial_stream_window,
    http2.initial_connection_window,
    // The QUIC listener: its socket, threads and settings are built once.
    http3.listen,
    http3.alt_svc_max_age,
    http3.max_concurrent_streams,
    http3.idle_timeout,
    http3.early_data,
    http3.retry_above_handshakes,
    // The disk cache is opened once: two instances must never share a
    // directory.
    cache.dir,
    cache.disk_bytes,
    cache.dir_required,
    // The compression threads and their queue: one pool per process,
    // started with the first handle on it.
    cache.compress_workers,
    cache.compress_queue,
    // Read by the signal watcher once, at start.
    server.drain,
    // actix-http's connection timers, set when the server is built (the
    // sweep of idle connections takes their sum then too).
    limits.keep_alive,
    limits.header_timeout,
);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        Config::parse("t", text).unwrap()
    }

    #[test]
    fn restart_only_keys_stay_and_the_rest_applies() {
        let running = parse("[server]\nlisten = \"127.0.0.1:8080\"\nroot = \"a\"\n");
        let new = parse(
            "[server]\nlisten = \"127.0.0.1:9090\"\nroot = \"b\"\n[cache]\ndir = \"/var/c\"\n",
        );
        let (applied, changes) = split(&running, &new);
        assert_eq!(applied.server.listen, running.server.listen);
        assert_eq!(applied.cache.dir, running.cache.dir);
        assert_eq!(applied.server.root, new.server.root);
        let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "server.listen = \"127.0.0.1:9090\" needs a restart (running with \"127.0.0.1:8080\")",
                "cache.dir = \"/var/c\" needs a restart (running with \"\")",
            ]
        );
    }

    #[test]
    fn the_bundled_config_marks_every_restart_only_key() {
        for key in KEYS {
            let (table, name) = key.split_once('.').unwrap();
            let body = crate::config::DEFAULT_TOML
                .split(&format!("\n[{table}]"))
                .nth(1)
                .unwrap_or_else(|| panic!("no [{table}] in config.toml"));
            let line = body
                .lines()
                .find(|l| l.starts_with(&format!("{name} =")))
                .unwrap_or_else(|| panic!("no {key} in config.toml"));
            assert!(line.contains("# restart."), "{key}: {line}");
        }
    }

    #[test]
    fn the_bundled_config_marks_only_restart_only_keys() {
        let mut table = "";
        for line in crate::config::DEFAULT_TOML.lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
                table = name;
            } else if line.contains("# restart.") {
                let key = format!("{table}.{}", line.split(" =").next().unwrap_or("").trim());
                assert!(
                    KEYS.contains(&key.as_str()),
                    "{key} is marked restart.: {line}"
                );
            }
        }
    }

    #[test]
    fn nothing_to_report_when_equal() {
        let c = parse("[tls]\nhsts = \"max-age=1\"\n");
        let (applied, changes) = split(&c, &c);
        assert!(changes.is_empty());
        assert_eq!(applied, c);
        assert!(KEYS.contains(&"server.listen") && KEYS.contains(&"cache.dir"));
    }
}
